"""MuFidelity (Bhatt et al., 2020): does removing what the map values remove as much score?"""

import numpy as np

from kerasviz import fill, inputs
from kerasviz.gradients import core
from kerasviz.metrics import faithfulness
from kerasviz.perturbation import masked


def pearson(x, y):
    """Pearson correlation per row of `x` and `y` `[B, S]`; NaN where a row is constant."""
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    norm = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (x * y).sum(axis=1) / norm, np.nan)


def grid_cells(height, width, grid):
    """int32 `[H, W]`: the cell of a `grid x grid` partition each pixel is in (row-major)."""
    rows = np.arange(height) * grid // height
    cols = np.arange(width) * grid // width
    return (rows[:, None] * grid + cols[None, :]).astype(np.int32)


def mufidelity(model, images, maps, target=None, *, grid=9, subset=0.2, samples=128, baseline=0.0, seed=0,
               batch_size=None) -> np.ndarray:
    """MuFidelity: the correlation between the attribution removed and the score lost.

    Bhatt et al., 2020, "Evaluating and Aggregating Feature-based Model
    Explanations", section 4.1: over random subsets `S` of the image, the
    Pearson correlation between `sum_{i in S} map_i` and
    `f(x) - f(x with S set to baseline)`. Here `S` is `round(subset * grid^2)`
    cells of a `grid x grid` partition, drawn uniformly (seeded per image),
    and `f` is the target's score (the class logit; for `target=None` the class
    predicted for the clean image). 1 for a map that is exactly the model's
    linear contributions; higher is more faithful. NaN where either side is
    constant. Perturbed images are built in the graph, `batch_size` at a time.
    Costs `samples + 1` forward passes per image (plus one for `target=None`).

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        maps: `[B, H, W]` signed attribution maps (use signed maps: the score
            may rise when a region is removed).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        grid: the side of the grid of cells.
        subset: the fraction of cells removed in each sample, in (0, 1).
        samples: random subsets per image.
        baseline: what removed cells show, in the model's input space
            (`kerasviz.fill`): a float (default 0.0, as `deletion`), one
            float per channel, an image or images, `"mean"` or `"blur"`.
        seed: int seed of the subsets.
        batch_size: at most this many perturbed images per compiled call
            (default 32); results do not depend on it.

    Returns:
        float32 `[B]`.

    Raises:
        ValueError, TypeError: invalid `images`, `maps`, `target`, `grid`,
            `subset`, `samples`, `baseline`, `seed` or `batch_size`.

    Example:

    >>> maps = kerasviz.integrated_gradients(model, images, signed=True).sum(-1)
    >>> kerasviz.metrics.mufidelity(model, images, maps).mean()
    """
    prepared = core.Prepared(model, images, target, batch_size)
    images = prepared.images
    values = faithfulness.check_maps(maps, images)
    grid = inputs.check_positive_int(grid, "grid")
    samples = inputs.check_positive_int(samples, "samples")
    if isinstance(subset, bool) or not isinstance(subset, (int, float)) or not 0 < subset < 1:
        raise ValueError(f"Received an invalid value for `subset`: {subset!r}. Expected a float in (0, 1).")
    seed = inputs.check_seed(seed)
    baselines = fill.baselines(baseline, images)
    cells = grid_cells(images.shape[1], images.shape[2], grid)
    n_cells = grid * grid
    removed = max(1, round(subset * n_cells))
    coalitions = []
    for b in range(len(images)):
        ranks = np.argsort(np.argsort(np.random.default_rng([seed, b]).random((samples, n_cells)), axis=1), axis=1)
        coalitions.append(np.concatenate([np.ones((1, n_cells)), ranks >= removed]).astype(np.float32))
    segments = np.broadcast_to(cells, images.shape[:3]).copy()
    scores = masked.segment_scores(prepared, core.predicted_classes(prepared), segments, baselines,
                                   coalitions).astype(np.float64)
    per_cell = np.stack([np.bincount(cells.ravel(), weights=m.ravel(), minlength=n_cells) for m in values])
    attribution_removed = np.einsum("bsk,bk->bs", 1.0 - np.stack(coalitions)[:, 1:], per_cell)
    score_lost = scores[:, :1] - scores[:, 1:]
    return pearson(attribution_removed, score_lost).astype(np.float32)
