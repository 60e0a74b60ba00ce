"""Tests for SmoothGrad and Integrated Gradients against closed forms and independent loops."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz import compiled, models
from kerasviz.gradients import core
from kerasviz.gradients.integrated import integrated_gradients
from kerasviz.gradients.smoothgrad import smoothgrad
from tests.helpers.models import assert_model_unchanged, layer_state, sequential, weights_snapshot

SHAPE = (4, 4, 3)


@pytest.fixture(scope="module")
def tiny():
    """One tiny conv model shared by the argument-checking tests (they never trace it)."""
    return sequential()


@pytest.fixture
def linear():
    """`logits = flatten(x) @ W + b`: every input gradient is a row of W, everywhere."""
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(3)])
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(48, 3)).astype(np.float32)
    model.layers[-1].set_weights([weights, rng.normal(size=3).astype(np.float32)])
    images = rng.uniform(0, 255, (3, *SHAPE)).astype(np.float32)
    return model, weights, images


def _rows(weights, classes):
    return np.stack([weights[:, c].reshape(SHAPE) for c in classes])


def _logits(model):
    forward = tf.function(lambda x: models.run(model, x)[0])
    return lambda x: forward(tf.constant(x, tf.float32)).numpy()


# ------------------------------------------------------------- closed forms


@pytest.mark.parametrize("target", [1, [0, 2, 1]])
def test_linear_model_closed_forms(linear, target):
    model, weights, images = linear
    classes = np.broadcast_to(target, [3])
    rows = _rows(weights, classes)
    grads = smoothgrad(model, images, target, samples=5, noise=0.2, signed=True)
    np.testing.assert_allclose(grads, rows, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        smoothgrad(model, images, target, samples=5), np.abs(rows).max(-1), rtol=1e-6, atol=1e-7
    )
    baseline = np.random.default_rng(1).uniform(0, 255, SHAPE).astype(np.float32)
    for base in (0.0, 17.5, baseline, np.broadcast_to(baseline, images.shape)):
        attributions = integrated_gradients(
            model, images, target, steps=7, baseline=base, signed=True
        )
        assert attributions.dtype == np.float32 and attributions.shape == images.shape
        np.testing.assert_allclose(attributions, (images - base) * rows, rtol=1e-5, atol=1e-4)


def test_default_target_is_the_clean_prediction(linear):
    model, weights, images = linear
    # Noise this large changes the argmax of most copies; the class must stay the clean one.
    predicted = _logits(model)(images).argmax(-1)
    grads = smoothgrad(model, images, samples=8, noise=3.0, signed=True)
    np.testing.assert_allclose(grads, _rows(weights, predicted), rtol=1e-6, atol=1e-7)
    attributions = integrated_gradients(model, images, baseline=255.0, steps=3, signed=True)
    expected = (images - 255.0) * _rows(weights, predicted)
    np.testing.assert_allclose(attributions, expected, rtol=1e-5, atol=1e-4)


def test_smoothgrad_matches_analytic_quadratic():
    """`score = sum(v * x**2)`: the gradient at a noisy copy is `2 v (x + sigma n)`."""
    keras.backend.clear_session()
    inputs = keras.Input(SHAPE)
    squared = keras.layers.Multiply()([inputs, inputs])
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(squared)))
    rng = np.random.default_rng(2)
    v = rng.normal(size=(48, 2)).astype(np.float32)
    model.layers[-1].set_weights([v, np.zeros(2, np.float32)])
    images = rng.uniform(-1, 3, (2, *SHAPE)).astype(np.float32)
    samples, noise, seed = 6, 0.1, 11
    own_ranges = np.ptp(images.reshape(2, -1), axis=1)
    for value_range, spread in ((None, own_ranges), ((-2, 4), np.array([6.0, 6.0]))):
        grads = smoothgrad(
            model, images, 1, samples=samples, noise=noise, seed=seed,
            value_range=value_range, signed=True,
        )
        ids = np.arange(2 * samples)
        n = core.sample_normal(seed, tf.constant(ids), SHAPE).numpy().reshape(2, samples, *SHAPE)
        noisy = images[:, None] + (noise * spread)[:, None, None, None, None] * n
        expected = (2 * v[:, 1].reshape(SHAPE) * noisy).mean(axis=1)
        np.testing.assert_allclose(grads, expected, rtol=1e-4, atol=1e-5)


def test_smoothgrad_matches_eager_tape_loop(images):
    keras.backend.clear_session()
    model = sequential()
    images = images[:3]
    samples, noise, seed = 4, 0.25, 3
    grads = smoothgrad(model, images, samples=samples, noise=noise, seed=seed, signed=True)
    classes = _logits(model)(images).argmax(-1)
    sigmas = noise * np.ptp(images.reshape(3, -1), axis=1)
    expected = np.zeros_like(images)
    for i in range(3):
        for j in range(samples):
            n = core.sample_normal(seed, tf.constant([i * samples + j]), images.shape[1:])[0]
            x = tf.constant(images[i : i + 1] + sigmas[i] * n.numpy())
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = models.run(model, x)[0][0, classes[i]]
            expected[i] += tape.gradient(score, x).numpy()[0] / samples
    np.testing.assert_allclose(grads, expected, rtol=1e-4, atol=1e-6)
    maps = smoothgrad(model, images, samples=samples, noise=noise, seed=seed)
    np.testing.assert_allclose(maps, np.abs(expected).max(-1), rtol=1e-4, atol=1e-6)


def test_integrated_gradients_completeness():
    """Signed attributions sum to logit(x) - logit(x'); the Riemann error shrinks with steps."""
    keras.backend.clear_session()
    model = sequential()
    rng = np.random.default_rng(2)
    # Nonzero biases make the ReLU net non-homogeneous, so the path integral is not trivial.
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 1.0, layer.bias.shape).astype(np.float32))
    images = rng.uniform(0, 4, (4, 16, 16, 3)).astype(np.float32)
    logits = _logits(model)
    clean, black = logits(images), logits(np.zeros_like(images))
    classes = clean.argmax(-1)
    gap = (clean - black)[np.arange(4), classes]
    errors = []
    for steps in (4, 16, 64, 256):
        attributions = integrated_gradients(model, images, steps=steps, signed=True, batch_size=128)
        errors.append(np.max(np.abs(attributions.reshape(4, -1).sum(1) - gap) / np.abs(gap)))
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.01 and errors[3] < 0.01, errors


# ------------------------------------------------------------ invariants


def test_batch_size_independence_and_seeds(images):
    keras.backend.clear_session()
    model = sequential()
    images = images[:3]
    sizes = (1, 7, 1000)
    sg = [smoothgrad(model, images, samples=5, seed=4, batch_size=b, signed=True) for b in sizes]
    ig = [
        integrated_gradients(model, images, steps=6, baseline=0.5, batch_size=b, signed=True)
        for b in sizes
    ]
    for results in (sg, ig):
        for other in results[1:]:
            scale = np.abs(results[0]).max()
            np.testing.assert_allclose(other, results[0], rtol=1e-5, atol=1e-5 * scale)
    again = smoothgrad(model, images, samples=5, seed=4, batch_size=7, signed=True)
    np.testing.assert_array_equal(again, sg[1])
    different = smoothgrad(model, images, samples=5, seed=5, signed=True)
    assert np.abs(different - sg[0]).max() > 1e-3 * np.abs(sg[0]).max()
    # Different images draw different noise even with one sample each.
    twice = np.concatenate([images[:1], images[:1]])
    pair = smoothgrad(model, twice, samples=1, seed=4, signed=True)
    assert not np.allclose(pair[0], pair[1])


@pytest.mark.filterwarnings("ignore:integrated_gradients. the map of 1 of 5 images is constant")  # image 0 is its baseline
def test_traced_once(images):
    keras.backend.clear_session()
    model = sequential()
    smoothgrad(model, images, samples=3, batch_size=4)
    integrated_gradients(model, images, steps=3, batch_size=4)
    count = compiled.tracing_count(model)
    for batch_size, target in ((1, 2), (7, [0, 1, 2, 3, 0]), (100, None)):
        smoothgrad(model, images, target, samples=5, noise=0.3, seed=9, batch_size=batch_size)
        integrated_gradients(
            model, images, target, steps=4, baseline=images[0], batch_size=batch_size
        )
    assert compiled.tracing_count(model) == count


_REFERENCE = {}


def test_every_model_form(model_form, images):
    name, model = model_form
    images = images[:2]
    before = weights_snapshot(model), layer_state(model)
    sg = smoothgrad(model, images, samples=3, signed=True)
    ig = integrated_gradients(model, images, steps=5, signed=True)
    maps = smoothgrad(model, images, samples=3), integrated_gradients(model, images, steps=5)
    assert_model_unchanged(model, *before)
    for result, shape in zip((sg, ig, *maps), [images.shape] * 2 + [images.shape[:3]] * 2):
        assert result.dtype == np.float32 and result.shape == shape and np.all(np.isfinite(result))
    # Every form holds the same seeded weights: compare with the float32 Sequential.
    if not _REFERENCE:
        reference = sequential()
        _REFERENCE["sg"] = smoothgrad(reference, images, samples=3, signed=True)
        _REFERENCE["ig"] = integrated_gradients(reference, images, steps=5, signed=True)
    for result, expected in ((sg, _REFERENCE["sg"]), (ig, _REFERENCE["ig"])):
        if name == "mixed_float16":  # float16 rounding flips a few ReLUs: compare in norm
            assert np.linalg.norm(result - expected) < 0.05 * np.linalg.norm(expected)
        else:
            np.testing.assert_allclose(result, expected, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize(
    "method, kwargs, argname",
    [
        (smoothgrad, {"samples": 0}, "samples"),
        (smoothgrad, {"samples": 2.5}, "samples"),
        (smoothgrad, {"noise": -1}, "noise"),
        (smoothgrad, {"noise": float("nan")}, "noise"),
        (smoothgrad, {"value_range": (1, 0)}, "value_range"),
        (smoothgrad, {"value_range": "0-255"}, "value_range"),
        (smoothgrad, {"batch_size": 0}, "batch_size"),
        (integrated_gradients, {"steps": 0}, "steps"),
        (integrated_gradients, {"baseline": np.zeros((16, 16, 1))}, "baseline"),
        (integrated_gradients, {"baseline": np.zeros((3, 16, 16, 3))}, "baseline"),
        (integrated_gradients, {"baseline": float("inf")}, "baseline"),
        (integrated_gradients, {"baseline": np.full((16, 16, 3), np.nan)}, "baseline"),
        (integrated_gradients, {"baseline": "black"}, "baseline"),
        (integrated_gradients, {"target": 9}, "target"),
    ],
)
def test_bad_arguments(tiny, images, method, kwargs, argname):
    model = tiny
    before = weights_snapshot(model), layer_state(model)
    with pytest.raises((ValueError, TypeError), match=f"`{argname}`"):
        method(model, images[:2], **kwargs)
    assert_model_unchanged(model, *before)


@pytest.mark.parametrize("method", [smoothgrad, integrated_gradients])
def test_nan_images_rejected(tiny, images, method):
    model = tiny
    images = images[:2].copy()
    images[0, 1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="`images`"):
        method(model, images)


# ------------------------------------------------------------- SmoothGrad on magnitudes (issue 11 finding 8)


@pytest.mark.parametrize("magnitude, transform", [("abs", np.abs), ("square", np.square)])
def test_smoothgrad_magnitude_matches_eager_tape_loop(images, magnitude, transform):
    keras.backend.clear_session()
    model = sequential()
    images = images[:2]
    samples, noise, seed = 4, 0.2, 5
    means = smoothgrad(model, images, samples=samples, noise=noise, seed=seed, value_range=(0, 1),
                       magnitude=magnitude, signed=True)
    classes = _logits(model)(images).argmax(-1)
    expected = np.zeros_like(images)
    for i in range(2):
        for j in range(samples):
            n = core.sample_normal(seed, tf.constant([i * samples + j]), images.shape[1:])[0]
            x = tf.constant(images[i : i + 1] + noise * n.numpy())
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = models.run(model, x)[0][0, classes[i]]
            expected[i] += transform(tape.gradient(score, x).numpy()[0]) / samples
    np.testing.assert_allclose(means, expected, rtol=1e-4, atol=1e-7)
    maps = smoothgrad(model, images, samples=samples, noise=noise, seed=seed, value_range=(0, 1), magnitude=magnitude)
    np.testing.assert_allclose(maps, expected.max(-1), rtol=1e-4, atol=1e-7)


def _roughness(maps):
    """Mean absolute difference of neighbouring pixels over the mean absolute value, per map (0: flat)."""
    dx = np.abs(np.diff(maps, axis=2)).mean(axis=(1, 2))
    dy = np.abs(np.diff(maps, axis=1)).mean(axis=(1, 2))
    return (dx + dy) / 2 / np.abs(maps).mean(axis=(1, 2))


def test_smoothgrad_of_magnitudes_is_smoother_than_saliency_on_a_small_net(images):
    from kerasviz.gradients.saliency import saliency

    keras.backend.clear_session()
    model = sequential()
    plain = _roughness(saliency(model, images)).mean()
    signed = _roughness(smoothgrad(model, images, value_range=(0, 1))).mean()
    absolute = _roughness(smoothgrad(model, images, value_range=(0, 1), magnitude="abs")).mean()
    print(f"roughness: saliency {plain:.3f}, smoothgrad {signed:.3f}, smoothgrad |g| {absolute:.3f}")
    assert absolute < 0.9 * plain and absolute < signed  # measured: 0.455, 0.425, 0.369


def test_reduce_map_is_the_largest_magnitude_over_channels():
    values = np.random.default_rng(0).normal(size=(2, 5, 4, 3)).astype(np.float32)
    values[0, 1, 2, 1] = np.nan  # propagated, as np.max would
    expected = np.max(np.abs(values), axis=-1)
    np.testing.assert_array_equal(core.reduce_map(values), expected)
    np.testing.assert_array_equal(core.reduce_map(values[..., :1]), np.abs(values[..., 0]))
    assert core.reduce_map(values).dtype == np.float32 and core.reduce_map(values).flags["C_CONTIGUOUS"]
