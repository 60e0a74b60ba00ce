"""Does the attribution a region holds predict the score it carries? Correlations and infidelity.

- `faithfulness_estimate` (Alvarez-Melis & Jaakkola, 2018): each cell removed
  alone; Pearson correlation of its attribution with the score lost.
- `monotonicity_correlation` (Nguyen & Martinez, 2020): the same cells; the
  Spearman correlation of attribution with the squared score change.
- `sensitivity_n` (Ancona et al., 2018): MuFidelity's correlation at several
  subset sizes `n`, averaged.
- `infidelity` (Yeh et al., 2019): the error of the map, at its best scale,
  in predicting the score change of random removals.

All take `(model, images, maps, target=None, *, ..., baseline, seed, batch_size)`
and return float32 `[B]`. Scores are the class logits (as MuFidelity's).
"""

import numpy as np

from kerasviz import inputs
from kerasviz.metrics import faithfulness_curves, perturbed, sanity
from kerasviz.metrics.mufidelity import grid_cells, mufidelity, pearson
from kerasviz.perturbation import masked


def cell_scores(kind, model, images, maps, target, grid, baseline, batch_size):
    """`(attribution per cell [B, K], logit lost per cell [B, K])`: each of the `grid x grid` cells removed alone."""
    grid = inputs.check_positive_int(grid, "grid")
    prepared, values, baselines, classes = faithfulness_curves.setup(kind, model, images, maps, target, baseline,
                                                                     batch_size)
    cells = grid_cells(values.shape[1], values.shape[2], grid)
    n_cells = grid * grid
    order = np.broadcast_to(cells, values.shape).astype(np.int32)
    windows = np.stack([np.arange(-1, n_cells), np.arange(0, n_cells + 1)], axis=-1)  # first: nothing removed
    windows[0] = (0, 0)
    windows = np.broadcast_to(windows, (len(values), n_cells + 1, 2))
    scores = perturbed.ordered_scores(prepared, classes, order, windows, baselines,
                                      probabilities=False).astype(np.float64)
    per_cell = np.stack([np.bincount(cells.ravel(), weights=m.ravel(), minlength=n_cells) for m in values])
    return per_cell, scores[:, :1] - scores[:, 1:]


def faithfulness_estimate(model, images, maps, target=None, *, grid=8, baseline=0.0,
                          batch_size=None) -> np.ndarray:
    """Faithfulness estimate: the correlation between each cell's attribution and the score its removal costs.

    Alvarez-Melis & Jaakkola, 2018 ("Towards Robust Interpretability with
    Self-Explaining Neural Networks", section 4): for each cell `i` of a
    `grid x grid` partition, removed *alone* (replaced by `baseline`), the
    Pearson correlation over cells between `sum_{p in i} map_p` and
    `f(x) - f(x without i)`, `f` the class logit. 1 for a map that is the
    linear model's exact contributions; higher is better. NaN where either
    side is constant. Costs `grid^2 + 1` forward passes per image.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        maps: `[B, H, W]` attribution maps (signed maps are welcome).
        target: `None` (the predicted class), an int class or a sequence of ints.
        grid: the side of the grid of cells.
        baseline: what a removed cell becomes (`kerasviz.fill`), default 0.0.
        batch_size: at most this many perturbed images per compiled call.

    Returns:
        float32 `[B]`.

    Raises:
        ValueError, TypeError: invalid arguments.

    Example:

    >>> kerasviz.metrics.faithfulness_estimate(model, images, maps).mean()
    """
    attribution, lost = cell_scores("faithfulness_estimate", model, images, maps, target, grid, baseline,
                                     batch_size)
    return pearson(attribution, lost).astype(np.float32)


def monotonicity_correlation(model, images, maps, target=None, *, grid=8, baseline=0.0,
                             batch_size=None) -> np.ndarray:
    """Monotonicity correlation: the rank correlation of each cell's |attribution| with its effect.

    Nguyen & Martinez, 2020 ("On Quantitative Aspects of Model
    Interpretability", section 4.3): the Spearman correlation over the cells
    of a `grid x grid` partition between `|sum_{p in i} map_p|` and the
    squared change of the class logit when cell `i` alone is removed. They
    average over noisy replacements of the cell; here the cell takes
    `baseline` once (deterministic; one pass per cell). Higher is better.
    Costs `grid^2 + 1` forward passes per image.

    Args:
        model, images, maps, target, grid, baseline, batch_size: as for
            `faithfulness_estimate`.

    Returns:
        float32 `[B]`.

    Raises:
        ValueError, TypeError: invalid arguments.

    Example:

    >>> kerasviz.metrics.monotonicity_correlation(model, images, maps).mean()
    """
    attribution, lost = cell_scores("monotonicity_correlation", model, images, maps, target, grid, baseline,
                                     batch_size)
    return sanity.rank_correlation(np.abs(attribution), lost ** 2).astype(np.float32)


def sensitivity_n(model, images, maps, target=None, *, fractions=(0.1, 0.3, 0.5, 0.7, 0.9), grid=9, samples=32,
                  baseline=0.0, seed=0, batch_size=None) -> np.ndarray:
    """Sensitivity-n: the correlation of removed attribution and lost score, averaged over subset sizes.

    Ancona et al., 2018 ("Towards Better Understanding of Gradient-based
    Attribution Methods for Deep Neural Networks", section 4): a map
    satisfies sensitivity-n when, for every subset of `n` features, the sum
    of their attributions equals the output change when they are removed;
    measured by the Pearson correlation of the two over random subsets, for
    each `n`. Here the features are the cells of a `grid x grid` partition,
    `n = round(fraction * grid^2)` for each of `fractions`, `samples` subsets
    each (`mufidelity`, with the same seeds), and the correlations are
    averaged. Higher is better. Costs `len(fractions) * (samples + 1)`
    forward passes per image.

    Args:
        model, images, maps, target, grid, baseline, batch_size: as for `mufidelity`.
        fractions: the subset sizes, as fractions of the cells, each in (0, 1).
        samples: random subsets per size.
        seed: int seed of the subsets.

    Returns:
        float32 `[B]` (NaN where every size gives NaN).

    Raises:
        ValueError, TypeError: invalid arguments.

    Example:

    >>> kerasviz.metrics.sensitivity_n(model, images, maps).mean()
    """
    if isinstance(fractions, (str, bytes)) or not np.iterable(fractions) or not len(fractions):
        raise ValueError(f"Received an invalid value for `fractions`: {fractions!r}. Expected a sequence of "
                         "floats in (0, 1).")
    runs = np.stack([mufidelity(model, images, maps, target, grid=grid, subset=f, samples=samples,
                                baseline=baseline, seed=seed, batch_size=batch_size) for f in fractions])
    valid = np.isfinite(runs)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(valid, runs, 0).sum(0) / valid.sum(0)).astype(np.float32)


def infidelity(model, images, maps, target=None, *, grid=8, subset=0.25, samples=64, baseline=0.0, seed=0,
               batch_size=None) -> np.ndarray:
    """Infidelity: how badly the map, at its best scale, predicts the score change of random removals.

    Yeh et al., 2019 ("On the (In)fidelity and Sensitivity of Explanations",
    section 2): `INFD = E_I[(I . Phi - (f(x) - f(x - I)))^2]`. Here `I` is
    the removal of a random `subset` of the cells of a `grid x grid`
    partition (`I = x - baseline` there, 0 elsewhere; Yeh et al.'s "square
    removal"), `f` the class logit. `Phi` there is a sensitivity (score per
    unit of input); our maps are attributions (score per pixel, as
    gradient x input is `Phi * (x - 0)`), so `I . Phi` is the sum of the map
    over the removed pixels, as in MuFidelity.
    As in Yeh et al.'s code the map is first scaled by the `beta` that
    minimises the error and the error is divided by `E[(f(x) - f(x - I))^2]`,
    so the value is in [0, 1] and does not depend on the map's scale (0: the
    map predicts every change). Lower is better. Costs `samples + 1` forward
    passes per image.

    Args:
        model, images, maps, target, baseline, batch_size: as for `mufidelity`.
        grid: the side of the grid of cells.
        subset: the fraction of cells removed per draw, in (0, 1).
        samples: random removals per image.
        seed: int seed of the removals.

    Returns:
        float32 `[B]` (NaN where no removal changes the score).

    Raises:
        ValueError, TypeError: invalid arguments.

    Example:

    >>> kerasviz.metrics.infidelity(model, images, maps).mean()
    """
    grid = inputs.check_positive_int(grid, "grid")
    samples = inputs.check_positive_int(samples, "samples")
    seed = inputs.check_seed(seed)
    if isinstance(subset, bool) or not isinstance(subset, (int, float)) or not 0 < subset < 1:
        raise ValueError(f"Received an invalid value for `subset`: {subset!r}. Expected a float in (0, 1).")
    prepared, values, baselines, classes = faithfulness_curves.setup("infidelity", model, images, maps, target,
                                                                     baseline, batch_size)
    cells = grid_cells(values.shape[1], values.shape[2], grid)
    n_cells = grid * grid
    removed = max(1, round(subset * n_cells))
    coalitions = []
    for b in range(len(values)):
        ranks = np.argsort(np.argsort(np.random.default_rng([seed, b]).random((samples, n_cells)), axis=1), axis=1)
        coalitions.append(np.concatenate([np.ones((1, n_cells)), ranks >= removed]).astype(np.float32))
    segments = np.broadcast_to(cells, values.shape).copy()
    class_idx = classes[:, None].astype(np.int32)
    scores = masked.segment_scores(prepared, class_idx, segments, baselines, coalitions).astype(np.float64)
    per_cell = np.stack([np.bincount(cells.ravel(), weights=m.ravel(), minlength=n_cells) for m in values])
    explained = np.einsum("bsk,bk->bs", 1.0 - np.stack(coalitions)[:, 1:], per_cell)
    change = scores[:, :1] - scores[:, 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = (explained * change).sum(1, keepdims=True) / (explained * explained).sum(1, keepdims=True)
        beta = np.where(np.isfinite(beta), beta, 0.0)
        error = ((beta * explained - change) ** 2).mean(1) / (change * change).mean(1)
    return error.astype(np.float32)
