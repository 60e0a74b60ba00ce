"""Receptive fields: which input pixels one position of a spatial layer sees.

The fields are followed through the model's graph of layer calls
(`kerasviz.graph.fields`), or measured from input gradients where it cannot
be followed (`kerasviz.graph.measured`); this module checks the arguments.
"""

import numbers

from kerasviz import inputs, layer_graph, models
from kerasviz.graph import measured, trace
from kerasviz.graph.fields import ReceptiveField

__all__ = ["ReceptiveField", "not_spatial", "receptive_field", "spatial_layer"]


def not_spatial(model, path, shape):
    return ValueError(
        f"Received an invalid value for `layer`: {path!r}, whose output has shape {shape}. "
        "A receptive field needs a layer with a spatial output [B, h, w, K]. Spatial layers "
        f"of the model {model.name!r}: {models.spatial_layers(model) or 'none'}."
    )


def spatial_layer(model, layer, role="grad_cam", image_shape=None):
    """The path of `layer` (default: the `role` default of `layer_graph.default_layers`); ValueError unless `[B, h, w, K]`."""
    if layer is None:
        return layer_graph.default_layers(model, role, image_shape)[0]
    path, found = models.get_layer(model, layer)
    try:
        shape = tuple(found.output.shape)
    except (AttributeError, ValueError):
        shape = None
    if shape is not None and len(shape) != 4:
        raise not_spatial(model, path, shape)
    return path


def _input_shape(model, input_shape):
    known = inputs.model_input_shape(model)
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else input_shape
    if shape is None:
        if known is None or len(known) != 3 or None in known:
            raise ValueError(
                f"The model {model.name!r} does not fix its input size ({known}); pass "
                "`input_shape=(H, W, C)`."
            )
        return tuple(int(d) for d in known)
    if not (isinstance(shape, tuple) and len(shape) == 3 and all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in shape)):
        raise ValueError(f"Expected `input_shape` to be (H, W, C). Received: input_shape={input_shape!r}.")
    if known is not None and any(k is not None and k != d for k, d in zip(known, shape)):
        raise ValueError(
            f"Received an invalid value for `input_shape`: {input_shape!r}, but the model "
            f"{model.name!r} takes inputs of shape {known}."
        )
    return tuple(int(d) for d in shape)


def receptive_field(model, layer=None, *, input_shape=None, method="auto") -> ReceptiveField:
    """The receptive field of a spatial layer's positions in the input image.

    Analytic when it can be (Dumoulin & Visin, 2016, "A guide to convolution
    arithmetic for deep learning"; Araujo et al., 2019, "Computing Receptive
    Fields of Convolutional Neural Networks"): the model's graph of layer
    calls (`kerasviz.graph`) is followed from the input to `layer`, also into
    nested functional models, composing kernel size, stride, dilation and
    padding of `Conv2D`, `DepthwiseConv2D`, `SeparableConv2D`,
    `MaxPooling2D`, `AveragePooling2D`, `ZeroPadding2D` and `Cropping2D`,
    through layers that act per position (activations, dropout, `Dense`,
    normalizations over the channel axis; `kerasviz.graph.taxonomy`); merged
    branches (`Add`, `Concatenate`, ...) take the union of their fields.
    "same" padding pads as TensorFlow does, `total = max((ceil(n / s) - 1) *
    s + k_eff - n, 0)`, `total // 2` before, so offsets use the real input
    size. Costs one symbolic call of the model (shared with the default
    layers and incremental occlusion) and a walk over its layer calls.

    For anything else (other layers, subclassed models, whose `call` is
    Python the configs do not describe) the field is measured
    empirically: the support of the input gradient of a random mix of a
    position's channels, OR-ed over a few random inputs, at 12 positions
    (`2 * 12` backward passes). The weights are never touched. A field wider
    than the image is then only seen up to the image's border.

    Args:
        model: a built Keras image model.
        layer: a spatial layer (name, path, index or object); default: the
            last feature block (`layer_graph.default_layers(model, "grad_cam")`).
        input_shape: `(H, W, C)` of the images; needed when the model does not
            fix it (a 'same' strided layer's padding depends on it).
        method: `"auto"` (analytic, else empirical), `"analytic"` or `"empirical"`.

    Returns:
        A `ReceptiveField(size, stride, offset, method)`; `box(row, col,
        image_size)` gives a position's clipped pixel box.

    Raises:
        ValueError: `layer` is not spatial or not in the model; `method` is
            unknown, or `"analytic"` for a layer it cannot reason about;
            `input_shape` is missing or wrong.

    Example:

    >>> rf = kerasviz.receptive_field(model, "block_5_add")
    >>> top, left, bottom, right = rf.box(3, 4, (96, 96))
    """
    models.check_model(model)
    if method not in ("auto", "analytic", "empirical"):
        raise ValueError(
            f"Received an invalid value for `method`: {method!r}. Expected 'auto', 'analytic' "
            "or 'empirical'."
        )
    shape = _input_shape(model, input_shape)
    path = spatial_layer(model, layer, image_shape=shape)
    graph = trace.model_graph(model, shape)
    calls = graph.called(path)
    if calls and calls[-1].rank != 4:
        raise not_spatial(model, path, (None, *calls[-1].shape) if calls[-1].shape is not None else None)
    return measured.receptive_field_of(model, graph, path, method)

