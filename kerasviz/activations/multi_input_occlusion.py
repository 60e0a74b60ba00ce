"""Occlusion sensitivity (Zeiler & Fergus, 2014) on a model with several inputs.

`kerasviz.occlusion` comes here when `images` is a dict or a list. Each
attributed image input is occluded in turn, at every position of its own
grid, while every other input (side inputs, and the other images) keeps its
values; the result is one grid `[B, nY, nX]` per image input, in the
structure of `images`. Inference is naive: each occluded copy, built inside
the graph, goes through the whole model (the incremental plan follows one
image input).
"""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, fill, models
from kerasviz.gradients import core, multi_input


def prepare(model, images, target, batch_size, attribute, inference):
    """The call's `MultiPrepared`; a side input in `attribute`, or incremental inference, is refused by name."""
    if inference == "incremental":
        raise ValueError("Received `inference='incremental'` for a model with several inputs: occlusion runs "
                         "naive there (each occluded copy through the whole model). Use 'auto' or 'naive'.")
    prepared = multi_input.MultiPrepared(model, images, target, batch_size, attribute, "occlusion")
    side = [prepared.names[k] for k in prepared.attributed if prepared.arrays[k].ndim != 4]
    if side:
        raise ValueError(f"Received `attribute={attribute!r}` for `occlusion`: an occluder is a square patch of an "
                         f"image input [B, H, W, C], and {side} are not images (side inputs are held at their "
                         "values).")
    return prepared


def colours(prepared, value):
    """`{input index: [B, C]}`: each attributed image input's occluder colour (`value` once, or one per input)."""
    given = prepared.per_input(value, "value", None)
    return {k: fill.colours(given[k], prepared.arrays[k], argname=f"value[{prepared.names[k]!r}]")
            for k in prepared.attributed}


def _function(prepared, k):
    """The compiled `(xs..., class_idx, fill, starts_y, starts_x, patch, pair_ids, local) -> scores`, `k` occluded."""
    target, capture, n = prepared.target, prepared.capture, len(prepared.arrays)
    structure, names = prepared.structure, tuple(prepared.names)
    with_classes = bool(target.class_terms())

    def build(model_ref):
        activation = models.output_activation(model_ref())

        def scores(*args):
            xs, (class_idx, colour, starts_y, starts_x, patch, pair_ids, local) = args[:n], args[n:]
            n_x = tf.size(starts_x, out_type=tf.int64)
            position = pair_ids % (tf.size(starts_y, out_type=tf.int64) * n_x)
            top = tf.gather(starts_y, position // n_x)[:, None]
            left = tf.gather(starts_x, position % n_x)[:, None]
            rows = tf.range(tf.shape(xs[k])[1])[None, :]
            cols = tf.range(tf.shape(xs[k])[2])[None, :]
            in_rows, in_cols = (rows >= top) & (rows < top + patch), (cols >= left) & (cols < left + patch)
            mask = in_rows[:, :, None, None] & in_cols[:, None, :, None]
            points = [tf.gather(x, local) for x in xs]
            points[k] = tf.where(mask, tf.gather(colour, local)[:, None, None, :], points[k])
            packed = dict(zip(names, points)) if structure == "dict" else points
            logits, activations = models.run(model_ref(), packed, capture=capture)
            outputs = models.probabilities(logits, activation) if with_classes else logits
            return target.score(outputs, activations, tf.gather(class_idx, local))

        return scores

    signature = [tf.TensorSpec([None, *a.shape[1:]], tf.float32) for a in prepared.arrays] + [
        tf.TensorSpec([None, prepared.class_idx.shape[1]], tf.int32),
        tf.TensorSpec([None, prepared.arrays[k].shape[-1]], tf.float32),
        tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32),
        tf.TensorSpec([None], tf.int64), tf.TensorSpec([None], tf.int32)]
    key = ("multi_input_occlusion", k, target.key(), capture, tuple(a.shape[1:] for a in prepared.arrays))
    return compiled.compiled_function(prepared.model, key, build, signature)


def occluded_scores(prepared, k, class_idx, colour, starts_y, starts_x, patch, verbose=0):
    """float32 `[B, nY, nX]`: the target's score with input `k` occluded at each position, the others held."""
    n_images, n_y, n_x = len(class_idx), len(starts_y), len(starts_x)
    function = _function(prepared, k)
    scores = np.empty([n_images * n_y * n_x], np.float32)
    for first, last, pair_ids, local in core.pair_chunks(n_images, n_y * n_x, prepared.batch_size, verbose,
                                                          unit="image"):
        part = slice(first, last + 1)
        scores[pair_ids[0]:pair_ids[-1] + 1] = function(
            *[tf.constant(a[part]) for a in prepared.arrays], tf.constant(class_idx[part]),
            tf.constant(colour[part]), tf.constant(starts_y), tf.constant(starts_x), tf.constant(np.int32(patch)),
            tf.constant(pair_ids), tf.constant(local)).numpy()
    return scores.reshape(n_images, n_y, n_x)
