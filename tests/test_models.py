"""Reading models: layer lookup, defaults, capture, logits, guided ReLU, never changing the model."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import models
from tests.helpers.models import MODEL_FORMS, SIZE, assert_model_unchanged, layer_state, weights_snapshot


def _captured(model, images, paths, rule=None):
    @tf.function
    def run(x):
        return models.run(model, x, capture=tuple(paths), rule=rule)

    return run(tf.constant(images))


def test_iter_layers_paths_into_nested_models():
    model = MODEL_FORMS["nested"]()
    paths = [p for p, _ in models.iter_layers(model)]
    assert "backbone" in paths and "backbone/conv2" in paths and "fc" in paths
    assert paths.index("backbone") < paths.index("backbone/conv1") < paths.index("pool")


@pytest.mark.parametrize(
    "spec, expected",
    [("conv1", "backbone/conv1"), ("backbone/relu2", "backbone/relu2"), (-1, "probabilities"), (0, "backbone")],
)
def test_get_layer_by_name_path_and_index(spec, expected):
    model = MODEL_FORMS["nested"]()
    path, layer = models.get_layer(model, spec)
    assert path == expected
    assert models.get_layer(model, layer)[0] == expected


@pytest.mark.parametrize(
    "spec, error, words",
    [
        ("conv_1", ValueError, ["`layer`", "'conv_1'", "Close matches", "conv1", "Available conv layers"]),
        (17, ValueError, ["`layer`", "index 17"]),
        (1.5, TypeError, ["`layer`", "1.5"]),
        (True, TypeError, ["`layer`"]),
        (keras.layers.Dense(3, name="stranger"), ValueError, ["stranger", "not part"]),
    ],
)
def test_get_layer_errors_name_the_argument(spec, error, words):
    model = MODEL_FORMS["nested"]()
    with pytest.raises(error) as info:
        models.get_layer(model, spec)
    for word in words:
        assert word in str(info.value)


def test_a_unique_name_is_found_at_any_depth():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")], name="inner")
    model = keras.Sequential([keras.Input((4,)), inner, keras.layers.Dense(2, name="top")])
    outer = keras.Sequential([keras.Input((4,)), model], name="outer")
    assert models.get_layer(outer, "d")[0].endswith("inner/d")


def test_ambiguous_name_asks_for_a_path():
    first = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")], name="first")
    second = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")], name="second")
    model = keras.Sequential([keras.Input((4,)), first, second])
    with pytest.raises(ValueError, match=r"ambiguous.*'first/d'.*'second/d'.*full path"):
        models.get_layer(model, "d")
    assert models.get_layer(model, "second/d")[1] is second.layers[0]


@pytest.mark.parametrize("form", sorted(MODEL_FORMS))
def test_default_layers(form):
    model = MODEL_FORMS[form]()
    prefix = "backbone/" if form == "nested" else ""
    # The same network gives the same defaults in every form, subclassed included (its layers'
    # outputs come from one traced call): the rectified output, never the pre-ReLU conv2.
    assert models.default_layer(model, "grad_cam") == prefix + "relu2"
    assert models.default_layer(model, "filters") == prefix + "conv1"
    assert models.default_layer(model, "embedding") == "fc"


def test_default_layer_errors():
    dense_only = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no layer for the default 'grad_cam'"):
        models.default_layer(dense_only, "grad_cam")
    with pytest.raises(ValueError, match="`role`"):
        models.default_layer(dense_only, "middle")


def test_default_layer_inside_a_keras_applications_backbone():
    base = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, include_top=False)
    model = keras.Sequential([keras.Input((96, 96, 3)), base, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    assert models.default_layer(model, "grad_cam") == "mobilenetv2_0.35_96/out_relu"
    assert models.get_layer(model, "mobilenetv2_0.35_96/Conv_1")[0] == "mobilenetv2_0.35_96/Conv_1"
    with pytest.raises(ValueError, match="Conv_1"):
        models.get_layer(model, "Conv1_")


@pytest.mark.parametrize("form", ["sequential", "functional", "nested", "reloaded", "mixed_float16"])
def test_capture_equals_a_plain_submodel(form, images):
    model = MODEL_FORMS[form]()
    path = models.default_layer(model, "grad_cam")
    outputs, activations = _captured(model, images, [path, "fc"])
    layer = models.get_layer(model, path)[1]
    if form == "nested":
        backbone = model.layers[0]
        reference = keras.Model(backbone.inputs, layer.output)(images)
    else:
        reference = keras.Model(model.inputs, layer.output)(images)
    np.testing.assert_allclose(np.asarray(activations[path], np.float32), np.asarray(reference, np.float32), rtol=1e-3, atol=1e-3)
    assert activations["fc"].shape == (len(images), 12)


def test_capture_works_in_subclassed_models(images):
    model = MODEL_FORMS["subclassed"]()
    _, activations = _captured(model, images, ["conv1"])
    expected = model.stack[0](images)
    np.testing.assert_allclose(activations["conv1"], expected, rtol=1e-5, atol=1e-6)


def test_tape_differentiates_with_respect_to_a_captured_activation(images):
    model = MODEL_FORMS["sequential"]()

    @tf.function
    def grad(x):
        with tf.GradientTape() as tape:
            logits, acts = models.run(model, x, capture=("fc",))
            score = tf.reduce_sum(logits[:, 1])
        return tape.gradient(score, acts["fc"])

    g = grad(tf.constant(images)).numpy()
    kernel = model.get_layer("logits").kernel.numpy()
    # d logit_1 / d fc = the logits layer's weight column, for every image.
    np.testing.assert_allclose(g, np.tile(kernel[:, 1], (len(images), 1)), rtol=1e-5)


@pytest.mark.parametrize("form", sorted(MODEL_FORMS))
def test_logits_bypass_the_softmax(form, images):
    model = MODEL_FORMS[form]()
    probs = np.asarray(model(images), np.float32)
    logits, _ = _captured(model, images, [])
    assert not np.allclose(np.sum(logits, -1), 1.0)
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), probs, rtol=1e-2 if form == "mixed_float16" else 1e-5, atol=1e-3)
    assert models.output_activation(model) == "softmax"


def test_model_without_softmax_is_left_alone(images):
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    logits, _ = _captured(model, images, [])
    np.testing.assert_allclose(logits, model(images), rtol=1e-6)
    assert models.output_activation(model) is None


def _two_layer_relu(kind):
    """x (4) -> Dense(3) -> ReLU (fused / Activation / ReLU layer) -> Dense(1)."""
    w1 = np.array([[1.0, -2.0, 0.5], [0.5, 1.0, -1.0], [-1.0, 0.5, 2.0], [2.0, -0.5, 1.0]], np.float32)
    w2 = np.array([[1.0], [-3.0], [2.0]], np.float32)
    layers = [keras.Input((4,)), keras.layers.Dense(3, activation="relu" if kind == "fused" else None, use_bias=False)]
    if kind == "activation":
        layers.append(keras.layers.Activation("relu"))
    if kind == "layer":
        layers.append(keras.layers.ReLU())
    layers.append(keras.layers.Dense(1, use_bias=False))
    model = keras.Sequential(layers)
    model.layers[0].set_weights([w1])
    model.layers[-1].set_weights([w2])
    return model, w1, w2


@pytest.mark.parametrize("kind", ["fused", "activation", "layer"])
def test_guided_gradient_of_a_two_layer_relu_net_by_hand(kind):
    model, w1, w2 = _two_layer_relu(kind)
    x = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, -1.0]], np.float32)  # row 2: unit 1 active, upstream -3

    @tf.function
    def grads(x, rule):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y, _ = models.run(model, x, rule=rule)
            s = tf.reduce_sum(y)
        return tape.gradient(s, x)

    h = x @ w1
    active = (h > 0).astype(np.float32)
    upstream = np.tile(w2[:, 0], (len(x), 1))  # d y / d relu(h)
    plain = (upstream * active) @ w1.T
    guided = (np.maximum(upstream, 0) * active) @ w1.T
    np.testing.assert_allclose(grads(tf.constant(x), None), plain, rtol=1e-6)
    np.testing.assert_allclose(grads(tf.constant(x), "guided"), guided, rtol=1e-6)
    assert not np.allclose(plain, guided)


def test_guided_relu6_gates_above_max_value():
    model = keras.Sequential([keras.Input((3,)), keras.layers.ReLU(max_value=6.0)])
    x = tf.constant([[-1.0, 3.0, 7.0]])

    @tf.function
    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y, _ = models.run(model, x, rule="guided")
            s = tf.reduce_sum(y * tf.constant([[1.0, -1.0, 1.0]]))
        return tape.gradient(s, x)

    np.testing.assert_array_equal(grad(x), [[0.0, 0.0, 0.0]])


def test_guided_backprop_differs_from_gradients_on_mobilenetv2():
    """MobileNetV2's ReLUs are `ReLU(max_value=6)` layers: one peer's guided backprop silently skips them."""
    base = keras.applications.MobileNetV2(input_shape=(64, 64, 3), alpha=0.35, weights=None, include_top=False)
    model = keras.Sequential([keras.Input((64, 64, 3)), base, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(1).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every ReLU must be reached
        guided = kerasviz.guided_backprop(model, x, target=0, signed=True)
    plain = kerasviz.saliency(model, x, target=0, signed=True)
    assert np.abs(guided - plain).max() > 0.1 * np.abs(plain).max()


def test_unreachable_relus_are_reported():
    class RawRelu(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(3, 3)
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(tf.reduce_mean(tf.nn.relu(self.conv(x)), axis=[1, 2]))

    model = RawRelu()
    model(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.warns(UserWarning, match="could not reach 1 ReLU"):
        kerasviz.guided_backprop(model, np.ones((1, 8, 8, 3), np.float32))


@pytest.mark.parametrize("form", sorted(MODEL_FORMS))
def test_model_unchanged_after_every_patch(form, images):
    model = MODEL_FORMS[form]()
    weights, state = weights_snapshot(model), layer_state(model)
    before = np.asarray(model(images))
    path = models.default_layer(model, "grad_cam")
    _captured(model, images, [path], rule="guided")
    assert_model_unchanged(model, weights, state)
    np.testing.assert_array_equal(np.asarray(model(images)), before)


def test_model_unchanged_when_the_traced_call_raises(images):
    model = MODEL_FORMS["sequential"]()
    weights, state = weights_snapshot(model), layer_state(model)
    with pytest.raises(ValueError):
        _captured(model, images[..., :2], ["conv1"], rule="guided")
    assert_model_unchanged(model, weights, state)


def test_user_training_is_unaffected_by_an_explanation(images):
    """The user's own compiled train/predict functions never see our patches."""
    model = MODEL_FORMS["sequential"]()
    model.compile("sgd", "sparse_categorical_crossentropy")
    labels = np.arange(len(images)) % 4
    model.fit(images, labels, epochs=1, verbose=0)
    predicted_before = model.predict(images, verbose=0)
    kerasviz.guided_backprop(model, images)
    np.testing.assert_allclose(model.predict(images, verbose=0), predicted_before, rtol=1e-6)
    assert np.allclose(model.predict(images, verbose=0).sum(-1), 1.0, atol=1e-5)  # softmax still there


def test_check_model_errors():
    with pytest.raises(TypeError, match="`model`"):
        models.check_model("resnet")
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="not built"):
        models.check_model(unbuilt)


def test_import_creates_no_ops_and_touches_no_device():
    code = textwrap.dedent(
        """
        import kerasviz
        from tensorflow.python.eager import context
        assert context.context()._context_handle is None, "TF context initialized on import"
        import tensorflow as tf
        assert not tf.compat.v1.get_default_graph().get_operations()
        print("clean")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "clean" in out.stdout, out.stderr[-2000:]


def test_other_backends_are_refused_clearly():
    code = "import os; os.environ['KERAS_BACKEND'] = 'numpy'; import kerasviz"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "KERAS_BACKEND=tensorflow" in out.stderr


def test_guided_leaky_relu_with_threshold_uses_its_own_derivative():
    model = keras.Sequential([keras.Input((4,)), keras.layers.ReLU(negative_slope=0.1, threshold=0.5, max_value=3.0)])
    x = tf.constant([[-1.0, 1.0, 4.0, 2.0]])
    upstream = tf.constant([[1.0, 1.0, 1.0, -1.0]])

    @tf.function
    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y, _ = models.run(model, x, rule="guided")
            s = tf.reduce_sum(y * upstream)
        return tape.gradient(s, x)

    # slope 0.1 below the threshold, 1 between threshold and max, 0 above max; negative upstream blocked.
    np.testing.assert_allclose(grad(x), [[0.1, 1.0, 0.0, 0.0]], rtol=1e-6)
