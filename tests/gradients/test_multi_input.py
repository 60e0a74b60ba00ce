"""Gradient methods on models with several inputs: one map per image input, side inputs fixed or attributed."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from tests.helpers.models import assert_model_unchanged, layer_state, weights_snapshot
from tests.helpers.multi_input_models import CLASSES, SIDE, SIZE, image_and_side, two_images_one_used

METHODS = {
    "saliency": {},
    "gradient_x_input": {},
    "smoothgrad": {"samples": 3, "noise": 0.1},
    "integrated_gradients": {"steps": 6},
}


@pytest.fixture(scope="module")
def model():
    return image_and_side()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return {"image": rng.uniform(0, 1, (3, SIZE, SIZE, 2)).astype(np.float32),
            "side": rng.uniform(-1, 1, (3, SIDE)).astype(np.float32)}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_dict_gives_one_map_per_image_input_and_the_side_input_held_fixed(model, data, method):
    maps = getattr(kerasviz, method)(model, data, 1, **METHODS[method])
    assert set(maps) == {"image"} and maps["image"].shape == (3, SIZE, SIZE) and maps["image"].dtype == np.float32
    every = getattr(kerasviz, method)(model, data, 1, attribute="all", signed=True, **METHODS[method])
    assert every["image"].shape == (3, SIZE, SIZE, 2) and every["side"].shape == (3, SIDE)
    if method in ("saliency", "gradient_x_input"):  # the others move the side input too once it is attributed
        np.testing.assert_allclose(np.abs(every["image"]).max(-1), maps["image"], rtol=1e-5, atol=1e-7)


def test_saliency_is_the_gradient_of_each_input(model, data):
    got = kerasviz.saliency(model, data, [0, 2, 3], attribute="all", signed=True)
    images, side = (tf.constant(data[k]) for k in ("image", "side"))
    with tf.GradientTape() as tape:
        tape.watch([images, side])
        with kerasviz.models.patched(model):
            logits = model({"image": images, "side": side})
        score = tf.gather(logits, [0, 2, 3], batch_dims=1)
    expected = tape.gradient(score, [images, side])
    np.testing.assert_allclose(got["image"], expected[0].numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got["side"], expected[1].numpy(), rtol=1e-5, atol=1e-7)


def test_integrated_gradients_add_up_per_input_to_the_score_change(model, data):
    baseline = {"image": 0.5, "side": np.array([0.1, -0.2, 0.3], np.float32)}
    got = kerasviz.integrated_gradients(model, data, 2, attribute="all", baseline=baseline, steps=64, signed=True)
    moved = {"image": np.full_like(data["image"], 0.5), "side": np.broadcast_to(baseline["side"], data["side"].shape)}
    with kerasviz.models.patched(model):
        change = (np.asarray(model(data))[:, 2] - np.asarray(model(moved))[:, 2])
    total = got["image"].sum(axis=(1, 2, 3)) + got["side"].sum(axis=1)
    np.testing.assert_allclose(total, change, rtol=2e-3, atol=1e-4)
    images_only = kerasviz.integrated_gradients(model, data, 2, baseline=0.5, steps=64, signed=True)
    only_image = {"image": moved["image"], "side": data["side"]}  # the side input stays at its value
    with kerasviz.models.patched(model):
        change = np.asarray(model(data))[:, 2] - np.asarray(model(only_image))[:, 2]
    np.testing.assert_allclose(images_only["image"].sum(axis=(1, 2, 3)), change, rtol=2e-3, atol=1e-4)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_an_input_the_output_ignores_gets_exactly_zero(method):
    keras.backend.clear_session()
    model = two_images_one_used()
    rng = np.random.default_rng(1)
    pair = [rng.uniform(0, 1, (2, SIZE, SIZE, 2)).astype(np.float32) for _ in range(2)]
    with pytest.warns(RuntimeWarning, match=rf"{method} \('right'\): the map of 2 of 2 images is constant"):
        left, right = getattr(kerasviz, method)(model, pair, 1, signed=True, **METHODS[method])
    assert np.abs(left).max() > 0
    np.testing.assert_array_equal(right, 0.0)


def test_a_list_gives_a_list_with_none_for_inputs_held_fixed(model, data):
    listed = kerasviz.gradient_x_input(model, [data["image"], data["side"]], 0)
    assert isinstance(listed, list) and listed[1] is None and listed[0].shape == (3, SIZE, SIZE)
    side_only = kerasviz.saliency(model, [data["image"], data["side"]], 0, attribute=["side"])
    assert side_only[0] is None and side_only[1].shape == (3, SIDE) and (side_only[1] >= 0).all()


@pytest.mark.parametrize("method", ["smoothgrad", "integrated_gradients"])
def test_results_do_not_depend_on_batch_size_and_repeat_with_the_seed(model, data, method):
    whole = getattr(kerasviz, method)(model, data, None, batch_size=64, attribute="all", **METHODS[method])
    small = getattr(kerasviz, method)(model, data, None, batch_size=2, attribute="all", **METHODS[method])
    for key in whole:
        np.testing.assert_allclose(whole[key], small[key], rtol=1e-5, atol=1e-7)


def test_the_model_is_unchanged_and_traced_once(model, data):
    keras.backend.clear_session()
    fresh = image_and_side(3)
    before = weights_snapshot(fresh), layer_state(fresh)
    for cls in range(CLASSES):
        kerasviz.integrated_gradients(fresh, data, cls, steps=4)
    assert_model_unchanged(fresh, *before)
    assert kerasviz.compiled.tracing_count(fresh) == 1


def test_methods_that_take_one_input_say_so_and_name_those_that_take_several(model, data):
    several = kerasviz.registry.names_with("several_inputs")
    assert {"saliency", "gradient_x_input", "smoothgrad", "integrated_gradients", "grad_cam"} <= set(several)
    with pytest.raises(ValueError, match=r"has 2 inputs.*" + ", ".join(several)):
        kerasviz.guided_backprop(model, data)
    with pytest.raises(ValueError, match=r"has 2 inputs"):
        kerasviz.vargrad(model, data)


def test_bad_multi_input_arguments_name_themselves(model, data):
    with pytest.raises(ValueError, match=r"one entry per input.*\['image', 'side'\].*\['image'\]"):
        kerasviz.saliency(model, {"image": data["image"]})
    with pytest.raises(ValueError, match=r"`attribute`: 'meta'"):
        kerasviz.saliency(model, data, attribute="meta")
    with pytest.raises(ValueError, match=r"`images\['side'\]` of shape \(3, 4\)"):
        kerasviz.saliency(model, {"image": data["image"], "side": np.zeros((3, 4), np.float32)})
    with pytest.raises(ValueError, match=r"same number"):
        kerasviz.saliency(model, {"image": data["image"], "side": data["side"][:2]})
    with pytest.raises(ValueError, match=r"`attribute='all'` for a model with one input"):
        kerasviz.saliency(keras.Sequential([keras.Input((SIZE, SIZE, 2)), keras.layers.Flatten(),
                                            keras.layers.Dense(2)]), data["image"], attribute="all")
    with pytest.raises(ValueError, match=r"`magnitude='abs'`.*several inputs"):
        kerasviz.smoothgrad(model, data, magnitude="abs")
