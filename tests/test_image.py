"""Tests for kerasviz.image: hand-computed references, layouts, and argument errors."""

import ast
import doctest
import io
import pathlib

import numpy as np
import pytest
from PIL import Image

from kerasviz import image


class _ArrayLike:
    """Stands in for a tf.Tensor: anything exposing `__array__`."""

    def __init__(self, value):
        self._value = np.asarray(value)

    def __array__(self, dtype=None, copy=None):
        return self._value if dtype is None else self._value.astype(dtype)


def _luminance(rgb):
    return rgb @ np.array([0.299, 0.587, 0.114])


# ---------------------------------------------------------------- normalize


def test_normalize_hand_computed_unsigned():
    out = image.normalize(np.array([[0.0, 1.0], [2.0, 4.0]]), percentile=100)
    np.testing.assert_allclose(out, [[0.0, 0.25], [0.5, 1.0]], atol=1e-7)
    assert out.dtype == np.float32 and out.shape == (2, 2)


def test_normalize_offset_map_uses_its_minimum():
    out = image.normalize([[10.0, 12.0], [14.0, 18.0]], percentile=100)
    np.testing.assert_allclose(out, [[0.0, 0.25], [0.5, 1.0]], atol=1e-7)


def test_normalize_hand_computed_signed():
    out = image.normalize(np.array([[-2.0, 1.0], [0.0, 4.0]]), percentile=100, signed=True)
    np.testing.assert_allclose(out, [[-0.5, 0.25], [0.0, 1.0]], atol=1e-7)


def test_normalize_percentile_clip_saturates_the_top():
    x = np.arange(10, dtype=np.float64).reshape(2, 5)  # 50th percentile of 0..9 is 4.5
    out = image.normalize(x, percentile=50)
    np.testing.assert_allclose(out.ravel()[:5], np.arange(5) / 4.5, atol=1e-6)
    np.testing.assert_array_equal(out.ravel()[5:], 1.0)


def test_normalize_outlier_does_not_dominate():
    x = np.tile(np.linspace(0, 1, 100), (10, 1))
    x[0, 0] = 1e6
    out = image.normalize(x)  # default 99.5th percentile ignores the single outlier
    assert out[0, 0] == 1.0
    assert out[5, 50] > 0.4  # a mid value stays mid-grey instead of collapsing to ~0


def test_normalize_sparse_map_falls_back_to_max():
    x = np.zeros((16, 16))
    x[3, 4] = 2.0  # the 99.5th percentile is 0 here
    out = image.normalize(x)
    assert out[3, 4] == 1.0 and out.sum() == 1.0


def test_normalize_each_item_on_its_own():
    base = np.random.default_rng(0).random((5, 6))
    out = image.normalize(np.stack([base, 10.0 * base + 3.0]), percentile=100)
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("shape", [(4, 5), (3, 4, 5), (3, 4, 5, 2)])
@pytest.mark.parametrize("value", [0.0, 7.5, -3.0])
def test_normalize_constant_maps_give_zeros(signed, shape, value):
    out = image.normalize(np.full(shape, value), signed=signed)
    assert out.shape == shape and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    if signed and value != 0.0:
        np.testing.assert_array_equal(out, np.sign(value))  # |x| constant: x / |x|
    else:
        np.testing.assert_array_equal(out, 0.0)


def test_normalize_accepts_array_likes():
    out = image.normalize(_ArrayLike([[0.0, 2.0], [1.0, 2.0]]), percentile=100)
    np.testing.assert_allclose(out, [[0.0, 1.0], [0.5, 1.0]])


# ----------------------------------------------------------------- colormap


def test_colormap_names():
    assert image.COLORMAPS == ("inferno", "viridis", "jet", "gray", "hot", "coolwarm")


@pytest.mark.parametrize(
    "name, low, high",
    [
        ("gray", (0, 0, 0), (255, 255, 255)),
        ("hot", (0, 0, 0), (255, 255, 255)),
        ("jet", (0, 0, 128), (128, 0, 0)),
        ("inferno", (0, 0, 4), (252, 255, 164)),
        ("viridis", (68, 1, 84), (253, 231, 37)),
    ],
)
def test_colormap_endpoints_are_anchor_colours(name, low, high):
    out = image.colormap(np.array([0.0, 1.0]), name)
    np.testing.assert_allclose(out, np.array([low, high]) / 255.0, atol=1e-6)


def test_coolwarm_maps_signed_input():
    out = image.colormap(np.array([-1.0, 0.0, 1.0]), "coolwarm")
    np.testing.assert_allclose(out[0], np.array([59, 76, 192]) / 255.0, atol=1e-6)
    np.testing.assert_allclose(out[2], np.array([180, 4, 38]) / 255.0, atol=1e-6)
    np.testing.assert_allclose(out[1], 221 / 255.0, atol=0.01)  # neutral light grey middle


@pytest.mark.parametrize("name", image.COLORMAPS)
def test_colormap_shape_range_and_clipping(name):
    x = np.random.default_rng(1).uniform(-2, 2, size=(2, 7, 5))
    out = image.colormap(x, name)
    assert out.shape == (2, 7, 5, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    lo = -1.0 if name == "coolwarm" else 0.0
    np.testing.assert_array_equal(image.colormap(lo - 5, name), image.colormap(lo, name))
    np.testing.assert_array_equal(image.colormap(6.0, name), image.colormap(1.0, name))


@pytest.mark.parametrize("name", ["gray", "inferno", "hot", "viridis"])
def test_colormap_luminance_is_monotone(name):
    lum = _luminance(image.colormap(np.linspace(0, 1, 256), name))
    assert np.all(np.diff(lum) >= -1e-6)
    assert lum[-1] - lum[0] > 0.5


def test_gray_is_the_identity():
    x = np.arange(256) / 255.0
    np.testing.assert_allclose(image.colormap(x, "gray"), np.repeat(x[:, None], 3, 1), atol=1e-6)


# --------------------------------------------------------------- to_display


def test_to_display_value_range():
    out = image.to_display(np.array([[-1.0, 0.0], [1.0, 3.0]]), value_range=(-1, 1))
    np.testing.assert_allclose(out, [[0.0, 0.5], [1.0, 1.0]])
    assert out.dtype == np.float32


def test_to_display_uint8_range_keeps_gray_channel():
    x = np.full((2, 3, 3, 1), 51, dtype=np.uint8)
    out = image.to_display(x, value_range=(0, 255))
    assert out.shape == (2, 3, 3, 1)
    np.testing.assert_allclose(out, 0.2, atol=1e-6)


def test_to_display_none_stretches_each_image():
    a = np.arange(12, dtype=np.float64).reshape(1, 2, 2, 3)
    batch = np.concatenate([a, 5 * a - 7, np.full_like(a, 4.0)])
    out = image.to_display(batch, value_range=None)
    np.testing.assert_allclose(out[0], a[0] / 11.0, atol=1e-6)
    np.testing.assert_allclose(out[1], a[0] / 11.0, atol=1e-6)
    np.testing.assert_array_equal(out[2], 0.5)


# -------------------------------------------------------- overlay / resize


def test_overlay_alpha_zero_is_the_image_and_one_the_colormap():
    rng = np.random.default_rng(2)
    images, maps = rng.random((2, 6, 8, 3)), rng.random((2, 6, 8))
    np.testing.assert_allclose(image.overlay(images, maps, alpha=0.0), images, atol=1e-6)
    np.testing.assert_allclose(image.overlay(images, maps, alpha=1.0),
                               image.colormap(maps, "inferno"), atol=1e-6)
    half = image.overlay(images, maps, alpha=0.5, colormap_name="jet")
    np.testing.assert_allclose(half, 0.5 * images + 0.5 * image.colormap(maps, "jet"), atol=1e-6)


def test_overlay_gray_image_and_small_map():
    gray = np.full((8, 10, 1), 0.25)
    out = image.overlay(gray, np.full((2, 3), 1.0), alpha=0.0)
    assert out.shape == (8, 10, 3)
    np.testing.assert_allclose(out, 0.25, atol=1e-6)
    out = image.overlay(gray, np.full((2, 3), 1.0), alpha=1.0, colormap_name="gray")
    np.testing.assert_allclose(out, 1.0, atol=1e-6)  # the resized constant map stays 1


def test_resize_maps_constant_stays_constant():
    out = image.resize_maps(np.full((2, 3, 4), 0.7), (9, 13))
    assert out.shape == (2, 9, 13) and out.dtype == np.float32
    np.testing.assert_allclose(out, 0.7, atol=1e-6)


@pytest.mark.parametrize("size", [(5, 40), (5, 3)])
def test_resize_maps_linear_ramp_stays_monotone(size):
    ramp = np.tile(np.linspace(0.0, 1.0, 7), (4, 1))  # increases along width
    out = image.resize_maps(ramp, size)
    assert out.shape == size
    assert np.all(np.diff(out, axis=1) >= -1e-6)  # non-decreasing (edges are clamped when upsampling)
    assert np.all(out[:, -1] - out[:, 0] > 0.5)
    np.testing.assert_allclose(np.diff(out, axis=0), 0.0, atol=1e-6)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_resize_maps_same_size_is_identity():
    x = np.random.default_rng(3).random((4, 5))
    np.testing.assert_allclose(image.resize_maps(x, (4, 5)), x, atol=1e-7)


# --------------------------------------------------------------------- tile


@pytest.mark.parametrize("cols, rows", [(None, 2), (2, 3), (5, 1), (7, 1)])
@pytest.mark.parametrize("channels", [None, 3])
def test_tile_layout(cols, rows, channels):
    n, h, w, pad, pad_value = 5, 2, 3, 1, -1.0
    shape = (n, h, w) if channels is None else (n, h, w, channels)
    images = np.arange(n, dtype=np.float64).reshape(-1, *([1] * (len(shape) - 1))) * np.ones(shape)
    out = image.tile(images, cols=cols, pad=pad, pad_value=pad_value)
    ncols = 3 if cols is None else cols
    assert out.shape[:2] == (rows * (h + pad) - pad, ncols * (w + pad) - pad)
    assert out.shape[2:] == shape[3:] and out.dtype == np.float32
    written = np.zeros(out.shape[:2], bool)
    for k in range(rows * ncols):
        r, c = divmod(k, ncols)
        cell = out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w]
        np.testing.assert_array_equal(cell, k if k < n else pad_value)
        written[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = True
    np.testing.assert_array_equal(out[~written], pad_value)  # the pads between tiles


def test_tile_without_padding_is_a_plain_mosaic():
    out = image.tile(np.arange(4.0).reshape(4, 1, 1), pad=0)
    np.testing.assert_array_equal(out, [[0, 1], [2, 3]])


# ------------------------------------------------------------------- sprite


def test_sprite_grid_without_downscaling():
    images = np.arange(10).reshape(10, 1, 1, 1) / 10.0 * np.ones((10, 28, 28, 3))
    out, (tw, th) = image.sprite(images)
    assert out.shape == (112, 112, 3) and out.dtype == np.float32 and (tw, th) == (28, 28)
    for k in range(16):
        r, c = divmod(k, 4)
        cell = out[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28]
        np.testing.assert_allclose(cell, k / 10.0 if k < 10 else 0.0, atol=1e-6)


def test_sprite_downscales_to_fit_max_size():
    images = np.arange(10).reshape(10, 1, 1) / 10.0 * np.ones((10, 28, 28))
    out, (tw, th) = image.sprite(images, max_size=100)
    assert (tw, th) == (25, 25) and out.shape == (100, 100, 1)
    np.testing.assert_allclose(out[25:50, 50:75, 0], 0.6, atol=1e-5)  # image 6: row 1, col 2


def test_sprite_non_square_thumbnails():
    out, (tw, th) = image.sprite(np.full((4, 20, 10, 3), 0.5), max_size=20)
    assert (tw, th) == (5, 10) and out.shape == (20, 10, 3)
    assert max(out.shape[:2]) <= 20
    np.testing.assert_allclose(out, 0.5, atol=1e-5)


# ------------------------------------------------------------------ uint8/png


def test_to_uint8_rounds_and_clips():
    out = image.to_uint8(np.array([0.0, 0.5, 1.0, 1.5, -1.0, 0.2, 1 / 510]))
    np.testing.assert_array_equal(out, [0, 128, 255, 255, 0, 51, 1])
    assert out.dtype == np.uint8


@pytest.mark.parametrize("shape, mode", [((5, 7), "L"), ((5, 7, 1), "L"),
                                         ((5, 7, 3), "RGB"), ((5, 7, 4), "RGBA")])
@pytest.mark.parametrize("as_uint8", [False, True])
def test_encode_png_round_trips(shape, mode, as_uint8):
    x = np.random.default_rng(4).random(shape)
    if as_uint8:
        x = (x * 255).astype(np.uint8)
    data = image.encode_png(x)
    assert isinstance(data, bytes) and data[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == mode
    np.testing.assert_array_equal(np.asarray(decoded), image.to_uint8(x).reshape(np.asarray(decoded).shape))


def test_module_imports_no_tensorflow():
    """Display code is numpy + Pillow; from kerasviz it takes only the one value-range resolver."""
    tree = ast.parse(pathlib.Path(image.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {f"{n.module}.{a.name}" if n.module == "kerasviz" else n.module
              for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert names <= {"io", "math", "warnings", "numpy", "PIL", "kerasviz.inputs", "kerasviz._text"}
    text = ast.parse(pathlib.Path(image._text.__file__).read_text())
    assert {getattr(n, "module", None) or n.names[0].name for n in ast.walk(text)
            if isinstance(n, (ast.Import, ast.ImportFrom))} \
        <= {"functools", "numpy", "PIL"}


# ------------------------------------------------------------------- errors

_IMG = np.zeros((2, 4, 4, 3))
_MAPS = np.zeros((2, 4, 4))
_NAN_MAP = np.array([[0.0, np.nan], [1.0, 2.0]])

_BAD_ARGUMENTS = [
    # (function, args, kwargs, exception, argument name, echoed text)
    (image.normalize, (np.zeros(5),), {}, ValueError, "maps", "(5,)"),
    (image.normalize, (np.zeros((1, 2, 3, 4, 5)),), {}, ValueError, "maps", "(1, 2, 3, 4, 5)"),
    (image.normalize, (_NAN_MAP,), {}, ValueError, "maps", "NaN"),
    (image.normalize, (np.array([[np.inf, 0.0]]),), {"signed": True}, ValueError, "maps", "inf"),
    (image.normalize, (np.zeros((0, 3)),), {}, ValueError, "maps", "(0, 3)"),
    (image.normalize, ([["a", "b"]],), {}, TypeError, "maps", "<U1"),
    (image.normalize, (_MAPS,), {"percentile": 0}, ValueError, "percentile", "0"),
    (image.normalize, (_MAPS,), {"percentile": 100.5}, ValueError, "percentile", "100.5"),
    (image.normalize, (_MAPS,), {"percentile": float("nan")}, ValueError, "percentile", "nan"),
    (image.normalize, (_MAPS,), {"signed": "yes"}, TypeError, "signed", "yes"),
    (image.colormap, (_MAPS, "plasma-ish"), {}, ValueError, "name", "plasma-ish"),
    (image.colormap, (_MAPS, None), {}, ValueError, "name", "None"),
    (image.colormap, (_NAN_MAP,), {}, ValueError, "maps", "NaN"),
    (image.to_display, (np.zeros(3),), {}, ValueError, "images", "(3,)"),
    (image.to_display, (_NAN_MAP,), {}, ValueError, "images", "NaN"),
    (image.to_display, (_IMG,), {"value_range": (1.0, 0.0)}, ValueError, "value_range", "(1.0, 0.0)"),
    (image.to_display, (_IMG,), {"value_range": (0.0,)}, ValueError, "value_range", "(0.0,)"),
    (image.to_display, (_IMG,), {"value_range": (0.0, np.inf)}, ValueError, "value_range", "inf"),
    (image.to_display, (_IMG,), {"value_range": "0-1"}, ValueError, "value_range", "0-1"),
    (image.overlay, (_IMG, _MAPS), {"alpha": 1.5}, ValueError, "alpha", "1.5"),
    (image.overlay, (_IMG, _MAPS), {"alpha": -0.1}, ValueError, "alpha", "-0.1"),
    (image.overlay, (_IMG, _MAPS), {"alpha": "0.5"}, ValueError, "alpha", "0.5"),
    (image.overlay, (_IMG, _MAPS), {"colormap_name": "rainbow"}, ValueError, "colormap_name", "rainbow"),
    (image.overlay, (np.zeros((2, 4, 4, 2)), _MAPS), {}, ValueError, "images", "(2, 4, 4, 2)"),
    (image.overlay, (np.zeros((4, 4)), _MAPS), {}, ValueError, "images", "(4, 4)"),
    (image.overlay, (_IMG, np.zeros((4, 4))), {}, ValueError, "maps", "(4, 4)"),
    (image.overlay, (_IMG, np.zeros((3, 4, 4))), {}, ValueError, "maps", "(3, 4, 4)"),
    (image.overlay, (_IMG, np.full((2, 4, 4), np.nan)), {}, ValueError, "maps", "NaN"),
    (image.resize_maps, (_MAPS, (0, 4)), {}, ValueError, "size", "(0, 4)"),
    (image.resize_maps, (_MAPS, (4,)), {}, ValueError, "size", "(4,)"),
    (image.resize_maps, (_MAPS, (2.5, 4)), {}, ValueError, "size", "2.5"),
    (image.resize_maps, (_MAPS, 4), {}, ValueError, "size", "4"),
    (image.resize_maps, (_IMG, (4, 4)), {}, ValueError, "maps", "(2, 4, 4, 3)"),
    (image.tile, (np.zeros((4, 4)),), {}, ValueError, "images", "(4, 4)"),
    (image.tile, (np.zeros((0, 4, 4)),), {}, ValueError, "images", "(0, 4, 4)"),
    (image.tile, (_MAPS,), {"cols": 0}, ValueError, "cols", "0"),
    (image.tile, (_MAPS,), {"cols": 1.5}, ValueError, "cols", "1.5"),
    (image.tile, (_MAPS,), {"pad": -1}, ValueError, "pad", "-1"),
    (image.tile, (_MAPS,), {"pad_value": float("nan")}, ValueError, "pad_value", "nan"),
    (image.sprite, (_MAPS,), {"max_size": 0}, ValueError, "max_size", "0"),
    (image.sprite, (_MAPS,), {"max_size": -8}, ValueError, "max_size", "-8"),
    (image.sprite, (_MAPS,), {"max_size": 64.0}, ValueError, "max_size", "64.0"),
    (image.sprite, (np.zeros((10, 2, 2)),), {"max_size": 3}, ValueError, "max_size", "3"),
    (image.sprite, (np.zeros((2, 2)),), {}, ValueError, "images", "(2, 2)"),
    (image.sprite, (np.full((2, 2, 2), np.nan),), {}, ValueError, "images", "NaN"),
    (image.to_uint8, (_NAN_MAP,), {}, ValueError, "image", "NaN"),
    (image.to_uint8, (np.zeros((2, 2), dtype=np.int64),), {}, TypeError, "image", "int64"),
    (image.encode_png, (np.zeros((2, 2, 2, 3)),), {}, ValueError, "image", "(2, 2, 2, 3)"),
    (image.encode_png, (np.zeros((2, 2, 2)),), {}, ValueError, "image", "(2, 2, 2)"),
    (image.encode_png, (np.zeros(4),), {}, ValueError, "image", "(4,)"),
]


@pytest.mark.parametrize(
    "fn, args, kwargs, exc, name, echo", _BAD_ARGUMENTS,
    ids=[f"{row[0].__name__}-{row[4]}-{i}" for i, row in enumerate(_BAD_ARGUMENTS)],
)
def test_bad_arguments_name_the_argument(fn, args, kwargs, exc, name, echo):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert f"`{name}`" in message
    assert echo in message


def test_unknown_colormap_lists_the_names():
    with pytest.raises(ValueError, match="inferno, viridis, jet, gray, hot, coolwarm"):
        image.colormap(np.zeros(3), "magma")


def test_alpha_message_matches_the_house_style():
    with pytest.raises(ValueError) as info:
        image.overlay(_IMG, _MAPS, alpha=1.5)
    assert str(info.value) == "Received an invalid value for `alpha`: 1.5. Expected a float in [0, 1]."


def test_docstring_examples_run():
    result = doctest.testmod(image, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 9 and result.failed == 0


# ---------------------------------------------------------------- labelled figures


def _ink(strip):
    """Pixels darker than mid-grey: where text was drawn on a white strip."""
    return int((np.asarray(strip) < 0.5).sum())


def test_tile_titles_put_text_above_each_enlarged_tile():
    tiles = np.random.default_rng(0).random((3, 16, 16, 3)).astype(np.float32)
    plain = image.tile(tiles, cols=3, pad=1)
    grid = image.tile(tiles, cols=3, pad=1, titles=["saliency", "grad_cam", ""])
    factor = image.MIN_TITLED_WIDTH // 16  # 6
    strip = grid.shape[0] - 16 * factor
    assert plain.shape == (16, 50, 3) and grid.shape == (strip + 96, 3 * 97 - 1, 3)
    assert 8 <= strip <= 60
    np.testing.assert_array_equal(grid[strip:, :96], tiles[0].repeat(factor, 0).repeat(factor, 1))
    heads = [grid[:strip, k * 97:k * 97 + 96] for k in range(3)]
    assert _ink(heads[0]) > 20 and _ink(heads[1]) > 20 and _ink(heads[2]) == 0
    assert not np.array_equal(heads[0], heads[1])  # the words differ, so do the pixels


def test_titles_wrap_and_are_cut_to_the_tile_width():
    long = "a very long title " * 10
    grid = image.tile(np.zeros((1, 100, 100)), titles=[long], pad_value=1.0)
    one = image.tile(np.zeros((1, 100, 100)), titles=["conv1"])
    assert grid.shape[1] == one.shape[1] == 100  # never wider than the tile
    assert grid.shape[0] - 100 == 3 * (one.shape[0] - 100) - 8  # three lines (margins counted once)


def test_light_text_on_a_dark_background():
    grid = image.tile(np.zeros((1, 100, 100)), titles=["conv1"], pad_value=0.0)
    head = grid[:grid.shape[0] - 100]
    assert (head > 0.5).sum() > 20 and head.min() == 0.0


def test_titled_keeps_the_picture_and_its_width():
    picture = np.random.default_rng(1).random((120, 150, 3)).astype(np.float32)
    out = image.titled(picture, "conv1: 16 filters of 3x3x3")
    np.testing.assert_array_equal(out[-120:], picture)
    assert out.shape[1:] == (150, 3) and _ink(out[:-120]) > 20


def test_compare_labels_methods_and_classes():
    images = np.full((2, 32, 32, 3), 0.5, np.float32)
    maps = {"saliency": np.random.default_rng(2).random((2, 32, 32)), "occlusion": np.ones((2, 4, 4))}
    assert image.comparison_figure(images, maps).shape == (66, 100, 3)  # unchanged without titles
    labels = [image.class_label(1, ["cat", "dog"], 0.931), image.class_label(0, ["cat", "dog"], 0.5)]
    out = image.comparison_figure(images, maps, labels=labels)
    titled = image.comparison_figure(images, maps, titles=True)
    cell = out.shape[0] // 2  # two equal rows (each with its strip), one pad between
    assert out.shape == titled.shape and out.shape[1] == 3 * 96 + 2 * 2
    strip = cell - 96
    input_heads = out[:strip, :96], out[cell + 1:cell + 1 + strip, :96]
    assert not np.array_equal(*input_heads)  # "1: dog 93.1%" and "0: cat 50.0%"
    np.testing.assert_array_equal(out[:strip, 98:], titled[:strip, 98:])  # the method names
    assert not np.array_equal(out[:strip, :96], titled[:strip, :96])  # a label, not "input"


def test_top_regions_keeps_the_top_area_outlined_and_dims_the_rest():
    pictures = np.random.default_rng(3).uniform(0.2, 1.0, (1, 8, 8, 3)).astype(np.float32)
    ranks = np.arange(64.0).reshape(1, 8, 8)  # rows 4 to 7 hold the top half
    out = image.top_regions(pictures, ranks, area=0.5, dim=0.25)
    assert out.shape == (1, 8, 8, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, :4], 0.25 * pictures[0, :4], rtol=1e-6)  # dimmed
    np.testing.assert_array_equal(out[0, 4], np.broadcast_to([1.0, 0.85, 0.0], (8, 3)).astype(np.float32))  # edge
    np.testing.assert_array_equal(out[0, 5:], pictures[0, 5:])  # kept as it is
    # A region straddling the threshold is kept whole: XRAI's maps are constant over each region.
    regions = np.zeros((8, 8))
    regions[:, :5] = 2.0  # one region of 40 of the 64 pixels holds the highest gain
    kept = image.top_regions(pictures[0], regions, area=0.3, dim=0.0).sum(-1) > 0
    assert kept[:, :5].all() and not kept[:, 5:].any()


def test_compare_draws_region_methods_as_their_top_regions():
    pictures = np.random.default_rng(4).uniform(0.2, 1.0, (2, 8, 8, 3)).astype(np.float32)
    maps = np.random.default_rng(5).random((2, 8, 8))
    out = image.comparison_figure(pictures, {"xrai": maps, "saliency": maps}, pad=0, regions={"xrai"})
    cells = out.reshape(2, 8, 3, 8, 3).transpose(0, 2, 1, 3, 4)  # [row, column, H, W, C]
    np.testing.assert_array_equal(cells[:, 1], image.top_regions(pictures, maps))
    np.testing.assert_allclose(cells[:, 2], image.overlay(pictures, image.normalize(maps), alpha=0.6), rtol=1e-6)
    titled = image.comparison_figure(pictures, {"xrai": maps}, titles=True, regions={"xrai"})
    plain = image.comparison_figure(pictures, {"xrai": maps}, titles=True)
    strip = titled.shape[0] // 2 - 96
    assert not np.array_equal(titled[:strip, 98:], plain[:strip, 98:])  # "xrai (top 30%)", not "xrai"
    with pytest.raises(ValueError, match="`regions`"):
        image.comparison_figure(pictures, {"xrai": maps}, regions="xrai")
    with pytest.raises(ValueError, match="`area`"):
        image.top_regions(pictures, maps, area=0)


def test_class_label():
    assert image.class_label(3) == "3"
    assert image.class_label(1, ["cat", "dog"], 0.931) == "1: dog 93.1%"
    assert image.class_label(7, ["cat"], None) == "7"


@pytest.mark.parametrize("titles", [["one"], "ab", 3])
def test_titles_must_be_one_string_per_tile(titles):
    with pytest.raises(ValueError, match="`titles`"):
        image.tile(np.zeros((2, 8, 8)), titles=titles)


def test_compare_is_a_deprecated_name_of_comparison_figure():
    images, maps = np.zeros((2, 8, 8, 3)), {"saliency": np.linspace(0, 1, 128).reshape(2, 8, 8)}
    with pytest.warns(DeprecationWarning, match="comparison_figure"):
        old = image.compare(images, maps)
    np.testing.assert_array_equal(old, image.comparison_figure(images, maps))
