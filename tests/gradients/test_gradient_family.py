"""Gradient x Input and DeconvNet against closed forms and by-hand backward passes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz import models
from kerasviz.gradients.deconvnet import deconvnet
from kerasviz.gradients.gradient_input import gradient_x_input
from kerasviz.gradients.saliency import guided_backprop, saliency
from tests.helpers.models import functional

SHAPE = (4, 4, 3)


def test_gradient_x_input_on_a_linear_model_is_x_times_the_weight_row():
    """`logits = flatten(x) @ W + b`: the gradient is `W[:, c]`, the products sum to `S(x) - S(0)`."""
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(3)])
    rng = np.random.default_rng(0)
    weights, bias = rng.normal(size=(48, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    model.layers[-1].set_weights([weights, bias])
    images = rng.uniform(-1, 1, (3, *SHAPE)).astype(np.float32)
    classes = [2, 0, 1]
    expected = np.stack([x * weights[:, c].reshape(SHAPE) for x, c in zip(images, classes)])
    signed = gradient_x_input(model, images, classes, signed=True)
    np.testing.assert_allclose(signed, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gradient_x_input(model, images, classes), np.abs(expected).max(-1), rtol=1e-5)
    logits = images.reshape(3, -1) @ weights
    np.testing.assert_allclose(signed.reshape(3, -1).sum(1), logits[np.arange(3), classes], rtol=1e-4)


def _two_layer(fused, seed=3):
    """`x -> flatten -> Dense(6) -> ReLU -> Dense(3)`, the ReLU fused or as its own layer."""
    layers = [keras.Input((2, 2, 1)), keras.layers.Flatten()]
    if fused:
        layers.append(keras.layers.Dense(6, activation="relu", name="hidden"))
    else:
        layers += [keras.layers.Dense(6, name="hidden"), keras.layers.ReLU()]
    model = keras.Sequential(layers + [keras.layers.Dense(3, name="out")])
    rng = np.random.default_rng(seed)
    w1, b1 = rng.normal(size=(4, 6)).astype(np.float32), rng.normal(size=6).astype(np.float32)
    w2 = rng.normal(size=(6, 3)).astype(np.float32)
    model.get_layer("hidden").set_weights([w1, b1])
    model.get_layer("out").set_weights([w2, np.zeros(3, np.float32)])
    images = rng.normal(size=(4, 2, 2, 1)).astype(np.float32)
    return model, images, (w1, b1, w2)


@pytest.mark.parametrize("fused", [True, False])
def test_deconvnet_by_hand_on_a_two_layer_net(fused):
    """Upstream `W2[:, c]`; DeconvNet passes `relu(W2[:, c])` (no forward mask), then `W1 @ .`."""
    keras.backend.clear_session()
    model, images, (w1, b1, w2) = _two_layer(fused)
    classes = [0, 1, 2, 1]
    active = (images.reshape(4, -1) @ w1 + b1) > 0  # [B, 6]
    upstream = w2[:, classes].T  # [B, 6]
    by_hand = {
        "deconvnet": np.maximum(upstream, 0) @ w1.T,
        "guided": (np.maximum(upstream, 0) * active) @ w1.T,
        "plain": (upstream * active) @ w1.T,
    }
    assert not active.all() and (upstream < 0).any()  # the three rules differ on this net
    result = deconvnet(model, images, classes, signed=True).reshape(4, -1)
    np.testing.assert_allclose(result, by_hand["deconvnet"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(guided_backprop(model, images, classes, signed=True).reshape(4, -1),
                               by_hand["guided"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(saliency(model, images, classes, signed=True).reshape(4, -1),
                               by_hand["plain"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(by_hand["deconvnet"], by_hand["guided"])


def test_deconvnet_ignores_the_forward_mask():
    """The same signal for any input: the forward pass only decides the class score's value."""
    keras.backend.clear_session()
    model, images, _ = _two_layer(True)
    result = deconvnet(model, images, 1, signed=True)
    np.testing.assert_allclose(result, np.broadcast_to(result[:1], result.shape), rtol=1e-6)
    assert not np.allclose(guided_backprop(model, images, 1, signed=True), result)


def test_deconvnet_on_the_conv_net_leaves_plain_gradients_to_other_traces(images):
    """Inside one trace, a plain pass beside the DeconvNet one keeps its ordinary gradient."""
    keras.backend.clear_session()
    model = functional()
    plain = saliency(model, images, 1, signed=True)
    deconv = deconvnet(model, images, 1, signed=True)
    assert not np.allclose(plain, deconv)
    np.testing.assert_array_equal(saliency(model, images, 1, signed=True), plain)

    @tf.function
    def both(x):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            deconv_score = models.run(model, x, rule="deconvnet")[0][:, 1]
            plain_score = models.run(model, x)[0][:, 1]
        return tape.gradient(deconv_score, x), tape.gradient(plain_score, x)

    deconv_again, plain_again = both(tf.constant(images))
    np.testing.assert_allclose(deconv_again, deconv, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(plain_again, plain, rtol=1e-5, atol=1e-7)


def test_unknown_rule_is_rejected(images):
    keras.backend.clear_session()
    model = functional()
    with pytest.raises(ValueError, match="`rule`: 'zeiler'"):
        with models.patched(model, rule="zeiler"):
            pass
    with pytest.raises(ValueError, match="`rule`: True"):
        with models.patched(model, rule=True):
            pass


def test_guided_is_a_deprecated_spelling_of_rule(images):
    keras.backend.clear_session()
    model = functional()
    x = tf.constant(images)
    with pytest.warns(DeprecationWarning, match="`guided` is deprecated"):
        old = models.run(model, x, guided="deconvnet")[0]
    np.testing.assert_array_equal(old.numpy(), models.run(model, x, rule="deconvnet")[0].numpy())
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="not both"):
        with models.patched(model, rule="guided", guided=True):
            pass
