"""Convolution filters as pictures: first-layer RGB tiles and per-channel tiles above."""

import math
import numbers
import typing

import keras
import numpy as np

from kerasviz import display, image, models


class FilterGrid(typing.NamedTuple):
    """A picture of a layer's convolution filters.

    Attributes:
        image: float32 `[H, W, 3]` (RGB filters) or `[H, W, 1]` (grayscale
            tiles), in [0, 1]; the padding between tiles is white (1.0).
        layer: the path of the layer shown (see `kerasviz.models.get_layer`).
        kernel_shape: the shape of the kernel that was read, e.g.
            `(11, 11, 3, 64)`.
        description: what the picture shows, in words (which filters and
            channels, how they are laid out and normalized).
    """

    image: np.ndarray
    layer: str
    kernel_shape: tuple
    description: str

    # Shown as a labelled picture in Jupyter (see `kerasviz.display`).
    _repr_png_ = display.repr_png
    _repr_html_ = display.repr_html

    def figure(self, value_range=(0.0, 1.0)):
        """The picture titled with its layer and description (`kerasviz.show`)."""
        title = f"layer {self.layer}: {self.description}"
        return display.Figure(image.titled(self.image, title), title)


def _check_count(value, argname, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(
            f"Received an invalid value for `{argname}`: {value!r}. Expected an int >= {minimum}."
        )
    return int(value)


def _min_max(tiles):
    """Min-max normalizes each tile `[N, ...]` on its own to [0, 1]; a constant tile becomes 0.5."""
    flat = tiles.reshape(len(tiles), -1)
    lo = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - lo
    out = np.where(span > 0, (flat - lo) / np.where(span > 0, span, 1.0), 0.5)
    return out.reshape(tiles.shape).astype(np.float32)


def _read_kernel(model, path, layer):
    """`(kernel [kh, kw, in, out] float64, kind)`, kind one of "conv", "depthwise", "transpose"."""
    if isinstance(layer, keras.layers.SeparableConv2D):
        kernel, kind = layer.depthwise_kernel, "depthwise"
    else:
        kernel = getattr(layer, "kernel", None)
        kind = "depthwise" if isinstance(layer, keras.layers.DepthwiseConv2D) else "conv"
        if isinstance(layer, keras.layers.Conv2DTranspose):
            kind = "transpose"
    shape = None if kernel is None else tuple(kernel.shape)
    if kernel is None or len(shape) != 4 or isinstance(layer, keras.Model):
        what = "no kernel" if kernel is None else f"a kernel of shape {shape}"
        convs = models.conv_layers(model)
        raise ValueError(
            f"Received an invalid value for `layer`: {path!r} ({type(layer).__name__}) has {what}, "
            "not the 4-D kernel [kh, kw, in, out] of a 2-D convolution. "
            f"Available conv layers: {convs if convs else 'none'}."
        )
    values = np.asarray(keras.ops.convert_to_numpy(kernel), dtype=np.float64)
    if kind == "transpose":  # Conv2DTranspose stores [kh, kw, out, in].
        values = np.swapaxes(values, 2, 3)
    return values, shape, kind


def _how_many(shown, total, noun):
    return f"all {total} {noun}" if shown == total else f"first {shown} of {total} {noun}"


def filter_grid(model, layer=None, *, max_filters: int = 64, max_channels: int = 16,
                pad: int = 1) -> FilterGrid:
    """Draws the convolution filters of a layer as a grid of tiles.

    First-layer filters that see RGB pixels are drawn as RGB tiles, the
    picture of AlexNet's 96 11x11x3 `conv1` filters (Krizhevsky et al., 2012,
    figure 3; CS231n "Visualizing what ConvNets learn"): filter `j` is the
    tile `kernel[:, :, :, j]`, min-max normalized on its own (a constant
    filter is mid-gray 0.5), tiles in a near-square grid (`ceil(sqrt(n))`
    columns), row-major in filter order. A kernel is drawn in RGB when it is
    the model's first conv layer, has exactly 3 input channels and no groups.

    Every other kernel (higher layers, grayscale inputs) is drawn as grayscale
    tiles, one per (filter, input channel) pair `kernel[:, :, c, j]`, each
    min-max normalized on its own: one row per filter (up to `max_filters`),
    one column per input channel (up to `max_channels`). A kernel with one
    input channel (a first layer on grayscale images) is drawn as one
    near-square grid of grayscale tiles instead. Depthwise kernels
    (`DepthwiseConv2D`, and the depthwise part of `SeparableConv2D`) apply
    one 2-D filter per (input channel, multiplier): they are drawn as a
    near-square grid of grayscale tiles in output-channel order
    (`c * multiplier + m`). `Conv2DTranspose` kernels are read per output
    channel. `description` says exactly what is shown.

    The layer's live weights are read on every call (no compilation): in a
    callback, the picture follows training. Costs a copy of the kernel; no
    forward pass.

    Args:
        model: a built Keras model.
        layer: a layer name, path (`"backbone/conv1"`), index or layer object;
            default: the first layer with a 4-D kernel
            (`kerasviz.models.default_layer(model, "filters")`).
        max_filters: draw at most this many filters (the first ones).
        max_channels: grayscale layout: at most this many input channels per
            filter (the first ones).
        pad: white pixels between tiles (none around the border).

    Returns:
        A `FilterGrid(image, layer, kernel_shape, description)`.

    Raises:
        ValueError: the layer has no 4-D convolution kernel (a `Dense`
            layer, a pooling layer...), the message lists the model's conv
            layers; the layer is not in the model; `max_filters`,
            `max_channels` or `pad` invalid.
        TypeError: `model` is not a Keras model.

    Example:

    >>> grid = kerasviz.filter_grid(kerasviz.demo.demo_model("shapes"))
    >>> grid.image.shape
    (15, 15, 3)
    >>> grid.description
    "all 16 filters of 'conv1' (3x3x3) as RGB tiles, 4 x 4 grid, row-major in filter order, ..."
    """
    models.check_model(model)
    max_filters = _check_count(max_filters, "max_filters", 1)
    max_channels = _check_count(max_channels, "max_channels", 1)
    pad = _check_count(pad, "pad", 0)
    if layer is None:
        layer = models.default_layer(model, "filters")
    path, layer_obj = models.get_layer(model, layer)
    kernel, shape, kind = _read_kernel(model, path, layer_obj)
    kh, kw, n_in, n_out = kernel.shape
    size = f"{kh}x{kw}"
    groups = getattr(layer_obj, "groups", 1)
    first = models.conv_layers(model)[:1] == [path]
    norm = "each tile min-max normalized on its own (constant: gray)"

    if kind == "depthwise":
        tiles = kernel.reshape(kh, kw, n_in * n_out).transpose(2, 0, 1)[:max_filters]
        n = len(tiles)
        cols = math.ceil(math.sqrt(n))
        picture = image.tile(_min_max(tiles)[..., None], cols=cols, pad=pad)
        text = (f"{_how_many(n, n_in * n_out, 'depthwise filters')} of {path!r} ({size}, one "
                f"input channel each, output-channel order c * {n_out} + m) as grayscale tiles, "
                f"{math.ceil(n / cols)} x {cols} grid, {norm}")
    elif n_in == 3 and groups == 1 and first:
        tiles = kernel[..., :max_filters].transpose(3, 0, 1, 2)
        n = len(tiles)
        cols = math.ceil(math.sqrt(n))
        picture = image.tile(_min_max(tiles), cols=cols, pad=pad)
        text = (f"{_how_many(n, n_out, 'filters')} of {path!r} ({size}x3) as RGB tiles, "
                f"{math.ceil(n / cols)} x {cols} grid, row-major in filter order, each filter "
                "min-max normalized on its own (constant: gray)")
    elif n_in == 1:
        tiles = kernel[:, :, 0, :max_filters].transpose(2, 0, 1)
        n = len(tiles)
        cols = math.ceil(math.sqrt(n))
        picture = image.tile(_min_max(tiles)[..., None], cols=cols, pad=pad)
        text = (f"{_how_many(n, n_out, 'filters')} of {path!r} ({size}x1) as grayscale tiles, "
                f"{math.ceil(n / cols)} x {cols} grid, row-major in filter order, {norm}")
    else:
        rows, cols = min(n_out, max_filters), min(n_in, max_channels)
        tiles = kernel[:, :, :cols, :rows].transpose(3, 2, 0, 1).reshape(rows * cols, kh, kw)
        picture = image.tile(_min_max(tiles)[..., None], cols=cols, pad=pad)
        text = (f"{_how_many(rows, n_out, 'filters')} x {_how_many(cols, n_in, 'input channels')} "
                f"of {path!r} ({size} kernels): one row per filter, one grayscale tile per input "
                f"channel, {norm}")
        if groups != 1:
            text += f" (grouped convolution, {groups} groups: channels are within the filter's group)"
    if kind == "transpose":
        text += " (Conv2DTranspose kernel, read per output channel)"
    if isinstance(layer_obj, keras.layers.SeparableConv2D):
        text += " (the depthwise part of a SeparableConv2D; its 1x1 pointwise kernel is not drawn)"
    return FilterGrid(picture, path, shape, text)
