"""The CAM papers' scores of the image seen through the map: average drop, increase in confidence, average gain.

Chattopadhay et al., 2018 ("Grad-CAM++", section 5.1) and Zhang et al., 2023
("Opti-CAM", section 4.1): the image is multiplied by the map scaled to
[0, 1] (`baseline + m * (x - baseline)`, `m = map / max(map)`, the map's
negative part clipped), and its class probability `O` compared with the
clean image's `Y`:

- average drop `max(0, Y - O) / Y` (lower is better; the papers report it in %),
- increase in confidence `1[O > Y]` (higher is better; the share of images),
- average gain `max(0, O - Y) / (1 - Y)` (higher is better).

They measure whether the map keeps what the class needs, not whether it
leaves out what it does not: an all-ones map scores a perfect drop of 0.
"""

import numpy as np

from kerasviz.metrics import faithfulness_curves
from kerasviz.perturbation import masked


def _scores(kind, model, images, maps, target, baseline, batch_size):
    """`(Y, O)` float64 `[B]`: the class probability of the image and of the image seen through the map."""
    prepared, values, baselines, classes = faithfulness_curves.setup(kind, model, images, maps, target, baseline,
                                                                     batch_size)
    positive = np.maximum(values, 0.0)
    peak = positive.reshape(len(values), -1).max(axis=1)
    scaled = positive / np.where(peak > 0, peak, 1.0)[:, None, None]
    pixels = values.shape[1] * values.shape[2]
    segments = np.broadcast_to(np.arange(pixels, dtype=np.int32).reshape(values.shape[1:]), values.shape).copy()
    coalitions = [np.stack([np.ones(pixels), s.ravel()]).astype(np.float32) for s in scaled]
    scores = masked.segment_scores(prepared, classes[:, None].astype(np.int32), segments, baselines, coalitions,
                                   probabilities=True).astype(np.float64)
    return scores[:, 0], scores[:, 1]


def average_drop(model, images, maps, target=None, *, baseline=0.0, batch_size=None) -> np.ndarray:
    """Average drop: the share of the class probability lost when the image is seen through the map.

    Chattopadhay et al., 2018 ("Grad-CAM++: Improved Visual Explanations for
    Deep Convolutional Networks", section 5.1): `max(0, Y - O) / Y` per image
    (the paper's mean, in %, is 100 times the mean of these), `Y` the class
    probability of the image, `O` that of `baseline + m * (x - baseline)`,
    `m` the map's positive part over its maximum. Lower is better. Costs 2
    forward passes per image.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        maps: `[B, H, W]` attribution maps (larger = more important).
        target: `None` (the predicted class), an int class or a sequence of ints.
        baseline: what the map's zeros show (`kerasviz.fill`), default 0.0
            (the paper's product `x * m`).
        batch_size: at most this many images per compiled call.

    Returns:
        float32 `[B]`, in [0, 1].

    Raises:
        ValueError, TypeError: invalid arguments.

    Example:

    >>> 100 * kerasviz.metrics.average_drop(model, images, kerasviz.grad_cam(model, images)).mean()
    """
    clean, seen = _scores("average_drop", model, images, maps, target, baseline, batch_size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.maximum(0.0, clean - seen) / clean).astype(np.float32)


def increase_in_confidence(model, images, maps, target=None, *, baseline=0.0, batch_size=None) -> np.ndarray:
    """Increase in confidence: 1 where the image seen through the map is more probable than the image.

    Chattopadhay et al., 2018, section 5.1: `1[O > Y]` per image (the
    paper's "% increase in confidence" is 100 times the mean). Same `O`, `Y`,
    arguments and cost as `average_drop`. Higher is better.

    Returns:
        float32 `[B]` of 0 and 1.

    Example:

    >>> kerasviz.metrics.increase_in_confidence(model, images, maps).mean()
    """
    clean, seen = _scores("increase_in_confidence", model, images, maps, target, baseline, batch_size)
    return (seen > clean).astype(np.float32)


def average_gain(model, images, maps, target=None, *, baseline=0.0, batch_size=None) -> np.ndarray:
    """Average gain: the share of the probability still missing that the map's view gains.

    Zhang et al., 2023 ("Opti-CAM: Optimizing saliency maps for
    interpretability", section 4.1), the counterpart of average drop:
    `max(0, O - Y) / (1 - Y)` per image. Same `O`, `Y`, arguments and cost as
    `average_drop`. Higher is better.

    Returns:
        float32 `[B]`, in [0, 1] (NaN where `Y` is 1).

    Example:

    >>> kerasviz.metrics.average_gain(model, images, maps).mean()
    """
    clean, seen = _scores("average_gain", model, images, maps, target, baseline, batch_size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.maximum(0.0, seen - clean) / (1.0 - clean)).astype(np.float32)
