"""Guided Integrated Gradients (Kapishnikov et al., 2021): a path chosen by the gradients."""

import math
import numbers

import numpy as np

from kerasviz import compiled, fill, inputs, progress
from kerasviz.gradients import core


def _check_fraction(value, argname, upper):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not 0 < value <= upper:
        raise ValueError(
            f"Received an invalid value for `{argname}`: {value!r}. Expected a float in (0, {upper}]."
        )
    return float(value)


def _gradient_function(prepared):
    def build(model_ref):
        step = core.gradient_step(model_ref, prepared.target, prepared.capture)
        return lambda points, class_idx: step(points, class_idx)[1]

    return compiled.compiled_function(
        prepared.model, prepared.key("guided_ig_gradients"), build, prepared.signature()
    )


def _group_ends(movable, fraction):
    """Where the rounds of one step end in the order of rising `|gradient|`.

    Each round moves the `fraction` of the features still movable with the
    smallest `|gradient|` (at least one): `int(fraction * (m - 1)) + 1` of
    the `m` left.
    """
    ends, taken = [], 0
    while taken < movable:
        taken += int(fraction * (movable - taken - 1)) + 1
        ends.append(taken)
    return np.asarray(ends)


def _stable_order(values):
    """`np.argsort(values.astype(float32), axis=1, kind="stable")` for non-negative values, twice as fast.

    A non-negative float32's bits, read as an int32, sort as the float does;
    with the index in the low 32 bits every int64 key is distinct, so a plain
    (SIMD) sort of the keys gives the stable order: ties in index order.
    """
    keys = values.astype(np.float32).view(np.int32).astype(np.int64) << 32
    keys |= np.arange(values.shape[1], dtype=np.int64)
    keys.sort(axis=1)
    return keys & 0xFFFFFFFF


def _advance(done, gradients, distance, step, steps, fraction, max_dist):
    """One step of Guided IG for a batch `[B, N]`: returns the new progress of every feature.

    `done[b, i]` in [0, 1] says how far feature `i` has gone from the
    baseline to the input; `distance[b, i] = |x_i - x'_i|`. Features that lag
    more than `max_dist` behind the straight line are brought up to it; then
    round after round (`_group_ends`) the movable features with the smallest
    `|gradient|` move to `max_dist` ahead of the straight line, until the L1
    distance left to the input is `1 - step / steps` of the total (the last
    round only part of the way). The gradient is the one at the step's start,
    so the rounds are found at once, from one sort (ties in index order).
    """
    alpha = step / steps
    low, high = max(alpha - max_dist, 0.0), min(alpha + max_dist, 1.0)
    done = np.maximum(done, low)
    target = distance.sum(axis=1) * (1.0 - alpha)
    excess = np.einsum("bn,bn->b", distance, 1.0 - done) - target
    movable = (done < high) & (distance > 0)
    order = _stable_order(np.where(movable, np.abs(gradients), np.inf))
    room = np.take_along_axis(distance * (high - done), order, axis=1)
    reach = np.cumsum(room, axis=1)
    for b in np.flatnonzero((excess > 1e-9 * np.maximum(target, 1.0)) & movable.any(axis=1)):
        ends = _group_ends(int(movable[b].sum()), fraction)
        last = min(int(np.searchsorted(reach[b, ends - 1], excess[b])), len(ends) - 1)
        start = ends[last - 1] if last else 0
        before = reach[b, start - 1] if start else 0.0
        done[b, order[b, :start]] = high
        part = order[b, start:ends[last]]
        share = min((excess[b] - before) / max(reach[b, ends[last] - 1] - before, 1e-300), 1.0)
        done[b, part] += (high - done[b, part]) * share
    return done


def guided_integrated_gradients(
    model, images, target=None, *, batch_size=None, baseline=0.0, steps=50, fraction=0.25,
    max_dist=0.02, signed=False, verbose=0,
):
    """Guided IG: Integrated Gradients along a path that moves the least important pixels first.

    The straight path of Integrated Gradients crosses regions where the
    gradient is large for reasons unrelated to the input (saturation, out of
    distribution points) and spreads noise over the attributions. Guided IG
    builds the path as it goes (Kapishnikov et al., 2021, "Guided Integrated
    Gradients: an Adaptive Path Method for Removing Noise", Algorithm 1): at
    each of `steps` steps, the `fraction` of the features with the smallest
    absolute gradient move toward the input until the L1 distance left has
    shrunk by `1 / steps` of the total; no feature strays more than
    `max_dist` (a fraction of the way) from the straight line. Attributions
    accumulate `gradient * (x_new - x_old)`, so they sum to `score(x) -
    score(x')` up to the discretization error. The class for `target=None`
    is the one predicted for the clean image.

    Costs `steps` forward and backward passes per image (plus one forward
    pass when `target=None`). The steps depend on each other: each one is one
    compiled call over all images (in chunks of `batch_size`), and the path is
    advanced on the host, so many images at once use the model best.

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        batch_size: at most this many images per compiled call (default: `inputs.default_batch_size`);
            results do not depend on it.
        baseline: the path's start, as in `integrated_gradients`
            (`kerasviz.fill`): a float (default 0.0), one float per channel,
            an array `[H, W, C]` or `[B, H, W, C]`; no `"blur"` (Blur IG's
            path is not a straight start).
        steps: the number of steps (the paper uses 128 to 200).
        fraction: the fraction of the movable features that move in each
            round of a step (the paper's default: 0.25).
        max_dist: how far (as a fraction of the way) any feature may be
            ahead of or behind the straight line (0.02 in the paper; 1.0
            lets the gradient alone choose the path).
        signed: return the attributions `[B, H, W, C]` instead of the map.
        verbose: 0 (silent, the default) or 1: a Keras progress bar over the
            steps.

    Returns:
        float32 `[B, H, W]` (or `[B, H, W, C]` with `signed=True`).

    Raises:
        ValueError, TypeError: invalid `images`, `target`, `batch_size`,
            `baseline`, `steps`, `fraction` or `max_dist`.

    Example:

    >>> maps = kerasviz.guided_integrated_gradients(model, images, steps=128)
    """
    steps = inputs.check_positive_int(steps, "steps")
    fraction = _check_fraction(fraction, "fraction", 1.0)
    max_dist = _check_fraction(max_dist, "max_dist", 1.0)
    verbose = progress.check_verbose(verbose)
    prepared = core.Prepared(model, images, target, batch_size)
    images = prepared.images
    baselines = fill.baselines(baseline, images, names=()).astype(np.float64)
    class_idx = core.predicted_classes(prepared)
    function = _gradient_function(prepared)
    flat_shape = (len(images), -1)
    difference = (images.astype(np.float64) - baselines).reshape(flat_shape)
    distance = np.abs(difference)
    done = np.zeros(difference.shape)
    attributions = np.zeros(difference.shape)
    for step in progress.track(range(1, steps + 1), steps, verbose, unit="step"):
        points = (baselines.reshape(flat_shape) + done * difference).astype(np.float32)
        gradients = core.run_chunks(function, prepared, points.reshape(images.shape), class_idx)
        gradients = gradients.reshape(flat_shape).astype(np.float64)
        moved = _advance(done, gradients, distance, step, steps, fraction, max_dist)
        attributions += gradients * difference * (moved - done)
        done = moved
    attributions = attributions.reshape(images.shape).astype(np.float32)
    return inputs.warn_if_constant(attributions if signed else core.reduce_map(attributions),
                                   "guided_integrated_gradients")
