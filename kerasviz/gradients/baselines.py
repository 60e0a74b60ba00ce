"""Integrated Gradients without one chosen baseline: Blur IG, Expected Gradients and GradientShap."""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, progress
from kerasviz.gradients import core, noise_tunnel
from kerasviz.gradients.integrated import integrated_gradients


def blur_integrated_gradients(
    model, images, target=None, *, batch_size=None, steps=50, rule="midpoint", max_sigma=None,
    signed=False, verbose=0,
):
    """Blur IG: Integrated Gradients along a path of ever less blurred images.

    `integrated_gradients(..., baseline="blur")`: the path `gamma(a) =
    blur(x, max_sigma (1 - a))` runs from the image under a wide Gaussian
    blur to the image itself, so no baseline image is chosen and none of the
    path's points adds information that is not in the image (Xu et al.,
    2020, "Attribution in Scale and Space", section 3). The attributions sum
    to `score(x) - score(blur(x, max_sigma))`. Costs `steps` forward and
    backward passes per image (`steps + 1` for the trapezoidal rule; plus one
    forward pass when `target=None`), and separable blurs in the graph: the
    point and its segment's ends, each distinct blur once (about two per
    point for the midpoint rule, one for the trapezoidal rule).

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        batch_size: at most this many path points per compiled call (default:
            `inputs.default_batch_size`); results do not depend on it.
        steps: the number of intervals on the path.
        rule: `"midpoint"`, `"left"`, `"right"` or `"trapezoid"`.
        max_sigma: the blur at the path's start, in pixels (default: 50 at
            224 pixels, as Xu et al., scaled to the image).
        signed: return the attributions `[B, H, W, C]` instead of the map.
        verbose: 0 (silent, the default) or 1: a Keras progress bar.

    Returns:
        float32 `[B, H, W]` (or `[B, H, W, C]` with `signed=True`).

    Raises:
        ValueError, TypeError: as `integrated_gradients`.

    Example:

    >>> maps = kerasviz.blur_integrated_gradients(model, images, steps=32)
    """
    return integrated_gradients(
        model, images, target, batch_size=batch_size, baseline="blur", steps=steps, rule=rule,
        max_sigma=max_sigma, signed=signed, verbose=verbose,
    )


def expected_gradients(
    model, images, target=None, *, batch_size=None, references=None, samples=50, seed=0, signed=False,
    verbose=0,
):
    """Expected Gradients: Integrated Gradients averaged over a distribution of baselines.

    The attribution is `E_{x' ~ D, a ~ U(0, 1)} [(x - x') * grad S(x' + a
    (x - x'))]`, estimated with `samples` draws of a reference image `x'`
    from `references` and a point `a` on the path, one gradient each (Erion
    et al., 2021, "Improving performance of deep learning models with axiomatic
    attribution priors and expected gradients", eq. 3). No single baseline
    decides what counts as missing; the attributions sum, in expectation, to
    `score(x) - E[score(x')]`. The draws are made from `seed` for all pairs at
    once, so results do not depend on `batch_size`. The class for
    `target=None` is the one predicted for the clean image. Costs `samples`
    forward and backward passes per image (plus one forward pass when
    `target=None`).

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        batch_size: at most this many model evaluations per compiled call
            (default: `inputs.default_batch_size`); results do not depend on it.
        references: `[N, H, W, C]` images of the background distribution, in
            the model's input space (Erion et al. use training images).
            Default: the `images` of the call themselves (then an image may
            draw itself, a zero term; refused for a single image, whose
            every term would be zero).
        samples: the number of `(reference, point)` draws per image.
        seed: an int (or `None` for a fresh random seed); the same seed gives
            the same result.
        signed: return the attributions `[B, H, W, C]` instead of the map.
        verbose: 0 (silent, the default) or 1: a Keras progress bar.

    Returns:
        float32 `[B, H, W]` (or `[B, H, W, C]` with `signed=True`).

    Raises:
        ValueError, TypeError: invalid `images`, `target`, `batch_size`,
            `references`, `samples` or `seed`.

    Example:

    >>> maps = kerasviz.expected_gradients(model, images, references=x_train[:100])
    """
    return _expected(model, images, target, batch_size, references, samples, seed, None, None, signed, verbose,
                     "expected_gradients")


def gradient_shap(
    model, images, target=None, *, batch_size=None, references=None, samples=50, noise=0.1, value_range=None,
    seed=0, signed=False, verbose=0,
):
    """GradientShap: Expected Gradients from noisy copies of the image.

    Each of `samples` draws takes a reference `x'` from `references`, a
    noisy copy `x~ = x + N(0, sigma^2)` of the image (`sigma = noise *
    (max - min)` of the value range, as SmoothGrad's), and a point `a ~ U(0,
    1)`, and adds `(x~ - x') * grad S(x' + a (x~ - x'))`; the attribution is
    the mean (Lundberg & Lee, 2017, "A Unified Approach to Interpreting Model
    Predictions", the expected-gradients approximation of SHAP values with
    SmoothGrad's local smoothing, as in the SHAP library's GradientExplainer
    and captum's GradientShap). With `noise=0` it is `expected_gradients`.
    The attributions sum, in expectation, to `E[score(x~)] - E[score(x')]`.
    The draws and the noise come from `seed` and each sample's global index,
    so results do not depend on `batch_size`. The class for `target=None`
    is the one predicted for the clean image. Costs `samples` forward and
    backward passes per image (plus one forward pass when `target=None`).

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        batch_size: at most this many model evaluations per compiled call
            (default: `inputs.default_batch_size`); results do not depend on it.
        references: `[N, H, W, C]` images of the background distribution
            (default: the `images` of the call), as `expected_gradients`.
        samples: the number of `(reference, noise, point)` draws per image.
        noise: the noise standard deviation as a fraction of the value
            range (0 for none).
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`) or `(low, high)`; `None` uses each image's own range.
        seed: an int (or `None` for a fresh random seed).
        signed: return the attributions `[B, H, W, C]` instead of the map.
        verbose: 0 (silent, the default) or 1: a Keras progress bar.

    Returns:
        float32 `[B, H, W]` (or `[B, H, W, C]` with `signed=True`).

    Raises:
        ValueError, TypeError: invalid `images`, `target`, `batch_size`,
            `references`, `samples`, `noise`, `value_range` or `seed`;
            images outside `value_range`.

    Example:

    >>> maps = kerasviz.gradient_shap(model, images, references=x_train[:100], noise=0.1)
    """
    noise = noise_tunnel.check_noise(noise)
    return _expected(model, images, target, batch_size, references, samples, seed, noise, value_range, signed,
                     verbose, "gradient_shap")


@compiled.elementwise
def _noisy_path(ends, starts, alphas, sigmas, uniform):
    """`(x - x', x' + a (x - x'))` of each pair, stacked, from the noisy image `x = image + sigma n`
    (GradientShap), `n` the normal quantiles of `uniform`: one XLA loop with the noise's own."""
    difference = ends + sigmas[:, None, None, :] * core.normal_quantiles(uniform) - starts
    return tf.stack([difference, starts + tf.reshape(alphas, [-1, 1, 1, 1]) * difference])


def _expected(model, images, target, batch_size, references, samples, seed, noise, value_range, signed, verbose,
              name):
    """Expected Gradients, from noisy copies of the images when `noise` (GradientShap)."""
    samples = inputs.check_positive_int(samples, "samples")
    seed = inputs.check_seed(seed)
    verbose = progress.check_verbose(verbose)
    prepared = core.Prepared(model, images, target, batch_size)
    images = prepared.images
    sigmas = np.zeros((len(images), images.shape[-1]), np.float32)
    if noise:
        value_range = inputs.check_value_range(value_range, images.shape[-1])
        inputs.check_in_range(images, value_range, "images")
        sigmas = noise_tunnel.noise_sigmas(images, noise, value_range)
    if references is None:
        references = inputs.images_as_references(images, name)
    else:
        references = inputs.check_images(prepared.model, references, "references")
        if references.shape[1:] != images.shape[1:]:
            raise ValueError(
                f"Received `references` of shape {references.shape}. Expected images of the shape of "
                f"`images`, [N, *{images.shape[1:]}]."
            )
    class_idx = core.predicted_classes(prepared)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(references), len(images) * samples)
    alphas = rng.uniform(0.0, 1.0, len(images) * samples).astype(np.float32)
    image_shape = images.shape[1:]

    def build(model_ref):
        step = core.gradient_step(model_ref, prepared.target, prepared.capture)

        def expected_sums(images, class_idx, references, drawn, alphas, local, sigmas, pair_ids, seed):
            ends, starts = tf.gather(images, local), tf.gather(references, drawn)
            if noise:  # traced only for GradientShap: Expected Gradients keeps its graph
                difference, points = tf.unstack(_noisy_path(
                    ends, starts, alphas, tf.gather(sigmas, local), core.sample_uniform(seed, pair_ids, image_shape)))
            else:
                difference = ends - starts
                points = starts + tf.reshape(alphas, [-1, 1, 1, 1]) * difference
            gradients = step(points, tf.gather(class_idx, local))[1]
            return tf.math.unsorted_segment_sum(difference * gradients, local, tf.shape(images)[0])

        return expected_sums

    signature = prepared.signature(
        tf.TensorSpec([None, *images.shape[1:]], tf.float32),
        tf.TensorSpec([None], tf.int64),
        tf.TensorSpec([None], tf.float32),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None, images.shape[-1]], tf.float32),
        tf.TensorSpec([None], tf.int64),
        tf.TensorSpec([], tf.int64),
    )
    function = compiled.compiled_function(
        prepared.model, prepared.key("expected_gradients", bool(noise)), build, signature
    )
    sums = np.zeros(images.shape, np.float64)
    references = tf.constant(references)  # once: each chunk gathers its draws in the graph
    for first, last, pair_ids, local in core.pair_chunks(
            len(images), samples, prepared.batch_size, verbose, unit="sample"):
        part = slice(first, last + 1)
        sums[part] += function(
            tf.constant(images[part]), tf.constant(class_idx[part]), references, tf.constant(drawn[pair_ids]),
            tf.constant(alphas[pair_ids]), tf.constant(local), tf.constant(sigmas[part]), tf.constant(pair_ids),
            tf.constant(seed % 2**63, tf.int64),
        ).numpy()
    attributions = (sums / samples).astype(np.float32)
    return inputs.warn_if_constant(attributions if signed else core.reduce_map(attributions), name)
