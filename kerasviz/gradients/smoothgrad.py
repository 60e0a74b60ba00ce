"""SmoothGrad: input gradients averaged over noisy copies of each image."""

import math
import numbers

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs
from kerasviz.gradients import core


def _check_noise(noise):
    if (
        isinstance(noise, bool)
        or not isinstance(noise, numbers.Real)
        or not math.isfinite(noise)
        or noise < 0
    ):
        raise ValueError(
            f"Received an invalid value for `noise`: {noise!r}. Expected a non-negative "
            "float: the noise standard deviation as a fraction of the value range "
            "(the paper's best range is 0.1 to 0.2)."
        )
    return float(noise)


MAGNITUDES = ("abs", "square")


def _check_magnitude(magnitude):
    if magnitude is None or magnitude in MAGNITUDES:
        return magnitude
    raise ValueError(
        f"Received an invalid value for `magnitude`: {magnitude!r}. Expected None (the mean "
        f"gradient) or one of {MAGNITUDES} (the mean of |g| or of g^2)."
    )


def _sigmas(images, noise, value_range):
    """Noise standard deviation per image and channel `[B, C]`: `noise * (max - min)`."""
    shape = (len(images), images.shape[-1])
    if value_range is not None:
        spread = np.broadcast_to(value_range.high - value_range.low, shape)
    else:
        flat = images.reshape(len(images), -1).astype(np.float64)
        spread = np.broadcast_to((flat.max(axis=1) - flat.min(axis=1))[:, None], shape)
    return (noise * spread).astype(np.float32)


def smoothgrad(
    model,
    images,
    target=None,
    *,
    batch_size=None,
    samples=25,
    noise=0.15,
    value_range=None,
    seed=0,
    signed=False,
    magnitude=None,
):
    """SmoothGrad: the saliency map averaged over noisy copies of the image.

    Vanilla gradients are visually noisy because the score's gradient
    fluctuates sharply at small scales. SmoothGrad averages the input gradient
    at `samples` copies `x + N(0, sigma^2)` with `sigma = noise * (max - min)`
    (Smilkov et al., 2017, "SmoothGrad: removing noise by adding noise",
    section 3; the noise level is relative to the value range, 10% to 20%
    works best). The class for `target=None` is the one predicted for the
    *clean* image, fixed before the noise is added. Costs `samples` forward
    and backward passes per image (plus one forward pass when `target=None`);
    the `(image, sample)` pairs are batched, at most `batch_size` per compiled
    call, and the noise of each pair is drawn in the graph from `seed` and the
    pair's index, so results do not depend on `batch_size`.

    Signed gradients of noisy copies partly cancel, and on small networks the
    mean of 25 of them can be noisier than the plain gradient. `magnitude`
    averages their sizes instead: `"abs"`, the mean of `|g|` (Smilkov et
    al., 2017, section 4's absolute-value variant), or `"square"`, the mean
    of `g^2` (SmoothGrad-Squared, Hooker et al., 2019, "A Benchmark for
    Interpretability Methods in Deep Neural Networks"; captum's
    `smoothgrad_sq`).

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target` (a neuron or
            channel of any layer, or a weighted sum).
        batch_size: at most this many model evaluations (noisy copies) per
            compiled call (default 32); results do not depend on it.
        samples: the number of noisy copies per image (the paper uses 50;
            the map changes little beyond that).
        noise: the noise standard deviation as a fraction of the value range.
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`) or `(min, max)`, per channel if
            need be; the images must lie in it (else ValueError). `None`
            uses each image's own min and max.
        seed: an int (or `None` for a fresh random seed); the same seed gives
            the same result.
        signed: return the per-channel mean `[B, H, W, C]` instead of the map.
        magnitude: `None` (the mean gradient), `"abs"` (the mean of `|g|`) or
            `"square"` (the mean of `g^2`).

    Returns:
        float32 `[B, H, W]`: the maximum over channels of the absolute mean
        (or `[B, H, W, C]`, the mean itself, with `signed=True`; non-negative
        with a `magnitude`).

    Raises:
        ValueError, TypeError: invalid `images`, `target`, `batch_size`,
            `samples`, `noise`, `value_range`, `seed` or `magnitude`; images
            outside `value_range`.

    Example:

    >>> maps = kerasviz.smoothgrad(model, images, samples=50, noise=0.15,
    ...                            value_range=(0, 255))
    >>> maps.shape
    (8, 64, 64)
    """
    samples = inputs.check_positive_int(samples, "samples")
    noise = _check_noise(noise)
    magnitude = _check_magnitude(magnitude)
    seed = inputs.check_seed(seed)
    prepared = core.Prepared(model, images, target, batch_size)
    images = prepared.images
    value_range = inputs.check_value_range(value_range, images.shape[-1])
    inputs.check_in_range(images, value_range, "images")
    class_idx = core.predicted_classes(prepared)
    sigmas = _sigmas(images, noise, value_range)
    image_shape = images.shape[1:]

    def build(model_ref):
        step = core.gradient_step(model_ref, prepared.target, prepared.capture)

        def noisy_gradient_sums(images, class_idx, sigmas, pair_ids, local, seed):
            noise = core.sample_normal(seed, pair_ids, image_shape)
            scale = tf.gather(sigmas, local)[:, None, None, :]
            noisy = tf.gather(images, local) + scale * noise
            gradients = step(noisy, tf.gather(class_idx, local))[1]
            if magnitude == "abs":
                gradients = tf.abs(gradients)
            elif magnitude == "square":
                gradients = tf.square(gradients)
            return tf.math.unsorted_segment_sum(gradients, local, tf.shape(images)[0])

        return noisy_gradient_sums

    signature = prepared.signature(
        tf.TensorSpec([None, images.shape[-1]], tf.float32),
        tf.TensorSpec([None], tf.int64),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([], tf.int64),
    )
    function = compiled.compiled_function(
        prepared.model, prepared.key("smoothgrad", magnitude), build, signature
    )
    seed_tensor = tf.constant(seed, tf.int64)
    sums = np.zeros(images.shape, np.float64)
    for first, last, pair_ids, local in core.pair_chunks(len(images), samples, prepared.batch_size):
        part = slice(first, last + 1)
        sums[part] += function(
            tf.constant(images[part]),
            tf.constant(class_idx[part]),
            tf.constant(sigmas[part]),
            tf.constant(pair_ids),
            tf.constant(local),
            seed_tensor,
        ).numpy()
    gradients = (sums / samples).astype(np.float32)
    return inputs.warn_if_constant(gradients if signed else core.reduce_map(gradients), "smoothgrad")
