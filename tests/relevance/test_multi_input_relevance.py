"""LRP and DeepLIFT on models with several inputs: relevance flows to each input, and adds up over all of them."""

import keras
import numpy as np
import pytest

import kerasviz
from tests.helpers.models import assert_model_unchanged, layer_state, weights_snapshot
from tests.helpers.multi_input_models import SIDE, SIZE, image_and_spatial_side, two_images_one_used


@pytest.fixture(scope="module")
def model():
    return image_and_spatial_side()  # ReLU convs and dense layers, no bias (zeros): LRP-0 conserves exactly


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return {"image": rng.uniform(0, 1, (3, SIZE, SIZE, 2)).astype(np.float32),
            "side": rng.uniform(-1, 1, (3, SIDE)).astype(np.float32)}


def _logits(model, inputs, cls):
    with kerasviz.models.patched(model):
        return np.asarray(model(inputs))[:, cls]


def _pair(n=2, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 1, (n, SIZE, SIZE, 2)).astype(np.float32) for _ in range(2)]


def test_lrp_relevance_over_all_inputs_sums_to_the_score_on_a_bias_free_net(model, data):
    got = kerasviz.lrp(model, data, 1, composite="lrp_0", attribute="all", signed=True)
    assert got["image"].shape == (3, SIZE, SIZE, 2) and got["side"].shape == (3, SIDE)
    total = got["image"].sum(axis=(1, 2, 3)) + got["side"].sum(axis=1)
    np.testing.assert_allclose(total, _logits(model, data, 1), rtol=1e-4, atol=1e-6)
    assert np.abs(got["side"]).max() > 0 and np.abs(got["image"]).max() > 0
    maps = kerasviz.lrp(model, data, 1, composite="lrp_0")  # the image inputs' maps: summed over channels
    assert set(maps) == {"image"}
    np.testing.assert_allclose(maps["image"], got["image"].sum(axis=-1), rtol=1e-5, atol=1e-7)


def test_lrp_0_is_gradient_times_input_per_input_where_biases_absorb_the_rest():
    keras.backend.clear_session()
    two = two_images_one_used()  # `left_conv` has biases of 1
    pair = _pair()
    with pytest.warns(RuntimeWarning, match=r"\('right'\)"):
        lrp = kerasviz.lrp(two, pair, 2, composite="lrp_0", signed=True)
        reference = kerasviz.gradient_x_input(two, pair, 2, signed=True)
    for got, expected in zip(lrp, reference):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    absorbed = _logits(two, pair, 2) - lrp[0].sum(axis=(1, 2, 3))
    assert (np.abs(absorbed) > 1e-3).all()  # the biases' share: not conserved, and said so in the docs


@pytest.mark.parametrize("method", ["lrp", "deeplift"])
def test_the_input_the_output_ignores_gets_no_relevance(method):
    two = two_images_one_used()
    with pytest.warns(RuntimeWarning, match=rf"{method} \('right'\): the map of 2 of 2 images is constant"):
        left, right = getattr(kerasviz, method)(two, _pair(), 1, signed=True)
    assert np.abs(left).max() > 0
    np.testing.assert_array_equal(right, 0.0)


def test_deeplift_contributions_sum_to_the_score_change_of_the_attributed_inputs(model, data):
    baseline = {"image": 0.25, "side": np.array([0.5, -0.5, 0.1], np.float32)}
    every = kerasviz.deeplift(model, data, 3, attribute="all", baseline=baseline, signed=True)
    moved = {"image": np.full_like(data["image"], 0.25), "side": np.broadcast_to(baseline["side"], (3, SIDE))}
    total = every["image"].sum(axis=(1, 2, 3)) + every["side"].sum(axis=1)
    np.testing.assert_allclose(total, _logits(model, data, 3) - _logits(model, moved, 3), rtol=1e-4, atol=1e-6)
    images_only = kerasviz.deeplift(model, data, 3, baseline=0.25, signed=True)  # the side input held
    held = {"image": moved["image"], "side": data["side"]}
    np.testing.assert_allclose(images_only["image"].sum(axis=(1, 2, 3)),
                               _logits(model, data, 3) - _logits(model, held, 3), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["lrp", "deeplift"])
def test_results_do_not_depend_on_batch_size_and_the_model_is_unchanged(model, data, method):
    before = weights_snapshot(model), layer_state(model)
    whole = getattr(kerasviz, method)(model, data, None, batch_size=64, attribute="all")
    single = getattr(kerasviz, method)(model, data, None, batch_size=1, attribute="all")
    listed = getattr(kerasviz, method)(model, [data["image"], data["side"]], None, batch_size=2, attribute="all")
    assert_model_unchanged(model, *before)
    for key, index in (("image", 0), ("side", 1)):
        np.testing.assert_allclose(whole[key], single[key], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(whole[key], listed[index], rtol=1e-5, atol=1e-7)


def test_layers_no_rule_handles_and_bad_arguments_are_named(data):
    side = keras.Input((SIDE,), name="side")
    image = keras.Input((SIZE, SIZE, 2), name="image")
    merged = keras.layers.Concatenate()([keras.layers.Flatten()(image), keras.layers.Dense(4, activation="tanh",
                                                                                           name="squash")(side)])
    model = keras.Model({"image": image, "side": side}, keras.layers.Dense(2)(merged))
    with pytest.raises(ValueError, match=r"no LRP rule handles .*squash"):
        kerasviz.lrp(model, data)
    with pytest.raises(ValueError, match=r"`attribute`: 'meta'"):
        kerasviz.deeplift(model, data, attribute="meta")
    with pytest.raises(ValueError, match=r"images\['image'\]"):
        kerasviz.lrp(model, {"image": data["image"] * 300, "side": data["side"]}, value_range=(0, 255))
    with pytest.raises(ValueError, match=r"`attribute=0` for a model with one input"):
        kerasviz.deeplift(keras.Sequential([keras.Input((SIZE, SIZE, 2)), keras.layers.Flatten(),
                                            keras.layers.Dense(2)]), data["image"], attribute=0)
