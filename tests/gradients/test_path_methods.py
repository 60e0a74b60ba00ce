"""Integrated Gradients' rules and baselines, Blur IG, Expected Gradients and Guided IG, against numpy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz.gradients.baselines import blur_integrated_gradients, expected_gradients
from kerasviz.gradients.guided_ig import guided_integrated_gradients
from kerasviz.gradients.integrated import gaussian_blur, integrated_gradients

SHAPE = (5, 5, 2)
N = int(np.prod(SHAPE))


@pytest.fixture(scope="module")
def tanh_net():
    """`S_c(x) = v_c . tanh(W^T flatten(x) + b)`: a curved score whose gradient is written out."""
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(),
                              keras.layers.Dense(7, activation="tanh"), keras.layers.Dense(3)])
    rng = np.random.default_rng(4)
    w, b = rng.normal(size=(N, 7)) * 0.4, rng.normal(size=7) * 0.3
    v = rng.normal(size=(7, 3))
    model.layers[-2].set_weights([w.astype(np.float32), b.astype(np.float32)])
    model.layers[-1].set_weights([v.astype(np.float32), np.zeros(3, np.float32)])
    w, b, v = (np.asarray(a, np.float32).astype(np.float64) for a in (w, b, v))

    def score(x, c):
        return np.tanh(x.reshape(len(x), -1) @ w + b) @ v[:, c]

    def gradient(x, c):
        hidden = np.tanh(x.reshape(len(x), -1) @ w + b)
        return ((1 - hidden**2) * v[:, c]) @ w.T

    images = rng.uniform(0, 1, (3, *SHAPE)).astype(np.float32)
    return model, score, gradient, images


def numpy_rule(rule, m):
    """`(alphas, weights)` of textbook quadrature of `int_0^1 f` with m intervals."""
    k = np.arange(m)
    if rule == "midpoint":
        return (k + 0.5) / m, np.full(m, 1 / m)
    if rule == "left":
        return k / m, np.full(m, 1 / m)
    if rule == "right":
        return (k + 1) / m, np.full(m, 1 / m)
    weights = np.full(m + 1, 1 / m)
    weights[[0, -1]] /= 2
    return np.arange(m + 1) / m, weights


@pytest.mark.parametrize("rule", ["midpoint", "left", "right", "trapezoid"])
def test_ig_rules_match_numpy_quadrature(tanh_net, rule):
    model, _, gradient, images = tanh_net
    baseline = np.full(SHAPE, 0.25, np.float32)
    c = 1
    alphas, weights = numpy_rule(rule, 9)
    difference = (images - baseline).reshape(3, -1).astype(np.float64)
    expected = sum(w * gradient(baseline.reshape(1, -1) + a * difference, c) for a, w in zip(alphas, weights))
    expected = (difference * expected).reshape(images.shape)
    result = integrated_gradients(model, images, c, baseline=baseline, steps=9, rule=rule, signed=True,
                                  batch_size=4)
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-6)


def test_ig_completeness_converges_faster_with_midpoint_and_trapezoid(tanh_net):
    model, score, _, images = tanh_net
    gap = score(images, 2) - score(np.zeros_like(images), 2)
    errors = {rule: np.abs(integrated_gradients(model, images, 2, steps=16, rule=rule, signed=True)
                           .reshape(3, -1).sum(1) - gap).max()
              for rule in ("midpoint", "left", "right", "trapezoid")}
    assert max(errors["midpoint"], errors["trapezoid"]) < 0.2 * min(errors["left"], errors["right"]), errors
    assert errors["midpoint"] < 1e-3 * np.abs(gap).max()


def test_image_baselines_per_image(tanh_net):
    model, score, _, images = tanh_net
    baselines = images[::-1].copy()
    with pytest.warns(RuntimeWarning, match="constant .image 1;"):  # image 1 is its own baseline: said
        result = integrated_gradients(model, images, 0, baseline=baselines, steps=64, signed=True)
    np.testing.assert_allclose(result.reshape(3, -1).sum(1), score(images, 0) - score(baselines, 0), rtol=1e-3,
                               atol=1e-4)
    assert np.all(result[1] == 0)  # image 1 is its own baseline


def numpy_blur(images, sigma):
    """Row-normalized Gaussian kernels cut at the border, rows then columns, in float64."""
    def matrix(n):
        d = np.arange(n)[:, None] - np.arange(n)[None, :]
        if sigma == 0:
            return np.eye(n)
        k = np.exp(-d**2 / (2 * sigma**2))
        return k / k.sum(1, keepdims=True)

    return np.einsum("yh,bhwc,xw->byxc", matrix(images.shape[1]), images.astype(np.float64),
                     matrix(images.shape[2]))


def test_gaussian_blur_matches_numpy_and_keeps_constants(tanh_net):
    images = tanh_net[3]
    for sigma in (0.0, 0.7, 3.0):
        blurred = gaussian_blur(tf.constant(images), tf.fill([3], sigma)).numpy()
        np.testing.assert_allclose(blurred, numpy_blur(images, sigma), rtol=1e-5, atol=1e-6)
    constant = gaussian_blur(tf.fill([1, 6, 6, 1], 0.3), tf.constant([2.0])).numpy()
    np.testing.assert_allclose(constant, 0.3, rtol=1e-6)


@pytest.mark.parametrize("rule", ["midpoint", "trapezoid"])
def test_blur_ig_matches_numpy_path_sum(tanh_net, rule):
    """`sum_k c_k grad S(gamma(a_k)) * (gamma(hi_k) - gamma(lo_k))`, `gamma(a) = blur(x, 3 (1 - a))`."""
    model, score, gradient, images = tanh_net
    m, max_sigma = 12, 3.0

    def gamma(a):
        return numpy_blur(images, max_sigma * (1 - a))

    k = np.arange(m + 1 if rule == "trapezoid" else m)
    if rule == "midpoint":
        points = [((i + 0.5) / m, i / m, (i + 1) / m, 1.0) for i in k]
    else:
        points = [(i / m, max(i - 1, 0) / m, min(i + 1, m) / m, 0.5) for i in k]
    expected = sum(c * gradient(gamma(a), 1).reshape(images.shape) * (gamma(hi) - gamma(lo))
                   for a, lo, hi, c in points)
    result = blur_integrated_gradients(model, images, 1, steps=m, rule=rule, max_sigma=max_sigma, signed=True)
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-6)
    gap = score(images, 1) - score(gamma(0.0), 1)  # completeness, once the steps are fine enough
    fine = blur_integrated_gradients(model, images, 1, steps=256, rule=rule, max_sigma=max_sigma, signed=True)
    np.testing.assert_allclose(fine.reshape(3, -1).sum(1), gap, rtol=1e-2, atol=1e-3)


@pytest.fixture(scope="module")
def linear():
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(3)])
    rng = np.random.default_rng(0)
    w = rng.normal(size=(N, 3)).astype(np.float32)
    model.layers[-1].set_weights([w, rng.normal(size=3).astype(np.float32)])
    return model, w, rng.uniform(0, 1, (3, *SHAPE)).astype(np.float32)


def test_expected_gradients_on_a_linear_model(linear):
    """Linear: every draw gives `(x - x') * w` exactly, so EG is `(x - mean of the drawn x') * w`."""
    model, w, images = linear
    row = w[:, 2].reshape(SHAPE)
    one = np.full((1, *SHAPE), 0.4, np.float32)
    np.testing.assert_allclose(expected_gradients(model, images, 2, references=one, samples=5, signed=True),
                               (images - one) * row, rtol=1e-5, atol=1e-6)
    references = np.stack([np.zeros(SHAPE), np.ones(SHAPE)]).astype(np.float32)
    result = expected_gradients(model, images, 2, references=references, samples=4000, seed=3, signed=True)
    np.testing.assert_allclose(result, (images - 0.5) * row, atol=0.05 * np.abs(row).max())


def test_expected_gradients_is_ig_averaged_over_baselines(tanh_net):
    """Many draws of one baseline: the Monte-Carlo estimate of IG's integral."""
    model, _, _, images = tanh_net
    baseline = np.full((1, *SHAPE), 0.1, np.float32)
    ig = integrated_gradients(model, images, 0, baseline=baseline[0], steps=64, signed=True)
    eg = expected_gradients(model, images, 0, references=baseline, samples=3000, seed=1, signed=True)
    np.testing.assert_allclose(eg, ig, atol=0.03 * np.abs(ig).max())


def test_expected_gradients_bad_references(linear):
    model, _, images = linear
    with pytest.raises(ValueError, match="`references`"):
        expected_gradients(model, images, references=np.zeros((2, 4, 4, 2), np.float32))


@pytest.mark.parametrize("name", ["expected_gradients", "gradient_shap", "deeplift_shap"])
def test_one_image_without_references_is_refused(linear, name):
    """One image drawing its references from itself would give all-zero (or noise-only) maps: refused, named."""
    model, _, images = linear
    method = getattr(kerasviz, name)
    with pytest.raises(ValueError, match=r"`references=None` with a single image.*" + name):
        method(model, images[:1], 2)
    assert np.abs(method(model, images[:1], 2, references=images[1:])).max() > 0
    assert np.abs(method(model, images[:2], 2)).max() > 0  # two images: each draws from both


def test_guided_ig_on_a_linear_model_is_exact_whatever_the_path(linear):
    model, w, images = linear
    for fraction, max_dist in ((0.25, 0.02), (0.1, 1.0)):
        result = guided_integrated_gradients(model, images, 1, steps=7, fraction=fraction, max_dist=max_dist,
                                             signed=True)
        np.testing.assert_allclose(result, images * w[:, 1].reshape(SHAPE), rtol=1e-4, atol=1e-6)


def test_guided_ig_moving_every_feature_is_ig_left_riemann(tanh_net):
    """With `fraction=1` every feature moves each step by the same share: IG's straight path, left rule."""
    model, _, _, images = tanh_net
    guided = guided_integrated_gradients(model, images, 2, steps=10, fraction=1.0, signed=True)
    ig = integrated_gradients(model, images, 2, steps=10, rule="left", signed=True)
    np.testing.assert_allclose(guided, ig, rtol=1e-4, atol=1e-6)


def test_guided_ig_completeness_and_a_path_that_differs(tanh_net):
    model, score, _, images = tanh_net
    gap = score(images, 0) - score(np.zeros_like(images), 0)
    guided = guided_integrated_gradients(model, images, 0, steps=200, signed=True)
    np.testing.assert_allclose(guided.reshape(3, -1).sum(1), gap, rtol=2e-2, atol=2e-3)
    assert not np.allclose(guided, integrated_gradients(model, images, 0, steps=200, signed=True), rtol=1e-2)


@pytest.mark.parametrize("call, match", [
    (lambda m, x: integrated_gradients(m, x, rule="simpson"), "`rule`: 'simpson'"),
    (lambda m, x: integrated_gradients(m, x, baseline="mean"), "`baseline`: 'mean'"),
    (lambda m, x: blur_integrated_gradients(m, x, max_sigma=0), "`max_sigma`: 0"),
    (lambda m, x: guided_integrated_gradients(m, x, fraction=0), "`fraction`: 0"),
    (lambda m, x: guided_integrated_gradients(m, x, max_dist=1.5), "`max_dist`: 1.5"),
    (lambda m, x: expected_gradients(m, x, samples=0), "`samples`: 0"),
])
def test_bad_arguments(linear, call, match):
    model, _, images = linear
    with pytest.raises(ValueError, match=match):
        call(model, images)


def test_guided_ig_order_is_the_stable_argsort():
    from kerasviz.gradients.guided_ig import _stable_order

    rng = np.random.default_rng(7)
    values = np.abs(rng.normal(size=(4, 300)))
    values[:, rng.integers(0, 300, 80)] = 0.0  # ties at zero (dead units), at a repeated value and at inf
    values[:, rng.integers(0, 300, 40)] = 0.25
    values[:, rng.integers(0, 300, 60)] = np.inf  # features that cannot move
    expected = np.argsort(values.astype(np.float32), axis=1, kind="stable")
    np.testing.assert_array_equal(_stable_order(values), expected)
