"""Image parameterizations: the variable the optimizer changes, decoded to an image in the graph.

Optimizing pixels directly lets the gradient's high frequencies pile up into
patterns that excite the network but look like noise. Olah, Mordvintsev &
Schubert, 2017 ("Feature Visualization", Distill, section "Preconditioning
and Parameterization") optimize instead

- the image's Fourier spectrum, scaled by `1 / f` so that every frequency
  band has about the same energy per unit of latent change (a
  whitened, decorrelated-in-space basis: steepest ascent in it favours low
  frequencies the way natural images do);
- colours in a decorrelated basis: the square root of the ImageNet colour
  covariance maps latent channels to RGB;
- and keep the image in the valid range with a sigmoid (or a clip).

A `Parameterization` maps a latent `[B, ...]` to *unit* images `[B, H, W, C]`
in `[0, 1]` (`decode`, inside the compiled step) and back (`encode`, to start
from given images). The engine maps unit images onto the model's value range
(`kerasviz.gradients.synthesis.optimize`), so a latent gives the same picture
whatever the model's input convention. Both are exact inverses where the map
is invertible: a spectrum's redundant parts (the imaginary parts of the
self-conjugate frequencies) are the only thing `encode(decode(z))` drops.
"""

import numbers

import numpy as np
import tensorflow as tf

KINDS = ("pixels", "fourier")
SQUASHES = ("sigmoid", "clip")

# The square root of the ImageNet RGB colour covariance (its SVD: U sqrt(S)), as published with Olah et al.,
# 2017; columns are the decorrelated axes (luminance first). A published constant.
COLOR_CORRELATION_SVD_SQRT = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float64
)
# Scaled so that the largest decorrelated axis has unit norm: unit latent steps stay unit colour steps.
COLOR_MATRIX = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))
LEARNING_RATE = 0.05  # Adam's step in latent units, the recipes' default with a parameterization (lucid's)
_EPSILON = 1e-4  # how close to the range's ends `encode` may place a pixel under the sigmoid


def fourier_scale(height, width, decay=1.0):
    """The per-frequency scale of the Fourier parameterization: `1 / max(f, 1 / max(H, W)) ** decay`.

    `f` is the frequency in cycles per pixel of each `rfft2` coefficient
    (`[H, W // 2 + 1]`). The scale is normalized so that a spectrum of
    unit-variance real and imaginary parts gives pixels of about unit
    variance, whatever the image size.
    """
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    frequency = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(frequency, 1.0 / max(height, width)) ** decay
    full = np.sqrt(np.fft.fftfreq(width)[None, :] ** 2 + fy**2)  # the whole spectrum, for the variance
    energy = np.sum((1.0 / np.maximum(full, 1.0 / max(height, width)) ** decay) ** 2)
    return (scale * height * width / np.sqrt(2.0 * energy)).astype(np.float32)


def fourier_decode(spectrum, scale, size):
    """`[B, C, H, W // 2 + 1, 2]` (real, imaginary) spectrum -> `[B, H, W, C]` image: `irfft2(scale * z)`.

    `size` is `(H, W)` (W is not implied by the spectrum's `W // 2 + 1`).
    """
    coefficients = tf.complex(spectrum[..., 0] * scale, spectrum[..., 1] * scale)
    images = tf.signal.irfft2d(coefficients, fft_length=list(size))
    return tf.transpose(images, [0, 2, 3, 1])


# The decode compiled by XLA (scaling, inverse FFT, transpose and their gradients fused): about twice
# as fast on CPU as op by op, equal to float32 rounding.
_fourier_decode_xla = tf.function(fourier_decode, jit_compile=True)  # one trace per shape


def fourier_encode(images, scale):
    """The inverse of `fourier_decode` (numpy): `[B, H, W, C]` -> `[B, C, H, W // 2 + 1, 2]`."""
    coefficients = np.fft.rfft2(np.transpose(images, [0, 3, 1, 2]).astype(np.float64)) / scale
    return np.stack([coefficients.real, coefficients.imag], axis=-1).astype(np.float32)


def _color_matrix(bgr):
    matrix = COLOR_MATRIX[::-1] if bgr else COLOR_MATRIX  # rows are output channels
    return matrix.astype(np.float32)


def decorrelate(images, bgr=False):
    """Decorrelated colours `[..., 3]` -> RGB (or BGR) `[..., 3]`: `x @ M.T`, in the graph."""
    return tf.tensordot(images, tf.constant(_color_matrix(bgr).T), axes=1)


def correlate(images, bgr=False):
    """The inverse of `decorrelate` (numpy): RGB (or BGR) -> decorrelated colours."""
    return (images.astype(np.float64) @ np.linalg.inv(_color_matrix(bgr).astype(np.float64)).T).astype(np.float32)


class Parameterization:
    """How an image is made from the latent the optimizer changes.

    Args:
        kind: `"pixels"` (the latent is the image before squashing) or
            `"fourier"` (its spectrum, scaled by `1 / f ** decay`).
        decorrelate: map latent colours through the ImageNet colour
            correlation (3 channels only). `None`: when the images have 3
            channels.
        squash: `"sigmoid"` (`sigmoid(x)`, always in `[0, 1]`, smooth) or
            `"clip"` (`0.5 + x`, clipped to `[0, 1]`, with a straight-through
            gradient so clipped pixels can come back).
        decay: the exponent of the frequency scaling (`"fourier"` only;
            1.0 as in Olah et al., 2017).

    Raises:
        ValueError: an unknown `kind` or `squash`, a negative `decay`.
    """

    def __init__(self, kind="fourier", *, decorrelate=None, squash="sigmoid", decay=1.0):
        if kind not in KINDS:
            raise ValueError(f"Received an invalid value for `kind`: {kind!r}. Expected one of {KINDS}.")
        if squash not in SQUASHES:
            raise ValueError(f"Received an invalid value for `squash`: {squash!r}. Expected one of {SQUASHES}.")
        if decorrelate not in (None, True, False):
            raise ValueError(f"Received an invalid value for `decorrelate`: {decorrelate!r}. Expected None or a bool.")
        if isinstance(decay, bool) or not isinstance(decay, numbers.Real) or not 0 <= decay < 10:
            raise ValueError(f"Received an invalid value for `decay`: {decay!r}. Expected a number in [0, 10).")
        self.kind, self.decorrelate, self.squash, self.decay = kind, decorrelate, squash, float(decay)

    def bound(self, image_shape, bgr=False):
        """A copy for images `(H, W, C)` with `decorrelate` resolved; raises if it cannot apply."""
        channels = image_shape[-1]
        decorrelated = channels == 3 if self.decorrelate is None else self.decorrelate
        if decorrelated and channels != 3:
            raise ValueError(
                f"Received `decorrelate=True` for images with {channels} channels: colour "
                "decorrelation needs RGB (or BGR) images. Pass `decorrelate=None` or False."
            )
        bound = Parameterization(self.kind, decorrelate=decorrelated, squash=self.squash, decay=self.decay)
        bound.shape, bound.bgr = tuple(image_shape), bool(bgr)
        bound.scale = fourier_scale(*image_shape[:2], self.decay) if self.kind == "fourier" else None
        return bound

    def key(self):
        return (self.kind, self.decorrelate, self.squash, self.decay, getattr(self, "bgr", False))

    def latent_shape(self):
        height, width, channels = self.shape
        if self.kind == "fourier":
            return (channels, height, width // 2 + 1, 2)
        return self.shape

    def decode(self, latent):
        """Latent -> unit images `[B, H, W, C]` in `[0, 1]`, in the graph."""
        x = (_fourier_decode_xla(latent, tf.constant(self.scale), size=tuple(self.shape[:2]))
             if self.kind == "fourier" else latent)
        if self.decorrelate:
            x = decorrelate(x, self.bgr)
        if self.squash == "sigmoid":
            return tf.sigmoid(x)
        x = 0.5 + x
        return x + tf.stop_gradient(tf.clip_by_value(x, 0.0, 1.0) - x)

    def encode(self, unit):
        """The inverse of `decode` (numpy): the latent whose unit image is `unit` (`[B, H, W, C]` in [0, 1])."""
        x = unit.astype(np.float64)
        if self.squash == "sigmoid":
            x = np.clip(x, _EPSILON, 1.0 - _EPSILON)
            x = np.log(x) - np.log1p(-x)
        else:
            x = x - 0.5
        if self.decorrelate:
            x = correlate(x, self.bgr)
        if self.kind == "fourier":
            return fourier_encode(x, self.scale)
        return x.astype(np.float32)

    def __repr__(self):
        return (f"Parameterization({self.kind!r}, decorrelate={self.decorrelate}, squash={self.squash!r}"
                + (f", decay={self.decay:g})" if self.kind == "fourier" else ")"))


LATENT_STD = 0.01  # a random start: a latent this close to 0 decodes to a near-uniform grey (lucid's std)


def random_images(parameterization, count, image_shape, value_range, seed):
    """`count` images `[count, H, W, C]` in `value_range`, decoded from a seeded latent of std `LATENT_STD`.

    A near-grey start: close to the latent's origin a sigmoid-squashed image
    stays away from its saturated ends, where the gradient vanishes.
    """
    bound = get(parameterization).bound(tuple(image_shape), value_range.bgr)
    latent = np.random.default_rng(seed).normal(0.0, LATENT_STD, (count, *bound.latent_shape()))
    unit = bound.decode(tf.constant(latent, tf.float32)).numpy()
    return (value_range.low + unit * (value_range.high - value_range.low)).astype(np.float32)


PRESETS = {
    "pixels": lambda: Parameterization("pixels", decorrelate=False),
    "fourier": lambda: Parameterization("fourier"),
}


def get(parameterization):
    """A `Parameterization` from a preset name (`"pixels"`, `"fourier"`) or a `Parameterization`."""
    if isinstance(parameterization, Parameterization):
        return parameterization
    if isinstance(parameterization, str) and parameterization in PRESETS:
        return PRESETS[parameterization]()
    raise ValueError(
        f"Received an invalid value for `parameterization`: {parameterization!r}. Expected None "
        f"(pixels, normalized gradient ascent), one of {sorted(PRESETS)} or a "
        "`kerasviz.gradients.parameterization.Parameterization`."
    )
