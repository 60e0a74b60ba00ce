"""RISE on models with several inputs: each image input masked in turn, the other inputs held."""

import keras
import numpy as np
import pytest

import kerasviz
from kerasviz.perturbation import rise as rise_module
from tests.helpers.models import assert_model_unchanged, layer_state, weights_snapshot
from tests.helpers.multi_input_models import image_and_side, image_pair, probability, SIDE, SIZE, two_images_one_used

MASKS, GRID, KEEP = 12, 3, 0.5


def _by_hand(model, arrays, k, cls, baseline, structure=list):
    """Petsiuk et al., section 3: `sum_i score(x with input k masked by M_i) M_i / (N keep)`, others as given."""
    masks = rise_module.rise_masks(MASKS, (SIZE, SIZE), grid=GRID, keep=KEEP, seed=4)
    total = np.zeros([len(arrays[0]), SIZE, SIZE])
    for mask in masks:
        moved = list(arrays)
        moved[k] = baseline + mask[None, :, :, None] * (arrays[k] - baseline)
        total += probability(model, structure(moved), cls)[:, None, None] * mask
    return total / (MASKS * KEEP), masks


@pytest.fixture(scope="module")
def two_images():
    return two_images_one_used()


def test_masking_the_input_the_output_ignores_leaves_only_the_masks_own_noise(two_images):
    pair = image_pair()
    with pytest.warns(RuntimeWarning, match=r"rise \('right'\): the score under the masks of 2 of 2 images"):
        left, right = kerasviz.rise(two_images, pair, 2, masks=MASKS, grid=GRID, keep=KEEP, seed=4)
    expected, masks = _by_hand(two_images, pair, 0, 2, 0.0)
    np.testing.assert_allclose(left, expected, rtol=1e-5, atol=1e-7)
    clean = probability(two_images, pair, 2)
    noise = masks.sum(axis=0) / (MASKS * KEEP)  # the score never moves: clean score times the masks' mean
    np.testing.assert_allclose(right, clean[:, None, None] * noise[None], rtol=1e-5, atol=1e-7)


def test_the_side_input_is_held_and_a_baseline_per_input(two_images):
    model = image_and_side()
    rng = np.random.default_rng(0)
    data = {"image": rng.uniform(0, 1, (2, SIZE, SIZE, 2)).astype(np.float32),
            "side": rng.uniform(-1, 1, (2, SIDE)).astype(np.float32)}
    got = kerasviz.rise(model, data, 1, masks=MASKS, grid=GRID, keep=KEEP, seed=4, baseline={"image": 0.5})
    assert set(got) == {"image"}
    expected, _ = _by_hand(model, [data["image"], data["side"]], 0, 1, 0.5,
                           structure=lambda a: {"image": a[0], "side": a[1]})
    np.testing.assert_allclose(got["image"], expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match=r"`attribute='side'` for `rise`.*\['side'\] are not images"):
        kerasviz.rise(model, data, attribute="side", masks=MASKS)


def test_results_do_not_depend_on_batch_size_and_the_model_is_unchanged():
    keras.backend.clear_session()
    model = two_images_one_used(3)
    pair = image_pair(3, seed=2)
    before = weights_snapshot(model), layer_state(model)
    with pytest.warns(RuntimeWarning, match=r"rise \('right'\)"):
        whole = kerasviz.rise(model, pair, None, masks=MASKS, grid=GRID, batch_size=64, attribute=["left", "right"])
        small = kerasviz.rise(model, pair, None, masks=MASKS, grid=GRID, batch_size=5)
    assert_model_unchanged(model, *before)
    for a, b in zip(whole, small):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
