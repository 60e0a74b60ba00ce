"""Image priors and step rules of the optimization engine (`kerasviz.gradients.synthesis`).

Plain functions of a batch `[B, H, W, C]`, run inside the compiled step:
the Gaussian blur applied every few steps (Yosinski et al., 2015,
"Understanding Neural Networks Through Deep Visualization", section 3), the
total variation prior (Mahendran & Vedaldi, 2015), and the per-image
gradient normalizations of the pixel ascent (mean absolute value, RMS,
sign). The argument checks the recipes share live here too.
"""

import math
import numbers

import numpy as np
import tensorflow as tf

NORMALIZATIONS = ("mean_abs", "l2", "sign")


def check_non_negative(value, argname, integer=False):
    """`value` as a non-negative float (or int), else a ValueError naming `argname`."""
    kinds = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"Received an invalid value for `{argname}`: {value!r}. Expected a non-negative "
            f"{'int' if integer else 'number'}."
        )
    return int(value) if integer else float(value)


def check_learning_rate(learning_rate):
    """A schedule `step -> float` from a positive number or a callable, else a ValueError."""
    if callable(learning_rate):
        return learning_rate
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, numbers.Real)
        or not math.isfinite(learning_rate)
        or learning_rate <= 0
    ):
        raise ValueError(
            f"Received an invalid value for `learning_rate`: {learning_rate!r}. Expected a "
            "positive number or a callable `schedule(step) -> float`."
        )
    return lambda step: learning_rate


def check_normalization(normalize_gradient):
    """`"none"` or one of `NORMALIZATIONS` from `normalize_gradient` (True means `"mean_abs"`)."""
    if normalize_gradient is True:
        return "mean_abs"
    if normalize_gradient is False or normalize_gradient is None:
        return "none"
    if normalize_gradient in NORMALIZATIONS:
        return normalize_gradient
    raise ValueError(
        f"Received an invalid value for `normalize_gradient`: {normalize_gradient!r}. Expected "
        f"True (= 'mean_abs'), False, or one of {NORMALIZATIONS}."
    )


def gaussian_blur(images, sigma):
    """Blurs `[B, H, W, C]` with a Gaussian of `sigma` pixels (reflected borders), in a graph."""
    radius = max(1, int(math.ceil(4 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    channels = images.shape[-1]
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    rows = tf.constant(np.tile(taps.reshape(-1, 1, 1, 1), (1, 1, channels, 1)))
    cols = tf.reshape(rows, [1, -1, channels, 1])
    out = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(out, cols, [1, 1, 1, 1], "VALID")


def total_variation(units):
    """Mean squared difference of neighbouring pixels per image, of unit images (beta = 2).

    Mahendran & Vedaldi, 2015, eq. 4 with beta = 2, normalized by the number
    of pixels and measured in units of the value range as in their section
    3.3 (the engine's images are unit images: `kerasviz.gradients.ascent`).
    """
    dy = units[:, 1:, :-1, :] - units[:, :-1, :-1, :]
    dx = units[:, :-1, 1:, :] - units[:, :-1, :-1, :]
    return tf.reduce_mean(tf.square(dx) + tf.square(dy), axis=[1, 2, 3])


def normalize(gradients, mode):
    """Per-image normalized gradients: by the mean absolute value, the RMS (`"l2"`), or the sign."""
    if mode == "none":
        return gradients
    if mode == "sign":
        return tf.sign(gradients)
    axes = [1, 2, 3]
    if mode == "l2":  # unit RMS: the step's L2 norm is learning_rate * sqrt(pixels)
        scale = tf.sqrt(tf.reduce_mean(tf.square(gradients), axis=axes, keepdims=True))
    else:
        scale = tf.reduce_mean(tf.abs(gradients), axis=axes, keepdims=True)
    return gradients / (scale + 1e-12)
