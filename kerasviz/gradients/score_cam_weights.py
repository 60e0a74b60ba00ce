"""The weights of Score-CAM (Wang et al., 2020): its masks, the channels it scores, and its map.

Shared by `score_cam` (one input) and `multi_input_score_cam` (several).
"""

import numpy as np
import tensorflow as tf

from kerasviz import inputs


def check_max_channels(max_channels):
    """`max_channels` of `score_cam`, checked: None or a positive int."""
    if max_channels is None:
        return None
    return inputs.check_positive_int(max_channels, "max_channels")


def normalized_masks(channel_maps, size):
    """`[P, h, w]` -> `[P, H, W, 1]`: upsampled bilinearly, then scaled to [0, 1] per mask (eq. 3)."""
    masks = tf.image.resize(channel_maps[..., None], size, method="bilinear")
    low = tf.reduce_min(masks, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(masks, axis=[1, 2, 3], keepdims=True)
    return tf.math.divide_no_nan(masks - low, high - low)


def top_channels(activations, max_channels):
    """Per image, the `max_channels` channels of highest spatial variance (Faster Score-CAM), in order."""
    n_channels = activations.shape[-1]
    if max_channels is None or max_channels >= n_channels:
        return np.broadcast_to(np.arange(n_channels, dtype=np.int32), (len(activations), n_channels))
    variance = activations.reshape(len(activations), -1, n_channels).var(axis=1)
    top = np.argsort(-variance, axis=1, kind="stable")[:, :max_channels]
    return np.sort(top, axis=1).astype(np.int32)


def weighted_channels(activations, channels, scores, size):
    """Score-CAM's map `[B, H, W]` float32: `relu(sum_k softmax(scores)_k A_k)`, upsampled to `size`.

    `activations` `[B, h, w, K]`, `channels` `[B, k]` (the channels scored,
    `top_channels`), `scores` `[B, k]` (the target's score of each masked image).
    """
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    chosen = np.take_along_axis(activations, channels[:, None, None, :], axis=-1).astype(np.float64)
    maps = np.maximum(np.einsum("bhwk,bk->bhw", chosen, weights), 0).astype(np.float32)
    maps = tf.image.resize(maps[..., None], tuple(size), method="bilinear")
    return np.asarray(maps[..., 0], np.float32)
