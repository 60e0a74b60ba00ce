"""Localisation, complexity and agreement metrics on hand-made maps and masks whose answers are known.

Where Quantus defines the metric (`quantus/metrics/localisation/*.py`,
`complexity/effective_complexity.py`, `faithfulness/sufficiency.py`,
`robustness/consistency.py`), the test re-implements its formula in numpy on
the same arrays and asks for the same value.
"""

import numpy as np
import pytest

from kerasviz import metrics


def box(shape=(8, 8), rows=slice(2, 5), cols=slice(2, 6)):
    mask = np.zeros(shape, bool)
    mask[rows, cols] = True
    return mask


def test_relevance_rank_accuracy_counts_the_top_k_pixels_on_the_object():
    mask = box()  # 12 pixels
    on = mask.astype(float)
    half = on.copy()
    half[0, :6] = 2.0  # 6 of the top 12 off the object
    maps = np.stack([on + 0.0, half, -on])
    masks = np.stack([mask] * 3)
    np.testing.assert_allclose(metrics.relevance_rank_accuracy(maps, masks), [1.0, 0.5, 0.0])
    assert np.isnan(metrics.relevance_rank_accuracy(maps[:1], np.zeros((1, 8, 8), bool)))[0]


def quantus_rank_accuracy(a, s):  # quantus RelevanceRankAccuracy.evaluate_batch, one image
    order = np.argsort(-a.ravel())
    k = s.sum()
    return s.ravel()[order][:k].sum() / k


def quantus_top_k(a, s, k):  # quantus TopKIntersection.evaluate_batch, one image
    return s.ravel()[np.argsort(-a.ravel())[:k]].mean()


def quantus_pointing_game(a, s):  # quantus PointingGame.evaluate_batch, one image, no tolerance
    return float(np.any(s[np.argwhere(a == a.max())[:, 0], np.argwhere(a == a.max())[:, 1]]))


def test_pointing_game_is_a_hit_when_the_maximum_lies_on_the_object():
    """Zhang et al.'s pointing game on hand-made maps: where the single largest value sits decides."""
    mask = box()  # rows 2..4, columns 2..5
    inside, outside, near, far = (np.zeros((8, 8)) for _ in range(4))
    inside[3, 4] = 1.0
    inside[0, 0] = 0.9  # a large value off the object changes nothing: only the maximum counts
    outside[7, 7] = 1.0  # 3 rows below, 2 columns right of the corner: sqrt(13) = 3.6 pixels
    outside[3, 3] = 0.9  # most of the mass may sit on the object: a miss all the same
    near[3, 7] = 1.0  # 2 pixels right of the box's last column (5)
    far[6, 7] = 1.0  # 2 rows below, 2 columns right of the box's corner (4, 5): sqrt(8) = 2.83 pixels
    maps = np.stack([inside, outside, near, far])
    masks = np.stack([mask] * 4)
    np.testing.assert_array_equal(metrics.pointing_game(maps, masks), [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(metrics.pointing_game(maps, masks, tolerance=2), [1.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(metrics.pointing_game(maps, masks, tolerance=2.9), [1.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(metrics.pointing_game(maps, masks, tolerance=15), [1.0, 1.0, 1.0, 1.0])
    # Ties: any maximum on the object is a hit; a constant map points nowhere, an empty mask is undefined.
    tied = outside.copy()
    tied[3, 3] = 1.0
    assert metrics.pointing_game(tied[None], mask[None])[0] == 1.0
    assert np.isnan(metrics.pointing_game(np.ones((1, 8, 8)), mask[None]))[0]
    assert np.isnan(metrics.pointing_game(inside[None], np.zeros((1, 8, 8), bool)))[0]
    # Not the energy measure any more: relevance_mass_accuracy is (3/4 of the positive mass inside).
    energy = np.array([[[1.0, 3.0], [-2.0, 0.0]]])
    two = np.array([[[False, True], [True, True]]])
    np.testing.assert_allclose(metrics.relevance_mass_accuracy(np.maximum(energy, 0), two), [3 / 4])
    assert metrics.pointing_game(energy, two)[0] == 1.0
    for bad in (-1, float("nan"), True, "15"):
        with pytest.raises(ValueError, match="`tolerance`"):
            metrics.pointing_game(maps, masks, tolerance=bad)


def test_localisation_metrics_equal_quantus_formulas_on_random_maps():
    rng = np.random.default_rng(0)
    maps = rng.random((4, 10, 10))  # no ties: argsort orders agree
    masks = rng.random((4, 10, 10)) < 0.3
    np.testing.assert_allclose(metrics.relevance_rank_accuracy(maps, masks),
                               [quantus_rank_accuracy(a, s) for a, s in zip(maps, masks)], rtol=1e-6)
    np.testing.assert_allclose(metrics.relevance_mass_accuracy(maps, masks),
                               [(a * s).sum() / a.sum() for a, s in zip(maps, masks)], rtol=1e-6)
    np.testing.assert_allclose(metrics.pointing_game(maps, masks),
                               [quantus_pointing_game(a, s) for a, s in zip(maps, masks)])
    np.testing.assert_allclose(metrics.top_k_intersection(maps, masks, k=7),
                               [quantus_top_k(a, s, 7) for a, s in zip(maps, masks)], rtol=1e-6)
    np.testing.assert_allclose(metrics.top_k_intersection(maps, masks, k=0.07),
                               metrics.top_k_intersection(maps, masks, k=7))
    # AUC: sklearn's roc_auc_score for Quantus; here the pairwise definition it equals.
    expected = [np.mean((a[s][:, None] > a[~s][None]) + 0.5 * (a[s][:, None] == a[~s][None]))
                for a, s in zip(maps, masks)]
    np.testing.assert_allclose(metrics.mask_auc(maps, masks), expected, rtol=1e-6)


def test_auc_and_attribution_localisation_on_known_maps():
    mask = box()
    perfect = mask * 1.0 + 0.01
    np.testing.assert_allclose(metrics.mask_auc(np.stack([perfect, -perfect, np.ones((8, 8))]),
                                                np.stack([mask] * 3)), [1.0, 0.0, 0.5])
    inside = mask * 3.0
    inside[0, 0] = 1.0  # 1 of 37 off the object, the maximum on it
    peak_off = inside.copy()
    peak_off[0, 0] = 10.0
    got = metrics.attribution_localisation(np.stack([inside, peak_off]), np.stack([mask, mask]))
    np.testing.assert_allclose(got, [36 / 37, 0.0], rtol=1e-6)
    weighted = metrics.attribution_localisation(inside[None], mask[None], weighted=True)
    np.testing.assert_allclose(weighted, [36 / 37 * 64 / 12], rtol=1e-6)
    with pytest.raises(ValueError, match="`k`"):
        metrics.top_k_intersection(inside[None], mask[None], k=0)


def test_gini_and_entropy_on_known_vectors():
    """Sparseness (Gini) and complexity (entropy) on vectors whose values are known by hand; effective complexity."""
    maps = np.array([[0, 0, 0, 1.0], [1, 1, 1, 1.0], [0, 0, 1, 1.0]])
    np.testing.assert_allclose(metrics.sparseness(maps), [0.75, 0.0, 0.5], atol=1e-6)
    np.testing.assert_allclose(metrics.complexity(maps), [0.0, np.log(4), np.log(2)], atol=1e-6)
    np.testing.assert_allclose(metrics.effective_complexity(maps), [0.25, 1.0, 0.5])
    tiny = np.array([[1e-7, 0.5, 1.0, 0.0]])
    np.testing.assert_allclose(metrics.effective_complexity(tiny), [0.5])  # 1e-7 < 1e-5 * max: Quantus's count 2
    assert np.isnan(metrics.effective_complexity(np.zeros((1, 4))))[0]


def quantus_sufficiency(a, classes, threshold):  # quantus Sufficiency: seuclidean distances, abs and normalise
    flat = np.abs(a.reshape(len(a), -1))
    flat = flat / flat.max(axis=1, keepdims=True)
    variance = flat.var(axis=0, ddof=1)
    out = []
    for i in range(len(flat)):
        near = [j for j in range(len(flat)) if j != i
                and np.sqrt((((flat[i] - flat[j]) ** 2) / variance).sum()) <= threshold]
        out.append(np.mean([classes[j] == classes[i] for j in near]) if near else np.nan)
    return out


def test_sufficiency_and_consistency_on_hand_made_batches():
    rng = np.random.default_rng(1)
    base = rng.random((2, 6, 6))
    maps = np.stack([base[0], base[0] * 1.001, base[0] + 1e-3 * rng.random((6, 6)), base[1]])
    classes = np.array([3, 3, 5, 7])
    got = metrics.sufficiency(maps, classes, threshold=1.0)
    np.testing.assert_allclose(got, quantus_sufficiency(maps, classes, 1.0))
    np.testing.assert_allclose(got[:3], [0.5, 0.5, 0.0])
    assert np.isnan(got[3])  # no partner
    top = metrics.consistency(maps, classes, top=0.1)
    np.testing.assert_allclose(top[:3], [0.5, 0.5, 0.0])
    assert np.isnan(top[3])
    with pytest.raises(ValueError, match="`classes`"):
        metrics.consistency(maps, classes[:2])
