"""Targets (what to explain) and input checks (what users pass in)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import inputs, models, targets
from tests.helpers.models import MODEL_FORMS, SIZE


def _score(model, target, images, class_idx=None):
    target, resolved = targets.resolve(model, target, images)
    class_idx = resolved if class_idx is None else class_idx
    capture = tuple(target.layers())

    @tf.function
    def run(x, c):
        logits, acts = models.run(model, x, capture=capture)
        return target.score(logits, acts, c), logits, acts

    return run(tf.constant(images), tf.constant(class_idx))


def test_class_score_is_the_logit_of_the_predicted_or_given_class(images):
    model = MODEL_FORMS["functional"]()
    scores, logits, _ = _score(model, None, images)
    np.testing.assert_allclose(scores, np.max(logits, axis=-1), rtol=1e-6)
    scores, logits, _ = _score(model, 2, images)
    np.testing.assert_allclose(scores, logits[:, 2], rtol=1e-6)
    per_image = [0, 1, 2, 3, 0]
    scores, logits, _ = _score(model, per_image, images)
    np.testing.assert_allclose(scores, np.asarray(logits)[np.arange(5), per_image], rtol=1e-6)


def test_channel_neuron_and_layer_l2(images):
    model = MODEL_FORMS["nested"]()
    scores, _, acts = _score(model, kerasviz.Channel("conv2", 3), images)
    a = np.asarray(acts["backbone/conv2"])
    np.testing.assert_allclose(scores, a[..., 3].mean(axis=(1, 2)), rtol=1e-5)
    scores, _, acts = _score(model, kerasviz.Neuron("fc", 5), images)
    np.testing.assert_allclose(scores, np.asarray(acts["fc"])[:, 5], rtol=1e-6)
    scores, _, acts = _score(model, kerasviz.Neuron("conv1", (2, 3, 1)), images)
    np.testing.assert_allclose(scores, np.asarray(acts["backbone/conv1"])[:, 2, 3, 1], rtol=1e-6)
    scores, _, acts = _score(model, kerasviz.LayerL2("relu2"), images)
    np.testing.assert_allclose(scores, (np.asarray(acts["backbone/relu2"]) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)


def test_targets_compose(images):
    model = MODEL_FORMS["sequential"]()
    combined = kerasviz.ClassScore(1) + 0.5 * kerasviz.Channel("conv1", 2) - kerasviz.ClassScore([0, 1, 2, 3, 0])
    scores, logits, acts = _score(model, combined, images)
    logits, conv1 = np.asarray(logits), np.asarray(acts["conv1"])
    expected = logits[:, 1] + 0.5 * conv1[..., 2].mean(axis=(1, 2)) - logits[np.arange(5), [0, 1, 2, 3, 0]]
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert sum([kerasviz.ClassScore(1), kerasviz.ClassScore(2)]).key() == ("sum", ((1.0, ("class",)), (1.0, ("class",))))


def test_class_indices_are_fed_not_traced(images):
    model = MODEL_FORMS["sequential"]()
    kerasviz.saliency(model, images, target=1)
    count = kerasviz.compiled.tracing_count(model)
    for target in (2, [3, 2, 1, 0, 1], None, kerasviz.ClassScore(0)):
        kerasviz.saliency(model, images, target=target)
    kerasviz.saliency(model, images[:2], target=3, batch_size=1)
    assert kerasviz.compiled.tracing_count(model) == count


@pytest.mark.parametrize(
    "target, error, words",
    [
        (7, ValueError, ["class index", "7", "4 classes"]),
        ([0, 1], ValueError, ["2 class indices", "5 images"]),
        ("cat", TypeError, ["`target`", "'cat'"]),
        (1.5, TypeError, ["`target`"]),
        (kerasviz.Channel("conv1", 99), ValueError, ["`channel`", "99", "6 channels"]),
        (kerasviz.Neuron("fc", 40), ValueError, ["`index`", "(40,)"]),
        (kerasviz.Channel("nope", 0), ValueError, ["`layer`", "'nope'"]),
    ],
)
def test_target_errors(target, error, words, images):
    model = MODEL_FORMS["sequential"]()
    with pytest.raises(error) as info:
        targets.resolve(model, target, images)
    for word in words:
        assert word in str(info.value)


def test_images_are_converted_but_not_rescaled():
    model = MODEL_FORMS["sequential"]()
    uint8 = np.full((2, SIZE, SIZE, 3), 200, np.uint8)
    checked = inputs.check_images(model, uint8)
    assert checked.dtype == np.float32 and checked.max() == 200.0
    dataset = tf.data.Dataset.from_tensor_slices((uint8, np.zeros(2))).batch(1)
    np.testing.assert_array_equal(inputs.check_images(model, dataset), checked)
    np.testing.assert_array_equal(inputs.check_images(model, tf.constant(uint8)), checked)


@pytest.mark.parametrize(
    "images, error, words",
    [
        (np.zeros((SIZE, SIZE, 3)), ValueError, ["rank 4", "(16, 16, 3)", "image[None]"]),
        (np.zeros((1, 8, SIZE, 3)), ValueError, ["height", "(1, 8, 16, 3)"]),
        (np.zeros((1, SIZE, SIZE, 1)), ValueError, ["channels"]),
        (np.zeros((0, SIZE, SIZE, 3)), ValueError, ["empty"]),
        (np.full((1, SIZE, SIZE, 3), np.nan), ValueError, ["NaN", "`images`"]),
        (np.full((1, SIZE, SIZE, 3), np.inf), ValueError, ["inf"]),
        (np.full((1, SIZE, SIZE, 3), "a"), TypeError, ["`images`", "dtype"]),
        (np.zeros((1, SIZE, SIZE, 3), bool), TypeError, ["`images`"]),
        ({"a": 1}, TypeError, ["`images`"]),
    ],
)
def test_image_errors(images, error, words):
    model = MODEL_FORMS["sequential"]()
    with pytest.raises(error) as info:
        kerasviz.saliency(model, images)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "8"])
def test_batch_size_errors(batch_size, images):
    with pytest.raises(ValueError, match="`batch_size`"):
        kerasviz.saliency(MODEL_FORMS["sequential"](), images, batch_size=batch_size)


def test_subclassed_models_accept_any_matching_images():
    model = MODEL_FORMS["subclassed"]()
    assert inputs.model_input_shape(model) is None
    maps = kerasviz.saliency(model, np.ones((2, SIZE, SIZE, 3), np.float32), target=1)
    assert maps.shape == (2, SIZE, SIZE)


def test_multi_input_models_take_one_array_per_input_or_refuse_by_name():
    a, b = keras.Input((4, 4, 3)), keras.Input((4, 4, 3))
    model = keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Add()([a, b]))))
    with pytest.raises(TypeError, match="a list of 2 arrays"):
        kerasviz.saliency(model, np.zeros((1, 4, 4, 3)))
    assert len(kerasviz.saliency(model, [np.ones((1, 4, 4, 3))] * 2)) == 2  # a map per input
    with pytest.raises(ValueError, match="single input"):
        kerasviz.guided_backprop(model, [np.ones((1, 4, 4, 3))] * 2)
    with pytest.raises(ValueError, match=r"no spatial layer .* depends on the image input .* alone"):
        kerasviz.grad_cam(model, [np.ones((1, 4, 4, 3))] * 2)  # `add` reads both images: no default
