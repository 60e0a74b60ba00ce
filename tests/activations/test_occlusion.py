"""Occlusion sensitivity against a plain-numpy loop over occluder positions."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz import compiled, registry
from kerasviz.activations.occlusion import occlusion, occlusion_geometry, occlusion_to_input
from kerasviz.metrics.catalog import pixel_maps
from kerasviz.targets import Channel
from tests.helpers.models import SIZE, assert_model_unchanged, functional, layer_state, weights_snapshot


def starts(size, patch, stride):
    """Expected positions, spelled out: every `stride` while the patch fits, then one flush with the border."""
    out = []
    position = 0
    while position + patch <= size:
        out.append(position)
        position += stride
    if out[-1] != size - patch:
        out.append(size - patch)
    return out


def reference(forward, images, patch, stride, fill):
    """`forward(batch) -> [B]` on every occluded copy, built one by one in numpy."""
    ys, xs = starts(images.shape[1], patch, stride), starts(images.shape[2], patch, stride)
    out = np.zeros((len(images), len(ys), len(xs)), np.float32)
    for b, image in enumerate(images):
        copies = []
        for y in ys:
            for x in xs:
                copy = image.copy()
                copy[y:y + patch, x:x + patch, :] = fill[b]
                copies.append(copy)
        out[b] = forward(np.stack(copies), b).reshape(len(ys), len(xs))
    return out


def probability_of(model, classes):
    return lambda batch, b: model(batch, training=False).numpy()[:, classes[b]]


def fully_convolutional(seed=0, extra=None):
    """Any-size inputs: conv -> conv -> GAP -> softmax (3 classes)."""
    init = keras.initializers.GlorotUniform
    layers = [
        keras.Input((None, None, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=init(seed), name="c1"),
        keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu", kernel_initializer=init(seed + 1), name="c2"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax", kernel_initializer=init(seed + 2), name="logits"),
    ]
    if extra is not None:
        layers.insert(1, extra)
    return keras.Sequential(layers, name="fcn")


@pytest.mark.parametrize(
    "stride, value",
    [(2, None), (3, 0.25), (5, (0.1, 0.5, 0.9)), (3, None)],  # 3 and 5 do not divide 12 - 4 = 8 (width)
    ids=["2-mean", "3-float", "5-per_channel", "3-mean"],
)
def test_matches_numpy_loop(stride, value):
    keras.backend.clear_session()
    model = fully_convolutional()
    images = np.random.default_rng(stride).uniform(0, 1, (3, 16, 12, 3)).astype(np.float32)
    classes = model(images, training=False).numpy().argmax(-1)
    if value is None:
        fill = images.mean(axis=(1, 2))
    else:
        fill = np.broadcast_to(np.asarray(value, np.float32), (3, 3))
    heat = occlusion(model, images, patch=4, stride=stride, value=value, batch_size=7)
    expected = reference(probability_of(model, classes), images, 4, stride, fill)
    assert heat.shape == expected.shape and heat.dtype == np.float32
    np.testing.assert_allclose(heat, expected, atol=1e-5)


def test_shapes_and_flush_position():
    keras.backend.clear_session()
    model = fully_convolutional()
    images = np.zeros((1, 16, 12, 3), np.float32)
    # 16 - 4 = 12: stride 5 gives 0, 5, 10 and the flush 12; along 12 - 4 = 8: 0, 5 and the flush 8
    assert occlusion(model, images, patch=4, stride=5).shape == (1, 4, 3)
    assert occlusion(model, images, patch=4, stride=4).shape == (1, 4, 3)  # 0,4,8,12 / 0,4,8: exact
    assert occlusion(model, images, patch=4).shape == (1, 7, 5)  # default stride 2
    assert occlusion(model, images, patch=16 - 4, stride=100).shape == (1, 2, 1)


@pytest.mark.parametrize("height, width, expected", [
    (64, 64, (8, 4)),  # the demo's size keeps the old default
    (224, 224, (28, 14)),
    (280, 280, (35, 17)),
    (300, 200, (25, 12)),  # the shorter side
    (28, 28, (4, 2)),  # 3.5 rounds up
    (5, 5, (1, 1)),  # never below one pixel
])
def test_default_geometry_scales_with_the_image(height, width, expected):
    assert occlusion_geometry(height, width) == expected
    patch, stride = expected
    assert len(starts(min(height, width), patch, stride)) <= 16 or min(height, width) < 16
    assert occlusion_geometry(height, width, patch=patch + 1) == (patch + 1, (patch + 1) // 2)
    assert occlusion_geometry(height, width, stride=3) == (patch, 3)


def test_default_geometry_is_what_every_occlusion_function_runs():
    keras.backend.clear_session()
    model = fully_convolutional()
    images = np.random.default_rng(3).uniform(0, 1, (1, 40, 24, 3)).astype(np.float32)
    patch, stride = occlusion_geometry(40, 24)  # 3 and 1: 38 x 22 positions
    heat = occlusion(model, images)
    np.testing.assert_array_equal(heat, occlusion(model, images, patch=patch, stride=stride))
    assert heat.shape == (1, len(starts(40, patch, stride)), len(starts(24, patch, stride)))
    pixels = occlusion_to_input(heat, (40, 24), patch, stride)
    np.testing.assert_array_equal(occlusion_to_input(heat, (40, 24)), pixels)
    # kerasviz.metrics reads a map of occlusion run with its defaults the same way
    np.testing.assert_allclose(pixel_maps(registry.METHODS["occlusion"], heat, (40, 24), {}), pixels.max() - pixels, rtol=1e-6)
    # The CLI's time estimate counts the same positions (and the clean image), at any size.
    assert registry.cost("occlusion", model, (40, 24, 3)) == registry.Cost(forward=heat[0].size + 1)
    assert registry.cost("occlusion", model, (280, 280, 3)) == registry.Cost(forward=16 * 16 + 1)
    with pytest.raises(ValueError, match="`height`: 0"):
        occlusion_geometry(0, 24)
    with pytest.raises(ValueError, match="`patch`: 30.*40 x 24"):
        occlusion_geometry(40, 24, patch=30)


def test_targets_and_model_forms(model_form, images):
    name, model = model_form
    before = weights_snapshot(model), layer_state(model)
    classes = np.array([0, 1, 2, 3, 0])
    heat = occlusion(model, images, classes, patch=8, stride=4)
    assert heat.shape == (5, 3, 3) and np.all((heat >= 0) & (heat <= 1))
    assert_model_unchanged(model, *before)
    keras.backend.clear_session()
    reference_model = functional()
    expected = reference(probability_of(reference_model, classes), images, 8, 4, images.mean(axis=(1, 2)))
    np.testing.assert_allclose(heat, expected, atol=2e-3 if name == "mixed_float16" else 1e-5)


def test_target_none_is_the_clean_prediction_and_channels_are_raw(images):
    keras.backend.clear_session()
    model = functional()
    predicted = model.predict(images, verbose=0).argmax(-1)
    np.testing.assert_allclose(occlusion(model, images, patch=6, stride=5), occlusion(model, images, predicted, patch=6, stride=5))
    fill = np.full((5, 3), 0.5, np.float32)
    probe = keras.Model(model.inputs, model.get_layer("conv2").output)
    channel_mean = lambda batch, b: probe(batch, training=False).numpy()[..., 3].mean(axis=(1, 2))  # noqa: E731
    heat = occlusion(model, images, Channel("conv2", 3), patch=6, stride=5, value=0.5)
    np.testing.assert_allclose(heat, reference(channel_mean, images, 6, 5, fill), atol=1e-5)


def test_batch_size_independent_and_traced_once(images):
    keras.backend.clear_session()
    model = functional()
    results = [occlusion(model, images, patch=4, stride=3, batch_size=b) for b in (1, 5, 1000)]
    count = compiled.tracing_count(model)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    occlusion(model, images[:2], [1, 2], patch=5, stride=2, value=0.0, batch_size=3)  # other geometry, same trace
    assert compiled.tracing_count(model) == count


class BatchCap(keras.layers.Layer):
    """Identity that fails at run time when it sees more than `limit` images at once."""

    def __init__(self, limit, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit

    def call(self, x):
        with tf.control_dependencies([tf.debugging.assert_less_equal(tf.shape(x)[0], self.limit)]):
            return tf.identity(x)


def test_memory_bounded_by_batch_size():
    """64x64, patch 4, stride 1: 3,721 positions; the model itself asserts it never sees more than 16 images."""
    keras.backend.clear_session()
    model = fully_convolutional(extra=BatchCap(16))
    image = np.random.default_rng(0).uniform(0, 1, (1, 64, 64, 3)).astype(np.float32)
    heat = occlusion(model, image, 0, patch=4, stride=1, batch_size=16)
    assert heat.shape == (1, 61, 61) and np.all(np.isfinite(heat))
    with pytest.raises(tf.errors.InvalidArgumentError):
        occlusion(model, image, 0, patch=4, stride=1, batch_size=17)


def test_occlusion_to_input():
    constant = np.full((2, 7, 5), 0.3, np.float32)
    maps = occlusion_to_input(constant, (16, 12), patch=4, stride=2)
    assert maps.shape == (2, 16, 12) and maps.dtype == np.float32
    np.testing.assert_allclose(maps, 0.3, rtol=1e-6)
    # stride > patch leaves gaps: filled with the map's mean, still constant
    np.testing.assert_allclose(occlusion_to_input(constant[0, :3, :3], 16, patch=4, stride=9), 0.3, rtol=1e-6)
    # every pixel is the mean of the positions covering it
    heat = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)  # 12 x 10, patch 4, stride 3: 0,3,6,8 x 0,3,6
    ys, xs = starts(12, 4, 3), starts(10, 4, 3)
    total, count = np.zeros((12, 10)), np.zeros((12, 10))
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            total[y:y + 4, x:x + 4] += heat[i, j]
            count[y:y + 4, x:x + 4] += 1
    np.testing.assert_allclose(occlusion_to_input(heat, (12, 10, 3), 4, 3), total / count, rtol=1e-5)
    with pytest.raises(ValueError, match="`heatmap`"):
        occlusion_to_input(heat, (12, 12), 4, 3)
    with pytest.raises(ValueError, match="`image_size`"):
        occlusion_to_input(heat, "big", 4, 3)


def test_bad_arguments(images):
    keras.backend.clear_session()
    model = functional()
    before = weights_snapshot(model), layer_state(model)
    with pytest.raises(ValueError, match="`patch`: 0"):
        occlusion(model, images, patch=0)
    with pytest.raises(ValueError, match="`patch`: 17"):
        occlusion(model, images, patch=SIZE + 1)
    with pytest.raises(ValueError, match="`stride`: 0"):
        occlusion(model, images, patch=4, stride=0)
    with pytest.raises(ValueError, match="`value`.*3 floats"):
        occlusion(model, images, patch=4, value=(0.1, 0.2))
    with pytest.raises(ValueError, match="`value`"):
        occlusion(model, images, patch=4, value=float("nan"))
    with pytest.raises(TypeError, match="`value`"):
        occlusion(model, images, patch=4, value="grey")
    with pytest.raises(ValueError, match="class index"):
        occlusion(model, images, 9, patch=4)
    assert_model_unchanged(model, *before)
