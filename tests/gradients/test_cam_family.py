"""Grad-CAM++, LayerCAM and Score-CAM against closed forms and a plain-numpy loop."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz.gradients.cam_variants import grad_cam_plus_plus, layer_cam
from kerasviz.gradients.score_cam import score_cam
from tests.helpers.models import MODEL_FORMS, SIZE, downsampling_model, functional
from tests.helpers.references import bilinear_upsample

CLASSES_OF = np.array([0, 1, 2, 3, 1])


def _features_and_head(model):
    """`A` at the "feat" layer (8x8) and the logits kernel of a conv -> GAP -> dense model."""
    probe = keras.Model(model.inputs, model.get_layer("feat").output)
    return probe, model.get_layer("logits").get_weights()[0].astype(np.float64)


def closed_form_grad_cam_plus_plus(activation, kernel, classes):
    """conv -> GAP -> dense: `G_k = w_kc / Z` is constant over space, so `alpha_k = 1 / (2 + w_kc mean(A_k))`.

    `w_k = sum_ij alpha_k relu(G_k) = alpha_k relu(w_kc)`, the map `relu(sum_k w_k A_k)`
    (Chattopadhyay et al., 2018, eq. 19, divided by exp(S)).
    """
    w = kernel[:, classes].T  # [B, K]
    mean = activation.mean(axis=(1, 2))  # [B, K]
    alpha = 1.0 / (2.0 + w * mean)
    weights = alpha * np.maximum(w, 0)
    return np.maximum(np.einsum("bhwk,bk->bhw", activation, weights), 0)


def test_grad_cam_plus_plus_closed_form_on_conv_gap_dense(images):
    keras.backend.clear_session()
    model = downsampling_model()
    probe, kernel = _features_and_head(model)
    activation = probe(images).numpy().astype(np.float64)
    expected = bilinear_upsample(closed_form_grad_cam_plus_plus(activation, kernel, CLASSES_OF), SIZE, SIZE)
    maps = grad_cam_plus_plus(model, images, CLASSES_OF, layer="feat")
    assert maps.shape == (5, SIZE, SIZE) and maps.dtype == np.float32
    assert expected.max() > 0
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-6 * expected.max())


def test_grad_cam_plus_plus_does_not_overflow_for_large_logits(images):
    keras.backend.clear_session()
    model = downsampling_model()
    head = model.get_layer("logits")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 2000.0, bias])
    logits = keras.Model(model.inputs, head.output)(images).numpy()
    classes = logits.argmax(axis=1)
    top = logits[np.arange(5), classes]
    assert top.min() > 88.7  # exp(score) overflows float32: the paper's weights would be inf
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(top.astype(np.float32))).all()
    probe, big_kernel = _features_and_head(model)
    activation = probe(images).numpy().astype(np.float64)
    expected = bilinear_upsample(closed_form_grad_cam_plus_plus(activation, big_kernel, classes), SIZE, SIZE)
    maps = grad_cam_plus_plus(model, images, layer="feat")
    assert np.isfinite(maps).all()
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-6 * expected.max())


def test_layer_cam_closed_form_on_conv_gap_dense(images):
    keras.backend.clear_session()
    model = downsampling_model()
    probe, kernel = _features_and_head(model)
    activation = probe(images).numpy().astype(np.float64)
    gradient = np.maximum(kernel[:, CLASSES_OF].T, 0) / 64.0  # relu(dS/dA_k[i, j]) = relu(w_kc) / (8 * 8)
    expected = bilinear_upsample(np.maximum(np.einsum("bhwk,bk->bhw", activation, gradient), 0), SIZE, SIZE)
    maps = layer_cam(model, images, CLASSES_OF, layer="feat")
    assert expected.max() > 0
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-6 * expected.max())


def test_layer_cam_at_a_shallow_layer_matches_an_eager_tape(images):
    """Away from a GAP the gradient varies over space: an eager tape on a probe gives it."""
    keras.backend.clear_session()
    model = functional()
    probe = keras.Model(model.inputs, [model.get_layer("conv1").output, model.get_layer("logits").output])
    with tf.GradientTape() as tape:
        activation, logits = probe(images)
        score = tf.gather(logits, CLASSES_OF, batch_dims=1)
    gradient = tape.gradient(score, activation).numpy()
    expected = np.maximum((np.maximum(gradient, 0) * activation.numpy()).sum(-1), 0)
    maps = layer_cam(model, images, CLASSES_OF, layer="conv1")
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("method", [grad_cam_plus_plus, layer_cam, score_cam])
def test_every_model_form_gives_the_same_maps(method, images):
    keras.backend.clear_session()
    reference = method(MODEL_FORMS["functional"](), images, target=2)
    assert reference.max() > 0
    for form in sorted(MODEL_FORMS):
        keras.backend.clear_session()
        tolerance = 2e-2 if form == "mixed_float16" else 1e-4
        np.testing.assert_allclose(method(MODEL_FORMS[form](), images, target=2), reference,
                                   rtol=tolerance, atol=tolerance * reference.max(), err_msg=form)


@pytest.mark.parametrize("method", [grad_cam_plus_plus, layer_cam, score_cam])
def test_nested_path_is_the_same_layer(method, images):
    keras.backend.clear_session()
    flat = method(MODEL_FORMS["functional"](), images, target=1, layer="conv1")
    keras.backend.clear_session()
    nested = method(MODEL_FORMS["nested"](), images, target=1, layer="backbone/conv1")
    np.testing.assert_allclose(nested, flat, rtol=1e-4, atol=1e-6 * flat.max())


def reference_score_cam(model, layer, images, classes, channels=None):
    """Wang et al., Algorithm 1, one masked image at a time, in numpy (the model called eagerly)."""
    probe = keras.Model(model.inputs, model.get_layer(layer).output)
    logits_model = keras.Model(model.inputs, model.get_layer("logits").output)
    maps = []
    for image, c, activation in zip(images, classes, probe(images).numpy().astype(np.float64)):
        chosen = range(activation.shape[-1]) if channels is None else channels(activation)
        scores, kept = [], []
        for k in chosen:
            up = bilinear_upsample(activation[None, :, :, k], SIZE, SIZE)[0]
            spread = up.max() - up.min()
            mask = (up - up.min()) / spread if spread > 0 else np.zeros_like(up)
            masked = (image * mask[..., None]).astype(np.float32)[None]
            scores.append(float(logits_model(masked).numpy()[0, c]))
            kept.append(activation[..., k])
        weights = np.exp(np.array(scores) - max(scores))
        weights /= weights.sum()
        cam = np.maximum(np.tensordot(np.stack(kept, -1), weights, axes=([-1], [0])), 0)
        maps.append(cam)
    return bilinear_upsample(np.stack(maps), SIZE, SIZE)


def test_score_cam_matches_a_numpy_loop(images):
    keras.backend.clear_session()
    model = downsampling_model()
    expected = reference_score_cam(model, "feat", images, CLASSES_OF)
    maps = score_cam(model, images, CLASSES_OF, layer="feat", batch_size=6)
    assert expected.max() > 0
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-6 * expected.max())


def test_faster_score_cam_scores_the_channels_of_highest_variance(images):
    keras.backend.clear_session()
    model = downsampling_model()

    def top3(activation):
        variance = activation.reshape(-1, activation.shape[-1]).var(axis=0)
        return sorted(np.argsort(-variance)[:3])

    expected = reference_score_cam(model, "feat", images, CLASSES_OF, channels=top3)
    maps = score_cam(model, images, CLASSES_OF, layer="feat", max_channels=3)
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-6 * expected.max())
    full = score_cam(model, images, CLASSES_OF, layer="feat")
    assert not np.allclose(maps, full)
    np.testing.assert_allclose(score_cam(model, images, CLASSES_OF, layer="feat", max_channels=7), full,
                               rtol=1e-6)  # 7 = every channel of "feat"


@pytest.mark.parametrize("method", [grad_cam_plus_plus, layer_cam, score_cam])
def test_a_layer_without_a_spatial_output_is_rejected(method, images):
    keras.backend.clear_session()
    with pytest.raises(ValueError, match="`layer`: 'fc'"):
        method(functional(), images, layer="fc")


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_bad_max_channels(bad, images):
    with pytest.raises(ValueError, match=r"`max_channels`: " + repr(bad).replace(".", r"\.")):
        score_cam(functional(), images, max_channels=bad)


def test_score_cam_default_target_is_the_predicted_class(images):
    keras.backend.clear_session()
    model = downsampling_model()
    predicted = [int(c) for c in np.argmax(model(images), axis=-1)]
    np.testing.assert_array_equal(score_cam(model, images, layer="feat"), score_cam(model, images, predicted, layer="feat"))


def test_the_registry_lists_every_method_that_takes_a_layer():
    from kerasviz import registry

    takes_layer = {n for n, m in registry.METHODS.items() if m.accepts("layer")}
    assert set(registry.names_with("takes_layer")) == takes_layer
