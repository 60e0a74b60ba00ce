"""The literature's faithfulness metrics against their formulas, closed forms and a planted feature.

Each `reference_*` below re-implements, in plain numpy on the model's eager
outputs, the formula of the paper as Quantus (understandable-machine-
intelligence-lab/Quantus, `quantus/metrics/faithfulness/`) evaluates it: one
perturbed image at a time, no graph, no batching. Our batched, compiled
value must equal it on tiny cases.
"""

import keras
import numpy as np
import pytest

from kerasviz import metrics
from kerasviz.metrics import perturbed

H = W = 12
REGION = (slice(2, 6), slice(3, 7))  # the planted feature: it raises class 1
DISTRACTOR = (slice(7, 11), slice(6, 10))  # a bright patch that lowers class 1


def planted_model(positive=0.12, negative=-0.06, bias=-2.0):
    """Class 1's logit is `positive * sum(x in REGION) + negative * sum(x in DISTRACTOR) + bias`; class 0's is 0."""
    weights = np.zeros((H, W, 3))
    weights[REGION] = positive
    weights[DISTRACTOR] = negative
    inputs = keras.Input((H, W, 3))
    dense = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([np.stack([np.zeros(H * W * 3), weights.ravel()], 1).astype(np.float32),
                       np.array([0.0, bias], np.float32)])
    return model, weights


def planted_images(n=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 0.25, (n, H, W, 3))
    images[:, REGION[0], REGION[1]] = rng.uniform(0.7, 1.0, (n, 4, 4, 3))
    images[:, DISTRACTOR[0], DISTRACTOR[1]] = rng.uniform(0.7, 1.0, (n, 4, 4, 3))
    return images.astype(np.float32)


def contributions(weights, images):
    """The exact signed contribution of each pixel to class 1's logit (against a black baseline)."""
    return (weights[None] * images).sum(-1)


def shuffled(maps, seed=1):
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(m.ravel()).reshape(m.shape) for m in maps])


def probability(model, images, klass=1):
    return np.asarray(model(np.asarray(images, np.float32), training=False))[:, klass].astype(np.float64)


def logit(model, images, klass=1):
    p = np.asarray(model(np.asarray(images, np.float32), training=False), np.float64)
    return np.log(p[:, klass]) - np.log(p[:, 0])  # the logit difference: class 0's logit is 0 here


# ------------------------------------------------------------------- the planted feature


PLANTED = {  # name: (call, higher is better)
    "deletion_auc": (lambda m, x, a: metrics.deletion(m, x, a, 1).auc, False),
    "pixel_flipping_morf": (lambda m, x, a: metrics.pixel_flipping(m, x, a, 1, order="morf"), True),
    "pixel_flipping_lerf": (lambda m, x, a: metrics.pixel_flipping(m, x, a, 1, order="lerf"), False),
    "region_perturbation_morf": (lambda m, x, a: metrics.region_perturbation(m, x, a, 1, patch=2), True),
    "region_perturbation_lerf": (lambda m, x, a: metrics.region_perturbation(m, x, a, 1, order="lerf",
                                                                            patch=2), False),
    "selectivity": (lambda m, x, a: metrics.selectivity(m, x, a, 1, patch=2), False),
    "irof": (lambda m, x, a: metrics.irof(m, x, a, 1, n_segments=20), True),
    "faithfulness_estimate": (lambda m, x, a: metrics.faithfulness_estimate(m, x, a, 1, grid=6), True),
    "monotonicity_correlation": (lambda m, x, a: metrics.monotonicity_correlation(m, x, a, 1, grid=6), True),
    "sensitivity_n": (lambda m, x, a: metrics.sensitivity_n(m, x, a, 1, grid=6, samples=16), True),
    "mufidelity": (lambda m, x, a: metrics.mufidelity(m, x, a, 1, grid=6, samples=32), True),
    "infidelity": (lambda m, x, a: metrics.infidelity(m, x, a, 1, grid=6, samples=32), False),
    "road_morf": (lambda m, x, a: metrics.road(m, x, a, 1), False),
    "road_lerf": (lambda m, x, a: metrics.road(m, x, a, 1, order="lerf"), True),
    "average_drop": (lambda m, x, a: metrics.average_drop(m, x, a, 1), False),
    "average_gain": (lambda m, x, a: metrics.average_gain(m, x, a, 1), True),
    "increase_in_confidence": (lambda m, x, a: metrics.increase_in_confidence(m, x, a, 1), True),
}


def test_every_faithfulness_metric_ranks_the_planted_features_map_above_a_shuffled_one():
    """The exact contributions of a linear model, against the same values shuffled over the pixels.

    Arya et al.'s `monotonicity` is left out here, and tested below: on a
    model where some pixels lower the class, adding them back in increasing
    order of a correct signed map lowers the score by design, so a correct
    map need not beat a shuffled one on it.
    """
    keras.backend.clear_session()
    model, weights = planted_model()
    images = planted_images()
    correct = contributions(weights, images)
    wrong = shuffled(correct)
    failures = []
    for name, (call, higher) in PLANTED.items():
        good, bad = float(np.nanmean(call(model, images, correct))), float(np.nanmean(call(model, images, wrong)))
        if not (good > bad if higher else good < bad):
            failures.append((name, good, bad))
    assert not failures, failures


# ------------------------------------------------------------------- formulas on tiny cases


def reference_removal_curve(model, images, maps, baseline, counts, morf=True, region=None, reduce="sum"):
    """Quantus's loop: for each step, the first `count` units of the order set to `baseline`, one image at a time."""
    curves = []
    for image, values in zip(images, maps):
        units = np.arange(H * W).reshape(H, W) if region is None else region
        n_units = units.max() + 1
        totals = np.array([values[units == u].sum() if reduce == "sum" else values[units == u].mean()
                           for u in range(n_units)])
        ranked = sorted(range(n_units), key=lambda u: ((-totals[u] if morf else totals[u]), u))
        row = []
        for count in counts:
            removed = np.isin(units, ranked[:count])[..., None]
            row.append(probability(model, np.where(removed, baseline, image)[None])[0])
        curves.append(row)
    return np.array(curves)


def test_pixel_flipping_and_region_perturbation_equal_the_aopc_of_the_numpy_curve():
    keras.backend.clear_session()
    model, weights = planted_model()
    images = planted_images(2)
    maps = contributions(weights, images) + np.random.default_rng(3).normal(0, 0.01, (2, H, W))
    counts = np.arange(5) * H * W // 4
    for order, morf in (("morf", True), ("lerf", False)):
        curve = reference_removal_curve(model, images, maps, 0.0, counts, morf)
        expected = (curve[:, :1] - curve).mean(1)  # Samek et al.: AOPC = mean_k f(x_0) - f(x_k), k = 0..L
        np.testing.assert_allclose(metrics.pixel_flipping(model, images, maps, 1, order=order, steps=4), expected,
                                   atol=1e-5)
        regions, _ = perturbed.region_ids(H, W, 3)
        curve = reference_removal_curve(model, images, maps, 0.5, np.arange(7), morf, region=regions)
        np.testing.assert_allclose(
            metrics.region_perturbation(model, images, maps, 1, order=order, patch=3, regions=6, baseline=0.5),
            (curve[:, :1] - curve).mean(1), atol=1e-5)


def test_selectivity_and_irof_equal_their_curves_areas():
    keras.backend.clear_session()
    model, weights = planted_model()
    images = planted_images(2)
    maps = contributions(weights, images) + np.random.default_rng(4).normal(0, 0.01, (2, H, W))
    regions, n_regions = perturbed.region_ids(H, W, 4)
    curve = reference_removal_curve(model, images, maps, 0.0, np.arange(n_regions + 1), region=regions)
    np.testing.assert_allclose(metrics.selectivity(model, images, maps, 1, patch=4),
                               np.trapezoid(curve, np.linspace(0, 1, n_regions + 1), axis=1), atol=1e-5)
    # IROF on given segments: vertical stripes of width 3; removed superpixels take each image's mean colour.
    segments = np.broadcast_to(np.arange(W)[None, :] // 3, (2, H, W)).astype(np.int32)
    expected = []
    for b in range(2):
        mean = images[b].mean(axis=(0, 1))
        curve = reference_removal_curve(model, images[b:b + 1], maps[b:b + 1], mean, np.arange(5),
                                        region=segments[b], reduce="mean")[0]
        relative = curve / curve[0]
        expected.append(1 - np.trapezoid(relative, np.linspace(0, 1, 5)))  # Rieger & Hansen: area over the curve
    np.testing.assert_allclose(metrics.irof(model, images, maps, 1, segments=segments), expected, atol=1e-5)


def test_faithfulness_estimate_is_the_correlation_of_single_cell_removals_and_1_for_exact_contributions():
    keras.backend.clear_session()
    model, weights = planted_model()
    images = planted_images(2)
    noisy = contributions(weights, images) + np.random.default_rng(5).normal(0, 0.2, (2, H, W))
    cells = (np.arange(H)[:, None] // 4) * 3 + np.arange(W)[None, :] // 4  # grid=3
    expected = []
    for image, values in zip(images, noisy):  # Alvarez-Melis & Jaakkola: each cell alone, from the original image
        clean = logit(model, image[None])[0]
        lost = [clean - logit(model, np.where((cells == c)[..., None], 0.0, image)[None])[0] for c in range(9)]
        sums = [values[cells == c].sum() for c in range(9)]
        expected.append(np.corrcoef(sums, lost)[0, 1])
    np.testing.assert_allclose(metrics.faithfulness_estimate(model, images, noisy, 1, grid=3), expected, atol=1e-4)
    exact = metrics.faithfulness_estimate(model, images, contributions(weights, images), 1, grid=3)
    np.testing.assert_allclose(exact, 1.0, atol=1e-5)  # a linear model: contributions are exact


def test_infidelity_is_yehs_optimally_scaled_error_and_0_for_exact_contributions():
    keras.backend.clear_session()
    model, weights = planted_model()
    images = planted_images(2)
    exact = contributions(weights, images)
    np.testing.assert_allclose(metrics.infidelity(model, images, exact, 1, grid=4, samples=16), 0.0, atol=1e-6)
    np.testing.assert_allclose(metrics.infidelity(model, images, 5.0 * exact, 1, grid=4, samples=16), 0.0,
                               atol=1e-6)  # scale-free
    noisy = exact + np.random.default_rng(6).normal(0, 0.2, exact.shape)
    got = metrics.infidelity(model, images, noisy, 1, grid=4, subset=0.25, samples=16, seed=3)
    cells = (np.arange(H)[:, None] // 3) * 4 + np.arange(W)[None, :] // 3
    for b, (image, values) in enumerate(zip(images, noisy)):
        rng = np.random.default_rng([3, b])
        ranks = np.argsort(np.argsort(rng.random((16, 16)), axis=1), axis=1)
        clean = logit(model, image[None])[0]
        explained, change = [], []
        for keep in ranks >= 4:
            removed = ~keep[cells]
            explained.append(values[removed].sum())
            change.append(clean - logit(model, np.where(removed[..., None], 0.0, image)[None])[0])
        explained, change = np.array(explained), np.array(change)
        beta = explained @ change / (explained @ explained)
        np.testing.assert_allclose(got[b], np.mean((beta * explained - change) ** 2) / np.mean(change ** 2),
                                   rtol=1e-4)
        assert got[b] > 0.01


def test_monotonicity_is_1_when_adding_pixels_never_lowers_the_score_and_0_when_each_step_does():
    keras.backend.clear_session()
    model, weights = planted_model(negative=0.0)
    images = planted_images(2)
    maps = contributions(weights, images)
    np.testing.assert_array_equal(metrics.monotonicity(model, images, maps, 1, steps=6), 1.0)
    # Every pixel lowers class 1: each group added back lowers it (Quantus's `np.all(np.diff(preds) >= 0)` False).
    falling, _ = planted_model(positive=-0.05, negative=-0.05, bias=2.0)
    weights_all = np.full((H, W, 3), -0.05)
    dense = falling.layers[-1]
    dense.set_weights([np.stack([np.zeros(H * W * 3), weights_all.ravel()], 1).astype(np.float32),
                       np.array([0.0, 2.0], np.float32)])
    np.testing.assert_array_equal(metrics.monotonicity(falling, images, maps, 1, steps=6), 0.0)
    # The share of non-falling steps on a mixed model equals the numpy curve's.
    mixed, mixed_weights = planted_model()
    ranks = metrics.pixel_ranks(-maps)
    expected = []
    for image, rank in zip(images, ranks):
        curve = [probability(mixed, np.where((rank < k * H * W // 6)[..., None], image, 0.0)[None])[0]
                 for k in range(7)]
        expected.append(np.mean(np.diff(curve) >= 0))
    np.testing.assert_allclose(metrics.monotonicity(mixed, images, maps, 1, steps=6), expected)


def reference_imputation(image, removed):
    """Rong et al.'s linear system solved exactly: each removed pixel the weighted mean of its neighbours."""
    index = -np.ones(removed.shape, int)
    index[removed] = np.arange(removed.sum())
    n = removed.sum()
    matrix = np.zeros((n, n))
    rhs = np.zeros((n, image.shape[-1]))
    for (i, j), row in zip(np.argwhere(removed), range(n)):
        total = 0.0
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                y, x = i + di, j + dj
                if (di, dj) == (0, 0) or not (0 <= y < H and 0 <= x < W):
                    continue
                weight = perturbed.IMPUTATION_KERNEL[di + 1, dj + 1]
                total += weight
                if removed[y, x]:
                    matrix[row, index[y, x]] -= weight
                else:
                    rhs[row] += weight * image[y, x]
        matrix[row, row] += total
    out = image.astype(np.float64).copy()
    out[removed] = np.linalg.solve(matrix, rhs)
    return out


def test_road_without_noise_equals_the_mean_probability_of_the_exactly_imputed_images():
    keras.backend.clear_session()
    model, weights = planted_model()
    images = planted_images(2)
    maps = contributions(weights, images) + np.random.default_rng(7).normal(0, 0.01, (2, H, W))
    fractions = (0.1, 0.3, 0.5)
    ranks = metrics.pixel_ranks(maps)
    expected = []
    for image, rank in zip(images, ranks):
        imputed = [reference_imputation(image, rank < int(f * H * W)) for f in fractions]
        expected.append(probability(model, np.stack(imputed)).mean())
    got = metrics.road(model, images, maps, 1, fractions=fractions, noise=0.0, iterations=400)
    np.testing.assert_allclose(got, expected, atol=2e-4)
    noisy = metrics.road(model, images, maps, 1, fractions=fractions, noise=0.05, iterations=400, seed=1)
    assert not np.allclose(noisy, got, atol=1e-6)
    np.testing.assert_array_equal(noisy, metrics.road(model, images, maps, 1, fractions=fractions, noise=0.05,
                                                      iterations=400, seed=1, batch_size=2))


def test_average_drop_gain_and_increase_follow_chattopadhay_and_zhang():
    keras.backend.clear_session()
    model, weights = planted_model()
    images = planted_images(3)
    maps = np.random.default_rng(8).uniform(-0.2, 1.0, (3, H, W))
    clean = probability(model, images)
    scaled = np.maximum(maps, 0) / np.maximum(maps, 0).max(axis=(1, 2), keepdims=True)
    seen = probability(model, images * scaled[..., None])  # x * m: the baseline 0.0
    np.testing.assert_allclose(metrics.average_drop(model, images, maps, 1), np.maximum(0, clean - seen) / clean,
                               atol=1e-5)
    np.testing.assert_allclose(metrics.average_gain(model, images, maps, 1),
                               np.maximum(0, seen - clean) / (1 - clean), atol=1e-5)
    np.testing.assert_array_equal(metrics.increase_in_confidence(model, images, maps, 1), seen > clean)


def test_removal_metrics_do_not_depend_on_batch_size_and_refuse_bad_arguments():
    keras.backend.clear_session()
    model, weights = planted_model()
    images = planted_images(3)
    maps = contributions(weights, images)
    for call in (metrics.pixel_flipping, metrics.selectivity, metrics.faithfulness_estimate, metrics.infidelity):
        np.testing.assert_allclose(call(model, images, maps, 1, batch_size=5), call(model, images, maps, 1,
                                                                                     batch_size=64), atol=1e-6)
    with pytest.raises(ValueError, match="`order`"):
        metrics.pixel_flipping(model, images, maps, order="random")
    with pytest.raises(ValueError, match="`fractions`"):
        metrics.road(model, images, maps, fractions=(0.5, 2.0))
    with pytest.raises(ValueError, match="maps"):
        metrics.region_perturbation(model, images, maps[:, :4])
