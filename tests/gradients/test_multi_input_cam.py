"""The CAM family on models with several inputs: a map per image input whose branch holds the layer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from tests.helpers.models import assert_model_unchanged, layer_state, weights_snapshot
from tests.helpers.multi_input_models import (CLASSES, SIDE, SIZE, image_and_spatial_side,
                                              two_images_one_used)

CAMS = {
    "grad_cam": {},
    "grad_cam_plus_plus": {},
    "layer_cam": {},
    "score_cam": {},
    "guided_grad_cam": {},
}


def _pair(n=3, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 1, (n, SIZE, SIZE, 2)).astype(np.float32) for _ in range(2)]


@pytest.fixture(scope="module")
def two_images():
    return two_images_one_used()


@pytest.fixture(scope="module")
def spatial_side():
    return image_and_spatial_side()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return {"image": rng.uniform(0, 1, (3, SIZE, SIZE, 2)).astype(np.float32),
            "side": rng.uniform(-1, 1, (3, SIDE)).astype(np.float32)}


@pytest.mark.parametrize("method", sorted(CAMS))
def test_the_input_the_output_ignores_gets_a_zero_map_and_the_other_all_of_it(two_images, method):
    with pytest.warns(RuntimeWarning, match=rf"{method} \('right'\): the map of 3 of 3 images is constant"):
        left, right = getattr(kerasviz, method)(two_images, _pair(), 1, **CAMS[method])
    assert left.shape == right.shape == (3, SIZE, SIZE) and left.dtype == np.float32
    assert (left >= 0).all() and (left.reshape(3, -1).max(axis=1) > 0).all()
    np.testing.assert_array_equal(right, 0.0)


def _reference_grad_cam(model, inputs, layer, cls, size):
    """Grad-CAM by hand: the layer's output and the logit's gradient from a probe model, eqs. 1-2."""
    probe = keras.Model(model.inputs, [model.get_layer(layer).output, model.outputs[0]])
    with tf.GradientTape() as tape:
        activation, logits = probe(inputs)
        score = logits[:, cls]
    gradient = tape.gradient(score, activation).numpy()
    cam = np.maximum(np.einsum("bk,bhwk->bhw", gradient.mean(axis=(1, 2)), activation.numpy()), 0)
    return tf.image.resize(cam[..., None], size, method="bilinear").numpy()[..., 0]


def test_grad_cam_is_the_single_input_formula_at_the_default_layer_with_the_side_input_held(spatial_side, data):
    got = kerasviz.grad_cam(spatial_side, data, 2)
    assert set(got) == {"image"}  # `joint` reads the image and the side map: the image's branch, side held
    expected = _reference_grad_cam(spatial_side, data, "joint", 2, (SIZE, SIZE))
    np.testing.assert_allclose(got["image"], expected, rtol=1e-5, atol=1e-6)
    moved = {"image": data["image"], "side": -data["side"]}
    np.testing.assert_allclose(kerasviz.grad_cam(spatial_side, moved, 2)["image"],
                               _reference_grad_cam(spatial_side, moved, "joint", 2, (SIZE, SIZE)),
                               rtol=1e-5, atol=1e-6)


def test_a_layer_that_depends_on_both_images_maps_both_and_a_dict_chooses_per_input(two_images):
    pair = _pair()
    left, right = kerasviz.grad_cam(two_images, pair, 1, layer="add")
    np.testing.assert_allclose(left, right)  # one map on the layer's grid, resized to each input
    assert (left.reshape(3, -1).max(axis=1) > 0).all()
    np.testing.assert_allclose(left, _reference_grad_cam(two_images, pair, "add", 1, (SIZE, SIZE)),
                               rtol=1e-5, atol=1e-6)
    only_left = kerasviz.grad_cam(two_images, pair, 1, layer="add", attribute="left")
    assert only_left[1] is None
    np.testing.assert_allclose(only_left[0], left)
    named = kerasviz.layer_cam(two_images, dict(zip(["left", "right"], pair)), 1, layer={"left": "left_conv"})
    assert set(named) == {"left"}
    with pytest.warns(RuntimeWarning, match=r"layer_cam \('right'\)"):  # the default maps both, right's is 0
        np.testing.assert_allclose(named["left"], kerasviz.layer_cam(two_images, pair, 1)[0])


def test_score_cam_masks_only_the_mapped_input(two_images):
    pair = _pair(2)
    maps = kerasviz.score_cam(two_images, pair, 3, layer="left_conv")
    assert maps[1] is None
    # By hand: each channel of `left_conv`, upsampled and scaled to [0, 1], masks `left`; `right` stays.
    probe = keras.Model(two_images.inputs, [two_images.get_layer("left_conv").output, two_images.outputs[0]])
    activation = probe(pair)[0].numpy()
    expected = []
    for b in range(2):
        scores = []
        for k in range(activation.shape[-1]):
            mask = tf.image.resize(activation[b, :, :, k][None, ..., None], (SIZE, SIZE)).numpy()[0]
            mask = (mask - mask.min()) / (mask.max() - mask.min()) if mask.max() > mask.min() else 0 * mask
            scores.append(probe([pair[0][b:b + 1] * mask, pair[1][b:b + 1]])[1].numpy()[0, 3])
        weights = np.exp(np.array(scores) - max(scores))
        cam = np.maximum(np.einsum("k,hwk->hw", weights / weights.sum(), activation[b]), 0)
        expected.append(tf.image.resize(cam[None, ..., None], (SIZE, SIZE)).numpy()[0, ..., 0])
    np.testing.assert_allclose(maps[0], np.stack(expected), rtol=1e-4, atol=1e-6)


def test_guided_grad_cam_is_the_guided_gradient_times_the_map(two_images):
    pair = _pair(2)
    signed = kerasviz.guided_grad_cam(two_images, pair, 1, layer="left_conv", signed=True)
    cam = kerasviz.grad_cam(two_images, pair, 1, layer="left_conv")[0]
    # `left_conv` is the only ReLU: guided backprop also keeps only positive gradients into it.
    left = tf.constant(pair[0])
    with tf.GradientTape() as tape:
        tape.watch(left)
        with kerasviz.models.patched(two_images, rule="guided"):
            score = two_images([left, tf.constant(pair[1])])[:, 1]
    guided = tape.gradient(score, left).numpy()
    assert signed[1] is None and signed[0].shape == (2, SIZE, SIZE, 2)
    np.testing.assert_allclose(signed[0], guided * cam[..., None], rtol=1e-5, atol=1e-7)


@pytest.mark.filterwarnings("ignore:guided_grad_cam \\('right'\\)")  # right's guided gradient is 0
@pytest.mark.parametrize("method", sorted(CAMS))
def test_results_do_not_depend_on_batch_size_and_the_model_is_unchanged(two_images, method):
    pair = _pair(3, seed=4)
    before = weights_snapshot(two_images), layer_state(two_images)
    whole = getattr(kerasviz, method)(two_images, pair, None, batch_size=64, layer="add", **CAMS[method])
    single = getattr(kerasviz, method)(two_images, pair, None, batch_size=1, layer="add", **CAMS[method])
    assert_model_unchanged(two_images, *before)
    for a, b in zip(whole, single):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_each_cam_is_traced_once_for_any_class(data):
    keras.backend.clear_session()
    model = image_and_spatial_side(2)
    for cls in range(CLASSES):
        kerasviz.grad_cam(model, data, cls)
    assert kerasviz.compiled.tracing_count(model) == 1


def test_layers_that_map_no_image_and_side_inputs_are_refused_by_name(spatial_side, data):
    with pytest.raises(ValueError, match=r"`layer='side_map'`.*depends on no image input.*\['side'\]"):
        kerasviz.grad_cam(spatial_side, data, layer="side_map")
    with pytest.raises(ValueError, match=r"`attribute='side'` for `score_cam`: a CAM maps image inputs"):
        kerasviz.score_cam(spatial_side, data, attribute="side")
    with pytest.raises(ValueError, match=r"`attribute='right'` and `layer='left_conv'`.*\['right'\]"):
        kerasviz.grad_cam(two_images_one_used(), _pair(), layer="left_conv", attribute="right")
    with pytest.raises(ValueError, match=r"`layer\['side'\]='joint'`.*does not depend on the input 'side'"):
        kerasviz.grad_cam(spatial_side, data, layer={"side": "joint"})
    with pytest.raises(ValueError, match=r"spatial output"):
        kerasviz.layer_cam(spatial_side, data, layer="side")
    with pytest.raises(ValueError, match=r"`attribute='all'` for a model with one input"):
        kerasviz.grad_cam(keras.Sequential([keras.Input((SIZE, SIZE, 2)), keras.layers.Conv2D(2, 3),
                                            keras.layers.Flatten(), keras.layers.Dense(2)]),
                          data["image"], attribute="all")


def test_a_layer_shared_between_two_images_is_refused():
    shared = keras.layers.Conv2D(3, 3, activation="relu", name="shared")
    left, right = keras.Input((SIZE, SIZE, 2), name="left"), keras.Input((SIZE, SIZE, 2), name="right")
    merged = keras.layers.Add()([shared(left), shared(right)])
    model = keras.Model([left, right], keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(merged)))
    with pytest.raises(ValueError, match=r"`layer='shared'`.*called 2 times"):
        kerasviz.grad_cam(model, _pair(), layer="shared")
    with pytest.raises(ValueError, match=r"no spatial layer \[B, h, w, K\] that depends on the image input 'left'"):
        kerasviz.grad_cam(model, _pair())
