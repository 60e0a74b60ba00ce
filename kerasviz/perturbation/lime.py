"""LIME and KernelSHAP on superpixels: a linear surrogate fitted to the model's scores.

Both switch superpixels on (the image's pixels) and off (the baseline's),
score each perturbed image in the compiled graph (`masked.segment_scores`) and
fit one weight per superpixel by regression. They differ in how coalitions are
drawn and weighted, and in the regression.
"""

import math

import numpy as np
from threadpoolctl import threadpool_limits

from kerasviz import fill, inputs, progress
from kerasviz.gradients import core
from kerasviz.perturbation import masked, superpixels as superpixels_module


def _prepare(model, images, target, batch_size, seed, samples, segments, segment_params, baseline):
    prepared = core.Prepared(model, images, target, batch_size, cost="forward")
    samples = inputs.check_positive_int(samples, "samples")
    seed = inputs.check_seed(seed)
    labels = superpixels_module.check_segments(segments, segment_params, prepared.images)
    baselines = fill.baselines(baseline, prepared.images, none=fill.MEAN)
    return prepared, samples, seed, labels, baselines


def _maps(weights, labels, name):
    maps = np.stack([w[s] for w, s in zip(weights, labels)]).astype(np.float32)
    return inputs.warn_if_constant(maps, name)


def _one_blas_thread():
    """A context for the small per-image solves: one BLAS thread.

    OpenBLAS's threads spin-wait for work; on a machine whose cores are busy
    (TensorFlow's own threads, other processes) a 500 x 50 least-squares
    solve then takes hundreds of milliseconds instead of one.
    """
    return threadpool_limits(1, user_api="blas")


def _weighted_ridge(z, y, weights, alpha):
    """Coefficients of `y ~ b + z @ c` by weighted least squares with a ridge `alpha` on `c` (not `b`)."""
    total = weights.sum()
    z_mean, y_mean = weights @ z / total, weights @ y / total
    root = np.sqrt(weights)[:, None]
    design = root * (z - z_mean)
    response = root[:, 0] * (y - y_mean)
    if alpha > 0:
        design = np.concatenate([design, math.sqrt(alpha) * np.eye(z.shape[1])])
        response = np.concatenate([response, np.zeros(z.shape[1])])
    return np.linalg.lstsq(design, response, rcond=None)[0]


def lime(model, images, target=None, *, batch_size=None, seed=0, samples=1000, segments="slic",
         segment_params=None, baseline=None, kernel_width=0.25, alpha=1.0, verbose=0):
    """LIME: the weights of a local linear model of the score over superpixels.

    Ribeiro et al., 2016, "'Why Should I Trust You?': Explaining the
    Predictions of Any Classifier", section 3: each image is cut into
    superpixels (`segments`); `samples` coalitions switch each superpixel on
    or off with probability 1/2 (the first keeps them all); hidden superpixels
    show `baseline`. The target's score (the class logit) of every perturbed
    image is fitted by weighted ridge regression on the coalitions, with the
    proximity kernel `exp(-d^2 / kernel_width^2)`, `d` the cosine distance
    between the coalition and the all-on one (eq. 2 and 3; the paper selects
    K features with LASSO first, here every superpixel keeps its weight).
    Each pixel gets its superpixel's weight. Costs `samples` forward passes
    per image, `batch_size` at a time (plus one for `target=None`), and one
    segmentation per image on the host.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        batch_size: at most this many perturbed images per compiled call
            (default: `inputs.default_batch_size`); results do not depend on it.
        seed: int seed of the coalitions (per image: the same image at the
            same position gets the same coalitions).
        samples: coalitions per image (LIME's image explainer: 1000).
        segments: a segmentation method of `kerasviz.superpixels` ("slic",
            "felzenszwalb", "quickshift") or int labels `[B, H, W]`.
        segment_params: keyword arguments of the segmentation method.
        baseline: what hidden superpixels show, in the model's input space
            (`kerasviz.fill`): `None` (default) or `"mean"` for each image's
            mean colour, a float, one float per channel, an image or images,
            or `"blur"`.
        kernel_width: the width of the proximity kernel.
        alpha: the ridge penalty (0: plain weighted least squares).
        verbose: 0 (silent, the default) or 1: a Keras progress bar over the
            `B * samples` perturbed images.

    Returns:
        float32 `[B, H, W]`: the signed weight of each pixel's superpixel
        (positive: evidence for the target).

    Raises:
        ValueError, TypeError: invalid `images`, `target`, `batch_size`,
            `seed`, `samples`, `segments`, `baseline`, `kernel_width` or `alpha`.

    Example:

    >>> maps = kerasviz.lime(model, images, samples=500, segments="quickshift")
    """
    prepared, samples, seed, labels, baselines = _prepare(
        model, images, target, batch_size, seed, samples, segments, segment_params, baseline)
    kernel_width, alpha = _positive(kernel_width, "kernel_width"), _positive(alpha, "alpha", zero=True)
    verbose = progress.check_verbose(verbose)
    coalitions = []
    for b, k in enumerate(superpixels_module.counts(labels)):
        z = (np.random.default_rng([seed, b]).random((samples, k)) < 0.5).astype(np.float32)
        z[0] = 1.0
        coalitions.append(z)
    scores = masked.segment_scores(prepared, core.predicted_classes(prepared), labels, baselines, coalitions,
                                   verbose=verbose)
    # A score that no coalition changes gives a regression on noise: say so (the fit is near zero, not zero).
    inputs.warn_if_constant(scores, "lime", "score under perturbation")
    weights = []
    with _one_blas_thread():
        for z, y in zip(coalitions, scores.astype(np.float64)):
            on = z.sum(axis=1)
            distance = 1.0 - np.sqrt(on / z.shape[1])  # cosine distance to the all-on coalition
            kernel = np.exp(-distance**2 / kernel_width**2)
            weights.append(_weighted_ridge(z.astype(np.float64), y, kernel, alpha))
    return _maps(weights, labels, "lime")


def _positive(value, argname, zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not zero):
        raise ValueError(f"Received an invalid value for `{argname}`: {value!r}. Expected a "
                         f"{'non-negative' if zero else 'positive'} float.")
    return float(value)


def _shap_coalitions(rng, samples, k):
    """All-on, all-off, then `samples` coalitions with sizes drawn from the Shapley kernel."""
    z = np.zeros((samples + 2, k), np.float32)
    z[0] = 1.0
    if k > 1:
        sizes = np.arange(1, k)
        mass = (k - 1) / (sizes * (k - sizes))  # the kernel's total weight on each size
        drawn = rng.choice(sizes, size=samples, p=mass / mass.sum())
        order = np.argsort(rng.random((samples, k)), axis=1)
        ranks = np.argsort(order, axis=1)
        z[2:] = ranks < drawn[:, None]
    return z


def kernel_shap(model, images, target=None, *, batch_size=None, seed=0, samples=1000, segments="slic",
                segment_params=None, baseline=None, verbose=0):
    """KernelSHAP: Shapley values of the superpixels, estimated by weighted regression.

    Lundberg & Lee, 2017, "A Unified Approach to Interpreting Model
    Predictions", theorem 2: the Shapley values are the solution of a linear
    regression of the score over coalitions weighted by the Shapley kernel
    `(K - 1) / (C(K, |z|) |z| (K - |z|))`, with the all-off coalition fixing
    the intercept `f(baseline)` and the all-on one fixing the sum of the
    values, `f(x) - f(baseline)` (local accuracy). Coalitions are drawn from
    the kernel (a size with probability proportional to the kernel's weight on
    it, then a uniform subset of that size), so the regression is unweighted,
    and the two constraints are solved exactly. Superpixels as for `lime`;
    the score is the target's logit. Costs `samples + 2` forward passes per
    image, `batch_size` at a time (plus one for `target=None`).

    Args:
        model, images, target, batch_size, segments, segment_params, baseline:
            as for `kerasviz.lime`.
        seed: int seed of the coalitions.
        samples: coalitions per image besides the all-on and all-off ones.
        verbose: 0 (silent, the default) or 1: a Keras progress bar over the
            `B * (samples + 2)` perturbed images.

    Returns:
        float32 `[B, H, W]`: the Shapley value of each pixel's superpixel;
        per image, the values of the superpixels sum to `f(x) - f(baseline)`.

    Raises:
        ValueError, TypeError: invalid `images`, `target`, `batch_size`,
            `seed`, `samples`, `segments` or `baseline`.

    Example:

    >>> values = kerasviz.kernel_shap(model, images, samples=2000)
    """
    prepared, samples, seed, labels, baselines = _prepare(
        model, images, target, batch_size, seed, samples, segments, segment_params, baseline)
    verbose = progress.check_verbose(verbose)
    coalitions = [_shap_coalitions(np.random.default_rng([seed, b]), samples, k)
                  for b, k in enumerate(superpixels_module.counts(labels))]
    scores = masked.segment_scores(prepared, core.predicted_classes(prepared), labels, baselines, coalitions,
                                   verbose=verbose)
    with _one_blas_thread():
        values = [_shapley_values(z, y) for z, y in zip(coalitions, scores.astype(np.float64))]
    return _maps(values, labels, "kernel_shap")


def _shapley_values(z, y):
    """KernelSHAP's constrained regression for one image: `[K]` values from coalitions `z` and scores `y`."""
    full, empty = y[0], y[1]
    if z.shape[1] == 1:
        return np.array([full - empty])
    z = z[2:].astype(np.float64)
    # Eliminate the last value with the sum constraint: phi_K = (full - empty) - sum(phi_1..K-1).
    response = y[2:] - empty - z[:, -1] * (full - empty)
    head = np.linalg.lstsq(z[:, :-1] - z[:, -1:], response, rcond=None)[0]
    return np.append(head, (full - empty) - head.sum())
