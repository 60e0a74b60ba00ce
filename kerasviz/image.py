"""Display helpers: normalization, colormaps, overlays, labelled grids, sprites, PNG.

Plain numpy + Pillow (no TensorFlow); value ranges are resolved by
`kerasviz.inputs.check_value_range`, the one resolver of presets. Inputs may be numpy arrays or anything
`np.asarray` accepts (lists, `tf.Tensor`s). Outputs are float32 in display
space ([0, 1], or [-1, 1] for signed maps) unless stated otherwise.
"""

import io
import math
import warnings

import numpy as np
from PIL import Image

from kerasviz import _text, inputs

__all__ = ["COLORMAPS", "normalize", "colormap", "colormap_table", "to_display", "overlay", "top_regions", "resize_maps",
           "tile", "compare", "titled", "class_label", "sprite", "to_uint8", "encode_png"]

# Anchor colours (positions in [0, 1], RGB 0..255), hand-picked approximations of the
# usual maps, linearly interpolated into 256-entry lookup tables.
_Q = (0.0, 0.25, 0.5, 0.75, 1.0)
_ANCHORS = {
    "inferno": (_Q, [(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164)]),
    "viridis": (_Q, [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]),
    "jet": ((0.0, 0.125, 0.375, 0.625, 0.875, 1.0),
            [(0, 0, 128), (0, 0, 255), (0, 255, 255), (255, 255, 0), (255, 0, 0), (128, 0, 0)]),
    "gray": ((0.0, 1.0), [(0, 0, 0), (255, 255, 255)]),
    "hot": ((0.0, 0.375, 0.75, 1.0), [(0, 0, 0), (255, 0, 0), (255, 255, 0), (255, 255, 255)]),
    "coolwarm": (_Q, [(59, 76, 192), (141, 176, 254), (221, 221, 221), (244, 154, 123), (180, 4, 38)]),
}
COLORMAPS = tuple(_ANCHORS)
_DIVERGING = ("coolwarm",)


# The largest picture the grid builders allocate: 2**28 values (1 GiB of float32, e.g. 9459 x 9459 RGB).
MAX_CANVAS_VALUES = 2**28


def check_canvas(shape, arguments):
    """Raises a ValueError before allocating a picture of `shape` with more than `MAX_CANVAS_VALUES` values.

    Args:
        shape: the picture's shape.
        arguments: `{name: value}` of the arguments that set its size, echoed in the message.
    """
    values = math.prod(shape)
    if values > MAX_CANVAS_VALUES:
        given = ", ".join(f"`{k}={v!r}`" for k, v in arguments.items())
        raise ValueError(
            f"Received {given}: the picture would have shape {tuple(shape)}, {values * 4 / 2**30:.3g} "
            f"GiB of float32, over the limit of {MAX_CANVAS_VALUES} values (1 GiB). Use fewer or "
            "smaller tiles, or less padding."
        )


def _lut(pos, colors):
    rgb, x = np.array(colors, dtype=np.float64) / 255.0, np.linspace(0.0, 1.0, 256)
    return np.stack([np.interp(x, pos, rgb[:, k]) for k in range(3)], -1).astype(np.float32)


_LUTS = {name: _lut(*anchors) for name, anchors in _ANCHORS.items()}


def _invalid(name, value, expected):
    text = f"array of shape {value.shape} and dtype {value.dtype}" if isinstance(value, np.ndarray) \
        else repr(value)[:200]
    return ValueError(f"Received an invalid value for `{name}`: {text}. Expected {expected}.")


def _array(x, name, ranks, expected):
    """Float array of one of `ranks`, finite; else ValueError/TypeError naming `name`."""
    try:
        a = np.asarray(x)
    except Exception as e:
        raise TypeError(f"Expected `{name}` to be array-like. Received: {type(x).__name__}") from e
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"Expected `{name}` to be a numeric array. Received dtype: {a.dtype}")
    if a.ndim not in ranks or a.size == 0:
        raise _invalid(name, a, expected if a.ndim not in ranks else f"a non-empty array ({expected})")
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"Received an invalid value for `{name}`: an array of shape {a.shape} "
                         "containing NaN or inf. Expected finite values.")
    return a


def _int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise _invalid(name, value, f"an int >= {minimum}")
    return int(value)


def _finite(value):
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return number and math.isfinite(value)


def _float(value, name, ok, expected):
    if not (_finite(value) and ok(float(value))):
        raise _invalid(name, value, expected)
    return float(value)


def normalize(maps, *, percentile: float = 99.5, signed: bool = False) -> np.ndarray:
    """Scales each map for display, robust to a few extreme values.

    Unsigned: `clip((x - min) / (p - min), 0, 1)`, `p` the `percentile`-th
    percentile of the map, so outliers saturate at 1 (`percentile=100`: max).
    Signed: `clip(x / q, -1, 1)`, `q` the `percentile`-th percentile of `|x|`.
    If that percentile equals the floor (sparse maps) the max is used; constant
    maps (all zeros too) give zeros, never NaN.

    Args:
        maps: `[H, W]`, `[B, H, W]` or `[B, H, W, C]` (each item on its own).
        percentile: float in (0, 100], the value mapped to 1.
        signed: keep the sign (output in [-1, 1]) instead of [0, 1].
    Returns:
        float32 array of the same shape.
    Raises:
        ValueError: wrong rank, NaN/inf, `percentile` out of range.
        TypeError: non-numeric `maps`, non-bool `signed`.
    Example:
        >>> normalize(np.array([[0.0, 1.0], [2.0, 4.0]]), percentile=100)
        array([[0.  , 0.25],
               [0.5 , 1.  ]], dtype=float32)
    """
    a = _array(maps, "maps", (2, 3, 4), "a rank 2, 3 or 4 array ([H, W], [B, H, W] or [B, H, W, C])")
    percentile = _float(percentile, "percentile", lambda v: 0 < v <= 100, "a float in (0, 100]")
    if not isinstance(signed, (bool, np.bool_)):
        raise TypeError(f"Expected `signed` to be a bool. Received: {signed!r}")
    items = a.reshape(1 if a.ndim == 2 else a.shape[0], -1).astype(np.float64)
    out = np.zeros_like(items)
    for i, x in enumerate(items):
        base = 0.0 if signed else x.min()
        y = np.abs(x) if signed else x - base
        span = np.percentile(y, percentile)
        span = span if span > 0 else y.max()
        if span > 0:
            out[i] = np.clip((x - base) / span, -1.0 if signed else 0.0, 1.0)
    return out.reshape(a.shape).astype(np.float32)


def colormap(maps, name: str = "inferno") -> np.ndarray:
    """Colours maps with a named colormap (256-entry lookup table).

    Values are clipped to [0, 1] and looked up in a table interpolated
    linearly between a few anchor colours. The diverging "coolwarm" expects
    signed input in [-1, 1] (`normalize(..., signed=True)`), mapped to [0, 1]
    by `(x + 1) / 2`, so 0 is its neutral middle.

    Args:
        maps: array of any shape `[...]`, finite.
        name: one of `COLORMAPS` ("inferno", "viridis", "jet", "gray", "hot", "coolwarm").
    Returns:
        float32 RGB `[..., 3]` in [0, 1].
    Raises:
        ValueError: unknown `name`, NaN/inf in `maps`.
    Example:
        >>> colormap(np.zeros((2, 2)), "gray").shape
        (2, 2, 3)
    """
    if not isinstance(name, str) or name not in _LUTS:
        raise _invalid("name", name, f"one of {', '.join(COLORMAPS)}")
    a = _array(maps, "maps", range(0, 33), "an array")
    if name in _DIVERGING:
        a = (a + 1.0) / 2.0
    idx = np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.intp)
    return _LUTS[name][idx]


def colormap_table(name: str = "inferno") -> np.ndarray:
    """The 256 colours `colormap` picks from, as uint8 RGB (`to_uint8` of each).

    Entry `i` is the colour `colormap` gives the value `i / 255` (`2 * i / 255 - 1`
    for the diverging "coolwarm"). The one table of our colours: the TensorBoard
    dashboard's is generated from it (`python -m tb_plugin.colormap_table`).

    Args:
        name: one of `COLORMAPS`.
    Returns:
        uint8 `[256, 3]`.
    Raises:
        ValueError: unknown `name`.
    Example:
        >>> colormap_table("gray")[128].tolist()
        [128, 128, 128]
    """
    if not isinstance(name, str) or name not in _LUTS:
        raise _invalid("name", name, f"one of {', '.join(COLORMAPS)}")
    return to_uint8(_LUTS[name])


def to_display(images, value_range=(0.0, 1.0)) -> np.ndarray:
    """Brings images from the model's input space to display space [0, 1].

    With a `value_range` pixels become `(x - lo) / (hi - lo)` per channel,
    clipped; a BGR convention (`"caffe"`) is turned to RGB. With None each
    image is stretched from its min to its max (constant: 0.5). Channels are
    kept (grayscale `[..., 1]` stays one channel).

    Args:
        images: `[B, H, W, C]`, `[H, W, C]` or `[H, W]` (rank 3 is one image).
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`, see
            `kerasviz.inputs.check_value_range`), `(lo, hi)` with `lo < hi`
            (numbers or one per channel), or None.
    Returns:
        float32 array of the same shape, in [0, 1].
    Raises:
        ValueError: wrong rank, NaN/inf, invalid `value_range`.
    Example:
        >>> to_display(np.array([[-1.0, 1.0]]), value_range=(-1, 1))
        array([[0., 1.]], dtype=float32)
    """
    a = _array(images, "images", (2, 3, 4), "a rank 2, 3 or 4 array ([H, W], [H, W, C] or [B, H, W, C])")
    if value_range is None:
        items = a.reshape(a.shape[0] if a.ndim == 4 else 1, -1).astype(np.float64)
        lo, span = items.min(1, keepdims=True), np.ptp(items, 1, keepdims=True)
        out = np.where(span > 0, (items - lo) / np.maximum(span, 1e-300), 0.5)
        return out.reshape(a.shape).astype(np.float32)
    resolved = inputs.check_value_range(value_range, a.shape[-1] if a.ndim > 2 else 1)
    out = np.clip((a - resolved.low) / (resolved.high - resolved.low), 0.0, 1.0).astype(np.float32)
    return out[..., ::-1].copy() if resolved.bgr else out


def resize_maps(maps, size: tuple[int, int]) -> np.ndarray:
    """Resizes maps bilinearly to `size = (height, width)` with Pillow (mode "F").

    Pillow's bilinear filter antialiases when shrinking; constants stay constant.

    Args:
        maps: `[B, h, w]` or `[h, w]`, finite.
        size: `(height, width)`, positive ints (not Pillow's `(w, h)`).
    Returns:
        float32 `[B, height, width]` or `[height, width]`.
    Raises:
        ValueError: wrong rank, NaN/inf, invalid `size`.
    Example:
        >>> resize_maps(np.ones((2, 7, 7)), (224, 224)).shape
        (2, 224, 224)
    """
    a = _array(maps, "maps", (2, 3), "a rank 2 or 3 array ([h, w] or [B, h, w])")
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in size)):
        raise _invalid("size", size, "a pair (height, width) of positive ints")
    h, w = int(size[0]), int(size[1])
    batch = a.reshape((-1,) + a.shape[-2:])
    if batch.shape[1:] == (h, w):
        return a.copy()
    out = np.stack([np.asarray(Image.fromarray(m).resize((w, h), Image.Resampling.BILINEAR))
                    for m in batch])
    return out.reshape(a.shape[:-2] + (h, w)).astype(np.float32)


def overlay(images, maps, *, alpha: float = 0.5, colormap_name: str = "inferno") -> np.ndarray:
    """Blends coloured maps over images: `(1 - alpha) * image + alpha * colormap(map)`.

    Maps of another spatial size are resized bilinearly (`resize_maps`);
    grayscale images are broadcast to RGB.

    Args:
        images: display space [0, 1], `[B, H, W, C]` or `[H, W, C]`, C in {1, 3}.
        maps: `[B, h, w]` or `[h, w]` matching `images`, in [0, 1] ([-1, 1] for "coolwarm").
        alpha: float in [0, 1], the opacity of the map.
        colormap_name: one of `COLORMAPS`.
    Returns:
        float32 RGB `[B, H, W, 3]` or `[H, W, 3]`.
    Raises:
        ValueError: mismatched ranks/batches, bad channels, `alpha` or colormap.
    Example:
        >>> overlay(np.zeros((2, 8, 8, 3)), np.ones((2, 4, 4)), alpha=0.4).shape
        (2, 8, 8, 3)
    """
    alpha = _float(alpha, "alpha", lambda v: 0 <= v <= 1, "a float in [0, 1]")
    if not isinstance(colormap_name, str) or colormap_name not in _LUTS:
        raise _invalid("colormap_name", colormap_name, f"one of {', '.join(COLORMAPS)}")
    rgb, m = _rgb_and_maps(images, maps)
    return ((1.0 - alpha) * rgb + alpha * colormap(m, colormap_name)).astype(np.float32)


def _rgb_and_maps(images, maps):
    """`(rgb, maps)`: images `[(B,) H, W, C]` (C in {1, 3}) as RGB, and their maps checked and resized to them."""
    img = _array(images, "images", (3, 4), "a rank 3 or 4 array ([H, W, C] or [B, H, W, C])")
    if img.shape[-1] not in (1, 3):
        raise _invalid("images", img, "1 or 3 channels on the last axis")
    m = _array(maps, "maps", (img.ndim - 1,), f"a rank {img.ndim - 1} array to match `images` {img.shape}")
    if img.ndim == 4 and m.shape[0] != img.shape[0]:
        raise _invalid("maps", m, f"{img.shape[0]} maps to match `images` of shape {img.shape}")
    return np.broadcast_to(img, img.shape[:-1] + (3,)), resize_maps(m, img.shape[-3:-1])


# The outline of the regions `top_regions` keeps (RGB in [0, 1]): a yellow that reads on photos and on the dimming.
_OUTLINE = np.array([1.0, 0.85, 0.0], np.float32)


def top_regions(images, maps, *, area: float = 0.3, dim: float = 0.3) -> np.ndarray:
    """The images kept where their maps are highest, dimmed elsewhere: the picture of region methods.

    Each image keeps its pixels whose map value is at or above the map's
    `1 - area` quantile (the most important `area` of the image; a region
    straddling the threshold is kept whole, so the kept share can be a
    little larger), outlined in yellow; the other pixels are darkened to
    `dim` times their value. This is how the XRAI paper (Kapishnikov et al.,
    2019, figure 1) and PAIR's saliency library show XRAI's maps, whose
    values rank whole regions: coloured, they are a near-uniform wash.
    `comparison_figure(regions=...)` draws its columns this way.

    Args:
        images: display space [0, 1], `[B, H, W, C]` or `[H, W, C]`, C in {1, 3}.
        maps: `[B, h, w]` or `[h, w]` matching `images` (higher = more
            important; resized bilinearly when of another size).
        area: float in (0, 1], the share of the image kept.
        dim: float in [0, 1], the brightness left to the rest.
    Returns:
        float32 RGB `[B, H, W, 3]` or `[H, W, 3]`.
    Raises:
        ValueError: mismatched ranks or batches, bad channels, NaN/inf,
            `area` or `dim` out of range.
    Example:
        >>> top_regions(np.ones((1, 8, 8, 3)), np.arange(64.0).reshape(1, 8, 8), area=0.5)[0, 0, 0]
        array([0.3, 0.3, 0.3], dtype=float32)
    """
    area = _float(area, "area", lambda v: 0 < v <= 1, "a float in (0, 1]")
    dim = _float(dim, "dim", lambda v: 0 <= v <= 1, "a float in [0, 1]")
    rgb, m = _rgb_and_maps(images, maps)
    single = rgb.ndim == 3
    rgb, m = (rgb[None], m[None]) if single else (rgb, m)
    m = m.astype(np.float64)
    threshold = np.quantile(m.reshape(len(m), -1), 1.0 - area, axis=1)[:, None, None]
    kept = m >= threshold
    inner = kept.copy()  # kept pixels whose 4 neighbours are kept too; the others are the outline
    inner[:, 1:] &= kept[:, :-1]
    inner[:, :-1] &= kept[:, 1:]
    inner[:, :, 1:] &= kept[:, :, :-1]
    inner[:, :, :-1] &= kept[:, :, 1:]
    out = np.where(kept[..., None], rgb, dim * rgb).astype(np.float32)
    out[kept & ~inner] = _OUTLINE
    return out[0] if single else out


# Titled tiles narrower than this are enlarged by a whole factor (nearest neighbour) so their titles can be read.
MIN_TITLED_WIDTH = 96


def _titles(titles, n):
    if isinstance(titles, str) or not hasattr(titles, "__len__") or len(titles) != n:
        raise _invalid("titles", titles, f"a sequence of {n} strings, one per tile")
    return ["" if t is None else str(t) for t in titles]


def _with_titles(a, titles, pad_value):
    """Tiles `[N, H', W'(, C)]`, each under a strip holding its title (word-wrapped; all strips one height)."""
    factor = math.ceil(MIN_TITLED_WIDTH / a.shape[2])
    if factor > 1:
        a = a.repeat(factor, axis=1).repeat(factor, axis=2)
    width = a.shape[2]
    lines = [_text.wrap(t, width - 4) for t in titles]
    rows = max(len(x) for x in lines)
    strips = np.stack([_text.strip(x, width, rows, pad_value) for x in lines])
    if a.ndim == 4:
        strips = np.repeat(strips[..., None], a.shape[3], axis=3)
    return np.concatenate([strips, a], axis=1)


def tile(images, *, cols: int | None = None, pad: int = 1, pad_value: float = 1.0, titles=None) -> np.ndarray:
    """Arranges images in one row-major grid, padded between tiles only, each under its title if given.

    Tile `k` goes to row `k // cols`, column `k % cols`; empty cells and
    padding hold `pad_value`. Values are not rescaled. With `titles`, each tile
    gets a strip above it with its title in Pillow's default font (dark on a
    light `pad_value`, light on a dark one), word-wrapped to the tile's width
    (at most 3 lines, then cut with "…"); tiles narrower than
    `MIN_TITLED_WIDTH` pixels are first enlarged by a whole factor (nearest
    neighbour) so that the titles can be read.

    Args:
        images: `[N, H, W]` or `[N, H, W, C]`.
        cols: columns, default `ceil(sqrt(N))`; rows are `ceil(N / cols)`.
        pad: pixels between neighbouring tiles (none around the border), >= 0.
        pad_value: value of the padding and of empty cells.
        titles: None, or one string per tile (method names, class names and
            probabilities, layer names; `"\\n"` breaks a line).
    Returns:
        float32 `[rows * (H + pad) - pad, cols * (W + pad) - pad(, C)]`, `H`
        and `W` those of the (enlarged) tiles, `H` including the title strip.
    Raises:
        ValueError: wrong rank, NaN/inf, invalid `cols`, `pad`, `pad_value`,
            `titles` of another length than `images`; a picture of more than
            `MAX_CANVAS_VALUES` values.
    Example:
        >>> tile(np.zeros((5, 4, 4)), pad=1).shape  # 3 cols, 2 rows
        (9, 14)
        >>> tile(np.zeros((2, 32, 32, 3)), titles=["saliency", "grad_cam"]).shape[1]  # enlarged 3x
        193
    """
    a = _array(images, "images", (3, 4), "a rank 3 or 4 array ([N, H, W] or [N, H, W, C])")
    n = a.shape[0]
    cols = math.ceil(math.sqrt(n)) if cols is None else _int(cols, "cols", 1)
    pad = _int(pad, "pad", 0)
    pad_value = _float(pad_value, "pad_value", lambda v: True, "a finite float")
    if titles is not None:
        titles = _titles(titles, n)
        check_canvas((n, math.ceil(MIN_TITLED_WIDTH / a.shape[2]) ** 2) + a.shape[1:],
                     {"images": f"{n} tiles of {a.shape[1]} x {a.shape[2]}", "titles": "given"})
        a = _with_titles(a, titles, pad_value)
    h, w = a.shape[1:3]
    rows = math.ceil(n / cols)
    shape = (rows * (h + pad) - pad, cols * (w + pad) - pad) + a.shape[3:]
    check_canvas(shape, {"pad": pad, "cols": cols, "images": f"{n} tiles of {h} x {w}"})
    grid = np.full(shape, pad_value, dtype=np.float32)
    for k in range(n):
        r, c = divmod(k, cols)
        grid[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = a[k]
    return grid


def titled(picture, title: str, *, pad_value: float = 1.0) -> np.ndarray:
    """One picture under a title strip (e.g. a filter grid under its layer's name).

    Args:
        picture: `[H, W]` or `[H, W, C]`, e.g. `filter_grid(model).image`.
        title: the text, word-wrapped to the picture's width (see `tile`).
        pad_value: the strip's background.
    Returns:
        float32 `[strip + H', W'(, C)]` (pictures narrower than
        `MIN_TITLED_WIDTH` are enlarged, as in `tile`).
    Raises:
        ValueError: wrong rank, NaN/inf.
    Example:
        >>> titled(np.zeros((100, 120, 3)), "conv1").shape[1:]
        (120, 3)
    """
    a = _array(picture, "picture", (2, 3), "a rank 2 or 3 array ([H, W] or [H, W, C])")
    return tile(a[None], cols=1, pad=0, pad_value=pad_value, titles=[title])


def class_label(index, class_names=None, probability=None) -> str:
    """Words for a class: `"3: dog 93.1%"`, `"3"` without names or probability.

    Args:
        index: the class index.
        class_names: None or a sequence of names indexed by class.
        probability: None or the class's probability in [0, 1].
    Returns:
        The label, for `tile(titles=...)` and `comparison_figure(labels=...)`.
    Example:
        >>> class_label(1, ["cat", "dog"], 0.931)
        '1: dog 93.1%'
    """
    index = int(index)
    text = str(index)
    if class_names is not None and 0 <= index < len(class_names):
        text += f": {class_names[index]}"
    if probability is not None:
        text += f" {100 * float(probability):.1f}%"
    return text


def comparison_figure(images, maps, *, alpha: float = 0.6, colormap_name: str = "inferno", pad: int = 2,
            titles: bool = False, labels=None, regions=(), area: float = 0.3) -> np.ndarray:
    """One picture comparing methods: a row per image, the image then one overlay per method.

    With `titles` (or `labels`) every overlay is titled with its method's
    name and every input with its label (class names and probabilities, from
    `class_label`) or "input"; small images are then enlarged so the words can
    be read (see `tile`). The methods named in `regions` (those of
    `kerasviz.registry.METHODS` with `shown_as_regions`, such as XRAI, whose maps rank
    regions) are drawn by `top_regions` instead: the image kept in its top
    `area`, dimmed elsewhere, titled e.g. "xrai (top 30%)".

    Args:
        images: display space [0, 1], `[B, H, W, C]`, C in {1, 3}.
        maps: `{method name: [B, h, w] maps}` (raw: each is `normalize`d here;
            maps of another size, e.g. occlusion's, are resized).
        alpha: opacity of the maps.
        colormap_name: one of `COLORMAPS`.
        pad: pixels between tiles.
        titles: write the method names over the overlays.
        labels: None or one string per image, written over it (implies `titles`).
        regions: names of `maps` drawn by `top_regions` (names not in
            `maps` are ignored).
        area: the share of the image `top_regions` keeps.
    Returns:
        float32 RGB `[B * (H + pad) - pad, (1 + M) * (W + pad) - pad, 3]`
        (with titles, `H` and `W` of the enlarged, titled tiles).
    Raises:
        ValueError: as `overlay` and `tile`; `maps` empty or not a dict;
            `labels` not one string per image.
    Example:
        >>> comparison_figure(np.zeros((2, 8, 8, 3)), {"saliency": np.ones((2, 8, 8))}).shape
        (18, 18, 3)
    """
    if not isinstance(maps, dict) or not maps:
        raise _invalid("maps", maps, "a non-empty dict {method name: maps}")
    img = _array(images, "images", (4,), "a rank 4 array [B, H, W, C]")
    rgb = np.broadcast_to(img, img.shape[:-1] + (3,)).astype(np.float32)
    if isinstance(regions, str) or not hasattr(regions, "__iter__"):
        raise _invalid("regions", regions, "a collection of method names")
    regions = {str(name) for name in regions}
    columns = [rgb] + [
        top_regions(rgb, m, area=area) if str(name) in regions else
        overlay(rgb, normalize(m), alpha=alpha, colormap_name=colormap_name) for name, m in maps.items()
    ]
    cells = np.stack(columns, axis=1).reshape((-1,) + rgb.shape[1:])
    names = None
    if titles or labels is not None:
        rows = ["input"] * len(rgb) if labels is None else _titles(labels, len(rgb))
        heads = [f"{m} (top {100 * area:.0f}%)" if str(m) in regions else str(m) for m in maps]
        names = [name for row in rows for name in [row] + heads]
    return tile(cells, cols=len(columns), pad=pad, titles=names)



def compare(*args, **kwargs):
    """Deprecated: `comparison_figure` (the figure; `kerasviz.metrics.compare` compares methods by metrics)."""
    warnings.warn("`kerasviz.image.compare` is deprecated: use `kerasviz.image.comparison_figure`.",
                  DeprecationWarning, stacklevel=2)
    return comparison_figure(*args, **kwargs)


def sprite(images, *, max_size: int = 8192) -> tuple[np.ndarray, tuple[int, int]]:
    """Builds a TensorBoard projector sprite: thumbnails in a square grid.

    Image `k` sits at row `k // n`, column `k % n` of an `n x n` grid,
    `n = ceil(sqrt(N))`, unpadded (the projector's layout); empty cells are 0.
    If the grid would exceed `max_size` pixels on a side, every thumbnail is
    downscaled (Pillow bilinear, antialiased) to fit.

    Args:
        images: `[N, H, W]` or `[N, H, W, C]` in [0, 1] (clipped).
        max_size: int > 0, the largest side of the sprite in pixels.
    Returns:
        `(sprite, (thumb_w, thumb_h))`: float32 `[n * thumb_h, n * thumb_w, C]`
        (C = 1 for `[N, H, W]`) and `single_image_dim` for the projector config.
    Raises:
        ValueError: wrong rank, NaN/inf, non-positive `max_size`, or more
            than `max_size ** 2` images.
    Example:
        >>> s, dim = sprite(np.zeros((10, 28, 28)))
        >>> s.shape, dim
        ((112, 112, 1), (28, 28))
    """
    a = _array(images, "images", (3, 4), "a rank 3 or 4 array ([N, H, W] or [N, H, W, C])")
    max_size = _int(max_size, "max_size", 1)
    if a.ndim == 3:
        a = a[..., None]
    a = np.clip(a, 0.0, 1.0)
    num, h, w, c = a.shape
    n = math.ceil(math.sqrt(num))
    if n > max_size:
        raise _invalid("max_size", max_size, f">= {n} to fit {num} images in a {n}x{n} grid")
    if n * max(h, w) > max_size:
        big = n * max(h, w)
        th, tw = max(1, h * max_size // big), max(1, w * max_size // big)
        a = np.stack([np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(img[..., k]))
                                           .resize((tw, th), Image.Resampling.BILINEAR))
                                for k in range(c)], -1) for img in a])
        a = np.clip(a, 0.0, 1.0)
    else:
        th, tw = h, w
    out = np.zeros((n * th, n * tw, c), dtype=np.float32)
    for k in range(num):
        r, col = divmod(k, n)
        out[r * th:(r + 1) * th, col * tw:(col + 1) * tw] = a[k]
    return out, (tw, th)


def to_uint8(image) -> np.ndarray:
    """Converts a [0, 1] float image to uint8 (`255 * x` rounded half up, clipped).

    Args:
        image: float array of any shape; uint8 input is returned as a copy.
    Returns:
        uint8 array of the same shape.
    Raises:
        ValueError: NaN/inf values.
        TypeError: a dtype other than float or uint8.
    Example:
        >>> to_uint8(np.array([0.0, 0.5, 2.0]))
        array([  0, 128, 255], dtype=uint8)
    """
    dtype = np.asarray(image).dtype
    if dtype == np.uint8:
        return np.asarray(image).copy()
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"Expected `image` to be a float array in [0, 1] or uint8. Received dtype: {dtype}")
    a = _array(image, "image", range(0, 33), "an array")
    return np.floor(np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def encode_png(image) -> bytes:
    """Encodes one image as PNG bytes with Pillow.

    Args:
        image: `[H, W]` or `[H, W, 1]` (gray), `[H, W, 3]` (RGB), `[H, W, 4]`
            (RGBA); float in [0, 1] (see `to_uint8`) or uint8.
    Returns:
        The PNG file as `bytes`.
    Raises:
        ValueError: wrong rank or channel count, NaN/inf.
        TypeError: a dtype other than float or uint8.
    Example:
        >>> encode_png(np.zeros((4, 4, 3)))[:4]
        b'\\x89PNG'
    """
    a = to_uint8(image)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (1, 3, 4)) or a.size == 0:
        raise _invalid("image", a, "an image of shape [H, W], [H, W, 1], [H, W, 3] or [H, W, 4]")
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a)).save(buf, format="PNG")
    return buf.getvalue()
