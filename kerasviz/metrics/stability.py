"""How much a map moves per unit the input, the output or a representation moves: Lipschitz and relative stability.

- `local_lipschitz_estimate` (Alvarez-Melis & Jaakkola, 2018):
  `max ||e(x) - e(x')|| / ||x - x'||`.
- `relative_input_stability`, `relative_output_stability`,
  `relative_representation_stability` (Agarwal et al., 2022): the relative
  change of the map over the relative change of the input, the change of the
  logits, or the relative change of an internal representation.

All take `(model, images, method, target=None, *, samples, noise, seed,
batch_size, value_range)`: `samples` noisy copies `x' = x + N(0, (noise *
spread)^2)` (`spread` the images' max - min), clipped into `value_range`
when it is given (the model's input range: a method or model that refuses
other inputs then accepts them; the distances are those of the clipped
copies), the method explaining the clean image's
class on each; a copy whose predicted class changes is left out (as Agarwal
et al. and Quantus do). Each returns the maximum over the copies, float32
`[B]`, lower is better (NaN where every copy changed class). Cost: `samples`
calls of the method and `samples + 1` forward passes per image.
"""

import numbers

import numpy as np
import tensorflow as tf

from kerasviz import fill, inputs, models
from kerasviz.gradients import core
from kerasviz.metrics import robustness

EPS = 1e-6  # Agarwal et al.'s eps_min: the floor of every denominator


class Draws:
    """The clean and noisy maps, images, logits and (optionally) representations of one stability run."""

    def __init__(self, model, images, method, target, samples, noise, seed, batch_size, layer=None,
                 value_range=None):
        robustness.check_method(method)
        prepared = core.Prepared(model, images, target, batch_size)
        samples = inputs.check_positive_int(samples, "samples")
        seed = inputs.check_seed(seed)
        if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not 0 < noise < np.inf:
            raise ValueError(f"Received an invalid value for `noise`: {noise!r}. Expected a positive float (the "
                             "noise's std as a fraction of the images' value spread).")
        fixed = robustness.fixed_target(prepared, target)
        kwargs = {} if batch_size is None else {"batch_size": prepared.batch_size}
        x = prepared.images
        value_range = robustness.check_range(value_range, x)
        spread = float(x.max() - x.min()) or 1.0
        self.images = x.astype(np.float64).reshape(len(x), -1)
        self.maps = np.asarray(method(model, x, fixed, **kwargs), np.float64).reshape(len(x), -1)
        self.logits = core.model_outputs(prepared, x)[1].astype(np.float64)
        self.layer, self.batch_size = layer, prepared.batch_size
        if layer is not None:
            self.representation = self._representation(model, x, layer)
        self.noisy_images, self.noisy_maps, self.noisy_logits, self.noisy_representations, self.kept = \
            [], [], [], [], []
        predicted = self.logits.argmax(axis=1)
        for s in range(samples):
            rng = [np.random.default_rng([seed, s, b]) for b in range(len(x))]
            noisy = robustness.clip_to_range(
                x + np.stack([noise * spread * r.standard_normal(x.shape[1:]) for r in rng]), value_range)
            logits = core.model_outputs(prepared, noisy)[1].astype(np.float64)
            self.noisy_images.append(noisy.astype(np.float64).reshape(len(x), -1))
            self.noisy_maps.append(np.asarray(method(model, noisy, fixed, **kwargs), np.float64).reshape(len(x), -1))
            self.noisy_logits.append(logits)
            self.kept.append(logits.argmax(axis=1) == predicted)
            if layer is not None:
                self.noisy_representations.append(self._representation(model, noisy, layer))

    def _representation(self, model, images, layer):
        parts = [np.asarray(models.run_layers(model, tf.constant(images[start:stop]), [layer])[layer], np.float64)
                 for start, stop in inputs.batches(len(images), self.batch_size)]
        return np.concatenate(parts).reshape(len(images), -1)

    def worst(self, ratios):
        """The maximum over the kept copies of `ratios` (a list of `[B]`), NaN where none is kept."""
        ratios = np.where(np.stack(self.kept), np.stack(ratios), np.nan)
        valid = np.isfinite(ratios).any(axis=0)
        with np.errstate(invalid="ignore"):
            return np.where(valid, np.nanmax(np.where(np.isnan(ratios), -np.inf, ratios), axis=0), np.nan)


def relative(a, b):
    """`||(a - b) / a||_2` per row, a zero `a` counted as `EPS` (Agarwal et al.'s eq. 2)."""
    return np.linalg.norm((a - b) / np.where(a == 0, EPS, a), axis=1)


def local_lipschitz_estimate(model, images, method, target=None, *, samples=10, noise=0.02, seed=0,
                             batch_size=None, value_range=None) -> np.ndarray:
    """Local Lipschitz estimate: the largest change of the map per unit change of the image.

    Alvarez-Melis & Jaakkola, 2018 ("On the Robustness of Interpretability
    Methods", section 3): `max_{x'} ||e(x) - e(x')||_2 / ||x - x'||_2` over
    noisy copies `x'` near `x`. Lower is more robust. Its scale is that of the
    maps (compare methods on maps of one scale, or use the relative stabilities).

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        method: an attribution method `method(model, images, target, batch_size=...)`.
        target: `None` (the class predicted for the clean image, kept for the
            noisy ones), an int class or a sequence of ints.
        samples: noisy copies per image.
        noise: the noise's std, as a fraction of the images' max - min.
        seed: int seed of the noise.
        batch_size: passed on to `method` and the forward passes.
        value_range: the model's input range (a preset or `(low, high)`), or
            None: the noisy copies are clipped into it; the images must lie
            inside it.

    Returns:
        float32 `[B]`.

    Raises:
        TypeError: `method` is not callable.
        ValueError: invalid arguments.

    Example:

    >>> kerasviz.metrics.local_lipschitz_estimate(model, images, kerasviz.saliency).mean()
    """
    draws = Draws(model, images, method, target, samples, noise, seed, batch_size, value_range=value_range)
    ratios = [np.linalg.norm(draws.maps - m, axis=1) / np.maximum(np.linalg.norm(draws.images - x, axis=1), EPS)
              for m, x in zip(draws.noisy_maps, draws.noisy_images)]
    return draws.worst(ratios).astype(np.float32)


def relative_input_stability(model, images, method, target=None, *, samples=10, noise=0.02, seed=0,
                             batch_size=None, value_range=None) -> np.ndarray:
    """Relative input stability (RIS): the map's relative change over the image's relative change.

    Agarwal et al., 2022 ("Rethinking Stability for Attribution-based
    Explanations", eq. 2): `max_{x'} ||(e_x - e_x') / e_x||_2 /
    max(||(x - x') / x||_2, eps)` over noisy copies with the same predicted
    class. Lower is more stable. Arguments, returns and cost as
    `local_lipschitz_estimate`.

    Example:

    >>> kerasviz.metrics.relative_input_stability(model, images, kerasviz.integrated_gradients).mean()
    """
    draws = Draws(model, images, method, target, samples, noise, seed, batch_size, value_range=value_range)
    ratios = [relative(draws.maps, m) / np.maximum(relative(draws.images, x), EPS)
              for m, x in zip(draws.noisy_maps, draws.noisy_images)]
    return draws.worst(ratios).astype(np.float32)


def relative_output_stability(model, images, method, target=None, *, samples=10, noise=0.02, seed=0,
                              batch_size=None, value_range=None) -> np.ndarray:
    """Relative output stability (ROS): the map's relative change over the change of the logits.

    Agarwal et al., 2022, eq. 5: `max_{x'} ||(e_x - e_x') / e_x||_2 /
    max(||h(x) - h(x')||_2, eps)`, `h` the logits (behind a final softmax).
    Lower is more stable. Arguments, returns and cost as
    `local_lipschitz_estimate`.

    Example:

    >>> kerasviz.metrics.relative_output_stability(model, images, kerasviz.saliency).mean()
    """
    draws = Draws(model, images, method, target, samples, noise, seed, batch_size, value_range=value_range)
    ratios = [relative(draws.maps, m) / np.maximum(np.linalg.norm(draws.logits - h, axis=1), EPS)
              for m, h in zip(draws.noisy_maps, draws.noisy_logits)]
    return draws.worst(ratios).astype(np.float32)


def relative_representation_stability(model, images, method, target=None, *, layer=None, samples=10, noise=0.02,
                                      seed=0, batch_size=None, value_range=None) -> np.ndarray:
    """Relative representation stability (RRS): the map's relative change over a layer's relative change.

    Agarwal et al., 2022, eq. 4: `max_{x'} ||(e_x - e_x') / e_x||_2 /
    max(||(L_x - L_x') / L_x||_2, eps)`, `L` the output of `layer` (default:
    the classifier's input, the `"embedding"` layer of
    `kerasviz.models.default_layer`). Lower is more stable. Costs, on top of
    `local_lipschitz_estimate`'s, `samples + 1` passes to `layer`.

    Args:
        layer: a layer name or path; default the classifier's input.
        model, images, method, target, samples, noise, seed, batch_size,
            value_range: as for `local_lipschitz_estimate`.

    Example:

    >>> kerasviz.metrics.relative_representation_stability(model, images, kerasviz.saliency).mean()
    """
    prepared_shape = inputs.check_images(model, images).shape[1:]
    path = models.default_layer(model, "embedding", prepared_shape) if layer is None else models.get_layer(
        model, layer)[0]
    draws = Draws(model, images, method, target, samples, noise, seed, batch_size, layer=path,
                  value_range=value_range)
    ratios = [relative(draws.maps, m) / np.maximum(relative(draws.representation, r), EPS)
              for m, r in zip(draws.noisy_maps, draws.noisy_representations)]
    return draws.worst(ratios).astype(np.float32)


def translated(images, shift, baseline):
    """`images` moved `shift` pixels to the right (left for a negative shift), the uncovered columns `baseline`."""
    out = np.array(baseline, np.float32, copy=True) * np.ones_like(images)
    if shift >= 0:
        out[:, :, shift:] = images[:, :, :images.shape[2] - shift]
    else:
        out[:, :, :shift] = images[:, :, -shift:]
    return out


def continuity(model, images, method, target=None, *, shifts=(-4, -2, -1, 1, 2, 4), baseline=0.0,
               batch_size=None, value_range=None) -> np.ndarray:
    """Continuity: the largest change of the (normalised) map per unit change of a slightly translated image.

    Montavon et al., 2018 ("Methods for Interpreting and Understanding Deep
    Neural Networks", section 5.2: an explanation should be continuous,
    `max ||R(x) - R(x')||_1 / ||x - x'||_2` for nearby `x'`), with Quantus's
    nearby images: `x'` is `x` translated sideways by each of `shifts` pixels
    (the uncovered columns `baseline`, `kerasviz.fill`), maps taken as
    magnitudes over their maximum; a translation that changes the predicted
    class is left out. Lower is better. Costs `len(shifts)` calls of
    `method` and `len(shifts) + 1` forward passes per image.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        method: an attribution method `method(model, images, target, batch_size=...)`.
        target: `None` (the class predicted for the clean image), an int class or a sequence of ints.
        shifts: the translations, in pixels (nonzero, smaller than the width).
        baseline: what uncovered pixels become (`kerasviz.fill`), default 0.0.
        batch_size: passed on to `method` and the forward passes.
        value_range: the model's input range (a preset or `(low, high)`), or
            None: the translated images are clipped into it (only a
            `baseline` outside the range moves; the images' own pixels are
            inside it, as they must be).

    Returns:
        float32 `[B]` (NaN where every translation changes the class).

    Raises:
        TypeError: `method` is not callable.
        ValueError: invalid arguments.

    Example:

    >>> kerasviz.metrics.continuity(model, images, kerasviz.grad_cam).mean()
    """
    robustness.check_method(method)
    prepared = core.Prepared(model, images, target, batch_size)
    x = prepared.images
    value_range = robustness.check_range(value_range, x)
    values = [int(s) for s in shifts] if np.iterable(shifts) and not isinstance(shifts, str) else []
    if not values or any(s == 0 or abs(s) >= x.shape[2] or s != t for s, t in zip(values, shifts)):
        raise ValueError(f"Received an invalid value for `shifts`: {shifts!r}. Expected nonzero ints smaller than "
                         f"the width {x.shape[2]}.")
    base = fill.baselines(baseline, x)
    fixed = robustness.fixed_target(prepared, target)
    kwargs = {} if batch_size is None else {"batch_size": prepared.batch_size}

    def normalised(v):
        v = np.abs(np.asarray(v, np.float64)).reshape(len(x), -1)
        peak = v.max(axis=1, keepdims=True)
        return v / np.where(peak > 0, peak, 1.0)

    original = normalised(method(model, x, fixed, **kwargs))
    predicted = core.model_outputs(prepared, x)[1].argmax(axis=1)
    ratios, kept = [], []
    for shift in values:
        moved = robustness.clip_to_range(translated(x, shift, base), value_range)
        maps = normalised(method(model, moved, fixed, **kwargs))
        distance = np.linalg.norm((x - moved).reshape(len(x), -1).astype(np.float64), axis=1)
        ratios.append(np.abs(original - maps).sum(axis=1) / np.maximum(distance, EPS))
        kept.append(core.model_outputs(prepared, moved)[1].argmax(axis=1) == predicted)
    ratios = np.where(np.stack(kept), np.stack(ratios), -np.inf).max(axis=0)
    return np.where(np.isfinite(ratios), ratios, np.nan).astype(np.float32)
