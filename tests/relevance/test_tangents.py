"""Tangents carried by hand through a model's layers (`kerasviz.relevance.tangents`, layer conductance's `dy/da`)
against TensorFlow's forward-mode autodiff (`tf.autodiff.ForwardAccumulator`) on the same points.

Every layer rule on one net; every model form; and what has no rule (a LayerNormalization, a subclassed
model's own `tf` code between layers) is unknown, never a tangent of zero.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tests.helpers.models import MODEL_FORMS, SIZE, rich_model
from tests.helpers.models import initializer as _init

import kerasviz
from kerasviz import models
from kerasviz.relevance import tangents

L = keras.layers


def _points(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, SIZE, SIZE, 3)).astype(np.float32), rng.normal(0, 1, (n, SIZE, SIZE, 3)).astype(
        np.float32)


def _hand_and_autodiff(model, paths, x, t):
    """`{path: (hand tangent or None, the accumulator's)}`."""
    @tf.function
    def both(x, t):
        carried = tangents.Tangents(model, x, t)
        _, activations = models.run(model, x, capture=paths, overrides=carried.add_overrides)
        hand = {p: carried.of(activations[p]) for p in paths}
        with tf.autodiff.ForwardAccumulator(x, t) as accumulator:
            _, activations = models.run(model, x, capture=paths)
        auto = {p: tf.cast(accumulator.jvp(activations[p]), tf.float32) for p in paths}
        return {p: (auto[p] if hand[p] is None else hand[p], hand[p] is None, auto[p]) for p in paths}

    out = both(tf.constant(x), tf.constant(t))
    return {p: (None if bool(unknown) else np.asarray(h), np.asarray(a)) for p, (h, unknown, a) in out.items()}


def _assert_equal(hand, auto, path):
    assert hand is not None, f"{path}: no tangent by hand"
    np.testing.assert_allclose(hand, auto, rtol=0, atol=1e-5 * np.abs(auto).max(), err_msg=path)


def _every_rule_model():
    """Each layer kind with a rule, on the way to the head: kernels (fused and not), BatchNormalization,
    affine preprocessing, rectifiers and smooth activations, products, sums, concatenations, padding, pooling."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.Rescaling(2.0, offset=-1.0)(inputs)
    x = L.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.5, 2.0, 0.5])(x)
    x = L.Conv2D(6, 3, padding="same", kernel_initializer=_init(0), name="conv1")(x)
    x = L.BatchNormalization(name="bn1", moving_mean_initializer="ones", gamma_initializer="random_uniform")(x)
    x = L.ReLU(max_value=6.0, name="relu6")(x)
    a = L.DepthwiseConv2D(3, padding="same", depthwise_initializer=_init(1), activation="relu", name="dw")(x)
    b = L.SeparableConv2D(6, 3, padding="same", depthwise_initializer=_init(2), pointwise_initializer=_init(3),
                          activation="swish", name="sep")(x)
    x = L.Add(name="add")([a, b])
    x = L.LeakyReLU(negative_slope=0.2, name="leaky")(x)
    x = L.ZeroPadding2D(1)(x)
    x = L.MaxPooling2D(name="pool")(x)
    gate = L.GlobalAveragePooling2D(keepdims=True)(x)
    gate = L.Conv2D(6, 1, activation="sigmoid", kernel_initializer=_init(4), name="gate")(gate)
    x = L.Multiply(name="excite")([x, gate])
    c = L.Conv2D(4, 1, activation="elu", kernel_initializer=_init(5), name="elu_conv")(x)
    d = L.PReLU(alpha_initializer=keras.initializers.Constant(0.3), name="prelu")(
        L.AveragePooling2D(1, name="avg")(L.Conv2D(4, 1, kernel_initializer=_init(6))(x)))
    x = L.Concatenate(name="concat")([c, d, L.Activation("tanh", name="tanh")(x)])
    x = L.Activation("gelu", name="gelu")(x)
    x = L.Subtract(name="subtract")([x, L.Conv2D(14, 1, kernel_initializer=_init(7))(x)])
    x = L.GlobalMaxPooling2D(name="gmax")(x)
    x = L.Dropout(0.5)(x)
    x = L.Dense(4, kernel_initializer=_init(8), name="head")(x)
    return keras.Model(inputs, x, name="every_rule")


def test_every_layer_rule_is_the_autodiff_tangent():
    keras.backend.clear_session()
    model = _every_rule_model()
    x, t = _points()
    paths = ("bn1", "relu6", "dw", "sep", "leaky", "pool", "excite", "elu_conv", "prelu", "concat", "gelu",
             "subtract", "gmax", "head")
    for path, (hand, auto) in _hand_and_autodiff(model, paths, x, t).items():
        assert np.abs(auto).max() > 1e-3, path  # a tangent to compare
        _assert_equal(hand, auto, path)


def test_a_fused_rectifier_reads_its_input_or_output_alike():
    """ReLU6 (the slope from the output, which determines it) and thresholded ReLUs (from the input)."""
    keras.backend.clear_session()
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.Conv2D(5, 3, activation="relu6", kernel_initializer=_init(0), name="relu6")(inputs)
    x = L.ReLU(threshold=0.05, negative_slope=0.1, name="thresholded")(x)
    x = L.ReLU(threshold=0.3, max_value=2.0, name="capped")(L.Conv2D(5, 1, kernel_initializer=_init(1))(x))
    model = keras.Model(inputs, L.Dense(2)(L.Flatten()(x)))
    x, t = _points()
    for path, (hand, auto) in _hand_and_autodiff(
            model, ("relu6", "thresholded", "capped"), 6 * x, t).items():
        _assert_equal(hand, auto, path)


@pytest.mark.parametrize("form, path", [("sequential", "fc"), ("functional", "relu2"), ("nested", "backbone/relu2"),
                                        ("subclassed", "relu2"), ("mixed_float16", "relu2"), ("reloaded", "relu2")])
def test_every_model_form(form, path):
    keras.backend.clear_session()
    model = MODEL_FORMS[form]()
    x, t = _points()
    hand, auto = _hand_and_autodiff(model, (path,), x, t)[path]
    if form == "mixed_float16":  # float16 activations: the two roundings differ
        np.testing.assert_allclose(hand, auto, rtol=0, atol=2e-2 * np.abs(auto).max())
    else:
        _assert_equal(hand, auto, path)


def test_rich_model():
    keras.backend.clear_session()
    model = rich_model()
    x, t = _points()
    for path, (hand, auto) in _hand_and_autodiff(model, ("excite", "bn", "conv2", "relu2", "gmax"), x, t).items():
        _assert_equal(hand, auto, path)


def test_a_layer_without_rule_makes_what_follows_unknown_and_conductance_falls_back():
    keras.backend.clear_session()
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.Conv2D(4, 3, activation="relu", kernel_initializer=_init(0), name="conv1")(inputs)
    side = L.Conv2D(4, 3, activation="relu", kernel_initializer=_init(1), name="side")(inputs)
    x = L.LayerNormalization(name="norm")(x)
    x = L.Conv2D(4, 1, activation="relu", kernel_initializer=_init(2), name="conv2")(x)
    x = L.Add(name="sum")([x, side])
    model = keras.Model(inputs, L.Dense(3, kernel_initializer=_init(3))(L.Flatten()(x)))
    x, t = _points()
    found = _hand_and_autodiff(model, ("conv1", "side", "conv2", "sum"), x, t)
    _assert_equal(*found["conv1"], "conv1")
    _assert_equal(*found["side"], "side")
    assert found["conv2"][0] is None and found["sum"][0] is None
    # the accumulator takes over: completeness still holds at the layer
    x0 = _points(seed=1)[0]
    conductance = kerasviz.layer_conductance(model, x, target=1, layer="sum", baseline=x0, steps=4,
                                             output="channels")
    ig = kerasviz.integrated_gradients(model, x, target=1, baseline=x0, steps=4, signed=True)
    np.testing.assert_allclose(conductance.sum(axis=1), ig.sum(axis=(1, 2, 3)), rtol=1e-4, atol=1e-6)


class OwnCode(keras.Model):
    """A subclassed model whose `call` applies a rectifier and a sum of its own between layers."""

    def __init__(self):
        super().__init__()
        self.conv1 = L.Conv2D(4, 3, padding="same", kernel_initializer=_init(0))
        self.conv2 = L.Conv2D(4, 3, padding="same", kernel_initializer=_init(1))
        self.head = L.Dense(3, kernel_initializer=_init(2))

    def call(self, x):
        a = self.conv1(x)
        b = self.conv2(tf.nn.relu(a)) + a
        return self.head(tf.reduce_mean(b, axis=(1, 2)))


def test_a_subclassed_models_own_code_between_layers_is_unknown():
    keras.backend.clear_session()
    model = OwnCode()
    model(np.zeros((1, SIZE, SIZE, 3), np.float32))
    x, t = _points()

    @tf.function
    def unknown(x, t):
        carried, seen = tangents.Tangents(model, x, t), {}

        def record(name):
            def override(call, *args, **kwargs):
                seen[name] = call(*args, **kwargs)
                return seen[name]

            return override

        def overrides(frame):
            carried.add_overrides(frame)
            for name in ("conv1", "conv2", "head"):
                frame.add(getattr(model, name), "call", record(name))

        models.run(model, x, overrides=overrides)
        return {name: carried.of(output) is None for name, output in seen.items()}

    found = {name: bool(value) for name, value in unknown(tf.constant(x), tf.constant(t)).items()}
    assert found == {"conv1": False, "conv2": True, "head": True}


def test_keras_ops_of_a_functional_graph():
    """`x + 3.0`, `x * (1 / 6)`, `x / 2.0`, ops on two tensors: numbers are constants (MobileNetV3's hard-swish)."""
    keras.backend.clear_session()
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.Conv2D(4, 3, kernel_initializer=_init(0), name="conv")(inputs)
    gate = L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    x = L.Multiply(name="hard_swish")([x, gate])
    y = keras.ops.subtract(keras.ops.multiply(x, x), x / 2.0)
    y = keras.ops.add(keras.ops.reshape(y, (-1, 4 * (SIZE - 2) ** 2)), 1.0)
    model = keras.Model(inputs, L.Dense(3, kernel_initializer=_init(1), name="head")(y))
    x, t = _points()
    for path, (hand, auto) in _hand_and_autodiff(model, ("hard_swish", "head"), x, t).items():
        _assert_equal(hand, auto, path)


def test_mobilenet_v3_from_the_zoo():
    """One representative of `keras.applications` (hard-swish as Keras ops, squeeze-and-excitation products,
    rescaling); the others were checked the same way at their Grad-CAM layers (see `tangents`)."""
    keras.backend.clear_session()
    model = keras.applications.MobileNetV3Small(weights=None, input_shape=(SIZE * 2, SIZE * 2, 3), classes=5)
    path = "expanded_conv_3_project_bn"
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, SIZE * 2, SIZE * 2, 3)).astype(np.float32)
    hand, auto = _hand_and_autodiff(model, (path,), x, rng.normal(0, 50, x.shape).astype(np.float32))[path]
    assert np.abs(auto).max() > 1e-6
    _assert_equal(hand, auto, path)


def test_a_bypassed_output_sigmoid_is_the_identity_it_computes():
    """`models.run` bypasses an output sigmoid (logits): its tangent is the identity's, not the sigmoid's."""
    keras.backend.clear_session()
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.Flatten()(L.Conv2D(2, 3, activation="relu", kernel_initializer=_init(0))(inputs))
    fused = L.Dense(3, activation="sigmoid", kernel_initializer=_init(1), name="fused")(x)
    model = keras.Model(inputs, fused)
    x, t = _points()
    hand, auto = _hand_and_autodiff(model, ("fused",), x, t)["fused"]
    _assert_equal(hand, auto, "fused")
