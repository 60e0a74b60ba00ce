"""Transformation robustness: small random changes of the image at every optimization step.

An image that excites a unit only at one exact position, scale and angle is
an adversarial pattern, not a feature. Optimizing through random padding,
jitter, scaling and rotation drawn anew at every step keeps what survives
them (Mordvintsev et al., 2018, "Differentiable Image Parameterizations",
Distill; Olah et al., 2017, "Feature Visualization", section
"Transformation robustness").

Each transform is a plain, differentiable function `t(images, seed) ->
images` of a batch `[B, H, W, C]` and a stateless seed (an int64 `[2]`
tensor), run inside the compiled step: same seed, same result. Each image
of the batch gets its own draw. Geometric transforms resample bilinearly with
reflected borders, around the image centre, and keep the image size;
`pad` grows it, and `compose` crops the result back to the model's size.
"""

import math
import numbers

import tensorflow as tf


def _check(value, argname, minimum, integer=False):
    kinds = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) or value < minimum:
        raise ValueError(
            f"Received an invalid value for `{argname}`: {value!r}. Expected "
            f"{'an int' if integer else 'a number'} >= {minimum}."
        )
    return int(value) if integer else float(value)


def _reflect(coordinates, size):
    """Coordinates folded into `[0, size - 1]` by reflection about the edge pixels."""
    if size == 1:
        return tf.zeros_like(coordinates)
    period = 2.0 * (size - 1)
    folded = tf.math.floormod(coordinates, period)
    return tf.where(folded > size - 1, period - folded, folded)


def _sample(images, ys, xs):
    """Bilinear samples of `images` `[B, H, W, C]` at float positions `ys`, `xs` `[B, H', W']`."""
    height, width = images.shape[1], images.shape[2]
    ys, xs = _reflect(ys, height), _reflect(xs, width)
    y0, x0 = tf.floor(ys), tf.floor(xs)
    wy, wx = (ys - y0)[..., None], (xs - x0)[..., None]
    y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    y1, x1 = tf.minimum(y0 + 1, height - 1), tf.minimum(x0 + 1, width - 1)
    flat = tf.reshape(images, [-1, images.shape[3]])  # flat gathers: their gradient is a cheap segment sum
    base = (tf.range(tf.shape(images)[0]) * (height * width))[:, None, None]

    def at(y, x):
        return tf.gather(flat, base + y * width + x)

    top = at(y0, x0) * (1.0 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1.0 - wx) + at(y1, x1) * wx
    return top * (1.0 - wy) + bottom * wy


def affine(images, matrices, shifts, size=None):
    """Resamples each image at `matrices @ (p - centre) + centre + shifts` for every output pixel `p`.

    Args:
        images: `[B, H, W, C]`.
        matrices: `[B, 2, 2]` maps from output to input offsets, in (y, x) order.
        shifts: `[B, 2]` (y, x) translations in pixels.
        size: `(h, w)` of the output (default `(H, W)`), centred on the input's centre.
    """
    height, width = images.shape[1], images.shape[2]
    out_h, out_w = size or (height, width)
    grid_y, grid_x = tf.meshgrid(tf.range(out_h, dtype=tf.float32), tf.range(out_w, dtype=tf.float32), indexing="ij")
    offsets = tf.stack([grid_y - (out_h - 1) / 2.0, grid_x - (out_w - 1) / 2.0], axis=-1)  # [h, w, 2]
    source = tf.einsum("bij,hwj->bhwi", matrices, offsets) + shifts[:, None, None, :]
    return _sample(images, source[..., 0] + (height - 1) / 2.0, source[..., 1] + (width - 1) / 2.0)


# The resampling compiled by XLA: its few dozen small elementwise ops and gathers (and their gradients)
# fused into a handful of kernels, about 3x faster on CPU than op by op; the random draws stay outside it.
_affine_xla = tf.function(affine, jit_compile=True)  # one trace per shape: channels stay static


class Transform:
    """A seeded transform `t(images, seed) -> images`; `key()` names its static parameters.

    Geometric transforms define `matrices(batch, seed) -> ([B, 2, 2], [B, 2])`
    (output to input offsets about the centre); `compose` fuses consecutive
    ones into one resampling, so an image is interpolated once per step.
    """

    def __call__(self, images, seed):
        return affine(images, *self.matrices(tf.shape(images)[0], seed))

    def key(self):
        return (type(self).__name__,) + tuple(vars(self).values())

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class Pad(Transform):
    """Pads `width` pixels on each side: reflected, or a constant `value` of the unit image (0.5: the range's centre).

    The engine transforms unit images (`kerasviz.gradients.ascent`): `value`
    is in units of the value range, whatever the model's input convention.
    """

    def __init__(self, width, value=None):
        self.width = _check(width, "width", 0, integer=True)
        self.value = None if value is None else _check(value, "value", -math.inf)

    def __call__(self, images, seed):
        paddings = [[0, 0], [self.width, self.width], [self.width, self.width], [0, 0]]
        if self.value is None:
            return tf.pad(images, paddings, mode="SYMMETRIC")
        return tf.pad(images, paddings, constant_values=self.value)


class Jitter(Transform):
    """Shifts each image by a random whole number of pixels in `[-pixels, pixels]` along each axis."""

    def __init__(self, pixels):
        self.pixels = _check(pixels, "pixels", 0, integer=True)

    def matrices(self, batch, seed):
        shifts = tf.random.stateless_uniform(
            [batch, 2], seed, minval=-self.pixels, maxval=self.pixels + 1, dtype=tf.int32)
        return tf.eye(2, batch_shape=[batch]), tf.cast(shifts, tf.float32)


class RandomScale(Transform):
    """Zooms each image by a factor drawn uniformly from `[low, high]` (> 1 enlarges)."""

    def __init__(self, low=0.9, high=1.1):
        self.low, self.high = _check(low, "low", 1e-3), _check(high, "high", 1e-3)
        if self.high < self.low:
            raise ValueError(f"Received `low={low!r}` > `high={high!r}`: expected low <= high.")

    def matrices(self, batch, seed):
        factors = tf.random.stateless_uniform([batch], seed, self.low, self.high)
        return tf.eye(2, batch_shape=[batch]) / factors[:, None, None], tf.zeros([batch, 2])


class RandomRotate(Transform):
    """Rotates each image by an angle drawn uniformly from `[-degrees, degrees]`."""

    def __init__(self, degrees=10.0):
        self.degrees = _check(degrees, "degrees", 0)

    def matrices(self, batch, seed):
        angles = tf.random.stateless_uniform([batch], seed, -self.degrees, self.degrees) * (math.pi / 180.0)
        cos, sin = tf.cos(angles), tf.sin(angles)
        return tf.reshape(tf.stack([cos, sin, -sin, cos], axis=-1), [batch, 2, 2]), tf.zeros([batch, 2])


def standard(image_shape):
    """Lucid's standard robustness chain (Olah et al., 2017), in pixels scaled to the image side.

    At a side of 128 pixels: pad 12 (reflected), jitter 8, scale 0.9-1.1,
    rotate +-10 degrees, jitter 4; at other sizes the pixel amounts scale
    with `min(H, W) / 128` (at least 1).
    """
    side = min(image_shape[:2])
    pixels = lambda amount: max(1, int(round(amount * side / 128)))  # noqa: E731
    return (Pad(pixels(12)), Jitter(pixels(8)), RandomScale(0.9, 1.1), RandomRotate(10.0), Jitter(pixels(4)))


def check_transforms(transforms, image_shape):
    """`None` -> `()`, `"standard"` -> `standard(image_shape)`, else a tuple of `Transform`s."""
    if transforms is None:
        return ()
    if isinstance(transforms, str):
        if transforms != "standard":
            raise ValueError(
                f"Received an invalid value for `transforms`: {transforms!r}. Expected None, "
                "'standard' or a sequence of `kerasviz.gradients.transforms.Transform`s.")
        return standard(image_shape)
    transforms = tuple(transforms) if isinstance(transforms, (list, tuple)) else (transforms,)
    bad = [t for t in transforms if not isinstance(t, Transform)]
    if bad:
        raise TypeError(
            f"Received an invalid value for `transforms`: {bad[0]!r} is not a "
            "`kerasviz.gradients.transforms.Transform` (Pad, Jitter, RandomScale, RandomRotate).")
    return transforms


def compose(transforms, images, seed, size):
    """Applies `transforms` in order (each with its own seed split from `seed`), cropped to `size` about the centre.

    Consecutive geometric transforms are fused into one affine map (the
    later one's output offsets pulled back through the earlier ones), so the
    images are resampled once, directly at `size`. A reflected `Pad` costs
    nothing (the resampling reflects at the borders already: the pixels a
    later jitter brings in are those it would add); a constant one pads.
    Equal in distribution to applying them one by one, with a single
    bilinear interpolation instead of several, compiled by XLA.
    """
    if not transforms:
        return images
    seeds = tf.random.experimental.stateless_split(seed, num=len(transforms))
    batch = tf.shape(images)[0]
    pending = None  # (matrices, shifts): output offsets of the fused run -> offsets in `images`
    for k, transform in enumerate(transforms):
        if isinstance(transform, Pad):
            if transform.value is None:  # reflected: what resampling with reflected borders already reads
                continue
            if pending is not None:
                images, pending = _affine_xla(images, *pending), None
            images = transform(images, seeds[k])
            continue
        matrices, shifts = transform.matrices(batch, seeds[k])
        if pending is not None:  # p -> A_k p + t_k, then through the earlier ones: A (A_k p + t_k) + t
            matrices, shifts = pending[0] @ matrices, tf.einsum("bij,bj->bi", pending[0], shifts) + pending[1]
        pending = (matrices, shifts)
    if pending is not None:
        return _affine_xla(images, *pending, size=tuple(size))
    top, left = (images.shape[1] - size[0]) // 2, (images.shape[2] - size[1]) // 2
    return images[:, top:top + size[0], left:left + size[1], :]
