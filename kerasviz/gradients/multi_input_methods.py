"""Saliency, Gradient x Input, SmoothGrad and Integrated Gradients on a model with several inputs.

The public methods (`kerasviz.saliency`, ...) come here when `images` is a
dict or a list (`kerasviz.gradients.multi_input` says how points are built
and what comes back). Each method's formula is the single-input one, applied
to every attributed input at once, the others held at their values.
"""

import numpy as np

from kerasviz import fill, inputs
from kerasviz.gradients import multi_input, noise_tunnel


def _refuse(argname, value, method):
    raise ValueError(f"Received `{argname}={value!r}` for `{method}` on a model with several inputs: only the "
                     f"default is supported there.")


def _gradients(model, images, target, batch_size, attribute, method):
    prepared = multi_input.MultiPrepared(model, images, target, batch_size, attribute, method)
    sums = multi_input.gradient_sums(prepared, prepared.class_idx, prepared.arrays, np.ones([1]), np.ones([1]))
    return prepared, sums


def saliency(model, images, target=None, *, batch_size=None, signed=False, attribute=None):
    """`kerasviz.saliency` for several inputs: the gradient with respect to each attributed input."""
    prepared, sums = _gradients(model, images, target, batch_size, attribute, "saliency")
    return prepared.result({k: v.astype(np.float32) for k, v in sums.items()}, signed)


def gradient_x_input(model, images, target=None, *, batch_size=None, signed=False, attribute=None):
    """`kerasviz.gradient_x_input` for several inputs: each attributed input times its gradient."""
    prepared, sums = _gradients(model, images, target, batch_size, attribute, "gradient_x_input")
    return prepared.result({k: (v * prepared.arrays[k]).astype(np.float32) for k, v in sums.items()}, signed)


def smoothgrad(model, images, target=None, *, batch_size=None, samples=25, noise=0.15, value_range=None, seed=0,
               signed=False, magnitude=None, attribute=None):
    """`kerasviz.smoothgrad` for several inputs: noise on the attributed inputs only, each at its own scale.

    Each attributed input's noise has the standard deviation `noise * (max -
    min)` of that input's values per example (`value_range`, when given,
    applies to the image inputs); the inputs held fixed get none.
    """
    if magnitude is not None:
        _refuse("magnitude", magnitude, "smoothgrad")
    samples = inputs.check_positive_int(samples, "samples")
    noise = noise_tunnel.check_noise(noise)
    seed = inputs.check_seed(seed)
    prepared = multi_input.MultiPrepared(model, images, target, batch_size, attribute, "smoothgrad")
    sigmas = []
    for array in prepared.arrays:
        declared = inputs.check_value_range(value_range, array.shape[-1]) if array.ndim == 4 else None
        if declared is not None:
            inputs.check_in_range(array, declared, "images")
            spread = np.full(len(array), declared.span)
        else:
            flat = array.reshape(len(array), -1).astype(np.float64)
            spread = flat.max(axis=1) - flat.min(axis=1)
        sigmas.append((noise * spread).astype(np.float32))
    class_idx = multi_input.predicted_classes(prepared)
    sums = multi_input.gradient_sums(prepared, class_idx, prepared.arrays, np.ones([samples]),
                                     np.full([samples], 1.0 / samples), sigmas, seed)
    return prepared.result({k: v.astype(np.float32) for k, v in sums.items()}, signed)


def integrated_gradients(model, images, target, *, batch_size, baseline, points, max_sigma, signed, attribute):
    """`kerasviz.integrated_gradients` for several inputs: each attributed input on its path from its own baseline.

    `baseline` is one value for every attributed input (a number, or what
    `kerasviz.fill.baselines` takes for an image input), or a dict/list in
    the structure of `images` with one per input. The inputs held fixed stay
    at their values along the path, so the attributions of the attributed
    inputs add up to `score(x) - score(x with the attributed inputs at their
    baselines)`. `points`: `integrated.path_points` of the call's rule and steps.
    """
    if max_sigma is not None or isinstance(baseline, str) and baseline == fill.BLUR:
        _refuse("baseline", baseline if max_sigma is None else max_sigma, "integrated_gradients")
    prepared = multi_input.MultiPrepared(model, images, target, batch_size, attribute, "integrated_gradients")
    starts = prepared.starts(baseline, fill.MEAN)
    class_idx = multi_input.predicted_classes(prepared)
    alphas, lo, hi, factors = points
    sums = multi_input.gradient_sums(prepared, class_idx, starts, alphas, factors * (hi - lo))
    return prepared.result({k: ((prepared.arrays[k] - starts[k]) * v).astype(np.float32) for k, v in sums.items()},
                           signed)
