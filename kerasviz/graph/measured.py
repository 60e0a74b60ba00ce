"""Receptive fields measured from input gradients, where the graph cannot be followed.

The support of the input gradient of a random mix of one position's
channels, OR-ed over a few random inputs, at 12 positions (`2 * 12`
backward passes): a field wider than the image is seen only up to the
image's border. The layer's output is read through a per-thread dispatcher
(`kerasviz.patching`): the model and its weights never change.
"""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, patching
from kerasviz.graph import fields

_TRIALS = 2  # random inputs per probed position (their gradient supports are OR-ed)
_PROBES = 6  # probed positions per axis


def _probe_function(model, layer, path, image_shape):
    """Compiled `(images, positions) -> (row support [N, H], column support [N, W], grid)`."""
    def build(model_ref):
        def probe(images, positions):
            captured = []

            def capture(call, *args, **kwargs):
                captured.append(call(*args, **kwargs))
                return captured[-1]

            with tf.GradientTape() as tape:
                tape.watch(images)
                with patching.frame(lambda frame: frame.add(layer, "call", capture)):
                    model_ref()(images, training=False)
                activation = tf.cast(captured[-1], tf.float32)
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


def empirical(model, graph, path, batch_size=32) -> fields.ReceptiveField:
    """The receptive field of the spatial layer at `path` of `model` (whose graph is `graph`), measured."""
    calls = graph.called(path)
    if not calls:
        raise ValueError(f"The layer {path!r} of the model {model.name!r} is not called during its forward pass, "
                         "so its receptive field cannot be measured.")
    image_shape = graph.image_shape
    probe = _probe_function(model, calls[-1].layer, path, image_shape)
    rng = np.random.default_rng(0)
    one = rng.standard_normal((1, *image_shape)).astype(np.float32)
    grid = [int(g) for g in probe(tf.constant(one), tf.zeros([1, 2], tf.int32))[2].numpy()]
    rows = sorted({int(round(v)) for v in np.linspace(0, grid[0] - 1, _PROBES)})
    cols = sorted({int(round(v)) for v in np.linspace(0, grid[1] - 1, _PROBES)})
    positions = [(r, grid[1] // 2) for r in rows] + [(grid[0] // 2, c) for c in cols]
    positions = np.repeat(np.asarray(positions, np.int32), _TRIALS, axis=0)
    noise = rng.standard_normal((len(positions), *image_shape)).astype(np.float32)
    row_support, col_support = [], []
    for start in range(0, len(positions), batch_size):
        r, c, _ = probe(tf.constant(noise[start:start + batch_size]), tf.constant(positions[start:start + batch_size]))
        row_support.append(r.numpy())
        col_support.append(c.numpy())
    row_support = np.concatenate(row_support).reshape(-1, _TRIALS, image_shape[0]).any(1)
    col_support = np.concatenate(col_support).reshape(-1, _TRIALS, image_shape[1]).any(1)
    fits = (_fit_axis(rows, row_support[:len(rows)], image_shape[0], grid[0]),
            _fit_axis(cols, col_support[len(rows):], image_shape[1], grid[1]))
    return fields.ReceptiveField(
        tuple(f[2] for f in fits), tuple(f[0] for f in fits),
        tuple(f[1] + (f[2] - 1) / 2 for f in fits), "empirical",
    )


def receptive_field_of(model, graph, path, method="auto") -> fields.ReceptiveField:
    """The field of `path`: followed through the graph (`method="analytic"`), measured, or the first that can.

    Raises:
        ValueError: `method="analytic"` and the graph cannot be followed to
            `path`; or the layer's positions do not depend on the input.
    """
    if method != "empirical":
        try:
            return fields.analytic(graph, path)
        except fields.Unsupported as reason:
            if method == "analytic":
                raise ValueError(
                    f"Received method='analytic', but the receptive field of `layer` {path!r} "
                    f"cannot be derived from the layers' configs: {reason}. Use 'empirical'."
                ) from None
    return empirical(model, graph, path)
