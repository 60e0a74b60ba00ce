"""Do similar maps go with the same prediction? Sufficiency and consistency (Dasgupta et al., 2022).

Both compare the images of a batch with one another, so they need a batch
of several images (NaN for an image without a similar partner), and read
only the maps and the predicted classes: no further passes.
"""

import numbers

import numpy as np

from kerasviz.metrics import localization


def _check(maps, classes):
    maps, _ = localization.check(maps, np.zeros(np.shape(maps), bool))
    classes = np.asarray(classes)
    if classes.shape != (len(maps),):
        raise ValueError(f"Expected `classes` to hold one class per map, shape ({len(maps)},). Received shape "
                         f"{classes.shape}.")
    return maps, classes


def sufficiency(maps, classes, *, threshold=0.6) -> np.ndarray:
    """Sufficiency: among the other images whose map is close to this one's, the share predicted the same class.

    Dasgupta et al., 2022 ("Framework for Evaluating Faithfulness of Local
    Explanations", section 4): maps as Quantus compares them (absolute
    values, each divided by its largest), the standardized Euclidean
    distance between each pair (each pixel's distance scaled by its variance
    over the batch); an image's partners are the others within `threshold`;
    the value is the share of its partners with its predicted class. Higher
    is better. NaN where an image has no partner. No model passes.

    Args:
        maps: `[B, H, W]` attribution maps, `B >= 2`.
        classes: int `[B]`, the predicted classes.
        threshold: the largest distance of a partner.

    Returns:
        float32 `[B]`.

    Raises:
        ValueError: invalid `maps`, `classes` or `threshold`.

    Example:

    >>> kerasviz.metrics.sufficiency(maps, model.predict(images).argmax(-1)).mean()
    """
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not threshold >= 0:
        raise ValueError(f"Received an invalid value for `threshold`: {threshold!r}. Expected a float >= 0.")
    maps, classes = _check(maps, classes)
    flat = np.abs(maps.reshape(len(maps), -1))
    peak = flat.max(axis=1, keepdims=True)
    flat = flat / np.where(peak > 0, peak, 1.0)
    variance = flat.var(axis=0, ddof=1) if len(flat) > 1 else np.ones(flat.shape[1])
    scale = np.where(variance > 0, variance, 1.0)
    distance = np.sqrt((((flat[:, None] - flat[None]) ** 2) / scale).sum(-1))
    near = (distance <= threshold) & ~np.eye(len(flat), dtype=bool)
    same = classes[:, None] == classes[None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(near.any(1), (near & same).sum(1) / near.sum(1), np.nan).astype(np.float32)


def consistency(maps, classes, *, top=0.05) -> np.ndarray:
    """Consistency: among the other images whose map has the same top pixels, the share predicted the same class.

    Dasgupta et al., 2022, section 4: maps are discretised (here, as Quantus
    suggests, into the set of each map's `top` share of largest pixels), and
    images with the same discretised map should have the same prediction;
    the value is the share of an image's equal-map partners that share its
    predicted class. Higher is better. NaN where no other image has the same
    discretised map. No model passes.

    Args:
        maps: `[B, H, W]` attribution maps, `B >= 2`.
        classes: int `[B]`, the predicted classes.
        top: the share of pixels that makes a map's label, in (0, 1].

    Returns:
        float32 `[B]`.

    Raises:
        ValueError: invalid `maps`, `classes` or `top`.

    Example:

    >>> kerasviz.metrics.consistency(maps, classes).mean()
    """
    if isinstance(top, bool) or not isinstance(top, numbers.Real) or not 0 < top <= 1:
        raise ValueError(f"Received an invalid value for `top`: {top!r}. Expected a float in (0, 1].")
    maps, classes = _check(maps, classes)
    flat = maps.reshape(len(maps), -1)
    count = max(1, int(round(top * flat.shape[1])))
    labels = [frozenset(np.argsort(-row, kind="stable")[:count].tolist()) for row in flat]
    equal = np.array([[a == b for b in labels] for a in labels]) & ~np.eye(len(flat), dtype=bool)
    same = classes[:, None] == classes[None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(equal.any(1), (equal & same).sum(1) / equal.sum(1), np.nan).astype(np.float32)
