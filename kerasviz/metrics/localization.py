"""Does the map lie on the object? The localisation metrics, each on maps and object masks.

- `pointing_game` (Zhang et al., 2016): a hit when the map's maximum is on
  the object (within a tolerance).
- `relevance_mass_accuracy` (Arras et al., 2022; on positive maps the
  energy-based pointing game of Wang et al., 2020): the share of the map's
  mass on the object.
- `relevance_rank_accuracy` (Arras et al., 2022) and `top_k_intersection`
  (Theiner et al., 2022): the share of the top pixels on the object.
- `attribution_localisation` (Kohlbrenner et al., 2020): the mass share, with
  the maximum required on the object.
- `mask_auc` (Fawcett, 2006): the ROC AUC of the map as a detector of the mask.
- `focus` (Arias-Duart et al., 2022): no masks needed; mosaics of the images.

All take `(maps, masks)` (`focus`: the model and the method) and return
float32 `[B]`, higher is better, NaN for an empty mask.
"""

import numbers

import numpy as np
import tensorflow as tf
from scipy import ndimage

from kerasviz import inputs
from kerasviz.metrics import sanity


def check(maps, masks):
    """`(maps float64 [B, H, W], masks bool [B, H, W])`, checked as `pointing_game` checks them."""
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
    return inputs.check_finite(maps, "maps").astype(np.float64), masks.astype(bool)


def pointing_game(maps, masks, *, tolerance=0) -> np.ndarray:
    """The pointing game: 1 when the map's maximum lies on the object, else 0.

    Zhang et al., 2016 ("Top-down Neural Attention by Excitation Backprop",
    section 4.1; Quantus's PointingGame): a hit when the pixel of the map's
    largest value lies in the object's mask, or within `tolerance` pixels
    (Euclidean distance) of it. Zhang et al. allow 15 pixels on 224 x 224
    images; the default 0 asks for the mask itself (scale the tolerance with
    the image: 15 at 224 px is about 1 at 16 px). Ties: when several pixels
    share the maximum, any one of them on the (widened) object is a hit, as in
    Quantus. The mean over images is the accuracy Zhang et al. report. A
    map where low values matter (occlusion scores) should be negated first
    (`compare` does). NaN for an empty mask or a constant map (every pixel a
    maximum: it points nowhere).

    Args:
        maps: `[B, H, W]` attribution maps (larger = more important).
        masks: `[B, H, W]` booleans (or 0/1): the object's pixels (a
            bounding box or a segmentation).
        tolerance: pixels, a number >= 0: how far from the mask the maximum
            may lie and still hit (Zhang et al.: 15 at 224 x 224).

    Returns:
        float32 `[B]` of 1.0 (hit), 0.0 (miss) or NaN.

    Raises:
        ValueError: shapes that differ, masks that are not 0/1, NaN maps, a
            negative `tolerance`.

    Example:

    >>> boxes = np.zeros(maps.shape, bool); boxes[:, 4:12, 4:12] = True
    >>> kerasviz.metrics.pointing_game(maps, boxes).mean()  # the share of images hit
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or not 0 <= tolerance < np.inf:
        raise ValueError(f"Received an invalid value for `tolerance`: {tolerance!r}. Expected a number of "
                         "pixels >= 0 (Zhang et al.: 15 at 224 x 224).")
    maps, masks = check(maps, masks)
    out = np.full(len(maps), np.nan)
    for b, (values, mask) in enumerate(zip(maps, masks)):
        peaks = values == values.max()
        if not mask.any() or peaks.all():
            continue
        near = mask if tolerance == 0 else ndimage.distance_transform_edt(~mask) <= tolerance
        out[b] = float((peaks & near).any())
    return out.astype(np.float32)


def positive_share(maps, masks):
    """float64 `[B]`: the share of each map's positive part inside its mask (NaN without positive values)."""
    energy = np.maximum(maps, 0.0)
    total = energy.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (energy * masks).sum(axis=(1, 2)) / total, np.nan)


def _empty_to_nan(values, masks):
    values = np.asarray(values, np.float64)
    values[masks.reshape(len(masks), -1).sum(axis=1) == 0] = np.nan
    return values.astype(np.float32)


def _top(maps, counts):
    """bool `[B, H * W]`: each map's `counts[b]` largest pixels (ties: row-major order)."""
    flat = maps.reshape(len(maps), -1)
    order = np.argsort(-flat, axis=1, kind="stable")
    top = np.zeros(flat.shape, bool)
    for b, count in enumerate(counts):
        top[b, order[b, :count]] = True
    return top


def relevance_rank_accuracy(maps, masks) -> np.ndarray:
    """Relevance rank accuracy: the share of the map's `K` top pixels on the object, `K` the mask's size.

    Arras et al., 2022 ("CLEVR-XAI: A benchmark dataset for the ground truth
    evaluation of neural network explanations", section 4.2): with `K` the
    number of pixels of the mask, the fraction of the `K` highest-ranked
    pixels (ties in row-major order) that lie in it. 1 when the map's top is
    the object; the mask's share of the image for a random map.

    Args:
        maps: `[B, H, W]` attribution maps (larger = more important).
        masks: `[B, H, W]` booleans (or 0/1): the object's pixels.

    Returns:
        float32 `[B]` (NaN for an empty mask).

    Raises:
        ValueError: shapes that differ, masks that are not 0/1, NaN maps.

    Example:

    >>> kerasviz.metrics.relevance_rank_accuracy(maps, masks).mean()
    """
    maps, masks = check(maps, masks)
    sizes = masks.reshape(len(masks), -1).sum(axis=1)
    top = _top(maps, sizes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _empty_to_nan((top & masks.reshape(len(masks), -1)).sum(axis=1) / sizes, masks)


def relevance_mass_accuracy(maps, masks) -> np.ndarray:
    """Relevance mass accuracy: the map's sum on the object over its sum everywhere.

    Arras et al., 2022, section 4.2: `R_within / R_total`, on the values as
    given (as Quantus computes it). On a nonnegative map it is the
    energy-based pointing game of Score-CAM (Wang et al., 2020, "Score-CAM:
    Score-Weighted Visual Explanations for Convolutional Neural Networks",
    section 5.2: the share of the positive energy in the box), which kerasviz
    does not list twice; `pointing_game` is Zhang et al.'s hit rate of the
    maximum. With negative values it can leave [0, 1] (pass magnitudes, as
    `compare` does). NaN for an empty mask or a map summing to 0.

    Args:
        maps, masks: as for `relevance_rank_accuracy`.

    Returns:
        float32 `[B]`.

    Example:

    >>> kerasviz.metrics.relevance_mass_accuracy(np.abs(maps), masks).mean()
    """
    maps, masks = check(maps, masks)
    total = maps.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(total != 0, (maps * masks).sum(axis=(1, 2)) / total, np.nan)
    return _empty_to_nan(ratio, masks)


def attribution_localisation(maps, masks, *, weighted=False) -> np.ndarray:
    """Attribution localisation: the positive mass on the object, 0 when the map's maximum is off it.

    Kohlbrenner et al., 2020 ("Towards Best Practice in Explaining Neural
    Network Decisions with LRP", section 4.1): `mu = R+_in / R+_total`, the
    share of the positive relevance inside the object's box, counted only
    when the map's largest value lies in it (their correctly localised
    images; 0 otherwise). `weighted=True` multiplies by `image area / mask
    area` (Kohlbrenner et al.'s `mu_w`: a small object counts for more).

    Args:
        maps, masks: as for `relevance_rank_accuracy`.
        weighted: scale by the inverse of the mask's share of the image.

    Returns:
        float32 `[B]` (NaN for an empty mask or a map without positive values).

    Example:

    >>> kerasviz.metrics.attribution_localisation(maps, boxes).mean()
    """
    maps, masks = check(maps, masks)
    ratio = positive_share(maps, masks)
    flat = maps.reshape(len(maps), -1)
    peak_inside = masks.reshape(len(masks), -1)[np.arange(len(maps)), np.argmax(flat, axis=1)]
    ratio = np.where(peak_inside | np.isnan(ratio), ratio, 0.0)
    if weighted:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = ratio * flat.shape[1] / masks.reshape(len(masks), -1).sum(axis=1)
    return _empty_to_nan(ratio, masks)


def top_k_intersection(maps, masks, *, k=0.05) -> np.ndarray:
    """Top-k intersection: the share of the map's `k` largest pixels that lie on the object.

    Theiner et al., 2022 ("Interpretable Semantic Photo Geolocation",
    section 4): the fraction of the top `k` pixels (ties in row-major order)
    inside the mask. Quantus counts `k` in pixels (1000 of a 224 x 224
    image, 2%); here an int is a pixel count and a float in (0, 1] a share of
    the image (default 5%).

    Args:
        maps, masks: as for `relevance_rank_accuracy`.
        k: an int (pixels) or a float in (0, 1] (share of the pixels).

    Returns:
        float32 `[B]` (NaN for an empty mask).

    Example:

    >>> kerasviz.metrics.top_k_intersection(maps, masks, k=1000).mean()
    """
    maps, masks = check(maps, masks)
    pixels = maps.shape[1] * maps.shape[2]
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, float, np.integer, np.floating)) or not (
            (isinstance(k, (int, np.integer)) and 1 <= k <= pixels) or (
                isinstance(k, (float, np.floating)) and 0 < k <= 1)):
        raise ValueError(f"Received an invalid value for `k`: {k!r}. Expected an int in [1, {pixels}] (pixels) or "
                         "a float in (0, 1] (a share of the image).")
    count = int(k) if isinstance(k, (int, np.integer)) else max(1, int(round(k * pixels)))
    top = _top(maps, [count] * len(maps))
    return _empty_to_nan((top & masks.reshape(len(masks), -1)).sum(axis=1) / count, masks)


def mask_auc(maps, masks) -> np.ndarray:
    """The area under the ROC curve of the map as a detector of the object's pixels.

    Fawcett, 2006 ("An introduction to ROC analysis"), as Quantus's AUC: the
    probability that a random object pixel scores above a random background
    pixel (ties count one half: the Mann-Whitney statistic). 0.5 for a
    random map, 1 when every object pixel outranks the background.

    Args:
        maps, masks: as for `relevance_rank_accuracy`.

    Returns:
        float32 `[B]` (NaN for an empty or a full mask).

    Example:

    >>> kerasviz.metrics.mask_auc(maps, masks).mean()
    """
    maps, masks = check(maps, masks)
    out = np.empty(len(maps))
    for b, (values, mask) in enumerate(zip(maps.reshape(len(maps), -1), masks.reshape(len(masks), -1))):
        positives, negatives = mask.sum(), (~mask).sum()
        if positives == 0 or negatives == 0:
            out[b] = np.nan
            continue
        ranks = sanity.average_ranks(values) + 1
        out[b] = (ranks[mask].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    return out.astype(np.float32)
