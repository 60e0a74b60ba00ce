"""Receptive fields followed through the graph of layer calls, from the layers' configs.

Dumoulin & Visin, 2016, "A guide to convolution arithmetic for deep
learning"; Araujo et al., 2019, "Computing Receptive Fields of
Convolutional Neural Networks". From the image on, each call of the model's
graph (`trace.Graph.units`: nested functional models read through) composes
the field of what it reads, one axis at a time, by its kind
(`taxonomy.kind_of`): a window widens it by its extent and multiplies its
stride, a shift moves it, a pointwise layer keeps it, an elementwise merge
takes the union of its inputs' fields. A squeeze-and-excitation gate (what
global pooling gives, and whatever acts on it) scales channels: a merge with
it keeps the other branch's field (Hu et al., 2018).
"""

from typing import NamedTuple

from kerasviz.graph import taxonomy
from kerasviz.graph.trace import INPUT


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


class Axis(NamedTuple):
    """The field of a map's positions along one axis."""

    size: int  # pixels seen by one position
    jump: int  # input pixels between neighbouring positions
    start: int  # first input pixel seen by position 0
    length: int  # number of positions


class Unsupported(Exception):
    """The graph cannot be followed to a layer: its field is to be measured."""


GATE = "gate"  # the geometry of a squeeze-and-excitation gate


def read_whole(call):
    """Why the calls inside `call` cannot be followed one by one."""
    return (f"{call.path!r} ({call.layer.__class__.__name__}) is called whole: its layers cannot be followed one by "
            "one (a subclassed model, or a layer calling layers of its own)")


def _through_window(axis, window, padding):
    before, _ = window.pads(axis.length, padding)
    return Axis(axis.size + (window.extent - 1) * axis.jump, axis.jump * window.stride,
                axis.start - before * axis.jump, window.output_length(axis.length, padding))


def _shifted(axis, before, after):
    """`before`/`after` positions added around an axis (negative: cropped)."""
    return Axis(axis.size, axis.jump, axis.start - before * axis.jump, axis.length + before + after)


def _union(geometries, path):
    """Branches merged elementwise: the union of their fields (same stride and grid)."""
    merged = []
    for axes in zip(*geometries):
        if len({(a.jump, a.length) for a in axes}) != 1:
            raise Unsupported(f"{path!r} merges branches of different strides or sizes")
        start = min(a.start for a in axes)
        merged.append(Axis(max(a.start + a.size for a in axes) - start, axes[0].jump, start, axes[0].length))
    return tuple(merged)


def _apply(call, geometries):
    """The geometry of `call`'s output from those of its inputs."""
    kind = call.kind
    if kind.geometry == taxonomy.MERGE:
        spatial = [g for g in geometries if g is not GATE]
        return _union(spatial, call.path) if spatial else GATE
    if kind.geometry == taxonomy.GLOBAL or (geometries and all(g is GATE for g in geometries)):
        return GATE
    if call.members:
        raise Unsupported(read_whole(call))
    if kind.geometry == taxonomy.OTHER:
        raise Unsupported(kind.describe(call.path))
    if len(geometries) != 1:
        raise Unsupported(f"{call.path!r} takes {len(geometries)} tensors")
    (geometry,) = geometries
    if kind.geometry == taxonomy.POINTWISE:
        return geometry
    if kind.geometry == taxonomy.WINDOW:
        return tuple(_through_window(a, w, kind.padding) for a, w in zip(geometry, kind.windows))
    return tuple(_shifted(a, b, e) for a, (b, e) in zip(geometry, kind.padding))


def _geometries(graph):
    """`{key: geometry or Unsupported}` of every unit's output (None: the model is read whole)."""
    units = graph.units()
    if units is None:
        return None
    height, width = graph.image_shape[:2]
    found = {INPUT: (Axis(1, 1, 0, height), Axis(1, 1, 0, width))}
    for unit in units:
        inputs = [found.get(k, Unsupported(f"{unit.path!r} reads a tensor that no layer made"))
                  for k in unit.inputs]
        failed = [g for g in inputs if isinstance(g, Unsupported)]
        try:
            found[unit.key] = failed[0] if failed else _apply(unit, inputs)
        except Unsupported as reason:
            found[unit.key] = reason
    return found


def analytic(graph, path) -> ReceptiveField:
    """The receptive field of the spatial layer at `path`, from the layers' configs.

    Raises:
        Unsupported: a layer on the way cannot be followed (its kind, a
            subclassed model), `path` is called several times, or its output
            is not a map of positions.
    """
    calls = graph.called(path)
    if len(calls) != 1:
        raise Unsupported(f"{path!r} is called {len(calls)} times")
    whole = graph.whole(calls[0])
    if whole is not None:
        raise Unsupported(read_whole(whole))
    geometry = graph.view("fields", _geometries)[calls[0].key]
    if isinstance(geometry, Unsupported):
        raise geometry
    if not isinstance(geometry, tuple) or len(geometry) != 2:
        raise Unsupported(f"{path!r} has a global field")
    return ReceptiveField(tuple(a.size for a in geometry), tuple(a.jump for a in geometry),
                          tuple(a.start + (a.size - 1) / 2 for a in geometry), "analytic")
