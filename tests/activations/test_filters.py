"""Filter grids against the kernels read and normalized in plain numpy."""

import math

import keras
import numpy as np
import pytest

from kerasviz import models
from kerasviz.activations.filters import FilterGrid, filter_grid
from tests.helpers.models import (MODEL_FORMS, SIZE, assert_model_unchanged, functional, layer_state, sequential,
                                  weights_snapshot)


def normalized(tile):
    tile = np.asarray(tile, np.float64)
    span = tile.max() - tile.min()
    return np.full(tile.shape, 0.5) if span == 0 else (tile - tile.min()) / span


def block(picture, row, col, kh, kw, pad):
    return picture[row * (kh + pad):row * (kh + pad) + kh, col * (kw + pad):col * (kw + pad) + kw]


def kernel_of(model, name):
    return np.asarray(model.get_layer(name).kernel)


def conv_model(filters, size, channels, input_size=32, strides=1, seed=0):
    return keras.Sequential([
        keras.Input((input_size, input_size, channels)),
        keras.layers.Conv2D(filters, size, strides=strides, activation="relu",
                            kernel_initializer=keras.initializers.RandomNormal(seed=seed), name="conv1"),
        keras.layers.Conv2D(5, 3, kernel_initializer=keras.initializers.RandomNormal(seed=seed + 1), name="conv2"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, name="fc"),
    ])


def test_first_layer_rgb_tiles_are_the_normalized_filters():
    model = functional()
    before = weights_snapshot(model), layer_state(model)
    grid = filter_grid(model)
    assert isinstance(grid, FilterGrid)
    assert grid.layer == "conv1" and grid.kernel_shape == (3, 3, 3, 6)
    kernel = kernel_of(model, "conv1")
    assert grid.image.dtype == np.float32 and grid.image.shape == (2 * 4 - 1, 3 * 4 - 1, 3)
    for j in range(6):
        r, c = divmod(j, 3)
        np.testing.assert_allclose(block(grid.image, r, c, 3, 3, 1), normalized(kernel[..., j]), atol=1e-6)
    padding = np.ones(grid.image.shape[:2], bool)
    for j in range(6):
        r, c = divmod(j, 3)
        padding[r * 4:r * 4 + 3, c * 4:c * 4 + 3] = False
    assert np.all(grid.image[padding] == 1.0)
    assert "all 6 filters" in grid.description and "RGB" in grid.description
    assert_model_unchanged(model, *before)


def test_alexnet_like_conv1_is_a_square_grid():
    model = conv_model(64, 11, 3, input_size=67, strides=4)
    grid = filter_grid(model, pad=2)
    assert grid.image.shape == (8 * 13 - 2, 8 * 13 - 2, 3)
    kernel = kernel_of(model, "conv1")
    for j in (0, 9, 63):
        r, c = divmod(j, 8)
        np.testing.assert_allclose(block(grid.image, r, c, 11, 11, 2), normalized(kernel[..., j]), atol=1e-6)
    assert grid.image.min() >= 0 and grid.image.max() <= 1


@pytest.mark.parametrize("count", [1, 2, 5, 10, 17, 30])
def test_grid_is_near_square(count):
    grid = filter_grid(conv_model(40, 3, 3), max_filters=count)
    rows, cols = (grid.image.shape[0] + 1) // 4, (grid.image.shape[1] + 1) // 4
    assert cols == math.ceil(math.sqrt(count)) and rows == math.ceil(count / cols)
    assert 0 <= cols - rows <= 1
    assert f"first {count} of 40 filters" in grid.description


def test_higher_layer_tiles_per_filter_and_channel():
    model = functional()
    grid = filter_grid(model, "conv2")
    kernel = kernel_of(model, "conv2")  # [3, 3, 6, 8]
    assert grid.image.shape == (8 * 4 - 1, 6 * 4 - 1, 1)
    for j in range(8):
        for c in range(6):
            np.testing.assert_allclose(block(grid.image, j, c, 3, 3, 1)[..., 0], normalized(kernel[:, :, c, j]), atol=1e-6)
    small = filter_grid(model, "conv2", max_filters=5, max_channels=4)
    assert small.image.shape == (5 * 4 - 1, 4 * 4 - 1, 1)
    np.testing.assert_array_equal(small.image, grid.image[:19, :15])
    assert small.description.startswith("first 5 of 8 filters x first 4 of 6 input channels")
    assert "min-max normalized" in small.description


def test_grayscale_first_layer_is_a_square_grid_of_gray_tiles():
    model = conv_model(9, 5, 1)
    grid = filter_grid(model)
    kernel = kernel_of(model, "conv1")
    assert grid.image.shape == (3 * 6 - 1, 3 * 6 - 1, 1)
    for j in range(9):
        r, c = divmod(j, 3)
        np.testing.assert_allclose(block(grid.image, r, c, 5, 5, 1)[..., 0], normalized(kernel[:, :, 0, j]), atol=1e-6)


def test_follows_set_weights_and_constant_filter_is_gray():
    model = sequential()
    old = filter_grid(model).image
    kernel = np.random.default_rng(3).normal(size=(3, 3, 3, 6)).astype(np.float32)
    kernel[..., 2] = 0.7
    weights = model.get_layer("conv1").get_weights()
    model.get_layer("conv1").set_weights([kernel, weights[1]])
    new = filter_grid(model).image
    assert not np.allclose(old, new)
    np.testing.assert_allclose(block(new, 0, 0, 3, 3, 1), normalized(kernel[..., 0]), atol=1e-6)
    np.testing.assert_array_equal(block(new, 0, 2, 3, 3, 1), np.full((3, 3, 3), 0.5, np.float32))


def test_dense_and_pooling_layers_raise_naming_the_conv_layers():
    model = functional()
    with pytest.raises(ValueError, match=r"'fc'.*Dense.*Available conv layers: \['conv1', 'conv2'\]"):
        filter_grid(model, "fc")
    with pytest.raises(ValueError, match="`layer`.*'pool'"):
        filter_grid(model, "pool")
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        filter_grid(model, "nope")
    dense_only = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="filters"):
        filter_grid(dense_only)
    for argname, value in (("max_filters", 0), ("max_channels", 1.5), ("pad", -1)):
        with pytest.raises(ValueError, match=f"`{argname}`"):
            filter_grid(model, **{argname: value})


@pytest.mark.parametrize("form", ["nested", "mixed_float16", "subclassed", "reloaded"])
def test_model_forms(form):
    keras.backend.clear_session()
    model = MODEL_FORMS[form]()
    grid = filter_grid(model)
    assert grid.layer in ("conv1", "backbone/conv1")
    kernel = np.asarray(models.get_layer(model, grid.layer)[1].kernel)
    np.testing.assert_allclose(block(grid.image, 1, 2, 3, 3, 1), normalized(kernel[..., 5]), atol=1e-6)
    assert filter_grid(model, "conv2").image.shape == (8 * 4 - 1, 6 * 4 - 1, 1)


def test_depthwise_and_separable_kernels():
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(4, 3, name="conv1"),
        keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw"),
        keras.layers.SeparableConv2D(5, 3, name="sep"),
    ])
    grid = filter_grid(model, "dw")
    kernel = kernel_of(model, "dw")  # [3, 3, 4, 2]: output channel c * 2 + m
    assert grid.image.shape == (3 * 4 - 1, 3 * 4 - 1, 1)
    for c in range(4):
        for m in range(2):
            r, col = divmod(c * 2 + m, 3)
            np.testing.assert_allclose(block(grid.image, r, col, 3, 3, 1)[..., 0], normalized(kernel[:, :, c, m]), atol=1e-6)
    assert "depthwise" in grid.description
    separable = filter_grid(model, "sep")
    assert separable.kernel_shape == (3, 3, 8, 1) and separable.image.shape == (11, 11, 1)
    assert "SeparableConv2D" in separable.description


def test_transposed_kernel_is_read_per_output_channel():
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(4, 3, name="conv1"),
        keras.layers.Conv2DTranspose(5, 3, name="up"),  # kernel [3, 3, out=5, in=4]
    ])
    grid = filter_grid(model, "up")
    kernel = kernel_of(model, "up")
    assert grid.image.shape == (5 * 4 - 1, 4 * 4 - 1, 1)
    np.testing.assert_allclose(block(grid.image, 3, 1, 3, 3, 1)[..., 0], normalized(kernel[:, :, 3, 1]), atol=1e-6)
    assert "Conv2DTranspose" in grid.description
