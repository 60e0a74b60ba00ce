"""How much a map moves when the image barely does: max- and average sensitivity."""

import numbers

import numpy as np

from kerasviz import inputs, targets
from kerasviz.gradients import core


def fixed_target(prepared, target):
    """The target to hand to a method so it explains the class predicted for the clean images."""
    if isinstance(prepared.target, targets.ClassScore):
        return core.predicted_classes(prepared)[:, 0]
    return target


def check_method(method):
    if not callable(method):
        raise TypeError("Expected `method` to be an attribution method such as kerasviz.saliency. "
                        f"Received: method={method!r} of type {type(method).__name__}.")


def check_range(value_range, images):
    """The metric's `value_range` resolved (`inputs.check_value_range`), the clean `images` checked inside it."""
    resolved = inputs.check_value_range(value_range, images.shape[-1])
    inputs.check_in_range(images, resolved, "images")
    return resolved


def clip_to_range(images, value_range):
    """float32 `images` clipped into a resolved `value_range` per channel (unchanged for None).

    The metrics that move an image (noise, translations, imputation) clip
    what they built here, so that a method or a model that refuses inputs
    outside its range (`kerasviz.gradient_shap(value_range=...)`) sees only
    images it accepts. The clean images are never clipped: they are checked.
    """
    if value_range is None:
        return np.asarray(images, np.float32)
    return np.clip(images, value_range.low, value_range.high).astype(np.float32)


def perturbation(seed, sample, image_index, shape, radius):
    """The noise of `sensitivities`' sample `sample` for image `image_index`: uniform in [-radius, radius]."""
    rng = np.random.default_rng([seed, sample, image_index])
    return (radius * (2.0 * rng.random(shape) - 1.0)).astype(np.float32)


def sensitivities(model, images, method, target=None, *, radius=0.05, samples=10, seed=0, batch_size=None,
                  value_range=None):
    """float64 `[B, samples]`: `||method(clip(x + d)) - method(x)|| / ||method(x)||` per image and sample.

    `d` uniform in `radius` times the images' value spread (max - min).
    """
    check_method(method)
    prepared = core.Prepared(model, images, target, batch_size)
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real) or not 0 < radius < np.inf:
        raise ValueError(f"Received an invalid value for `radius`: {radius!r}. Expected a positive float (the "
                         "noise's half-width as a fraction of the images' value spread).")
    samples = inputs.check_positive_int(samples, "samples")
    seed = inputs.check_seed(seed)
    fixed = fixed_target(prepared, target)
    kwargs = {} if batch_size is None else {"batch_size": prepared.batch_size}
    images = prepared.images
    value_range = check_range(value_range, images)
    width = radius * (float(images.max() - images.min()) or 1.0)
    original = np.asarray(method(model, images, fixed, **kwargs), np.float64).reshape(len(images), -1)
    norms = np.linalg.norm(original, axis=1)
    out = np.empty([len(images), samples])
    for s in range(samples):
        noise = np.stack([perturbation(seed, s, b, images.shape[1:], width) for b in range(len(images))])
        noisy = clip_to_range(images + noise, value_range)
        moved = np.asarray(method(model, noisy, fixed, **kwargs), np.float64).reshape(len(images), -1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, s] = np.linalg.norm(moved - original, axis=1) / norms
    return out


def max_sensitivity(model, images, method, target=None, *, radius=0.05, samples=10, seed=0,
                    batch_size=None, value_range=None) -> np.ndarray:
    """Max-sensitivity: the largest relative change of the map under small input noise.

    Yeh et al., 2019, "On the (In)fidelity and Sensitivity of Explanations",
    section 3: `max_{||d||_inf <= r} ||Phi(x + d) - Phi(x)||`, estimated over
    `samples` draws of `d` uniform in the `radius` box, and divided here by
    `||Phi(x)||` so that methods of different scales compare. Lower is more
    robust. Costs `samples + 1` calls of `method` on all the images.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        method: an attribution method `method(model, images, target,
            batch_size=...)`, e.g. `kerasviz.saliency` or
            `functools.partial(kerasviz.smoothgrad, samples=10)`.
        target: `None` (the class predicted for the clean image, kept for
            the perturbed ones), an int class, a sequence of ints, or a
            `kerasviz.targets.Target`.
        radius: the half-width of the uniform noise, as a fraction of the
            images' value spread (max - min over the batch: 0.05 is 5% of
            it, 0.05 on images in [0, 1], 12.75 on raw 0-255 photos), as the
            stability metrics' `noise`.
        samples: noisy copies per image.
        seed: int seed of the noise (per sample and image).
        batch_size: passed on to `method` when given.
        value_range: the model's input range (a preset or `(low, high)`,
            `kerasviz.inputs.check_value_range`), or None: each noisy copy
            is clipped into it (so that a method with a `value_range`, such
            as `gradient_shap`, accepts it); the images must lie inside it.

    Returns:
        float32 `[B]` (NaN for an all-zero map).

    Raises:
        TypeError: `method` is not callable.
        ValueError: invalid `images`, `target`, `radius`, `samples`, `seed`,
            `batch_size` or `value_range`, or images outside `value_range`.

    Example:

    >>> kerasviz.metrics.max_sensitivity(model, images, kerasviz.saliency, radius=0.02)
    """
    return np.max(sensitivities(model, images, method, target, radius=radius, samples=samples, seed=seed,
                                batch_size=batch_size, value_range=value_range), axis=1).astype(np.float32)


def avg_sensitivity(model, images, method, target=None, *, radius=0.05, samples=10, seed=0,
                    batch_size=None, value_range=None) -> np.ndarray:
    """Average sensitivity: the mean relative change of the map under small input noise.

    Bhatt et al., 2020, "Evaluating and Aggregating Feature-based Model
    Explanations", section 4.2: the expectation, over `d` uniform in the
    `radius` box, of `||Phi(x + d) - Phi(x)|| / ||Phi(x)||` (the mean of the
    draws `max_sensitivity` takes the maximum of: with the same arguments,
    the same draws). Lower is more stable. Costs `samples + 1` calls of
    `method` on all the images.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        method: an attribution method `method(model, images, target,
            batch_size=...)`, e.g. `kerasviz.saliency` or
            `functools.partial(kerasviz.smoothgrad, samples=10)`.
        target: `None` (the class predicted for the clean image, kept for
            the perturbed ones), an int class, a sequence of ints, or a
            `kerasviz.targets.Target`.
        radius: the half-width of the uniform noise, as a fraction of the
            images' value spread (max - min over the batch: 0.05 is 5% of
            it, 0.05 on images in [0, 1], 12.75 on raw 0-255 photos), as the
            stability metrics' `noise`.
        samples: noisy copies per image.
        seed: int seed of the noise (per sample and image).
        batch_size: passed on to `method` when given.
        value_range: the model's input range (a preset or `(low, high)`,
            `kerasviz.inputs.check_value_range`), or None: each noisy copy
            is clipped into it (so that a method with a `value_range`, such
            as `gradient_shap`, accepts it); the images must lie inside it.

    Returns:
        float32 `[B]` (NaN for an all-zero map).

    Raises:
        TypeError: `method` is not callable.
        ValueError: invalid `images`, `target`, `radius`, `samples`, `seed`,
            `batch_size` or `value_range`, or images outside `value_range`.

    Example:

    >>> kerasviz.metrics.avg_sensitivity(model, images, kerasviz.smoothgrad)
    """
    return np.mean(sensitivities(model, images, method, target, radius=radius, samples=samples, seed=seed,
                                 batch_size=batch_size, value_range=value_range), axis=1).astype(np.float32)
