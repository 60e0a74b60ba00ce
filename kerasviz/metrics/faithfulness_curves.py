"""Removal curves: pixel flipping, region perturbation (AOPC), selectivity, IROF and monotonicity.

Each removes the image's pixels, patches or superpixels in the order the map
ranks them and reads the class probability after each step (the perturbed
images are built in one compiled graph, `kerasviz.metrics.perturbed`). They
differ in the unit removed, the order, and how the curve becomes one number.

All take `(model, images, maps, target=None, *, ..., baseline, batch_size)`
and return float32 `[B]`; `maps` `[B, H, W]`, larger = more important.
"""

import numpy as np

from kerasviz import fill, inputs, targets
from kerasviz.gradients import core
from kerasviz.metrics import faithfulness, perturbed
from kerasviz.perturbation.superpixels import superpixels

ORDERS = ("morf", "lerf")


def setup(kind, model, images, maps, target, baseline, batch_size):
    """`(prepared, values float64 [B, H, W], baselines [B, H, W, C], classes int32 [B])`, checked."""
    prepared = core.Prepared(model, images, target, batch_size, cost="forward")
    if not isinstance(prepared.target, targets.ClassScore):
        raise ValueError(f"`{kind}` measures class scores: expected `target` to be None, an int, a sequence of "
                         f"ints or a `ClassScore`. Received: target={target!r}.")
    values = faithfulness.check_maps(maps, prepared.images)
    return prepared, values, fill.baselines(baseline, prepared.images), core.predicted_classes(prepared)[:, 0]


def check_order(order):
    if order not in ORDERS:
        raise ValueError(f"Received an invalid value for `order`: {order!r}. Expected one of {ORDERS}: "
                         "most relevant first or least relevant first.")
    return order == "morf"


def aopc(scores):
    """Samek et al. 2017's AOPC of curves `[B, L + 1]`: `mean_k (f(x_0) - f(x_k))` over `k = 0..L`."""
    return (scores[:, :1] - scores).mean(axis=1)


def trapezoid(scores):
    """The area under curves `[B, S + 1]` over an x-axis of `S` equal steps from 0 to 1."""
    return ((scores[:, 1:] + scores[:, :-1]) / 2).mean(axis=1)


def pixel_flipping(model, images, maps, target=None, *, order="morf", steps=20, baseline=0.0,
                   batch_size=None) -> np.ndarray:
    """Pixel flipping, read as its AOPC: the mean drop of the class probability as pixels are flipped.

    Bach et al., 2015 ("On Pixel-Wise Explanations for Non-Linear Classifier
    Decisions by Layer-Wise Relevance Propagation", section 5): pixels are
    replaced by `baseline` in the map's order, `order="morf"` most relevant
    first, `"lerf"` least relevant first, `floor(k * H * W / steps)` of them
    at step `k`; the curve is summarised by the area over the perturbation
    curve of Samek et al., 2017 (`AOPC = mean_k f(x_0) - f(x_k)`, `k = 0..steps`,
    `f` the class probability). MoRF: higher is better; LeRF: lower is better.
    Costs `steps + 1` forward passes per image (plus one for `target=None`).

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        maps: `[B, H, W]` attribution maps (larger = more important).
        target: `None` (the class predicted for the clean image), an int
            class or a sequence of ints (one per image).
        order: `"morf"` (most relevant first) or `"lerf"` (least first).
        steps: the curve has `steps + 1` points.
        baseline: what flipped pixels become (`kerasviz.fill`), default 0.0.
        batch_size: at most this many perturbed images per compiled call;
            results do not depend on it.

    Returns:
        float32 `[B]`.

    Raises:
        ValueError, TypeError: invalid `images`, `maps`, `target`, `order`,
            `steps`, `baseline` or `batch_size`.

    Example:

    >>> kerasviz.metrics.pixel_flipping(model, images, maps, order="morf").mean()
    """
    morf = check_order(order)
    steps = inputs.check_positive_int(steps, "steps")
    prepared, values, baselines, classes = setup("pixel_flipping", model, images, maps, target, baseline,
                                                 batch_size)
    ranks = faithfulness.pixel_ranks(values if morf else -values)
    n = values.shape[1] * values.shape[2]
    counts = np.broadcast_to(np.arange(steps + 1) * n // steps, (len(values), steps + 1))
    scores = perturbed.ordered_scores(prepared, classes, ranks, perturbed.removal_windows(counts), baselines)
    return aopc(scores.astype(np.float64)).astype(np.float32)


def default_patch(image_size, per_side):
    return max(1, -(-max(image_size) // per_side))


def region_perturbation(model, images, maps, target=None, *, order="morf", patch=None, regions=64,
                        baseline=0.0, batch_size=None) -> np.ndarray:
    """Region perturbation's AOPC: the mean drop of the class probability as patches are removed.

    Samek et al., 2017 ("Evaluating the Visualization of What a Deep Neural
    Network Has Learned", section III): the image is cut into `patch x patch`
    squares, ranked by the sum of the map over each (`"morf"`: largest first;
    `"lerf"`: smallest first), and the first `regions` of them are replaced
    by `baseline` one after the other; `AOPC = mean_k f(x_0) - f(x_k)`,
    `k = 0..regions`, `f` the class probability. MoRF: higher is better;
    LeRF: lower is better. Samek et al. replace regions by uniform noise;
    here by `baseline`, as the other removal metrics. Costs `regions + 1`
    forward passes per image.

    Args:
        model, images, maps, target, baseline, batch_size: as for `pixel_flipping`.
        order: `"morf"` or `"lerf"`.
        patch: the side of the squares; default `ceil(max(H, W) / 16)`
            (256 squares).
        regions: how many squares are removed (at most all).

    Returns:
        float32 `[B]`.

    Raises:
        ValueError, TypeError: invalid arguments.

    Example:

    >>> kerasviz.metrics.region_perturbation(model, images, maps, order="lerf").mean()
    """
    morf = check_order(order)
    prepared, values, baselines, classes = setup("region_perturbation", model, images, maps, target,
                                                 baseline, batch_size)
    patch = default_patch(values.shape[1:], 16) if patch is None else inputs.check_positive_int(patch, "patch")
    ids, n_regions = perturbed.region_ids(*values.shape[1:], patch)
    rank, _ = perturbed.region_order(values, ids, n_regions, descending=morf)
    regions = min(inputs.check_positive_int(regions, "regions"), n_regions)
    counts = np.broadcast_to(np.arange(regions + 1), (len(values), regions + 1))
    scores = perturbed.ordered_scores(prepared, classes, rank, perturbed.removal_windows(counts), baselines)
    return aopc(scores.astype(np.float64)).astype(np.float32)


def selectivity(model, images, maps, target=None, *, patch=None, baseline=0.0, batch_size=None) -> np.ndarray:
    """Selectivity: the area under the class probability as every patch is removed, most relevant first.

    Montavon et al., 2018 ("Methods for Interpreting and Understanding Deep
    Neural Networks", section 4.1): patches ranked by the sum of the map
    over each are removed one after the other (replaced by `baseline`) until
    none is left; the area under the probability over the fraction of
    patches removed (0 to 1). A selective map makes the score fall at once:
    lower is better. Costs `patches + 1` forward passes per image (65 by
    default).

    Args:
        model, images, maps, target, baseline, batch_size: as for `pixel_flipping`.
        patch: the side of the squares; default `ceil(max(H, W) / 8)` (64 squares).

    Returns:
        float32 `[B]`.

    Raises:
        ValueError, TypeError: invalid arguments.

    Example:

    >>> kerasviz.metrics.selectivity(model, images, maps).mean()
    """
    prepared, values, baselines, classes = setup("selectivity", model, images, maps, target, baseline, batch_size)
    patch = default_patch(values.shape[1:], 8) if patch is None else inputs.check_positive_int(patch, "patch")
    ids, n_regions = perturbed.region_ids(*values.shape[1:], patch)
    rank, _ = perturbed.region_order(values, ids, n_regions)
    counts = np.broadcast_to(np.arange(n_regions + 1), (len(values), n_regions + 1))
    scores = perturbed.ordered_scores(prepared, classes, rank, perturbed.removal_windows(counts), baselines)
    return trapezoid(scores.astype(np.float64)).astype(np.float32)


def irof(model, images, maps, target=None, *, segments=None, n_segments=50, baseline="mean",
         batch_size=None) -> np.ndarray:
    """IROF: the area over the curve of the relative class probability as superpixels are removed.

    Rieger & Hansen, 2020 ("IROF: a low resource evaluation metric for
    explanation methods", section 3): the image is cut into superpixels
    (SLIC), ranked by the map's mean over each, largest first, and removed
    one after the other (replaced by `baseline`, by default each image's
    mean colour as in the paper); with `c_k = f(x_k) / f(x)` after `k` of
    `K` superpixels, `IROF = 1 - area under c` over `k / K` from 0 to 1 (the
    trapezoid rule). Higher is better. Costs `K + 1` forward passes per
    image (SLIC on the host).

    Args:
        model, images, maps, target, batch_size: as for `pixel_flipping`.
        segments: optional int `[B, H, W]` superpixel labels `0..K_b - 1`;
            default `kerasviz.superpixels(images, "slic", n_segments=...)`.
        n_segments: SLIC's target count when `segments` is None.
        baseline: what removed superpixels become (`kerasviz.fill`),
            default `"mean"`.

    Returns:
        float32 `[B]`.

    Raises:
        ValueError, TypeError: invalid arguments.

    Example:

    >>> kerasviz.metrics.irof(model, images, maps).mean()
    """
    prepared, values, baselines, classes = setup("irof", model, images, maps, target, baseline, batch_size)
    if segments is None:
        segments = superpixels(prepared.images, "slic", n_segments=inputs.check_positive_int(n_segments,
                                                                                              "n_segments"))
    segments = np.asarray(segments)
    if segments.shape != values.shape or segments.dtype.kind not in "iu" or segments.min() < 0:
        raise ValueError(f"Expected `segments` to be int labels >= 0 of shape {values.shape}. Received shape "
                         f"{segments.shape}, dtype {segments.dtype}.")
    sizes = segments.reshape(len(values), -1).max(axis=1) + 1
    rank, _ = perturbed.region_order(values, segments, int(sizes.max()), reduce="mean")
    longest = int(sizes.max())
    counts = np.minimum(np.arange(longest + 1)[None], sizes[:, None])  # past its K_b an image stays removed
    scores = perturbed.ordered_scores(prepared, classes, rank, perturbed.removal_windows(counts),
                                      baselines).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = scores / scores[:, :1]
    out = np.array([1.0 - trapezoid(relative[b:b + 1, :k + 1])[0] for b, k in enumerate(sizes)])
    return out.astype(np.float32)


def monotonicity(model, images, maps, target=None, *, steps=20, baseline=0.0, batch_size=None) -> np.ndarray:
    """Monotonicity: the share of steps where the class probability does not fall as pixels are added back.

    Arya et al., 2019 ("One Explanation Does Not Fit All", section 6.2;
    Luss et al.'s monotonicity): start from `baseline` and put the image's
    pixels back in *increasing* order of the map, `floor(k * H * W / steps)`
    at step `k`; a faithful map makes the probability rise at every step.
    Arya et al. (and Quantus) give True only when it never falls; here the
    share of the `steps` steps where it does not fall (1.0 is their True).
    Higher is better. Costs `steps + 1` forward passes per image.

    Args:
        model, images, maps, target, baseline, batch_size: as for `pixel_flipping`.
        steps: the pixels come back in `steps` equal groups.

    Returns:
        float32 `[B]`, in [0, 1].

    Raises:
        ValueError, TypeError: invalid arguments.

    Example:

    >>> kerasviz.metrics.monotonicity(model, images, maps).mean()
    """
    steps = inputs.check_positive_int(steps, "steps")
    prepared, values, baselines, classes = setup("monotonicity", model, images, maps, target, baseline,
                                                 batch_size)
    ranks = faithfulness.pixel_ranks(-values)  # least relevant first
    n = values.shape[1] * values.shape[2]
    counts = np.arange(steps + 1) * n // steps  # pixels back after step k: those ranked below the count
    windows = np.stack([np.broadcast_to(counts, (len(values), steps + 1)),
                        np.full((len(values), steps + 1), n)], axis=-1)
    scores = perturbed.ordered_scores(prepared, classes, ranks, windows, baselines).astype(np.float64)
    return (np.diff(scores, axis=1) >= 0).mean(axis=1).astype(np.float32)
