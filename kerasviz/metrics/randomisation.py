"""The randomisation tests of Hedström et al., 2023: smooth MPRT and efficient MPRT.

Beside `sanity_check` (Adebayo et al.'s cascading model-parameter
randomisation test, MPRT) and `random_logit`:

- `smooth_mprt`: MPRT on maps averaged over noisy copies of the image, so
  that the gradient's shattered noise does not pass for a change;
- `efficient_mprt`: one full randomisation, and the rise of the map's
  complexity (a discrete entropy) it brings, no similarity measure to choose.
"""

import functools
import numbers

import numpy as np

from kerasviz import inputs
from kerasviz.gradients import core
from kerasviz.metrics import robustness, sanity


def smoothed(method, samples, noise, seed, value_range=None):
    """`method` averaged over `samples` noisy copies `x + N(0, (noise * spread)^2)` of the images (seeded),
    each clipped into the resolved `value_range` when one is given."""

    @functools.wraps(method)
    def run(model, images, target=None, **kwargs):
        images = np.asarray(images, np.float32)
        spread = float(images.max() - images.min()) or 1.0
        total = 0.0
        for s in range(samples):
            rng = [np.random.default_rng([seed, s, b]) for b in range(len(images))]
            noisy = robustness.clip_to_range(
                images + np.stack([noise * spread * r.standard_normal(images.shape[1:]) for r in rng]), value_range)
            total = total + np.asarray(method(model, noisy, target, **kwargs), np.float64)
        return (total / samples).astype(np.float32)

    return run


def smooth_mprt(model, images, method, target=None, *, samples=8, noise=0.1, layers=None, seed=0,
                batch_size=None, value_range=None) -> np.ndarray:
    """Smooth MPRT: the cascading randomisation test on maps denoised by averaging over noisy copies.

    Hedström et al., 2023 ("Sanity Checks Revisited: An Exploration to
    Repair the Model Parameter Randomisation Test", section 4.1): the maps of
    the original and of each randomised stage are each the mean of
    `samples` maps of noisy copies of the image (Gaussian, std `noise` times
    the images' value spread; SmoothGrad's denoising), then compared as in
    `sanity_check` (Spearman rank correlation of the absolute maps, per
    image); the value is the mean correlation over the stages. A method
    that explains the model falls towards 0: lower is better (it is a sanity
    check: a method at or above `SANITY_THRESHOLD` fails). Costs
    `samples * (1 + len(layers))` calls of `method` per image.

    Args:
        model: a built Keras image model that `keras.models.clone_model` can copy.
        images: `[B, H, W, C]` in the model's own input space.
        method: an attribution method `method(model, images, target, batch_size=...)`.
        target: `None` (the predicted class), an int class or a sequence of ints.
        samples: noisy copies averaged per map (Hedström et al.: 50).
        noise: the noise's std as a fraction of the value spread.
        layers: the layers randomised, in order (as `sanity_check`); default
            every layer with weights, from the output down.
        seed: int seed of the noise and of the re-initialization.
        batch_size: passed on to `method` when given.
        value_range: the model's input range (a preset or `(low, high)`), or
            None: the noisy copies are clipped into it; the images must lie
            inside it.

    Returns:
        float32 `[B]` (NaN where every stage's map is constant).

    Raises:
        TypeError: `method` is not callable.
        ValueError: invalid arguments, or a model that cannot be cloned.

    Example:

    >>> kerasviz.metrics.smooth_mprt(model, images, kerasviz.saliency, layers=["logits", "fc"]).mean()
    """
    robustness.check_method(method)
    samples = inputs.check_positive_int(samples, "samples")
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not 0 < noise < np.inf:
        raise ValueError(f"Received an invalid value for `noise`: {noise!r}. Expected a positive float.")
    seed = inputs.check_seed(seed)
    value_range = robustness.check_range(value_range, inputs.check_images(model, images))
    result = sanity.sanity_check(model, images, smoothed(method, samples, noise, seed, value_range), target, layers=layers,
                                 seed=seed, batch_size=batch_size)
    with np.errstate(invalid="ignore", divide="ignore"):
        valid = np.isfinite(result.correlations)
        return (np.where(valid, result.correlations, 0).sum(0) / valid.sum(0)).astype(np.float32)


def discrete_entropy(maps, bins=100):
    """float64 `[B]`: the entropy of the histogram of each map's values over `bins` equal bins of its range."""
    maps = np.asarray(maps, np.float64).reshape(len(maps), -1)
    out = np.empty(len(maps))
    for b, values in enumerate(maps):
        counts, _ = np.histogram(values, bins=bins)
        p = counts[counts > 0] / counts.sum()
        out[b] = -(p * np.log(p)).sum()
    return out


def efficient_mprt(model, images, method, target=None, *, bins=100, seed=0, batch_size=None) -> np.ndarray:
    """Efficient MPRT: how much more complex the map becomes when every weight is randomised.

    Hedström et al., 2023 ("Sanity Checks Revisited", section 4.2): with the
    complexity `H` of a map the discrete entropy of its histogram (`bins`
    equal bins), `eMPRT = H(e of the fully randomised model) / H(e of the
    model)`. A map that explains the model turns to noise when the model
    does: higher is better (above 1). One randomisation of every layer with
    weights (on the copy `sanity.borrowed_copy` keeps), not a cascade. Costs 2 calls of
    `method` per image.

    Args:
        model: a built Keras image model that `keras.models.clone_model` can copy.
        images: `[B, H, W, C]` in the model's own input space.
        method: an attribution method `method(model, images, target, batch_size=...)`.
        target: `None` (the predicted class), an int class or a sequence of ints.
        bins: the histogram's bins.
        seed: int seed of the re-initialization.
        batch_size: passed on to `method` when given.

    Returns:
        float32 `[B]` (NaN where the original map is constant).

    Raises:
        TypeError: `method` is not callable.
        ValueError: invalid arguments, or a model that cannot be cloned.

    Example:

    >>> kerasviz.metrics.efficient_mprt(model, images, kerasviz.saliency).mean()
    """
    robustness.check_method(method)
    bins = inputs.check_positive_int(bins, "bins")
    prepared = core.Prepared(model, images, target, batch_size)
    fixed = robustness.fixed_target(prepared, target)
    kwargs = {} if batch_size is None else {"batch_size": prepared.batch_size}
    original = method(model, prepared.images, fixed, **kwargs)
    with sanity.borrowed_copy(model, prepared.images) as copy:
        sanity.randomize(model, copy, None, inputs.check_seed(seed))
        randomized = method(copy, prepared.images, fixed, **kwargs)
    before, after = discrete_entropy(original, bins), discrete_entropy(randomized, bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(before > 0, after / before, np.nan).astype(np.float32)
