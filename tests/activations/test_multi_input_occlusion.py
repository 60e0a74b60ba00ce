"""Occlusion on models with several inputs: each image input occluded in turn, the other inputs held."""

import keras
import numpy as np
import pytest

import kerasviz
from tests.helpers.models import assert_model_unchanged, layer_state, weights_snapshot
from tests.helpers.multi_input_models import CLASSES, image_and_side, image_pair, probability, SIDE, SIZE, two_images_one_used

PATCH, STRIDE = 3, 2  # positions 0, 2, 3 on 6 pixels (the last one flush with the border)
STARTS = [0, 2, 3]


def _by_hand(model, arrays, k, cls, colour, structure=list):
    """`[B, 3, 3]`: the probability of `cls` with input `k` occluded at each position, the others as given."""
    grid = np.zeros([len(arrays[0]), 3, 3], np.float32)
    for i, top in enumerate(STARTS):
        for j, left in enumerate(STARTS):
            moved = [a.copy() for a in arrays]
            moved[k][:, top:top + PATCH, left:left + PATCH, :] = colour
            grid[:, i, j] = probability(model, structure(moved), cls)
    return grid


@pytest.fixture(scope="module")
def two_images():
    return two_images_one_used()


def test_occluding_the_input_the_output_ignores_changes_nothing(two_images):
    pair = image_pair()
    with pytest.warns(RuntimeWarning, match=r"occlusion \('right'\): the map of 2 of 2 images is constant"):
        left, right = kerasviz.occlusion(two_images, pair, 2, patch=PATCH, stride=STRIDE, value=0.5)
    clean = probability(two_images, pair, 2)
    np.testing.assert_allclose(right, np.broadcast_to(clean[:, None, None], right.shape), rtol=1e-6)
    np.testing.assert_allclose(left, _by_hand(two_images, pair, 0, 2, 0.5), rtol=1e-5, atol=1e-7)
    assert (np.abs(left - clean[:, None, None]).reshape(2, -1).max(axis=1) > 1e-4).all()  # all of it on `left`


def test_the_side_input_is_held_at_its_values():
    model = image_and_side()
    rng = np.random.default_rng(0)
    data = {"image": rng.uniform(0, 1, (3, SIZE, SIZE, 2)).astype(np.float32),
            "side": rng.uniform(-1, 1, (3, SIDE)).astype(np.float32)}
    got = kerasviz.occlusion(model, data, 1, patch=PATCH, stride=STRIDE)
    assert set(got) == {"image"} and got["image"].shape == (3, 3, 3)
    colour = data["image"].mean(axis=(1, 2))[:, None, None, :]  # `value=None`: each image's mean colour
    expected = _by_hand(model, [data["image"], data["side"]], 0, 1, colour,
                        structure=lambda a: {"image": a[0], "side": a[1]})
    np.testing.assert_allclose(got["image"], expected, rtol=1e-5, atol=1e-7)
    assert got["image"].reshape(3, -1).std(axis=1).min() > 0


def test_a_value_per_input_and_the_list_structure(two_images):
    pair = image_pair()
    named = kerasviz.occlusion(two_images, {"left": pair[0], "right": pair[1]}, 0, patch=PATCH, stride=STRIDE,
                               value={"left": 1.0}, attribute="left")
    assert set(named) == {"left"}
    np.testing.assert_allclose(named["left"], _by_hand(two_images, pair, 0, 0, 1.0), rtol=1e-5, atol=1e-7)
    listed = kerasviz.occlusion(two_images, pair, 0, patch=PATCH, stride=STRIDE, value=1.0, attribute=[0])
    assert listed[1] is None
    np.testing.assert_allclose(listed[0], named["left"])


def test_results_do_not_depend_on_batch_size_the_model_is_unchanged_and_traced_once():
    keras.backend.clear_session()
    model = two_images_one_used(5)
    pair = image_pair(3, seed=2)
    before = weights_snapshot(model), layer_state(model)
    with pytest.warns(RuntimeWarning, match=r"occlusion \('right'\)"):
        whole = kerasviz.occlusion(model, pair, None, patch=PATCH, stride=STRIDE, batch_size=64)
        single = kerasviz.occlusion(model, pair, None, patch=PATCH, stride=STRIDE, batch_size=1)
        for cls in range(CLASSES):
            kerasviz.occlusion(model, pair, cls, patch=PATCH, stride=STRIDE, batch_size=5)
    assert_model_unchanged(model, *before)
    for a, b in zip(whole, single):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert kerasviz.compiled.tracing_count(model) == 2  # one occluder function per image input


def test_occluding_a_side_input_or_incremental_inference_is_refused_by_name():
    model = image_and_side()
    data = {"image": np.zeros((1, SIZE, SIZE, 2), np.float32), "side": np.zeros((1, SIDE), np.float32)}
    with pytest.raises(ValueError, match=r"`attribute='side'` for `occlusion`.*\['side'\] are not images"):
        kerasviz.occlusion(model, data, attribute="side")
    with pytest.raises(ValueError, match=r"`inference='incremental'` for a model with several inputs"):
        kerasviz.occlusion(model, data, inference="incremental")
    with pytest.raises(ValueError, match=r"`attribute=0` for a model with one input"):
        kerasviz.occlusion(keras.Sequential([keras.Input((SIZE, SIZE, 2)), keras.layers.Flatten(),
                                             keras.layers.Dense(2)]), data["image"], attribute=0)
