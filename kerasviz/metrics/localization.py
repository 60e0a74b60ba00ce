"""Does the map lie on the object? The energy-based pointing game (Wang et al., 2020)."""

import numpy as np
import tensorflow as tf

from kerasviz import inputs


def pointing_game(maps, masks) -> np.ndarray:
    """The share of each map's positive energy that falls inside the object's mask.

    The energy-based pointing game of Wang et al., 2020 ("Score-CAM:
    Score-Weighted Visual Explanations for Convolutional Neural Networks",
    section 5.2): `sum(map+ inside mask) / sum(map+)`, `map+` the map's
    positive part (clip negatives to 0; a map where low values matter, such as
    occlusion scores, should be negated first). 1 when the whole map is on the
    object; the mask's share of the image for a uniform map. Needs a mask per
    image (a bounding box or a segmentation). NaN for a map without positive
    values.

    Args:
        maps: `[B, H, W]` attribution maps.
        masks: `[B, H, W]` booleans (or 0/1): the object's pixels.

    Returns:
        float32 `[B]`.

    Raises:
        ValueError: shapes that differ, masks that are not 0/1, NaN maps.

    Example:

    >>> boxes = np.zeros(maps.shape, bool); boxes[:, 4:12, 4:12] = True
    >>> kerasviz.metrics.pointing_game(maps, boxes).mean()
    """
    maps = np.asarray(maps.numpy() if isinstance(maps, (tf.Tensor, tf.Variable)) else maps)
    masks = np.asarray(masks.numpy() if isinstance(masks, (tf.Tensor, tf.Variable)) else masks)
    if maps.ndim != 3 or maps.dtype.kind not in "uif":
        raise ValueError(f"Expected `maps` to be a numeric array [B, H, W]. Received shape {maps.shape}, "
                         f"dtype {maps.dtype}.")
    if masks.shape != maps.shape:
        raise ValueError(f"Expected `masks` of the maps' shape {maps.shape}. Received shape {masks.shape}.")
    if masks.dtype != bool and not np.isin(masks, (0, 1)).all():
        raise ValueError("Expected `masks` to hold booleans or 0/1. Received other values: "
                         f"{np.unique(masks)[:5].tolist()}.")
    energy = np.maximum(inputs.check_finite(maps, "maps").astype(np.float64), 0.0)
    total = energy.sum(axis=(1, 2))
    inside = (energy * masks.astype(bool)).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan).astype(np.float32)
