"""Axiomatic, robustness (stability) and randomisation metrics: closed forms on linear models, known failures.

The stability references re-implement Quantus's objectives
(`quantus/functions/...`, `robustness/relative_*_stability.py`,
`local_lipschitz_estimate.py`) in numpy on the same noisy copies.
"""

import functools

import keras
import numpy as np
import pytest

from tests.helpers.models import functional
from kerasviz import compiled, metrics
from kerasviz.metrics import axiomatic, randomisation
from kerasviz.metrics import mosaics as focus_module
from kerasviz.gradients.gradient_input import gradient_x_input
from kerasviz.gradients.integrated import integrated_gradients
from kerasviz.gradients.saliency import saliency

H = W = 12


def linear_model(weights, bias=-1.0):
    """Class 1's logit is `sum(weights * x) + bias`, class 0's is 0, behind a softmax."""
    inputs = keras.Input((H, W, 3))
    dense = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([np.stack([np.zeros(H * W * 3), weights.ravel()], 1).astype(np.float32),
                       np.array([0.0, bias], np.float32)])
    return model


def images(n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, H, W, 3)).astype(np.float32)


def test_completeness_is_0_for_exact_contributions_and_1_for_twice_them():
    keras.backend.clear_session()
    weights = np.random.default_rng(1).normal(0, 0.1, (H, W, 3))
    model, x = linear_model(weights), images()
    exact = (weights[None] * x).sum(-1)  # f(x) - f(0) = sum w x: complete
    np.testing.assert_allclose(metrics.completeness(model, x, exact, 1), 0.0, atol=1e-4)
    np.testing.assert_allclose(metrics.completeness(model, x, 2 * exact, 1), 1.0, atol=1e-4)


def test_integrated_gradients_is_complete_and_saliency_is_not_on_a_relu_network():
    keras.backend.clear_session()
    model = functional()
    x = np.random.default_rng(2).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    ig = integrated_gradients(model, x, 1, signed=True, steps=128).sum(-1)
    assert metrics.completeness(model, x, ig, 1).max() < 0.02
    plain = saliency(model, x, 1, signed=True).sum(-1)
    assert metrics.completeness(model, x, plain, 1).min() > 0.2


def test_non_sensitivity_counts_cells_where_zero_attribution_and_zero_effect_disagree():
    keras.backend.clear_session()
    weights = np.zeros((H, W, 3))
    weights[3:6, 3:6] = 0.2  # the one cell (1, 1) of a 4 x 4 grid of 3 x 3 cells that matters
    model, x = linear_model(weights), images()
    exact = (weights[None] * x).sum(-1)
    np.testing.assert_allclose(metrics.non_sensitivity(model, x, exact, 1, grid=4), 0.0)
    np.testing.assert_allclose(metrics.non_sensitivity(model, x, np.ones((2, H, W)), 1, grid=4), 15 / 16)
    missing = exact.copy()
    missing[:, 3:6, 3:6] = 0.0  # no attribution where the effect is (an all-zero map): that one cell disagrees
    np.testing.assert_allclose(metrics.non_sensitivity(model, x, missing, 1, grid=4), 1 / 16)


def test_input_invariance_passes_gradients_and_fails_gradient_times_input():
    keras.backend.clear_session()
    model = functional()
    x = np.random.default_rng(3).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(metrics.input_invariance(model, x, saliency, 1, shift=0.5), 0.0, atol=1e-4)
    assert metrics.input_invariance(model, x, gradient_x_input, 1, shift=0.5).min() > 0.1
    with axiomatic.shifted_model(model, x, 0.5) as shifted:
        np.testing.assert_allclose(shifted(x + 0.5), model(x), atol=1e-5)  # the same function


def test_input_invariance_traces_once_over_calls_with_other_shifts_and_follows_the_weights():
    """A new shifted model per call was a new trace of the method per call (~96 in a compare run)."""
    keras.backend.clear_session()
    model = functional()
    rng = np.random.default_rng(5)
    batches = [rng.uniform(0, scale, (2, 16, 16, 3)).astype(np.float32) for scale in (1.0, 2.0, 3.0)]
    counts = []
    for x in batches:  # each batch its own default shift (a tenth of its spread)
        assert metrics.input_invariance(model, x, saliency, 1).max() < 1e-4
        assert metrics.input_invariance(model, x, gradient_x_input, 1).min() > 0.0
        with axiomatic.shifted_model(model, x, 0.0) as shifted:
            counts.append(compiled.tracing_count(model) + compiled.tracing_count(shifted))
    assert compiled.tracing_count(shifted) >= 1  # the method ran on the shifted model, traced
    assert counts[0] == counts[1] == counts[2], counts
    before = [w.copy() for w in model.get_weights()]
    model.set_weights([w + 0.1 for w in before])  # new weights: the kept copy takes them on the next borrow
    with axiomatic.shifted_model(model, batches[0], 0.25) as again:
        assert again is shifted
        np.testing.assert_allclose(again(batches[0] + 0.25), model(batches[0]), atol=1e-5)
    model.set_weights(before)


def noisy_copies(x, samples, noise, seed):
    spread = float(x.max() - x.min())
    return [(x + np.stack([noise * spread * np.random.default_rng([seed, s, b]).standard_normal(x.shape[1:])
                           for b in range(len(x))])).astype(np.float32) for s in range(samples)]


def test_stability_metrics_equal_quantus_objectives_on_a_linear_model():
    keras.backend.clear_session()
    weights = np.random.default_rng(4).normal(0, 0.05, (H, W, 3))
    model, x = linear_model(weights, bias=0.0), images(2)
    gxi = functools.partial(gradient_x_input, signed=True)
    # Saliency of a linear model is constant: nothing moves.
    for function in (metrics.local_lipschitz_estimate, metrics.relative_input_stability,
                     metrics.relative_output_stability):
        np.testing.assert_allclose(function(model, x, saliency, 1, samples=3), 0.0, atol=1e-6)
    copies = noisy_copies(x, 3, 0.02, 0)
    a = np.asarray(gxi(model, x, 1), np.float64).reshape(2, -1)
    logits = lambda v: np.log(np.asarray(model(v))[:, 1]) - np.log(np.asarray(model(v))[:, 0])  # noqa: E731
    eps = 1e-6
    lipschitz, ris, ros = [], [], []
    for c in copies:
        b = np.asarray(gxi(model, c, 1), np.float64).reshape(2, -1)
        xs, cs = x.reshape(2, -1).astype(np.float64), c.reshape(2, -1).astype(np.float64)
        lipschitz.append(np.linalg.norm(a - b, axis=1) / np.linalg.norm(xs - cs, axis=1))
        numerator = np.linalg.norm((a - b) / (a + (a == 0) * eps), axis=1)
        ris.append(numerator / np.maximum(np.linalg.norm((xs - cs) / (xs + (xs == 0) * eps), axis=1), eps))
        ros.append(numerator / np.maximum(np.abs(logits(x) - logits(c)), eps))  # 2 logits: class 0's is 0
    kept = [np.argmax(model(c), -1) == np.argmax(model(x), -1) for c in copies]
    for got, ratios in ((metrics.local_lipschitz_estimate(model, x, gxi, 1, samples=3), lipschitz),
                        (metrics.relative_input_stability(model, x, gxi, 1, samples=3), ris),
                        (metrics.relative_output_stability(model, x, gxi, 1, samples=3), ros)):
        expected = np.nanmax(np.where(kept, ratios, np.nan), axis=0)
        np.testing.assert_allclose(got, expected, rtol=2e-3)
    assert (metrics.local_lipschitz_estimate(model, x, gxi, 1, samples=3) <= np.abs(weights).max() + 1e-6).all()


def test_relative_representation_stability_reads_the_classifier_input():
    keras.backend.clear_session()
    model = functional()
    x = np.random.default_rng(5).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    got = metrics.relative_representation_stability(model, x, saliency, samples=2)
    assert got.shape == (2,) and np.isfinite(got).all() and (got > 0).all()
    with pytest.raises(ValueError, match="`noise`"):
        metrics.relative_input_stability(model, x, saliency, noise=0.0)


def model_blind(model, images, target=None, batch_size=None):
    """A 'method' that ignores the model: the image's channel mean (what an edge detector would be)."""
    return np.asarray(images, np.float32).mean(-1)


def test_randomisation_metrics_fail_a_method_blind_to_the_model_and_pass_gradients():
    keras.backend.clear_session()
    model = functional()
    x = np.random.default_rng(6).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(metrics.smooth_mprt(model, x, model_blind, samples=2), 1.0, atol=1e-6)
    np.testing.assert_allclose(metrics.efficient_mprt(model, x, model_blind), 1.0)
    smooth = metrics.smooth_mprt(model, x, saliency, samples=2)
    assert (smooth < metrics.SANITY_THRESHOLD).all(), smooth
    assert (metrics.efficient_mprt(model, x, saliency) != 1.0).all()
    before = [w.copy() for w in model.get_weights()]
    metrics.efficient_mprt(model, x, saliency)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    # The histogram entropy of eMPRT: uniform over 4 of 100 bins is log 4.
    np.testing.assert_allclose(randomisation.discrete_entropy(np.array([[0.0, 1.0, 2.0, 3.0]]), bins=4),
                               [np.log(4)])


def test_focus_is_the_share_of_positive_mass_on_the_images_quadrants():
    keras.backend.clear_session()
    model = functional()
    x = np.random.default_rng(7).uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)
    targets = [0, 1, 2, 3]

    def diagonal(model, images, target=None, batch_size=None):
        maps = np.zeros(images.shape[:3], np.float32)
        maps[:, :8, :8] = 1.0
        maps[:, 8:, 8:] = 3.0
        maps[:, :8, 8:] = -5.0  # negative values do not count
        return maps

    np.testing.assert_allclose(metrics.focus(model, x, diagonal, targets), 1.0)
    np.testing.assert_allclose(metrics.focus(model, x, lambda m, i, t=None, batch_size=None: np.ones(i.shape[:3]),
                                             targets), 0.5)
    assert np.isnan(metrics.focus(model, x, diagonal, [1, 1, 1, 1])).all()  # no other class to mix in
    tiles, partners = focus_module.mosaics(x, np.array(targets))
    assert (partners != np.arange(4)[:, None]).all()
    np.testing.assert_allclose(tiles[0, :8, :8], x[0].reshape(8, 2, 8, 2, 3).mean((1, 3)), atol=1e-5)


def test_continuity_equals_quantus_translation_formula_and_is_0_for_a_constant_gradient():
    keras.backend.clear_session()
    weights = np.random.default_rng(8).normal(0, 0.05, (H, W, 3))
    model, x = linear_model(weights, bias=3.0), images(2)  # class 1 whatever the translation
    np.testing.assert_allclose(metrics.continuity(model, x, saliency, 1, shifts=(-1, 2)), 0.0, atol=1e-6)
    gxi = functools.partial(gradient_x_input, signed=True)

    def normalised(v):  # Quantus: abs, then divided by the max
        v = np.abs(np.asarray(v, np.float64)).reshape(len(v), -1)
        return v / v.max(axis=1, keepdims=True)

    a = normalised(gxi(model, x, 1))
    ratios = []
    for shift in (-1, 2):
        moved = np.zeros_like(x)
        if shift > 0:
            moved[:, :, shift:] = x[:, :, :-shift]
        else:
            moved[:, :, :shift] = x[:, :, -shift:]
        same = np.argmax(model(moved), -1) == np.argmax(model(x), -1)
        ratio = np.abs(a - normalised(gxi(model, moved, 1))).sum(1) / np.linalg.norm((x - moved).reshape(2, -1),
                                                                                     axis=1)
        ratios.append(np.where(same, ratio, -np.inf))
    expected = np.max(ratios, axis=0)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(metrics.continuity(model, x, gxi, 1, shifts=(-1, 2)), expected, rtol=1e-4)
    with pytest.raises(ValueError, match="`shifts`"):
        metrics.continuity(model, x, gxi, 1, shifts=(0,))
