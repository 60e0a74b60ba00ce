"""Regression targets (`OutputUnit`, `WeightedUnits`) and targets on a named output (`OnOutput`)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import compiled, targets

SIZE = 6


def linear_heads(seed=0):
    """Flattened pixels into a linear 3-unit regression head `area` and a 4-class softmax head `shape`."""
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((SIZE, SIZE, 2), name="image")
    flat = keras.layers.Flatten()(inputs)
    area = keras.layers.Dense(3, kernel_initializer=init, bias_initializer="ones", name="area")(flat)
    shape = keras.layers.Dense(4, activation="softmax", kernel_initializer=init, name="shape")(flat)
    return keras.Model(inputs, {"area": area, "shape": shape}, name="heads")


@pytest.fixture(scope="module")
def model():
    return linear_heads()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (3, SIZE, SIZE, 2)).astype(np.float32)


def _kernel(model, name):
    return model.get_layer(name).kernel.numpy().reshape(SIZE, SIZE, 2, -1)


def test_a_unit_of_a_linear_regression_head_has_its_weights_as_gradient(model, images):
    for unit in range(3):
        gradient = kerasviz.saliency(model, images, kerasviz.OnOutput("area", kerasviz.OutputUnit(unit)), signed=True)
        np.testing.assert_allclose(gradient, np.broadcast_to(_kernel(model, "area")[..., unit], gradient.shape),
                                   rtol=1e-5, atol=1e-7)


def test_weighted_units_are_the_weighted_sum_of_the_units_maps(model, images):
    weights = np.array([0.5, -2.0, 1.5])
    combined = kerasviz.gradient_x_input(model, images, kerasviz.OnOutput("area", kerasviz.WeightedUnits(weights)),
                                         signed=True)
    parts = [kerasviz.gradient_x_input(model, images, kerasviz.OnOutput("area", kerasviz.OutputUnit(u)), signed=True)
             for u in range(3)]
    np.testing.assert_allclose(combined, sum(w * p for w, p in zip(weights, parts)), rtol=1e-5, atol=1e-6)


def test_targets_on_two_outputs_add_up_and_a_class_is_read_before_the_softmax(model, images):
    both = kerasviz.OnOutput("area", kerasviz.OutputUnit(1)) + 0.5 * kerasviz.OnOutput(1, 2)
    gradient = kerasviz.saliency(model, images, both, signed=True)
    expected = _kernel(model, "area")[..., 1] + 0.5 * _kernel(model, "shape")[..., 2]
    np.testing.assert_allclose(gradient, np.broadcast_to(expected, gradient.shape), rtol=1e-5, atol=1e-6)


def test_the_score_reads_the_named_output(model, images):
    bound, class_idx = targets.resolve(model, kerasviz.OnOutput("shape", [0, 3, 1]) - kerasviz.OnOutput(
        "area", kerasviz.OutputUnit(2)), images)
    outputs, _ = kerasviz.models.run(model, tf.constant(images))
    area, logits = (o.numpy() for o in outputs)
    score = bound.score([tf.constant(area), tf.constant(logits)], {}, tf.constant(class_idx)).numpy()
    np.testing.assert_allclose(score, logits[[0, 1, 2], [0, 3, 1]] - area[:, 2], rtol=1e-5)


def test_the_predicted_class_of_a_named_output_is_its_own(model, images):
    predicted = model(images)["shape"].numpy().argmax(-1)
    smooth = kerasviz.smoothgrad(model, images, kerasviz.OnOutput("shape"), samples=2, noise=0.0, signed=True)
    explicit = kerasviz.smoothgrad(model, images, kerasviz.OnOutput("shape", predicted), samples=2, noise=0.0,
                                   signed=True)
    np.testing.assert_allclose(smooth, explicit, rtol=1e-6)


def test_a_regression_target_under_occlusion_reads_the_raw_output(images):
    keras.backend.clear_session()
    init = keras.initializers.Constant(1.0 / (SIZE * SIZE * 2))
    inputs = keras.Input((SIZE, SIZE, 2))
    mean = keras.layers.Dense(1, kernel_initializer=init, name="mean")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, mean)
    half = SIZE // 2
    heat = kerasviz.occlusion(model, images, kerasviz.OutputUnit(0), patch=half, stride=half, value=0.0,
                              inference="naive")
    quadrants = images.reshape(len(images), 2, half, 2, half, 2).sum(axis=(2, 4, 5)) / images[0].size
    np.testing.assert_allclose(heat, images.mean(axis=(1, 2, 3))[:, None, None] - quadrants, rtol=1e-5)


def test_a_target_that_names_no_output_is_refused_with_the_outputs_names(model, images):
    with pytest.raises(ValueError, match=r"has 2 outputs.*OnOutput\('area', 3\).*\['area', 'shape'\]"):
        kerasviz.saliency(model, images, 1)
    with pytest.raises(ValueError, match=r"`output`: 'boxes'.*\['area', 'shape'\]"):
        kerasviz.saliency(model, images, kerasviz.OnOutput("boxes", 1))
    with pytest.raises(ValueError, match=r"`index`: \(3,\) does not address a unit"):
        kerasviz.saliency(model, images, kerasviz.OnOutput("area", kerasviz.OutputUnit(3)))
    with pytest.raises(ValueError, match=r"`weights` of shape \(2,\)"):
        kerasviz.saliency(model, images, kerasviz.OnOutput("area", kerasviz.WeightedUnits([1, 2])))
    with pytest.raises(TypeError, match=r"`target` to read the model's output"):
        kerasviz.OnOutput("area", kerasviz.Channel("x", 0))


def test_other_units_and_classes_reuse_the_trace_of_their_output(images):
    keras.backend.clear_session()
    model = linear_heads(1)
    for c in range(4):
        kerasviz.saliency(model, images, kerasviz.OnOutput("shape", c))
    assert compiled.tracing_count(model) == 1


def test_a_metric_that_needs_class_probabilities_refuses_a_regression_target(model, images):
    maps = kerasviz.saliency(model, images, kerasviz.OnOutput("area", kerasviz.OutputUnit(0)))
    with pytest.raises(ValueError, match="ClassScore"):
        kerasviz.metrics.deletion(model, images, maps, target=kerasviz.OnOutput("area", kerasviz.OutputUnit(0)))


def test_every_method_takes_a_named_output_or_refuses_it_by_name(images):
    keras.backend.clear_session()
    init = keras.initializers.GlorotUniform(seed=0)
    inputs = keras.Input((SIZE, SIZE, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=init, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, {"size": keras.layers.Dense(2, kernel_initializer=init)(x),
                                 "kind": keras.layers.Dense(3, activation="softmax", kernel_initializer=init)(x)})
    predicted = kerasviz.OnOutput("kind")
    explicit = kerasviz.OnOutput("kind", model(images)["kind"].numpy().argmax(-1))
    np.testing.assert_allclose(kerasviz.score_cam(model, images, predicted), kerasviz.score_cam(model, images, explicit),
                               rtol=1e-5)
    for method, name in [(kerasviz.lrp, "LRP"), (kerasviz.deeplift, "DeepLIFT")]:
        with pytest.raises(ValueError, match=rf"{name} explains models with one output.*has 2"):
            method(model, images, predicted)
