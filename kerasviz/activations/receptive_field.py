"""Receptive fields: which input pixels one position of a spatial layer sees."""

import numbers
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, models

_TRIALS = 2  # random inputs per probed position (their gradient supports are OR-ed)
_PROBES = 6  # probed positions per axis


class ReceptiveField(NamedTuple):
    """The receptive field of the positions of a spatial layer, per axis `(h, w)`.

    Output position `(row, col)` sees the input pixels whose rows lie in
    `[top, top + size[0])` with `top = offset[0] - (size[0] - 1) / 2 +
    row * stride[0]` (columns likewise): `offset` is the centre of position
    `(0, 0)` in input pixels (fractional for even sizes, negative when the
    field starts in the padding). `method` says how it was found:
    `"analytic"` (from the layers' configs) or `"empirical"` (from the
    support of input gradients; a field larger than the image is then only
    measured up to the image's border).
    """

    size: tuple
    stride: tuple
    offset: tuple
    method: str

    def start(self, row, col):
        """The unclipped `(top, left)` pixel of the field of position `(row, col)`."""
        return tuple(
            int(round(o - (s - 1) / 2)) + i * j
            for o, s, i, j in zip(self.offset, self.size, (row, col), self.stride)
        )

    def box(self, row, col, image_size):
        """`(top, left, bottom, right)` of position `(row, col)`'s field, clipped to the image.

        Bottom and right are exclusive (slice ends): the pixels are
        `image[top:bottom, left:right]`. `image_size` is `(H, W)`.
        """
        top, left = self.start(row, col)
        height, width = int(image_size[0]), int(image_size[1])
        return (
            min(max(top, 0), height),
            min(max(left, 0), width),
            min(max(top + self.size[0], 0), height),
            min(max(left + self.size[1], 0), width),
        )


class _Axis(NamedTuple):
    size: int  # pixels seen along the axis
    jump: int  # input pixels between neighbouring positions
    start: int  # first input pixel seen by position 0
    length: int  # number of positions along the axis


class _Unsupported(Exception):
    """The analytic walk cannot reason about a layer; the empirical method takes over."""


_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
_POOLS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
_POINTWISE = (
    keras.layers.InputLayer, keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
    keras.layers.PReLU, keras.layers.ELU, keras.layers.Dropout, keras.layers.SpatialDropout2D,
    keras.layers.GaussianNoise, keras.layers.GaussianDropout, keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization, keras.layers.Rescaling, keras.layers.Identity,
    keras.layers.Dense,
)
_PER_POSITION = (  # pointwise when they act on the channel axis only
    keras.layers.BatchNormalization, keras.layers.LayerNormalization, keras.layers.Softmax,
    keras.layers.Normalization,
)
_SHIFTS = (keras.layers.ZeroPadding2D, keras.layers.Cropping2D)
_MERGES = (
    keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply, keras.layers.Average,
    keras.layers.Maximum, keras.layers.Minimum, keras.layers.Concatenate,
)
# Keras ops called on symbolic tensors (`x + y` in ConvNeXt) merge elementwise as the layers do.
_MERGE_OPS = ("Add", "Subtract", "Multiply", "Maximum", "Minimum")
_GLOBAL_POOLS = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)
# A squeeze-and-excitation gate: what global pooling gives, and whatever acts on it. It scales
# channels, so a merge with it keeps the other branch's field (Hu et al., 2018).
_GATE = "gate"


def _window(axis, kernel, stride, dilation, padding, name):
    """Composes `axis` with a sliding window, padded the way TensorFlow pads."""
    effective = dilation * (kernel - 1) + 1
    if padding == "valid":
        before, out = 0, (axis.length - effective) // stride + 1
    elif padding == "same":
        out = -(-axis.length // stride)
        before = max((out - 1) * stride + effective - axis.length, 0) // 2
    else:
        raise _Unsupported(f"padding {padding!r} of {name!r}")
    return _Axis(axis.size + (effective - 1) * axis.jump, axis.jump * stride,
                 axis.start - before * axis.jump, out)


def _shift(axis, before, after):
    """Adds `before`/`after` positions (negative: crops) around an axis."""
    return _Axis(axis.size, axis.jump, axis.start - before * axis.jump, axis.length + before + after)


def _union(geometries, name):
    """Branches merged elementwise: the union of their fields (same stride and grid)."""
    for axes in zip(*geometries):
        if len({(a.jump, a.length) for a in axes}) != 1:
            raise _Unsupported(f"{name!r} merges branches of different strides or sizes")
    merged = []
    for axes in zip(*geometries):
        start = min(a.start for a in axes)
        end = max(a.start + a.size for a in axes)
        merged.append(_Axis(end - start, axes[0].jump, start, axes[0].length))
    return tuple(merged)


def _last_axis(value):
    values = value if isinstance(value, (list, tuple)) else [value]
    return list(values) in ([-1], [3])


def _apply(op, geometries):
    """The output geometry of `op` applied to inputs of `geometries`."""
    name = getattr(op, "name", type(op).__name__)
    if isinstance(op, keras.Model):
        return _model_geometry(op, geometries)
    merge = isinstance(op, _MERGES) or (
        not isinstance(op, keras.layers.Layer) and type(op).__name__ in _MERGE_OPS)
    if merge:
        if isinstance(op, keras.layers.Concatenate) and not _last_axis(op.axis):
            raise _Unsupported(f"{name!r} concatenates along a spatial axis")
        spatial = [g for g in geometries if g is not _GATE]
        return _union(spatial, name) if spatial else _GATE
    if isinstance(op, _GLOBAL_POOLS) or (geometries and all(g is _GATE for g in geometries)):
        return _GATE
    if type(op).__name__ == "LayerScale":  # ConvNeXt's per-channel scale (keras.applications)
        return geometries[0]
    if not isinstance(op, _POINTWISE + _PER_POSITION + _CONVS + _POOLS + _SHIFTS):
        raise _Unsupported(f"{name!r} ({type(op).__name__})")
    if len(geometries) != 1:
        raise _Unsupported(f"{name!r} takes {len(geometries)} tensors")
    (geometry,) = geometries
    config = op.get_config()
    if config.get("data_format", "channels_last") != "channels_last":
        raise _Unsupported(f"{name!r} is channels_first")
    if isinstance(op, _POINTWISE):
        return geometry
    if isinstance(op, _PER_POSITION):
        if _last_axis(config.get("axis", -1)):
            return geometry
        raise _Unsupported(f"{name!r} normalizes over a spatial axis")
    if isinstance(op, _CONVS):
        dilation = config.get("dilation_rate", (1, 1))
        return tuple(
            _window(a, k, s, d, config["padding"], name)
            for a, k, s, d in zip(geometry, config["kernel_size"], config["strides"], dilation)
        )
    if isinstance(op, _POOLS):
        strides = config["strides"] or config["pool_size"]
        return tuple(
            _window(a, k, s, 1, config["padding"], name)
            for a, k, s in zip(geometry, config["pool_size"], strides)
        )
    if isinstance(op, keras.layers.ZeroPadding2D):
        return tuple(_shift(a, b, e) for a, (b, e) in zip(geometry, config["padding"]))
    return tuple(_shift(a, -b, -e) for a, (b, e) in zip(geometry, config["cropping"]))


def _graph(model):
    """The symbolic inputs and outputs of a Functional or Sequential model."""
    try:
        ins, outs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError, TypeError):
        raise _Unsupported(f"{model.name!r} is a subclassed model") from None
    if not all(hasattr(t, "_keras_history") for t in ins + outs):
        raise _Unsupported(f"{model.name!r} has no symbolic graph")
    return ins, outs


def _tensor_geometry(tensor, known):
    """Walks the graph back from `tensor` to tensors of known geometry (iteratively)."""
    stack = [tensor]
    while stack:
        current = stack[-1]
        if id(current) in known:
            stack.pop()
            continue
        op, node_index, _ = current._keras_history
        if isinstance(op, keras.layers.InputLayer) or op is None:
            raise _Unsupported("a tensor not connected to the model's input")
        node = op._inbound_nodes[node_index]
        parents = list(node.input_tensors)
        missing = [p for p in parents if id(p) not in known]
        if missing:
            stack.extend(missing)
            continue
        stack.pop()
        outputs = _apply(op, [known[id(p)][1] for p in parents])
        results = list(node.output_tensors)
        outputs = [outputs] if len(results) == 1 else outputs
        for result, geometry in zip(results, outputs):
            known[id(result)] = (result, geometry)  # keeps the tensor alive with its id
    return known[id(tensor)][1]


def _model_geometry(model, geometries):
    ins, outs = _graph(model)
    known = {id(t): (t, g) for t, g in zip(ins, geometries)}
    results = [_tensor_geometry(t, known) for t in outs]
    return results[0] if len(results) == 1 else results


def _single_node(layer):
    if len(layer._inbound_nodes) != 1:
        raise _Unsupported(f"{layer.name!r} is called {len(layer._inbound_nodes)} times")
    return layer._inbound_nodes[0]


def _analytic(model, path, image_shape):
    """The receptive field of `path` from the layers' configs, or `_Unsupported`."""
    height, width = image_shape[:2]
    ins, _ = _graph(model)
    if len(ins) != 1:
        raise _Unsupported(f"{model.name!r} has {len(ins)} inputs")
    known = {id(ins[0]): (ins[0], (_Axis(1, 1, 0, height), _Axis(1, 1, 0, width)))}
    container = model
    names = path.split("/")
    for depth, name in enumerate(names):
        children = getattr(container, "operations", None) or container.layers
        layer = next(l for l in children if l.name == name)
        node = _single_node(layer)
        if depth == len(names) - 1:
            geometry = _tensor_geometry(node.output_tensors[0], known)
            break
        (parent,) = node.input_tensors
        inner_ins, _ = _graph(layer)
        known = {id(inner_ins[0]): (inner_ins[0], _tensor_geometry(parent, known))}
        container = layer
    if not isinstance(geometry, tuple) or len(geometry) != 2:
        raise _Unsupported(f"{path!r} has several outputs or a global field")
    return ReceptiveField(
        tuple(a.size for a in geometry), tuple(a.jump for a in geometry),
        tuple(a.start + (a.size - 1) / 2 for a in geometry), "analytic",
    )


def _probe_function(model, path, image_shape):
    """Compiled `(images, positions) -> (row support [N, H], column support [N, W], grid)`."""
    def build(model_ref):
        def probe(images, positions):
            with tf.GradientTape() as tape:
                tape.watch(images)
                _, captured = models.run(model_ref(), images, capture=(path,), logits=False)
                activation = tf.cast(captured[path], tf.float32)
                if activation.shape.rank != 4:
                    raise not_spatial(model_ref(), path, tuple(activation.shape))
                index = tf.stack([tf.range(tf.shape(images)[0]), positions[:, 0], positions[:, 1]], 1)
                picked = tf.gather_nd(activation, index)  # [N, K]
                # A random mix of the channels: a plain channel sum could cancel by chance.
                weights = tf.random.stateless_normal(tf.shape(picked), seed=[0, 1])
                objective = tf.reduce_sum(picked * weights)
            support = tf.reduce_any(tf.not_equal(tape.gradient(objective, images), 0), axis=-1)
            return tf.reduce_any(support, 2), tf.reduce_any(support, 1), tf.shape(activation)[1:3]

        return probe

    signature = [tf.TensorSpec([None, *image_shape], tf.float32), tf.TensorSpec([None, 2], tf.int32)]
    return compiled.compiled_function(model, ("receptive_field", path, image_shape), build, signature)


def _fit_axis(indices, supports, image_length, grid_length):
    """Stride, start and size along one axis from the supports of probed positions."""
    tops, bottoms = {}, {}
    for index, support in zip(indices, supports):
        hits = np.flatnonzero(support)
        if hits.size:
            tops[index], bottoms[index] = int(hits[0]), int(hits[-1])
    if not tops:
        raise ValueError("The layer's positions do not depend on the input: no receptive field.")
    free_tops = {i: t for i, t in tops.items() if t > 0}
    free_bottoms = {i: b for i, b in bottoms.items() if b < image_length - 1}
    # Two unclipped ends give the stride; else the grid's own ratio (exact for 'same' padding).
    stride = max(1, round(image_length / grid_length))
    for free in (free_tops, free_bottoms):
        if len(free) >= 2:
            low, high = min(free), max(free)
            stride = max(1, round((free[high] - free[low]) / (high - low)))
            break
    start = min(t - i * stride for i, t in (free_tops or tops).items())
    end = max(b - i * stride for i, b in (free_bottoms or bottoms).items())
    return stride, start, end - start + 1


def _empirical(model, path, image_shape, batch_size=32):
    """The receptive field of `path` from the support of input gradients (model never changed)."""
    probe = _probe_function(model, path, image_shape)
    rng = np.random.default_rng(0)
    one = rng.standard_normal((1, *image_shape)).astype(np.float32)
    grid = [int(g) for g in probe(tf.constant(one), tf.zeros([1, 2], tf.int32))[2].numpy()]
    rows = sorted({int(round(v)) for v in np.linspace(0, grid[0] - 1, _PROBES)})
    cols = sorted({int(round(v)) for v in np.linspace(0, grid[1] - 1, _PROBES)})
    positions = [(r, grid[1] // 2) for r in rows] + [(grid[0] // 2, c) for c in cols]
    positions = np.repeat(np.asarray(positions, np.int32), _TRIALS, axis=0)
    noise = rng.standard_normal((len(positions), *image_shape)).astype(np.float32)
    row_support, col_support = [], []
    for start, stop in inputs.batches(len(positions), batch_size):
        r, c, _ = probe(tf.constant(noise[start:stop]), tf.constant(positions[start:stop]))
        row_support.append(r.numpy())
        col_support.append(c.numpy())
    row_support = np.concatenate(row_support).reshape(-1, _TRIALS, image_shape[0]).any(1)
    col_support = np.concatenate(col_support).reshape(-1, _TRIALS, image_shape[1]).any(1)
    fits = (_fit_axis(rows, row_support[:len(rows)], image_shape[0], grid[0]),
            _fit_axis(cols, col_support[len(rows):], image_shape[1], grid[1]))
    return ReceptiveField(
        tuple(f[2] for f in fits), tuple(f[0] for f in fits),
        tuple(f[1] + (f[2] - 1) / 2 for f in fits), "empirical",
    )


def not_spatial(model, path, shape):
    return ValueError(
        f"Received an invalid value for `layer`: {path!r}, whose output has shape {shape}. "
        "A receptive field needs a layer with a spatial output [B, h, w, K]. Spatial layers "
        f"of the model {model.name!r}: {models.spatial_layers(model) or 'none'}."
    )


def spatial_layer(model, layer, role="grad_cam", image_shape=None):
    """The path of `layer` (default: the `role` default of `models.default_layer`); ValueError unless `[B, h, w, K]`."""
    if layer is None:
        return models.default_layer(model, role, image_shape)
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
    Fields of Convolutional Neural Networks"): the graph is walked from the
    input to `layer`, also into nested models, composing kernel size, stride,
    dilation and padding of `Conv2D`, `DepthwiseConv2D`, `SeparableConv2D`,
    `MaxPooling2D`, `AveragePooling2D`, `ZeroPadding2D` and `Cropping2D`,
    through pointwise layers (normalization, activations, dropout, `Dense`);
    merged branches (`Add`, `Concatenate`, ...) take the union of their
    fields. "same" padding pads as TensorFlow does, `total = max((ceil(n / s)
    - 1) * s + k_eff - n, 0)`, `total // 2` before, so offsets use the real
    input size. Costs nothing but a walk over the layers.

    For anything else (other layers, subclassed models) the field is measured
    empirically: the support of the input gradient of a random mix of a
    position's channels, OR-ed over a few random inputs, at 12 positions
    (`2 * 12` backward passes). The weights are never touched. A field wider
    than the image is then only seen up to the image's border.

    Args:
        model: a built Keras image model.
        layer: a spatial layer (name, path, index or object); default: the
            last feature block (`models.default_layer(model, "grad_cam")`).
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
    if method != "empirical":
        try:
            return _analytic(model, path, shape)
        except _Unsupported as reason:
            if method == "analytic":
                raise ValueError(
                    f"Received method='analytic', but the receptive field of `layer` {path!r} "
                    f"cannot be derived from the layers' configs: {reason}. Use 'empirical'."
                ) from None
    return _empirical(model, path, shape)

