"""Exact incremental occlusion: each layer recomputed only where the occluder can change it.

Nakandala, Kumar and Papakonstantinou, SIGMOD 2019, "Incremental and
Approximate Inference for Faster Occlusion-based Deep CNN Explanations",
section 3 (incremental inference). The clean activations of an image are
computed once; for a batch of occluder positions, each layer of the plan
(`incremental_plan.build_plan`) is computed on its region only: the input
tile of every position is gathered from the clean activation, with the
region of the previous layer pasted in, and the layer runs on it with
`"valid"` padding (the clean map's padding gathered with it), all positions
in one batched call. From the first layer on whole maps, the regions are
pasted into their clean maps and the model finishes as usual. The result
equals naive occlusion up to float rounding: no approximation is made.
"""

import keras
import numpy as np
import tensorflow as tf

from kerasviz import compiled, models
from kerasviz.activations import incremental_plan, occlusion_graph
from kerasviz.graph import trace


def model_graph(model, image_shape):
    """`(steps, input_id, output_id, shapes)` of `model` for images of `image_shape`.

    Read from the model's one traced graph of layer calls (`kerasviz.graph.trace.model_graph`, cached weakly).
    """
    graph = trace.model_graph(model, image_shape)
    return graph.view("occlusion_steps", occlusion_graph.model_steps)


def plan_for(model, image_shape, starts_y, starts_x, patch, capture):
    """`(planned, graph)` for `model`: see `incremental_plan.build_plan` and `model_graph`."""
    graph = model_graph(model, tuple(int(d) for d in image_shape))
    steps, input_id, output_id, shapes = graph
    return incremental_plan.build_plan(steps, input_id, output_id, shapes, starts_y, starts_x, patch,
                                       capture), graph


def _apply(op, tile):
    """A conv or pooling layer of `op` on input tiles, with "valid" padding."""
    layer, kind = op.step.layer, op.kind
    x = tf.cast(tile, layer.compute_dtype)
    strides = tuple(s for _, s, _ in op.window)
    if kind in ("max_pool", "avg_pool"):
        pool = keras.ops.max_pool if kind == "max_pool" else keras.ops.average_pool
        return pool(x, tuple(k for k, _, _ in op.window), strides, padding="valid")
    dilation = tuple(d for _, _, d in op.window)
    if kind == "separable":
        y = keras.ops.separable_conv(x, keras.ops.cast(layer.depthwise_kernel, layer.compute_dtype),
                                     keras.ops.cast(layer.pointwise_kernel, layer.compute_dtype),
                                     strides=strides, padding="valid", dilation_rate=dilation)
    else:
        conv = keras.ops.conv if kind == "conv" else keras.ops.depthwise_conv
        y = conv(x, keras.ops.cast(layer.kernel, layer.compute_dtype), strides=strides, padding="valid",
                 dilation_rate=dilation)
    if layer.use_bias:
        y = keras.ops.add(y, keras.ops.cast(layer.bias, layer.compute_dtype))
    return layer.activation(y) if layer.activation is not None else y


class _Regions:
    """The per-position regions of one chunk: values `[P, h, w, C]` and where they start."""

    def __init__(self, clean, iy, ix, starts_y, starts_x, sizes):
        self.clean, self.values = clean, {}
        n = len(sizes)
        self.tops = tf.unstack(tf.gather(starts_y, iy, axis=1), num=n)  # [P] per region
        self.lefts = tf.unstack(tf.gather(starts_x, ix, axis=1), num=n)
        self.sizes = sizes

    def corner(self, row):
        """`(top [P], left [P], height, width)` of region `row`."""
        return self.tops[row], self.lefts[row], self.sizes[row][0], self.sizes[row][1]

    def place(self, key, row, values):
        self.values[key] = (values,) + self.corner(row)

    def read(self, key, top, left, height, width, pads=(0, 0, 0, 0), pad_value=0.0, whole=False):
        """`[P, height, width, C]` of the occluded tensor `key`, from `(top, left)` of its padded map."""
        values, r_top, r_left, r_h, r_w = self.values[key]
        rows = top[:, None] + tf.range(height)[None]  # [P, h], padded coordinates
        cols = left[:, None] + tf.range(width)[None]
        base = self.clean[key]
        channels = tf.shape(values)[-1]
        if not whole:
            if any(pads):
                base = tf.pad(base, [[0, 0], pads[:2], pads[2:], [0, 0]], constant_values=pad_value)
            padded_width = tf.shape(base)[2]
            flat = rows[:, :, None] * padded_width + cols[:, None, :]  # [P, h, w]
            base = tf.gather(tf.reshape(base, [-1, channels]), flat)
        in_rows, in_cols = rows - (pads[0] + r_top[:, None]), cols - (pads[2] + r_left[:, None])
        inside = (((in_rows >= 0) & (in_rows < r_h))[:, :, None] & ((in_cols >= 0) & (in_cols < r_w))[:, None, :])
        count = tf.shape(rows)[0]
        local = (tf.range(count)[:, None, None] * (r_h * r_w) + tf.clip_by_value(in_rows, 0, r_h - 1)[:, :, None] * r_w
                 + tf.clip_by_value(in_cols, 0, r_w - 1)[:, None, :])
        pasted = tf.gather(tf.reshape(values, [-1, channels]), local)
        return tf.where(inside[..., None], pasted, base)


def _tile_size(size, window):
    return [w.span(n) for n, w in zip(size, window)]


def _chunk_function(prepared, planned, graph, read_ids):
    """The compiled `(image, cleans, fill, class_idx, iy, ix, starts_y, starts_x, sizes) -> scores`."""
    ops, tail, materialize = planned.ops, planned.tail, planned.materialize
    steps, input_id, output_id, shapes = graph
    target, capture = prepared.target, prepared.capture
    with_classes = bool(target.class_terms())
    rows = {input_id: 0, **{op.step.key: i + 1 for i, op in enumerate(ops)}}

    def build(model_ref):
        activation = models.output_activation(model_ref())

        def scores(image, cleans, fill, class_idx, iy, ix, starts_y, starts_x, sizes):
            clean = {input_id: image, **dict(zip(read_ids, cleans))}
            sizes = [tf.unstack(s, num=2) for s in tf.unstack(sizes, num=len(ops) + 1)]
            regions = _Regions(clean, iy, ix, starts_y, starts_x, sizes)
            count = tf.shape(iy)[0]
            patch = tf.broadcast_to(tf.reshape(fill, [1, 1, 1, -1]), tf.stack([count, *sizes[0], tf.shape(fill)[0]]))
            regions.place(input_id, 0, patch)
            for op in ops:
                source, row = op.step.inputs, rows[op.step.key]
                if op.kind == "pointwise":
                    values = op.step.call_on([regions.values[source[0]][0]])
                elif op.kind == "pad":
                    values = regions.values[source[0]][0]
                elif op.kind == "merge":
                    top, left, height, width = regions.corner(row)
                    values = op.step.call_on([regions.read(k, top, left, height, width) for k in source])
                else:
                    top, left, height, width = regions.corner(row)
                    strides = [s for _, s, _ in op.window]
                    height, width = _tile_size([height, width], op.window)
                    pad_value = float("-inf") if op.kind == "max_pool" else 0.0
                    tile = regions.read(source[0], top * strides[0], left * strides[1], height, width,
                                        op.pads, pad_value)
                    values = _apply(op, tile)
                regions.place(op.step.key, row, values)
            env = {}
            zero = tf.zeros_like(iy)
            for key in materialize:
                height, width = shapes[key][:2]
                env[key] = regions.read(key, zero, zero, height, width, whole=True)
            with models.patched(model_ref(), capture=capture, logits=True) as captured:
                for step in tail:
                    env[step.key] = step(env)
            outputs = tf.cast(env[output_id], tf.float32)
            outputs = models.probabilities(outputs, activation) if with_classes else outputs
            return target.score(outputs, dict(captured), tf.tile(class_idx, [count, 1]))

        return scores

    def build_compiled(model_ref):
        function = tf.function(build(model_ref), input_signature=signature, autograph=False)
        function._omit_frequent_tracing_warning = True
        return function

    channels = prepared.images.shape[-1]
    spec = tf.TensorSpec
    signature = [
        spec([None, *prepared.images.shape[1:]], tf.float32),
        [spec([None, *shapes[k]], clean_dtype(steps, k)) for k in read_ids],
        spec([channels], tf.float32), spec([None, prepared.class_idx.shape[1]], tf.int32),
        spec([None], tf.int32), spec([None], tf.int32),
        spec([len(ops) + 1, None], tf.int32), spec([len(ops) + 1, None], tf.int32), spec([len(ops) + 1, 2], tf.int32),
    ]
    structure = tuple((steps.index(op.step), op.kind, op.window, op.pads) for op in ops) + (
        tuple(steps.index(s) for s in tail), tuple(read_ids), tuple(materialize))
    return compiled.compiled_function(prepared.model, prepared.key("occlusion_incremental", structure),
                                      build_compiled)


def clean_dtype(steps, key):
    """The dtype of a step's output (its layer's compute dtype)."""
    for step in steps:
        if step.key == key:
            return tf.as_dtype(getattr(step.layer, "compute_dtype", None) or "float32")
    return tf.float32


def _clean_function(prepared, graph, read_ids):
    """The compiled `image -> [clean activation of each read tensor]`."""
    steps, input_id, _, _ = graph

    def build(model_ref):
        def clean(image):
            env = occlusion_graph.replay(steps, {input_id: image})
            return [env[k] for k in read_ids]

        return clean

    signature = [tf.TensorSpec([None, *prepared.images.shape[1:]], tf.float32)]
    key = ("occlusion_clean", prepared.images.shape[1:], tuple(read_ids))
    return compiled.compiled_function(prepared.model, key, build, signature)


class IncrementalScorer:
    """Scores of occluder positions of one image at a time, by incremental inference."""

    def __init__(self, prepared, class_idx, fill, planned, graph):
        self.plan = planned.plan
        read = {k for op in planned.ops if op.kind not in ("pointwise", "pad") for k in op.step.inputs}
        self.read_ids = sorted((read | set(planned.materialize)) - {graph[1]})
        self.function = _chunk_function(prepared, planned, graph, self.read_ids)
        self.clean = _clean_function(prepared, graph, self.read_ids)
        self.prepared, self.class_idx, self.fill = prepared, class_idx, tf.convert_to_tensor(fill)
        regions = [planned.input_region] + [op.region for op in planned.ops]
        self.geometry = [tf.convert_to_tensor(np.stack([r.ys for r in regions]).astype(np.int32)),
                         tf.convert_to_tensor(np.stack([r.xs for r in regions]).astype(np.int32)),
                         tf.convert_to_tensor(np.asarray([r.size for r in regions], np.int32))]
        self._image = None

    def scores(self, b, iy, ix):
        """float32 `[n]`: the target's score with the occluder at positions `(iy, ix)` of image `b`."""
        if self._image != b:
            image = tf.convert_to_tensor(self.prepared.images[b:b + 1])
            self._image, self._input, self._cleans = b, image, self.clean(image)
        return self.function(
            self._input, self._cleans, self.fill[b], tf.convert_to_tensor(self.class_idx[b:b + 1]),
            tf.convert_to_tensor(np.asarray(iy, np.int32)), tf.convert_to_tensor(np.asarray(ix, np.int32)),
            *self.geometry).numpy()
