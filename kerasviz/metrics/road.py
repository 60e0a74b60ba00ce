"""ROAD: remove and debias, removal by noisy linear imputation (Rong et al., 2022)."""

import numbers

import numpy as np

from kerasviz import inputs
from kerasviz.metrics import faithfulness, faithfulness_curves, perturbed, robustness


def road(model, images, maps, target=None, *, order="morf", fractions=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
         noise=0.01, iterations=100, seed=0, batch_size=None, value_range=None) -> np.ndarray:
    """ROAD: the mean class probability with the map's top (or bottom) pixels imputed from their neighbours.

    Rong et al., 2022 ("A Consistent and Efficient Evaluation Strategy for
    Attribution Methods", section 4): deletion's images, with pixels set to a
    constant, are out of the training distribution, and the shape of what
    was removed leaks the class (the model reads the mask, not the missing
    evidence). ROAD removes each of `fractions` of the pixels in the map's
    order (`"morf"`: most relevant first; `"lerf"`: least) and fills them by
    *noisy linear imputation*: each removed pixel is the weighted mean of its
    8 neighbours (1/6 direct, 1/12 diagonal; the linear system solved in the
    graph by `iterations` Jacobi sweeps, `perturbed.impute`) plus Gaussian
    noise of std `noise` times the images' value spread (max - min). The
    value is the mean of the class probability over the fractions (the area
    under their accuracy curve, per image). MoRF: lower is better; LeRF:
    higher is better. Costs `len(fractions)` forward passes per image (9 by
    default) plus the imputation (`iterations` 3x3 depthwise convolutions
    of the image).

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        maps: `[B, H, W]` attribution maps (larger = more important).
        target: `None` (the predicted class), an int class or a sequence of ints.
        order: `"morf"` or `"lerf"`.
        fractions: the shares of pixels removed, each in [0, 1].
        noise: the imputation noise's std as a fraction of the value spread
            (Rong et al.: 0.01 of images in [0, 1]... here of any range).
        iterations: Jacobi sweeps of the imputation (100 reach the fixed
            point to about 1e-3 on scattered pixels; a large removed blob
            converges more slowly and keeps some of the mean colour it
            starts from).
        seed: int seed of the noise (per image and fraction).
        batch_size: at most this many perturbed images per compiled call.
        value_range: the model's input range (a preset or `(low, high)`), or
            None: the imputed pixels (noise included) are clipped into it, in
            the graph; the images must lie inside it.

    Returns:
        float32 `[B]`.

    Raises:
        ValueError, TypeError: invalid arguments.

    Example:

    >>> kerasviz.metrics.road(model, images, maps).mean()
    """
    morf = faithfulness_curves.check_order(order)
    seed = inputs.check_seed(seed)
    iterations = inputs.check_positive_int(iterations, "iterations")
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not 0 <= noise < np.inf:
        raise ValueError(f"Received an invalid value for `noise`: {noise!r}. Expected a float >= 0.")
    values = np.asarray(fractions, np.float64) if np.iterable(fractions) else np.array([])
    if values.ndim != 1 or not len(values) or not ((values >= 0) & (values <= 1)).all():
        raise ValueError(f"Received an invalid value for `fractions`: {fractions!r}. Expected a sequence of "
                         "floats in [0, 1].")
    prepared, maps, _, classes = faithfulness_curves.setup("road", model, images, maps, target, 0.0, batch_size)
    value_range = robustness.check_range(value_range, prepared.images)
    spread = float(prepared.images.max() - prepared.images.min())
    ranks = faithfulness.pixel_ranks(maps if morf else -maps)
    n = maps.shape[1] * maps.shape[2]
    counts = np.broadcast_to(np.floor(values * n).astype(np.int32), (len(maps), len(values)))
    scores = perturbed.ordered_scores(prepared, classes, ranks, perturbed.removal_windows(counts),
                                      prepared.images, imputation=(iterations, noise * spread), seed=seed,
                                      value_range=value_range)
    return scores.astype(np.float64).mean(axis=1).astype(np.float32)
