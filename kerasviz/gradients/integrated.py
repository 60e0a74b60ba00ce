"""Integrated Gradients: gradients accumulated along a path from a baseline.

The path integral `int_0^1 grad S(gamma(a)) . gamma'(a) da` is approximated
by a quadrature `rule` (`path_points`): each point `a_k` carries the segment
`[lo_k, hi_k]` of the path it stands for and a factor `c_k`, and adds `c_k
grad S(gamma(a_k)) * (gamma(hi_k) - gamma(lo_k))`. On the straight line from
`x'` to `x` that is `(x - x') c_k (hi_k - lo_k) grad S`, the rules of
numerical quadrature; on Blur IG's path through ever less blurred images the
same sum telescopes to `gamma(1) - gamma(0)`, so completeness holds for every
rule and path.
"""

import math
import numbers

import numpy as np
import tensorflow as tf

from kerasviz import compiled, fill, inputs, progress
from kerasviz.gradients import core, multi_input, multi_input_methods


RULES = ("midpoint", "left", "right", "trapezoid")


def check_rule(rule):
    if rule in RULES:
        return rule
    raise ValueError(
        f"Received an invalid value for `rule`: {rule!r}. Expected one of {RULES} (Riemann sums "
        "at the midpoints, left or right ends of the steps, or the trapezoidal rule)."
    )


def path_points(rule, steps):
    """`(alphas, lo, hi, factors)`, float64 arrays of the rule's points on `[0, 1]` (see above).

    `steps` intervals; the trapezoidal rule evaluates `steps + 1` points, the
    others `steps`.
    """
    k = np.arange(steps + 1 if rule == "trapezoid" else steps, dtype=np.float64)
    if rule == "trapezoid":
        return k / steps, np.maximum(k - 1, 0) / steps, np.minimum(k + 1, steps) / steps, np.full(k.shape, 0.5)
    alphas = {"midpoint": k + 0.5, "left": k, "right": k + 1}[rule] / steps
    return alphas, k / steps, (k + 1) / steps, np.ones(k.shape)


def _check_max_sigma(max_sigma, images):
    """Blur IG's largest blur: `max_sigma`, or 50 pixels at 224 (Xu et al.'s), scaled to the image."""
    if max_sigma is None:
        return 50.0 * max(images.shape[1:3]) / 224.0
    if isinstance(max_sigma, bool) or not isinstance(max_sigma, numbers.Real) or not max_sigma > 0 \
            or not math.isfinite(max_sigma):
        raise ValueError(
            f"Received an invalid value for `max_sigma`: {max_sigma!r}. Expected a positive float "
            "(pixels): the Gaussian blur at the start of Blur IG's path."
        )
    return float(max_sigma)


def _blur_matrices(size, sigmas):
    """`[P, size, size]` row-normalized Gaussian kernels: `M @ v` blurs `v` with each `sigma` (0: identity)."""
    position = tf.range(size, dtype=tf.float32)
    distance = position[:, None] - position[None, :]
    sigmas = tf.maximum(tf.reshape(sigmas, [-1, 1, 1]), 1e-6)
    kernel = tf.exp(-tf.square(distance)[None] / (2.0 * tf.square(sigmas)))
    return kernel / tf.reduce_sum(kernel, axis=-1, keepdims=True)


def gaussian_blur(images, sigmas):
    """`images [P, H, W, C]` each blurred with its own `sigmas [P]` (separable, in the graph).

    Kernels are cut at the image border and renormalized, so a constant image
    stays constant.
    """
    count, height, width, channels = tf.unstack(tf.shape(images))
    rows = _blur_matrices(height, sigmas)
    cols = _blur_matrices(width, sigmas)
    blurred = tf.linalg.matmul(rows, tf.reshape(images, [count, height, width * channels]))
    blurred = tf.transpose(tf.reshape(blurred, [count, height, width, channels]), [0, 2, 1, 3])
    blurred = tf.linalg.matmul(cols, tf.reshape(blurred, [count, width, height * channels]))
    return tf.transpose(tf.reshape(blurred, [count, width, height, channels]), [0, 2, 1, 3])


def _straight_sums(prepared, class_idx, baselines, points, verbose):
    """Per image, `sum_k c_k (hi_k - lo_k) grad S(x' + a_k (x - x'))`, float64."""
    images = prepared.images
    alphas, lo, hi, factors = points

    def build(model_ref):
        step = core.gradient_step(model_ref, prepared.target, prepared.capture)

        def path_gradient_sums(images, class_idx, baselines, alphas, weights, local):
            start = tf.gather(baselines, local)
            points = start + tf.reshape(alphas, [-1, 1, 1, 1]) * (tf.gather(images, local) - start)
            gradients = step(points, tf.gather(class_idx, local))[1]
            weighted = tf.reshape(weights, [-1, 1, 1, 1]) * gradients
            return tf.math.unsorted_segment_sum(weighted, local, tf.shape(images)[0])

        return path_gradient_sums

    signature = prepared.signature(
        tf.TensorSpec([None, *images.shape[1:]], tf.float32),
        tf.TensorSpec([None], tf.float32),
        tf.TensorSpec([None], tf.float32),
        tf.TensorSpec([None], tf.int32),
    )
    function = compiled.compiled_function(
        prepared.model, prepared.key("integrated_gradients"), build, signature
    )
    return path_sums(function, prepared, class_idx, baselines, points, verbose)


def path_sums(function, prepared, class_idx, starts, points, verbose, *per_image):
    """Per image, the sum over the path points of `function`'s weighted values, float64.

    `function(images, class_idx, starts, alphas, weights, local, *per_image)`
    returns one row per image of the chunk (an `unsorted_segment_sum` over
    its `(image, point)` pairs); the pairs are chunked by `core.pair_chunks`,
    so the result does not depend on `batch_size`. `starts` and `per_image`
    are sliced like the images (the baselines of the input path, a layer's
    start activations, masks).
    """
    images = prepared.images
    alphas, lo, hi, factors = points
    weights = factors * (hi - lo)
    sums = None
    for first, last, pair_ids, local in core.pair_chunks(
            len(images), len(alphas), prepared.batch_size, verbose, unit="point"):
        part, k = slice(first, last + 1), pair_ids % len(alphas)
        values = function(
            tf.constant(images[part]), tf.constant(class_idx[part]), tf.constant(starts[part]),
            tf.constant(alphas[k].astype(np.float32)), tf.constant(weights[k].astype(np.float32)),
            tf.constant(local), *[tf.constant(array[part]) for array in per_image]).numpy()
        if sums is None:
            sums = np.zeros((len(images), *values.shape[1:]), np.float64)
        sums[part] += values
    return sums


def _unique_blurs(local, *sigmas):
    """The distinct `(image, sigma)` blurs of a chunk: `(images [U], sigmas [U], one index [P] per sigmas)`.

    Neighbouring points share their segment ends (the midpoint rule's `hi_k`
    is `lo_{k+1}`; the trapezoidal rule's ends are its own points), so each
    distinct blur is computed once: about 2 per point instead of 3 for the
    midpoint rule, 1 for the trapezoidal rule.
    """
    keys = np.concatenate([(local.astype(np.int64) << 32) | s.view(np.uint32).astype(np.int64) for s in sigmas])
    unique, inverse = np.unique(keys, return_inverse=True)
    blur_images = (unique >> 32).astype(np.int32)
    blur_sigmas = (unique & 0xFFFFFFFF).astype(np.uint32).view(np.float32)
    return blur_images, blur_sigmas, np.split(inverse.reshape(-1).astype(np.int32), len(sigmas))


def _blur_sums(prepared, class_idx, max_sigma, points, verbose):
    """Per image, `sum_k c_k grad S(gamma(a_k)) * (gamma(hi_k) - gamma(lo_k))` on Blur IG's path."""
    images = prepared.images
    alphas, lo, hi, factors = points

    def build(model_ref):
        step = core.gradient_step(model_ref, prepared.target, prepared.capture)

        def blur_path_sums(images, class_idx, blur_images, blur_sigmas, at, at_lo, at_hi, factors, local):
            blurred = gaussian_blur(tf.gather(images, blur_images), blur_sigmas)  # each distinct blur once
            gradients = step(tf.gather(blurred, at), tf.gather(class_idx, local))[1]
            segment = tf.gather(blurred, at_hi) - tf.gather(blurred, at_lo)
            weighted = tf.reshape(factors, [-1, 1, 1, 1]) * gradients * segment
            return tf.math.unsorted_segment_sum(weighted, local, tf.shape(images)[0])

        return blur_path_sums

    vector, indices = tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.int32)
    signature = prepared.signature(indices, vector, indices, indices, indices, vector, indices)
    function = compiled.compiled_function(
        prepared.model, prepared.key("blur_integrated_gradients", "distinct blurs"), build, signature
    )

    def sigma(a):  # gamma(a) = blur(x, max_sigma (1 - a)): from the blurred image at 0 to x at 1
        return (max_sigma * (1.0 - a)).astype(np.float32)

    sums = np.zeros(images.shape, np.float64)
    for first, last, pair_ids, local in core.pair_chunks(
            len(images), len(alphas), prepared.batch_size, verbose, unit="point"):
        part, k = slice(first, last + 1), pair_ids % len(alphas)
        blur_images, blur_sigmas, (at, at_lo, at_hi) = _unique_blurs(
            local, sigma(alphas[k]), sigma(lo[k]), sigma(hi[k]))
        sums[part] += function(
            tf.constant(images[part]), tf.constant(class_idx[part]), tf.constant(blur_images),
            tf.constant(blur_sigmas), tf.constant(at), tf.constant(at_lo), tf.constant(at_hi),
            tf.constant(factors[k].astype(np.float32)), tf.constant(local),
        ).numpy()
    return sums


def integrated_gradients(
    model, images, target=None, *, batch_size=None, baseline=0.0, steps=50, rule="midpoint",
    max_sigma=None, signed=False, verbose=0, attribute=None,
):
    """Integrated Gradients: attributions that add up to the change of the score.

    The attribution of input `i` is `(x_i - x'_i)` times the average gradient
    of the score along the straight path from a baseline `x'` to the image
    `x` (Sundararajan et al., 2017, "Axiomatic Attribution for Deep Networks",
    eq. 1 and section 5). The integral is approximated by `rule` over `steps`
    intervals: the midpoint Riemann sum (points `(k + 0.5) / steps`, the
    default), the left or right Riemann sums (`k / steps`, `(k + 1) /
    steps`), or the trapezoidal rule (`steps + 1` points, the ends weighted
    by half). The signed attributions satisfy *completeness*: they sum to
    `score(x) - score(x')` (the logit of the class, softmax bypassed), up to
    an error that shrinks as `steps` grows (section 5 advises 20 to 300
    steps, and checking the sum is within 5% of the score difference).

    `baseline="blur"` is Blur IG (Xu et al., 2020, "Attribution in Scale and
    Space"): the path runs through the image blurred by a Gaussian of
    standard deviation `max_sigma (1 - a)`, from a fully blurred copy (no
    baseline to choose, no information added) to the image itself; the
    attributions sum to `score(x) - score(blur(x, max_sigma))`. For a
    distribution of baselines, see `expected_gradients`.

    The class for `target=None` is the one predicted for the *clean* image.
    Costs `steps` forward and backward passes per image (`steps + 1` for the
    trapezoidal rule; plus one forward pass when `target=None`); the
    `(image, point)` pairs are batched, at most `batch_size` per compiled
    call, and the path points are built in the graph, so results do not
    depend on `batch_size`.

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target` (a neuron or
            channel of any layer, or a weighted sum).
        batch_size: at most this many model evaluations (path points) per
            compiled call (default: `inputs.default_batch_size`); results do not depend on it.
        baseline: the reference input, in the model's input space
            (`kerasviz.fill`): a float (a constant image), one float per
            channel, an array `[H, W, C]` (the same for every image) or
            `[B, H, W, C]` (one per image), or `"blur"` (Blur IG). The
            default 0.0 is the all-zeros input: a black image only when the
            model's input space maps 0 to black (pixels in [0, 1] or [0,
            255]); for inputs scaled to [-1, 1] or mean-subtracted, 0 is grey
            or the mean image, and black is `kerasviz.fill.black(value_range)`
            (e.g. -1.0 for `"tf"`).
        steps: the number of intervals on the path (the paper: 20 to 300).
        rule: `"midpoint"`, `"left"`, `"right"` or `"trapezoid"`.
        max_sigma: for `baseline="blur"`, the blur at the path's start, in
            pixels (default: 50 at 224 pixels, Xu et al.'s, scaled to the
            image).
        signed: return the attributions `[B, H, W, C]` (these satisfy
            completeness) instead of the map.
        verbose: 0 (silent, the default) or 1: a Keras progress bar over the
            `B * steps` path points.
        attribute: for a model with several inputs (`images` a dict keyed by
            input name, or a list in the order of `model.inputs`): which
            inputs to attribute: None (every image input `[B, H, W, C]`;
            side inputs held at their values along the path), `"all"`, or
            input names or indices. Each attributed input runs from its own
            baseline (`baseline` once for all, or a dict/list with one per
            input). The result then has the structure of `images`: one map
            per attributed image input, the attributions (magnitudes unless
            `signed`) of an attributed side input, None (or no key) for the
            others (Blur IG and `verbose` are for one input only). Must be
            None for a model with one input.

    Returns:
        float32 `[B, H, W]`: the maximum over channels of the absolute
        attribution (or the attributions `[B, H, W, C]` with `signed=True`).

    Raises:
        ValueError, TypeError: invalid `images`, `target`, `batch_size`,
            `baseline`, `steps`, `rule` or `max_sigma`.

    Example:

    >>> attributions = kerasviz.integrated_gradients(model, images, steps=64, signed=True)
    >>> attributions.shape
    (8, 64, 64, 3)
    >>> blur_ig = kerasviz.integrated_gradients(model, images, baseline="blur", rule="trapezoid")
    """
    steps = inputs.check_positive_int(steps, "steps")
    rule = check_rule(rule)
    verbose = progress.check_verbose(verbose)
    if multi_input.is_several(model, images):
        return multi_input_methods.integrated_gradients(
            model, images, target, batch_size=batch_size, baseline=baseline, points=path_points(rule, steps),
            max_sigma=max_sigma, signed=signed, attribute=attribute)
    multi_input.check_single_input_attribute(attribute)
    prepared = core.Prepared(model, images, target, batch_size)
    images = prepared.images
    blur = isinstance(baseline, str) and baseline == fill.BLUR  # Blur IG's path, not a straight line from a blur
    baselines = None if blur else fill.baselines(baseline, images, names=(fill.BLUR,))
    max_sigma = _check_max_sigma(max_sigma, images)
    class_idx = core.predicted_classes(prepared)
    points = path_points(rule, steps)
    if blur:
        attributions = _blur_sums(prepared, class_idx, max_sigma, points, verbose)
    else:
        sums = _straight_sums(prepared, class_idx, baselines, points, verbose)
        attributions = (images.astype(np.float64) - baselines.astype(np.float64)) * sums
    attributions = attributions.astype(np.float32)
    return inputs.warn_if_constant(attributions if signed else core.reduce_map(attributions),
                                   "blur_integrated_gradients" if blur else "integrated_gradients")
