"""Focus (Arias-Duart et al., 2022): localisation without masks, on mosaics of the images."""

import numpy as np
import tensorflow as tf

from kerasviz import inputs
from kerasviz.gradients import core
from kerasviz.metrics import robustness


def _quadrants(height, width):
    top, left = height // 2, width // 2
    return [(slice(0, top), slice(0, left)), (slice(0, top), slice(left, width)),
            (slice(top, height), slice(0, left)), (slice(top, height), slice(left, width))]


def mosaics(images, classes, seed=0):
    """`(mosaics [B, H, W, C], partners int [B, 2])`: image `b` shrunk into the top-left and bottom-right
    quadrants, two images of other classes (drawn from the batch, seeded) in the others; -1 where the
    batch has no other class."""
    height, width = images.shape[1:3]
    out = np.zeros_like(images)
    partners = -np.ones((len(images), 2), np.int64)
    for b in range(len(images)):
        others = np.flatnonzero(classes != classes[b])
        if not len(others):
            continue
        partners[b] = np.random.default_rng([seed, b]).choice(others, 2, replace=len(others) < 2)
        for index, (rows, cols) in zip([b, partners[b, 0], partners[b, 1], b], _quadrants(height, width)):
            size = (rows.stop - rows.start, cols.stop - cols.start)
            out[b, rows, cols] = tf.image.resize(images[index], size, method="area").numpy()
    return out, partners


def focus(model, images, method, target=None, *, seed=0, batch_size=None) -> np.ndarray:
    """Focus: the share of the map's positive mass on the target class's half of a mosaic.

    Arias-Duart et al., 2022 ("Focus! Rating XAI Methods and Finding Biases",
    section 3): each image is shrunk into two opposite quadrants of a mosaic
    whose other two quadrants hold images of other classes (drawn from the
    batch by their predicted class, seeded), the method explains the
    image's class on the mosaic, and focus is the share of the map's
    positive values in the image's quadrants. 1 when the map sees only the
    class's evidence; 0.5 for a map blind to the class. No masks needed.
    Costs 1 call of `method` on the mosaics (plus one forward pass for
    `target=None`).

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space, `B >= 2` with
            at least two classes predicted (else NaN).
        method: an attribution method `method(model, images, target,
            batch_size=...)` returning `[B, H, W]` maps (larger = more important).
        target: `None` (the predicted class), an int class or a sequence of ints.
        seed: int seed of the images drawn for the other quadrants.
        batch_size: passed on to `method` when given.

    Returns:
        float32 `[B]` (NaN where the batch has no image of another class or
        the map has no positive value).

    Raises:
        TypeError: `method` is not callable.
        ValueError: invalid `images`, `target`, `seed` or `batch_size`, or
            maps that are not `[B, H, W]`.

    Example:

    >>> kerasviz.metrics.focus(model, images, kerasviz.grad_cam).mean()
    """
    robustness.check_method(method)
    seed = inputs.check_seed(seed)
    prepared = core.Prepared(model, images, target, batch_size)
    classes = np.asarray(robustness.fixed_target(prepared, target))
    if classes.ndim != 1:
        raise ValueError(f"`focus` explains classes: expected `target` to be None, an int or a sequence of ints. "
                         f"Received: target={target!r}.")
    tiles, partners = mosaics(prepared.images, classes, seed)
    kwargs = {} if batch_size is None else {"batch_size": prepared.batch_size}
    maps = np.asarray(method(model, tiles, classes, **kwargs), np.float64)
    if maps.shape != prepared.images.shape[:3]:
        raise ValueError(f"Expected `method` to return maps [B, H, W] = {prepared.images.shape[:3]}. Received "
                         f"shape {maps.shape}.")
    positive = np.maximum(maps, 0.0)
    quadrants = _quadrants(*maps.shape[1:])
    inside = positive[:, quadrants[0][0], quadrants[0][1]].sum((1, 2)) + positive[
        :, quadrants[3][0], quadrants[3][1]].sum((1, 2))
    total = positive.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where((total > 0) & (partners[:, 0] >= 0), inside / total, np.nan)
    return out.astype(np.float32)
