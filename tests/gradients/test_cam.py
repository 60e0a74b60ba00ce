"""Grad-CAM and guided Grad-CAM against independent computations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz import compiled
from kerasviz.gradients.cam import grad_cam, guided_grad_cam
from kerasviz.gradients.saliency import guided_backprop
from tests.helpers.models import (CLASSES, SIZE, assert_model_unchanged, downsampling_model, functional, layer_state,
                                  weights_snapshot)
from tests.helpers.references import bilinear_upsample


def reference_cam(model, layer_name, logits_name, images, classes):
    """Grad-CAM with an eager tape on a functional sub-model, then numpy."""
    probe = keras.Model(model.inputs, [model.get_layer(layer_name).output, model.get_layer(logits_name).output])
    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        activation, logits = probe(x, training=False)
        if model.get_layer(logits_name).activation is keras.activations.softmax:
            raise AssertionError("probe must read pre-softmax logits")
        score = tf.gather(logits, classes, batch_dims=1)
    gradients = tape.gradient(score, activation).numpy()
    activation = activation.numpy()
    alpha = gradients.mean(axis=(1, 2), keepdims=True)
    cam = np.maximum((alpha * activation).sum(-1), 0)
    return bilinear_upsample(cam, images.shape[1], images.shape[2])


def test_grad_cam_matches_eager_reference_with_upsampling(images):
    keras.backend.clear_session()
    model = downsampling_model()
    classes = np.array([0, 1, 2, 3, 1])
    maps = grad_cam(model, images, classes)
    assert maps.shape == (5, SIZE, SIZE) and maps.dtype == np.float32
    np.testing.assert_allclose(maps, reference_cam(model, "feat", "logits", images, classes), atol=1e-5, rtol=1e-5)
    # the default layer is the last spatial one ("feat"); an earlier one is read too
    np.testing.assert_allclose(
        grad_cam(model, images, classes, layer="down"),
        reference_cam(model, "down", "logits", images, classes),
        atol=1e-5, rtol=1e-5,
    )


def test_grad_cam_is_cam_for_conv_gap_linear():
    """conv -> GAP -> Dense(no bias): Grad-CAM = relu(sum_k w_ck A_k) / (h w), exactly (Zhou et al.'s CAM)."""
    keras.backend.clear_session()
    init = keras.initializers.GlorotUniform
    inputs = keras.Input((SIZE, SIZE, 3))
    conv = keras.layers.Conv2D(6, 3, padding="same", kernel_initializer=init(1), bias_initializer="ones", name="conv")
    dense = keras.layers.Dense(CLASSES, use_bias=False, activation="softmax", kernel_initializer=init(2))
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(conv(inputs))))
    x = np.random.default_rng(1).normal(size=(3, SIZE, SIZE, 3)).astype(np.float32)
    activation = keras.Model(inputs, conv.output).predict(x, verbose=0)
    kernel = dense.kernel.numpy()
    for c in range(CLASSES):
        expected = np.maximum(activation @ kernel[:, c], 0) / (SIZE * SIZE)
        np.testing.assert_allclose(grad_cam(model, x, c), expected, rtol=1e-5, atol=1e-5 * expected.max())


def test_every_model_form(model_form, images):
    name, model = model_form
    before = weights_snapshot(model), layer_state(model)
    maps = grad_cam(model, images, 1, layer="conv2")
    assert maps.shape == (5, SIZE, SIZE) and maps.dtype == np.float32
    assert np.all(np.isfinite(maps)) and np.all(maps >= 0) and maps.max() > 0
    default = grad_cam(model, images)
    assert default.shape == (5, SIZE, SIZE)
    assert_model_unchanged(model, *before)
    # every form computes the same network (same seeds)
    keras.backend.clear_session()
    expected = grad_cam(functional(), images, 1, layer="conv2")
    tolerance = 2e-2 if name == "mixed_float16" else 1e-5
    np.testing.assert_allclose(maps, expected, rtol=tolerance, atol=tolerance * maps.max())


def test_nested_backbone_default_layer(images):
    from tests.helpers.models import nested

    keras.backend.clear_session()
    model = nested()
    classes = np.array([3, 2, 1, 0, 0])
    maps = grad_cam(model, images, classes)
    reference_model = functional()  # same weights, flat
    np.testing.assert_allclose(maps, reference_cam(reference_model, "relu2", "logits", images, classes), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(grad_cam(model, images, classes, layer="backbone/relu2"), maps)
    np.testing.assert_allclose(grad_cam(model, images, classes, layer=model.layers[0].get_layer("relu2")), maps)


def test_traced_once_and_batch_size_independent(images):
    keras.backend.clear_session()
    model = functional()
    first = grad_cam(model, images, batch_size=2)
    count = compiled.tracing_count(model)
    for batch_size in (1, 3, 100):
        np.testing.assert_allclose(grad_cam(model, images, batch_size=batch_size), first, atol=1e-6)
    grad_cam(model, images[:2], [0, 1])
    assert compiled.tracing_count(model) == count


def test_guided_grad_cam_is_guided_backprop_times_cam(images):
    keras.backend.clear_session()
    model = functional()
    before = weights_snapshot(model), layer_state(model)
    classes = np.array([0, 1, 2, 3, 0])
    cam = grad_cam(model, images, classes, layer="conv2")
    guided = guided_backprop(model, images, classes, signed=True)
    signed = guided_grad_cam(model, images, classes, layer="conv2", signed=True, batch_size=2)
    assert signed.shape == (5, SIZE, SIZE, 3) and signed.dtype == np.float32
    np.testing.assert_allclose(signed, guided * cam[..., None], rtol=1e-5, atol=1e-7)
    reduced = guided_grad_cam(model, images, classes, layer="conv2")
    np.testing.assert_allclose(reduced, np.abs(guided * cam[..., None]).max(-1), rtol=1e-5, atol=1e-7)
    assert_model_unchanged(model, *before)


def test_bad_layers(images):
    keras.backend.clear_session()
    model = functional()
    before = weights_snapshot(model), layer_state(model)
    with pytest.raises(ValueError, match="`layer`.*'fc'.*spatial"):
        grad_cam(model, images, layer="fc")
    with pytest.raises(ValueError, match="`layer`.*'pool'"):
        guided_grad_cam(model, images, layer="pool")
    with pytest.raises(ValueError, match="no layer named 'conv9'"):
        grad_cam(model, images, layer="conv9")
    with pytest.raises(TypeError, match="`layer`"):
        grad_cam(model, images, layer=2.5)
    assert_model_unchanged(model, *before)


def test_dense_layer_of_subclassed_model_rejected(images):
    from tests.helpers.models import subclassed

    keras.backend.clear_session()
    model = subclassed()
    with pytest.raises(ValueError, match="`layer`.*'fc'"):
        grad_cam(model, images, layer="fc")
