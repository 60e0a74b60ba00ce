"""Integrated Gradients: gradients accumulated along a path from a baseline."""

import math
import numbers

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs
from kerasviz.gradients import core


def _check_baseline(baseline, images):
    """The baseline as a float32 `[B, H, W, C]` array (broadcast from a float or `[H, W, C]`)."""
    shape = images.shape
    if isinstance(baseline, bool):
        raise TypeError(
            "Expected `baseline` to be a float or an array of images. "
            f"Received: baseline={baseline!r}."
        )
    if isinstance(baseline, numbers.Real):
        if not math.isfinite(baseline):
            raise ValueError(
                f"Received an invalid value for `baseline`: {baseline!r}. Expected a finite float."
            )
        return np.full(shape, baseline, np.float32)
    if isinstance(baseline, (tf.Tensor, tf.Variable)):
        baseline = baseline.numpy()
    try:
        array = np.asarray(baseline)
    except (TypeError, ValueError):
        array = np.asarray(None)
    if array.dtype.kind not in "uif":
        raise TypeError(
            "Expected `baseline` to be a float or a numeric array [H, W, C] or [B, H, W, C]. "
            f"Received: {type(baseline).__name__} of dtype {array.dtype}."
        )
    if array.ndim == 0:
        return _check_baseline(float(array), images)
    if array.shape not in (shape[1:], (1,) + shape[1:], shape):
        raise ValueError(
            f"Received a `baseline` of the wrong shape: {array.shape}. Expected a float, an array "
            f"[H, W, C] = {shape[1:]} or [B, H, W, C] = {shape} matching `images`."
        )
    inputs.check_finite(array, "baseline")
    return np.ascontiguousarray(np.broadcast_to(array.astype(np.float32), shape))


def integrated_gradients(
    model, images, target=None, *, batch_size=None, baseline=0.0, steps=50, signed=False
):
    """Integrated Gradients: attributions that add up to the change of the score.

    The attribution of input `i` is `(x_i - x'_i)` times the average gradient
    of the score along the straight path from a baseline `x'` to the image
    `x` (Sundararajan et al., 2017, "Axiomatic Attribution for Deep Networks",
    eq. 1 and section 5). The integral is approximated by the midpoint
    Riemann sum over `steps` points `x' + (k + 0.5) / steps * (x - x')`. The
    signed attributions satisfy *completeness*: they sum to
    `score(x) - score(x')` (the logit of the class, softmax bypassed), up to
    an error that shrinks as `steps` grows (section 5 advises 20 to 300
    steps, and checking the sum is within 5% of the score difference). The
    class for `target=None` is the one predicted for the *clean* image. Costs
    `steps` forward and backward passes per image (plus one forward pass when
    `target=None`); the `(image, step)` pairs are batched, at most
    `batch_size` per compiled call, and the path points are built in the
    graph, so results do not depend on `batch_size`.

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target` (a neuron or
            channel of any layer, or a weighted sum).
        batch_size: at most this many model evaluations (path points) per
            compiled call (default 32); results do not depend on it.
        baseline: the reference input, in the model's input space: a float
            (a constant image), an array `[H, W, C]` (the same for every
            image) or `[B, H, W, C]` (one per image). The default 0.0 is the
            all-zeros input: a black image only when the model's input space
            maps 0 to black (pixels in [0, 1] or [0, 255]); for inputs scaled
            to [-1, 1] or mean-subtracted, 0 is grey or the mean image, and a
            black baseline must be given in that space (e.g. -1.0).
        steps: the number of points on the path (the paper: 20 to 300).
        signed: return the attributions `[B, H, W, C]` (these satisfy
            completeness) instead of the map.

    Returns:
        float32 `[B, H, W]`: the maximum over channels of the absolute
        attribution (or the attributions `[B, H, W, C]` with `signed=True`).

    Raises:
        ValueError, TypeError: invalid `images`, `target`, `batch_size`,
            `baseline` or `steps`.

    Example:

    >>> attributions = kerasviz.integrated_gradients(model, images, steps=64, signed=True)
    >>> attributions.shape
    (8, 64, 64, 3)
    """
    steps = inputs.check_positive_int(steps, "steps")
    prepared = core.Prepared(model, images, target, batch_size)
    images = prepared.images
    baselines = _check_baseline(baseline, images)
    class_idx = core.predicted_classes(prepared)

    def build(model_ref):
        step = core.gradient_step(model_ref, prepared.target, prepared.capture)

        def path_gradient_sums(images, class_idx, baselines, alphas, local):
            start = tf.gather(baselines, local)
            alphas = tf.reshape(alphas, [-1, 1, 1, 1])
            points = start + alphas * (tf.gather(images, local) - start)
            gradients = step(points, tf.gather(class_idx, local))[1]
            return tf.math.unsorted_segment_sum(gradients, local, tf.shape(images)[0])

        return path_gradient_sums

    signature = prepared.signature(
        tf.TensorSpec([None, *images.shape[1:]], tf.float32),
        tf.TensorSpec([None], tf.float32),
        tf.TensorSpec([None], tf.int32),
    )
    function = compiled.compiled_function(
        prepared.model, prepared.key("integrated_gradients"), build, signature
    )
    sums = np.zeros(images.shape, np.float64)
    for first, last, pair_ids, local in core.pair_chunks(len(images), steps, prepared.batch_size):
        part = slice(first, last + 1)
        alphas = ((pair_ids % steps + 0.5) / steps).astype(np.float32)
        sums[part] += function(
            tf.constant(images[part]),
            tf.constant(class_idx[part]),
            tf.constant(baselines[part]),
            tf.constant(alphas),
            tf.constant(local),
        ).numpy()
    difference = images.astype(np.float64) - baselines.astype(np.float64)
    attributions = (difference * sums / steps).astype(np.float32)
    return inputs.warn_if_constant(attributions if signed else core.reduce_map(attributions),
                                   "integrated_gradients")
