"""The noise tunnel: SmoothGrad, SmoothGrad-squared and VarGrad against eager loops, any method wrapped."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import models, registry
from kerasviz.gradients import core
from kerasviz.gradients.noise_tunnel import noise_tunnel
from tests.helpers.models import functional

SAMPLES, NOISE, SEED = 6, 0.2, 11


def _noisy_copies(images, samples, noise, seed):
    """`[B, S, H, W, C]`: the copies the tunnel draws (pair `b * S + s`, sigma = noise * image range)."""
    noise_values = core.sample_normal(tf.constant(seed, tf.int64), tf.range(len(images) * samples, dtype=tf.int64),
                                      images.shape[1:]).numpy().reshape(len(images), samples, *images.shape[1:])
    spread = images.reshape(len(images), -1).max(1) - images.reshape(len(images), -1).min(1)
    return images[:, None] + (noise * spread)[:, None, None, None, None] * noise_values


def _eager_gradients(model, batch, classes, rule=None):
    """Input gradients of the logits, one eager tape per copy."""
    out = []
    for x, c in zip(batch, classes):
        x = tf.constant(x[None], tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            with models.patched(model, rule=rule):
                logits = model(x, training=False)
            score = logits[0, c]
        out.append(tape.gradient(score, x).numpy()[0])
    return np.stack(out).astype(np.float64)


@pytest.fixture(scope="module")
def model():
    keras.backend.clear_session()
    return functional()


@pytest.mark.parametrize("reduce, numpy_reduce", [
    ("mean", lambda g: g.mean(1)),
    ("abs", lambda g: np.abs(g).mean(1)),
    ("square", lambda g: np.square(g).mean(1)),
    ("var", lambda g: g.var(1)),
])
def test_saliency_tunnel_matches_an_eager_loop(model, images, reduce, numpy_reduce):
    classes = np.array([0, 1, 2, 3, 1])
    copies = _noisy_copies(images, SAMPLES, NOISE, SEED)
    gradients = _eager_gradients(model, copies.reshape(-1, *images.shape[1:]), np.repeat(classes, SAMPLES))
    expected = numpy_reduce(gradients.reshape(copies.shape))
    result = noise_tunnel(model, images, classes, reduce=reduce, samples=SAMPLES, noise=NOISE, seed=SEED,
                          signed=True, batch_size=4)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(result, expected, rtol=1e-3, atol=1e-5 * scale)
    maps = noise_tunnel(model, images, classes, reduce=reduce, samples=SAMPLES, noise=NOISE, seed=SEED)
    np.testing.assert_allclose(maps, np.abs(expected).max(-1), rtol=1e-3, atol=1e-5 * scale)


def test_named_methods_are_the_tunnel(model, images):
    settings = dict(samples=SAMPLES, noise=NOISE, seed=SEED)
    np.testing.assert_array_equal(kerasviz.smoothgrad(model, images, 1, **settings),
                                  noise_tunnel(model, images, 1, reduce="mean", **settings))
    np.testing.assert_array_equal(kerasviz.smoothgrad_squared(model, images, 1, **settings),
                                  kerasviz.smoothgrad(model, images, 1, magnitude="square", **settings))
    np.testing.assert_array_equal(kerasviz.vargrad(model, images, 1, **settings),
                                  noise_tunnel(model, images, 1, reduce="var", **settings))


def test_guided_tunnel_matches_an_eager_guided_loop(model, images):
    copies = _noisy_copies(images[:2], 3, NOISE, SEED)
    gradients = _eager_gradients(model, copies.reshape(-1, *images.shape[1:]), [2] * 6, rule="guided")
    expected = gradients.reshape(copies.shape).mean(1)
    result = noise_tunnel(model, images[:2], 2, method="guided_backprop", samples=3, noise=NOISE, seed=SEED,
                          signed=True)
    np.testing.assert_allclose(result, expected, rtol=1e-3, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("name", ["saliency", "deconvnet", "gradient_x_input", "guided_backprop"])
@pytest.mark.parametrize("reduce", ["mean", "var"])
def test_graph_path_equals_the_host_path_for_any_callable(model, images, name, reduce):
    """A callable the tunnel does not know is called on chunks of noisy copies; same result."""
    method = registry.ATTRIBUTION_METHODS[name]

    def wrapped(model, images, target=None, *, batch_size=None, signed=False):
        return method(model, images, target, batch_size=batch_size, signed=signed)

    settings = dict(samples=4, noise=NOISE, seed=SEED, reduce=reduce, signed=True)
    graph = noise_tunnel(model, images, 3, method=name, batch_size=3, **settings)
    host = noise_tunnel(model, images, 3, method=wrapped, batch_size=7, **settings)
    scale = np.abs(method(model, images, 3, signed=True)).max()  # a variance is on the scale of its square
    np.testing.assert_allclose(host, graph, rtol=1e-4, atol=1e-6 * (scale**2 if reduce == "var" else scale))


def test_any_registered_method_can_be_tunnelled(model, images):
    """Integrated Gradients through the tunnel: the mean of IG on each noisy copy."""
    copies = _noisy_copies(images[:2], 3, NOISE, SEED)
    expected = np.mean([kerasviz.integrated_gradients(model, copies[:, s], [1, 1], steps=4, signed=True)
                        for s in range(3)], axis=0)
    for batch_size in (1, 5):
        result = noise_tunnel(model, images[:2], 1, method="integrated_gradients", steps=4, samples=3,
                              noise=NOISE, seed=SEED, signed=True, batch_size=batch_size)
        np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())
    cam = noise_tunnel(model, images[:2], 1, method="grad_cam", samples=3, noise=NOISE, seed=SEED)
    assert cam.shape == (2, 16, 16) and (cam >= 0).all()


def test_default_target_is_fixed_on_the_clean_image(model, images):
    predicted = np.argmax(model(images), axis=-1)
    settings = dict(samples=4, noise=0.5, seed=SEED)
    np.testing.assert_array_equal(noise_tunnel(model, images, None, reduce="var", **settings),
                                  noise_tunnel(model, images, [int(c) for c in predicted], reduce="var", **settings))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"method": "nope"}, ValueError, "`method`: 'nope'"),
    ({"method": 3}, TypeError, "`method`"),
    ({"reduce": "median"}, ValueError, "`reduce`: 'median'"),
    ({"samples": 0}, ValueError, "`samples`: 0"),
    ({"noise": -1.0}, ValueError, "`noise`: -1.0"),
    ({"steps": 4}, TypeError, "saliency takes no parameters"),
])
def test_bad_arguments(model, images, kwargs, error, match):
    with pytest.raises(error, match=match):
        noise_tunnel(model, images, **kwargs)
