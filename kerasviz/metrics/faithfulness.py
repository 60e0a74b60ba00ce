"""Deletion and insertion curves (Petsiuk et al., 2018, "RISE", section 4.1).

Remove (or insert) pixels in the order the map ranks them and watch the class
probability; a faithful map makes it fall fast (or rise fast).
"""

import typing

import numpy as np
import tensorflow as tf

from kerasviz import compiled, fill, inputs, models, targets
from kerasviz.gradients import core


class Curve(typing.NamedTuple):
    """A deletion or insertion curve.

    Attributes:
        fractions: float32 `[steps + 1]`, the fraction of pixels changed, 0 to 1.
        scores: float32 `[B, steps + 1]`, the target class probability.
        auc: float32 `[B]`, the trapezoid area under `scores` over `fractions`.
    """

    fractions: np.ndarray
    scores: np.ndarray
    auc: np.ndarray


def check_maps(maps, images):
    array = np.asarray(maps.numpy() if isinstance(maps, (tf.Tensor, tf.Variable)) else maps)
    if array.dtype.kind not in "uif":
        raise TypeError(f"Expected `maps` to hold numbers. Received dtype {array.dtype}.")
    if array.shape != images.shape[:3]:
        raise ValueError(
            f"Expected `maps` of shape [B, H, W] = {images.shape[:3]} (one value per pixel of "
            f"`images`). Received shape {array.shape}."
        )
    return inputs.check_finite(array, "maps").astype(np.float64)


def pixel_ranks(maps):
    """int32 `[B, H, W]`: each pixel's position when sorted by the map, largest first (ties: row-major)."""
    flat = maps.reshape(len(maps), -1)
    order = np.argsort(-flat, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None], axis=1)
    return ranks.reshape(maps.shape).astype(np.int32)


# `kerasviz.metrics.blur`: the `"blur"` baseline, defined with the other fills in `kerasviz.fill`.
blur = fill.blur


def _curve(kind, model, images, maps, target, steps, baseline, batch_size):
    prepared = core.Prepared(model, images, target, batch_size)
    if not isinstance(prepared.target, targets.ClassScore):
        raise ValueError(
            f"`{kind}` measures class probabilities: expected `target` to be None, an int, a "
            f"sequence of ints or a `ClassScore`. Received: target={target!r}."
        )
    steps = inputs.check_positive_int(steps, "steps")
    images = prepared.images
    ranks = pixel_ranks(check_maps(maps, images))
    base = fill.baselines(baseline, images)
    classes = core.predicted_classes(prepared)[:, 0]
    n_pixels = images.shape[1] * images.shape[2]
    counts = (np.arange(steps + 1) * n_pixels // steps).astype(np.int32)

    def build(model_ref):
        activation = models.output_activation(model_ref())

        def score(outside, inside, ranks, counts, classes):
            # Pixels ranked before `count` come from `inside`, the others from `outside`.
            mask = ranks[..., None] < counts[:, None, None, None]
            logits, _ = models.run(model_ref(), tf.where(mask, inside, outside))
            return tf.gather(models.probabilities(logits, activation), classes, batch_dims=1)

        return score

    image_spec = tf.TensorSpec([None, *images.shape[1:]], tf.float32)
    signature = [image_spec, image_spec, tf.TensorSpec([None, *images.shape[1:3]], tf.int32),
                 tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32)]
    function = compiled.compiled_function(
        model, ("perturbation_curve", images.shape[1:]), build, signature
    )
    n_pairs = len(images) * (steps + 1)
    scores = np.empty([n_pairs], np.float32)
    for start, stop in inputs.batches(n_pairs, prepared.batch_size):
        image_ids, step_ids = np.divmod(np.arange(start, stop), steps + 1)
        first, second = images[image_ids], base[image_ids]
        outside, inside = (first, second) if kind == "deletion" else (second, first)
        scores[start:stop] = function(
            outside, inside, ranks[image_ids], counts[step_ids], classes[image_ids]
        )
    scores = scores.reshape(len(images), steps + 1)
    fractions = counts / n_pixels
    auc = np.sum((scores[:, 1:] + scores[:, :-1]) / 2 * np.diff(fractions), axis=1)
    return Curve(fractions.astype(np.float32), scores, auc.astype(np.float32))


def deletion(model, images, maps, target=None, *, steps=20, baseline=0.0, batch_size=None) -> Curve:
    """Deletion curve: the class probability as the most important pixels are removed.

    Pixels (all channels together) are ranked by the map, largest first (ties
    in row-major order), and replaced by `baseline` in `steps` equal
    fractions; the lower the area under the curve, the better the map
    explains the class (Petsiuk et al., 2018, "RISE", section 4.1). Perturbed
    images are built inside the compiled graph, chunk by chunk. Costs
    `B * (steps + 1)` forward passes (plus `B` for `target=None`).

    Args:
        model: a built Keras image model; the class probability is the
            softmax of its logits (a final softmax is bypassed and re-applied).
        images: `[B, H, W, C]` in the model's own input space.
        maps: `[B, H, W]` attribution maps (larger = more important), e.g.
            from `kerasviz.saliency`.
        target: `None` (the class predicted for the clean image), an int
            class, or a sequence of ints (one per image).
        steps: the curve has `steps + 1` points; point `k` has the first
            `floor(k * H * W / steps)` pixels of the ranking changed.
        baseline: what deleted pixels become, in the model's input space
            (`kerasviz.fill`): a float (default 0.0: Petsiuk et al. set them
            to zero), one float per channel, an image or images, `"mean"`
            (each image's mean colour) or `"blur"`.
        batch_size: at most this many perturbed images per compiled call
            (default 32); results do not depend on it.

    Returns:
        `Curve(fractions [steps + 1], scores [B, steps + 1], auc [B])`, float32.

    Raises:
        ValueError, TypeError: invalid `images`, `maps` (shape, NaN), `target`,
            `steps`, `baseline` or `batch_size`.

    Example:

    >>> curve = kerasviz.metrics.deletion(model, images, kerasviz.saliency(model, images))
    >>> curve.auc.mean()
    """
    return _curve("deletion", model, images, maps, target, steps, baseline, batch_size)


def insertion(model, images, maps, target=None, *, steps=20, baseline="blur", batch_size=None) -> Curve:
    """Insertion curve: the class probability as the most important pixels are put back.

    Starts from the baseline image (by default a strongly blurred copy:
    Gaussian, sigma = size / 8) and puts the original pixels back in the map's
    order, largest first; the higher the area under the curve, the better
    the map (Petsiuk et al., 2018, "RISE", section 4.1). Same arguments,
    ranking and cost as `deletion`.

    Args:
        model, images, maps, target, steps, batch_size: as for `deletion`.
        baseline: the image to start from, as for `deletion`: `"blur"`
            (default, `kerasviz.fill.blur`), a float, one float per
            channel, an image or images, or `"mean"`.

    Returns:
        `Curve(fractions [steps + 1], scores [B, steps + 1], auc [B])`, float32.

    Raises:
        ValueError, TypeError: as for `deletion`.

    Example:

    >>> curve = kerasviz.metrics.insertion(model, images, maps, steps=50)
    """
    return _curve("insertion", model, images, maps, target, steps, baseline, batch_size)
