"""RISE's random masks (Petsiuk et al., 2018, section 3.2), built in the graph from a seed and each mask's index,
and the score-weighted sums of the masks per image.

Shared by `rise` (one input) and `multi_input_rise` (several).
"""

import math

import tensorflow as tf


def uniform_rows(seed, ids, size):
    """Uniform `[n, size]` in [0, 1) for consecutive global ids: row `i` depends only on `(seed, ids[i])`.

    One Philox stream keyed by `seed`, laid out row after row (rows padded to
    Philox's block of 4 values), read from the first id's offset.
    """
    padded = -(-size // 4) * 4
    key = tf.reshape(tf.cast(seed, tf.uint64), [1])
    counter = tf.stack([tf.cast(ids[0], tf.uint64) * (padded // 4), tf.constant(0, tf.uint64)])
    values = tf.raw_ops.StatelessRandomUniformV2(
        shape=tf.stack([tf.size(ids), padded]), key=key, counter=counter, alg=1, dtype=tf.float32)
    return values[:, :size]


def masks_graph(seed, mask_ids, height, width, grid, keep):
    """The RISE masks `[n, H, W]` of consecutive global `mask_ids` (section 3.2), in the graph."""
    cell_h, cell_w = math.ceil(height / grid), math.ceil(width / grid)
    values = uniform_rows(seed, mask_ids, grid * grid + 2)
    cells = tf.cast(values[:, :grid * grid] < keep, tf.float32)
    cells = tf.reshape(cells, [-1, grid, grid, 1])
    smooth = tf.image.resize(cells, [(grid + 1) * cell_h, (grid + 1) * cell_w], method="bilinear")[..., 0]
    shift_y = tf.cast(values[:, -2] * cell_h, tf.int32)[:, None]
    shift_x = tf.cast(values[:, -1] * cell_w, tf.int32)[:, None]
    rows = tf.gather(smooth, shift_y + tf.range(height)[None], axis=1, batch_dims=1)
    return tf.gather(rows, shift_x + tf.range(width)[None], axis=2, batch_dims=1)


def check_keep(keep):
    """`keep` of `rise`, checked: a float in (0, 1)."""
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep < 1:
        raise ValueError(f"Received an invalid value for `keep`: {keep!r}. Expected a float in (0, 1).")
    return float(keep)


def weighted_masks(scores, masks, image_ids, n_images):
    """Per image, `(sum of score * mask, min score, max score)` over its masked copies in one chunk (in-graph)."""
    return (tf.math.unsorted_segment_sum(scores[:, None, None] * masks, image_ids, n_images),
            tf.math.unsorted_segment_min(scores, image_ids, n_images),
            tf.math.unsorted_segment_max(scores, image_ids, n_images))
