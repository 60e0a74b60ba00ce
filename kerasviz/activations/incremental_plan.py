"""Which layers incremental occlusion computes on regions, and what that saves (Nakandala et al., 2019).

An occluder changes only the outputs of the first layer whose windows overlap
it, and each convolution or pooling widens that region by its kernel (and
divides it by its stride): the *projective field* of the patch (Nakandala,
Kumar and Papakonstantinou, SIGMOD 2019, "Incremental and Approximate
Inference for Faster Occlusion-based Deep CNN Explanations", section 3).
`build_plan` follows the region through the model's layer calls, one axis at
a time, for every occluder position: the static region size of each layer
(the largest over positions) and, per position, where it starts, clipped to
the map (`kerasviz.graph.windows`). A layer is computed on its region while
its kind (`kerasviz.graph.taxonomy`) is a convolution or pooling window, zero
padding, a layer that runs the same function at every position (activations,
dropout, `Dense`, normalizations over the channel axis, a `PReLU` whose
slopes are shared over the positions) or an elementwise merge, and its
region covers less than `FULL_SHARE` of its map; from the first that is not
(a global pooling, a `Lambda`, a subclassed block, the output, a layer the
target reads, or a region grown too large) the model runs on whole maps.
"""

from typing import NamedTuple

import numpy as np

from kerasviz.graph import taxonomy

FULL_SHARE = 0.5  # a region this share of its map or more: the layer runs on the whole map
AUTO_RATIO = 0.5  # inference="auto" runs incrementally when it predicts at most this share of naive's work (tracing
# its many small ops costs more than naive's, and at 0.7 predicted the two measured alike on MobileNetV2-0.35 at 64 px)
NAIVE_BATCH = 32  # occluded images per call of naive inference by default (inputs.DEFAULT_BATCH_SIZE)
MAX_BATCH = 512  # positions per call of incremental inference by default, at most


class Region(NamedTuple):
    """Where one tensor differs from the clean one: per position starts `(ys [nY], xs [nX])`, static size."""

    ys: np.ndarray
    xs: np.ndarray
    size: tuple  # (h, w)
    length: tuple  # (H, W) of the whole map


class Op(NamedTuple):
    """One layer computed on regions: `kind`, its `Region`, and (conv/pool) the window and padding."""

    step: object
    kind: str  # conv, depthwise, separable, max_pool, avg_pool, pointwise, pad, merge
    region: Region
    window: tuple = ()  # a `kerasviz.graph.windows.Window(kernel, stride, dilation)` per axis
    pads: tuple = (0, 0, 0, 0)  # top, bottom, left, right (TensorFlow's "same")


class Planned(NamedTuple):
    """A plan and what runs it: the region `ops`, the `tail` steps, the region ids the tail reads."""

    plan: object
    ops: list
    tail: list
    materialize: list
    input_region: Region


class OcclusionPlan(NamedTuple):
    """What `occlusion` does for one model, image size and occluder.

    `inference` is what runs: `"incremental"` (the layers of `regions`
    computed only where the occluder can change them, the rest from
    `full_from` on whole maps) or `"naive"` (every occluded image through the
    whole model). `reason` says why the model runs on whole maps from
    `full_from` (or why the plan is naive). `flops_naive` and
    `flops_incremental` are the predicted multiply-adds per occluded image.
    `batch_size` is the number of positions per compiled call when
    `occlusion` is given `batch_size=None`: as many as keep the largest tensor
    of a call as large as naive inference's with 32 images (at most 512).
    """

    inference: str
    chosen: str  # why this inference
    regions: tuple  # ((path, (h, w) of the region, (H, W) of the map), ...)
    full_from: object
    reason: str
    flops_naive: int
    flops_incremental: int
    batch_size: int

    def __str__(self):
        regions = ", ".join(f"{p} {h}x{w} of {H}x{W}" for p, (h, w), (H, W) in self.regions) or "none"
        if self.inference == "naive":
            return (f"occlusion: naive inference ({self.chosen}); incremental inference would compute on "
                    f"regions: {regions}, whole maps from {self.full_from!r} ({self.reason})")
        return (f"occlusion: incremental inference, {self.batch_size} positions per call; on regions: {regions}; "
                f"whole maps from {self.full_from!r} ({self.reason}); {self.chosen}")


def _kind(step, shapes, output_shape):
    """How a step is computed on regions (`Op.kind`), or None: by the layer's kind (`kerasviz.graph.taxonomy`)."""
    layer, kind, inputs = step.layer, step.kind, [shapes.get(k) for k in step.inputs]
    spatial = [s for s in inputs if s is not None and len(s) == 3]
    if len(spatial) != len(inputs) or output_shape is None or len(output_shape) != 3:
        return None
    if getattr(layer, "quantization_mode", None) or getattr(layer, "lora_enabled", False):
        return None  # computed from its kernel, which is not what the layer multiplies by
    if kind.geometry == taxonomy.WINDOW:
        if kind.op == "avg_pool" and kind.padding != "valid":
            return None  # "same" averages over the valid part of each window only
        return kind.op if len(inputs) == 1 else None
    if kind.geometry == taxonomy.SHIFT:
        return "pad" if min(p for pads in kind.padding for p in pads) >= 0 else None  # a crop can cut a region
    same_grid = all(s[:2] == output_shape[:2] for s in inputs)
    if kind.geometry == taxonomy.POINTWISE:
        return "pointwise" if kind.shared and same_grid and len(inputs) == 1 else None
    if kind.geometry == taxonomy.MERGE and same_grid:
        if kind.name != "Concatenate" and any(s != output_shape for s in inputs):
            return None  # broadcasting (a gate [1, 1, C]) is not elementwise on the map
        return "merge"
    return None


def _window_op(step, kind, region, in_shape, out_shape):
    windows, padding = step.kind.windows, step.kind.padding
    pads, starts, size = [], [], []
    for axis, origin in enumerate((region.ys, region.xs)):
        window, length, out = windows[axis], in_shape[axis], out_shape[axis]
        if window.output_length(length, padding) != out:
            return None
        before, after = window.pads(length, padding)
        axis_starts, axis_size = window.touched(origin, region.size[axis], before, out)
        pads += [before, after]
        starts.append(axis_starts)
        size.append(axis_size)
    return Op(step, kind, Region(starts[0], starts[1], tuple(size), tuple(out_shape[:2])), windows, tuple(pads))


def _union(regions, length):
    """One region covering each position's regions of all inputs (an elementwise merge)."""
    axes = []
    for axis in range(2):
        starts = np.stack([(r.ys, r.xs)[axis] for r in regions])
        ends = np.stack([(r.ys, r.xs)[axis] + r.size[axis] for r in regions])
        low, high = starts.min(0), ends.max(0)
        size = int((high - low).max())
        axes.append((np.clip(low, 0, length[axis] - size).astype(np.int32), size))
    return Region(axes[0][0], axes[1][0], (axes[0][1], axes[1][1]), tuple(length))


def _incremental_op(step, kind, regions, shapes):
    out_shape = shapes[step.key]
    if step.kind.geometry == taxonomy.WINDOW:
        return _window_op(step, kind, regions[0], shapes[step.inputs[0]], out_shape)
    if kind == "pointwise":
        return Op(step, kind, regions[0])
    if kind == "pad":
        (top, _), (left, _) = step.kind.padding
        r = regions[0]
        return Op(step, kind, Region(r.ys + top, r.xs + left, r.size, tuple(out_shape[:2])))
    return Op(step, kind, _union(regions, out_shape[:2]))


def _flops(step, shapes, size=None):
    """Multiply-adds of a step on whole maps (or on a region of `size` for spatial outputs)."""
    out = shapes.get(step.key)
    if out is None:
        return 0
    positions = int(np.prod(size)) if size is not None else int(np.prod(out[:-1])) if len(out) > 1 else 1
    layer = step.layer
    if step.kind.op == "separable":  # depthwise [kh, kw, in, m], then pointwise [1, 1, in * m, filters]
        depthwise, pointwise = layer.depthwise_kernel.shape, layer.pointwise_kernel.shape
        return positions * int(np.prod(depthwise) + np.prod(pointwise))
    kernel = getattr(layer, "kernel", None) if not step.is_model else None
    if kernel is not None and len(kernel.shape) == 4:  # conv: [kh, kw, in / groups, filters] or depthwise
        per_output = int(np.prod(kernel.shape[:2 if step.kind.op == "depthwise" else 3]))
        return positions * int(out[-1]) * per_output
    if kernel is not None and len(kernel.shape) == 2:  # dense on the last axis
        return positions * int(np.prod(kernel.shape))
    return positions * int(out[-1])


def build_plan(steps, input_id, output_id, shapes, starts_y, starts_x, patch, capture=()):
    """The `Planned` incremental occlusion of occluders of side `patch` at the given starts.

    `ops` are the `Op`s computed on regions (in call order), `tail` the steps
    run on whole maps, `materialize` the ids of region tensors the tail reads
    (each pasted into its clean map).
    """
    image = shapes[input_id]
    regions = {input_id: Region(np.asarray(starts_y, np.int32), np.asarray(starts_x, np.int32),
                                (patch, patch), tuple(image[:2]))}
    ops, tail, full_from, reason = [], [], None, None
    hidden = [p for p in capture if p not in {s.path for s in steps}]  # a nested model's output, inlined
    for step in steps:
        why = None
        if hidden:
            why = f"the target reads {hidden[0]!r}, a model whose layers are called one by one"
        elif any(k not in regions for k in step.inputs):
            pass  # reads a whole map: a whole map too
        elif step.key == output_id:
            why = "the model's output"
        elif step.path in capture:
            why = "the target reads this layer"
        else:
            kind = _kind(step, shapes, shapes.get(step.key))
            op = _incremental_op(step, kind, [regions[k] for k in step.inputs], shapes) if kind else None
            if op is None:
                why = f"{step.kind.name} layers cannot be computed on a region"
            elif np.prod(op.region.size) >= FULL_SHARE * np.prod(op.region.length):
                why = f"its region covers {np.prod(op.region.size) / np.prod(op.region.length):.0%} of its map"
            else:
                ops.append(op)
                regions[step.key] = op.region
                continue
        if why is not None and full_from is None:
            full_from, reason = step.path, why
        tail.append(step)
    read = {k for s in tail for k in s.inputs if k in regions}
    naive = sum(_flops(s, shapes) for s in steps)
    incremental = sum(_flops(s, shapes) for s in tail) + sum(
        _flops(op.step, shapes, op.region.size) + _read_cost(op, shapes) for op in ops) + sum(
        2 * int(np.prod(shapes[k])) for k in read)
    inference = "incremental" if ops and incremental <= AUTO_RATIO * naive else "naive"
    if not ops:
        reason = f"{full_from!r}: {reason}, from the first layer on" if reason else "nothing to compute on regions"
    chosen = (f"predicted work {incremental / max(naive, 1):.2f} of naive's; incremental at most {AUTO_RATIO}"
              if ops else "no layer can be computed on a region")
    report = tuple((op.step.path, op.region.size, op.region.length) for op in ops)
    whole = max(int(np.prod(shapes[s.key])) for s in steps if shapes.get(s.key))
    peak = max([int(np.prod(shapes[s.key])) for s in tail if shapes.get(s.key)]
               + [int(np.prod(op.region.size)) * int(shapes[op.step.key][-1]) for op in ops]
               + [_read_cost(op, shapes) // 2 for op in ops] + [1])
    batch = int(np.clip(NAIVE_BATCH * whole // peak, NAIVE_BATCH, MAX_BATCH)) if ops else NAIVE_BATCH
    plan = OcclusionPlan(inference, chosen, report, full_from, reason, naive, incremental, batch)
    return Planned(plan, ops, tail, sorted(read), regions[input_id])


def _read_cost(op, shapes):
    """Elements gathered to build an op's input tiles (two gathers each: clean context and region)."""
    channels = sum(int(shapes[k][-1]) for k in op.step.inputs)
    if op.window:
        h, w = (window.span(n) for n, window in zip(op.region.size, op.window))
    else:
        h, w = op.region.size
    return 2 * h * w * channels if op.kind != "pointwise" else 0
