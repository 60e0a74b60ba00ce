"""Sobol sensitivity indices: how much of a function's variance each input explains, alone and in total."""

import typing

import numpy as np
from scipy.stats import qmc

from kerasviz.inside import streams


class SobolIndices(typing.NamedTuple):
    """The Sobol indices of a function of `d` inputs.

    Attributes:
        first_order: float64 `[d]`, `S_i = V(E[f | x_i]) / V(f)`: the share of
            the variance input `i` explains alone.
        total: float64 `[d]`, `ST_i = E(V[f | x_~i]) / V(f)`: the share left
            unexplained when every input but `i` is known (`i` alone and in
            all its interactions).
        variance: the estimated variance `V(f)` (0: a constant function,
            whose indices are 0).
    """

    first_order: np.ndarray
    total: np.ndarray
    variance: float


def sobol_design(dimensions: int, samples: int, *, seed: int = 0) -> np.ndarray:
    """The points at which `sobol_estimates` needs a function: float64 `[(dimensions + 2) * samples, dimensions]`.

    Saltelli, Annoni, Azzini, Campolongo, Ratto & Tarantola, 2010,
    "Variance based sensitivity analysis of model output. Design and
    estimator for the total sensitivity index", section 3: two matrices
    `A` and `B` of `samples` points of `[0, 1]^d` each, then for each input
    `i` the matrix `A_B^(i)`, `A` with its column `i` taken from `B`; rows
    laid out `[A; B; A_B^(1); ...; A_B^(d)]`. `A` and `B` are the two halves
    of the columns of one scrambled Sobol sequence in `2d` dimensions
    (scipy's `scipy.stats.qmc.Sobol`, seeded, Owen-scrambled): a
    quasi-Monte-Carlo design fills the cube more evenly than random points,
    which the paper recommends (its section 2), and scipy, already a
    dependency, has a tested generator with direction numbers for up to
    21,201 dimensions. `samples` is best a power of two (the sequence's
    balance properties hold there; scipy warns otherwise).

    Args:
        dimensions: the number of inputs `d`.
        samples: the rows `N` of `A` (and of `B`).
        seed: an int seeding the scrambling.

    Returns:
        float64 `[(d + 2) * N, d]` in `[0, 1)`.
    """
    dimensions = streams.check_int(dimensions, "dimensions")
    samples = streams.check_int(samples, "samples", minimum=2)
    seed = streams.check_int(seed, "seed", minimum=0)
    points = qmc.Sobol(2 * dimensions, scramble=True, seed=seed).random(samples)
    a, b = points[:, :dimensions], points[:, dimensions:]
    mixed = np.repeat(a[None], dimensions, axis=0)
    mixed[np.arange(dimensions), :, np.arange(dimensions)] = b[:, np.arange(dimensions)].T
    return np.concatenate([a, b, mixed.reshape(-1, dimensions)])


def sobol_estimates(outputs, dimensions: int, samples: int) -> SobolIndices:
    """First-order and total Sobol indices from a function's values at `sobol_design`'s points.

    With `f_A`, `f_B`, `f_ABi` the values at the rows of `A`, `B` and `A_B^(i)`
    and `V` the variance of `f_A` and `f_B` together:

    - first order (Saltelli et al., 2010, table 2 (b)):
      `S_i = mean(f_B * (f_ABi - f_A)) / V`;
    - total (Jansen, 1999, "Analysis of variance designs for model output",
      as in Saltelli et al., 2010, table 2 (f)):
      `ST_i = mean((f_A - f_ABi) ** 2) / (2 V)`.

    Estimates, not bounds: with few samples they may leave `[0, 1]`
    slightly (they are returned as they are).

    Args:
        outputs: `[(d + 2) * N]` values in the order of `sobol_design`'s rows.
        dimensions, samples: `d` and `N` of the design.

    Returns:
        `SobolIndices`; all zero for a constant function.
    """
    outputs = np.asarray(outputs, np.float64)
    dimensions = streams.check_int(dimensions, "dimensions")
    samples = streams.check_int(samples, "samples", minimum=2)
    if outputs.shape != ((dimensions + 2) * samples,):
        raise ValueError(f"Received `outputs` of shape {outputs.shape}; expected [{(dimensions + 2) * samples}] "
                         f"(the function at the (dimensions + 2) * samples points of `sobol_design`).")
    if not np.all(np.isfinite(outputs)):
        raise ValueError("Received `outputs` that are not finite (NaN or inf).")
    f_a, f_b = outputs[:samples], outputs[samples:2 * samples]
    f_ab = outputs[2 * samples:].reshape(dimensions, samples)
    variance = float(np.var(np.concatenate([f_a, f_b])))
    scale = max(float(np.abs(outputs).max()), 1e-300)
    if variance <= (1e-12 * scale) ** 2:
        zeros = np.zeros(dimensions)
        return SobolIndices(zeros, zeros.copy(), 0.0)
    first = np.mean(f_b[None] * (f_ab - f_a[None]), axis=1) / variance
    total = np.mean((f_a[None] - f_ab) ** 2, axis=1) / (2 * variance)
    return SobolIndices(first, total, variance)


def sobol_indices(function, dimensions: int, samples: int = 4096, *, bounds=None, seed: int = 0) -> SobolIndices:
    """First-order and total Sobol indices of `function` over independent uniform inputs.

    Runs `function` once on all `(dimensions + 2) * samples` points of
    `sobol_design` (scaled from `[0, 1)` to `bounds`) and returns
    `sobol_estimates` of its values: Saltelli et al., 2010 (design, first
    order) and Jansen, 1999 (total). Cost: `(d + 2) * samples` evaluations.

    Args:
        function: `f(points [n, d] float64) -> [n]` values (vectorized).
        dimensions: the number of inputs `d`.
        samples: `N`, the rows of each of `A` and `B` (a power of two).
        bounds: `(low, high)` of every input, or `[d, 2]` per input;
            default `[0, 1]`.
        seed: an int seeding the Sobol sequence's scrambling.

    Returns:
        `SobolIndices(first_order [d], total [d], variance)`.

    Raises:
        ValueError, TypeError: an invalid argument (named), a function
            that returns the wrong shape or non-finite values.

    Example:

    >>> indices = sobol_indices(lambda x: x[:, 0] + 2 * x[:, 1], 2)
    >>> indices.total  # ~ [0.2, 0.8]
    """
    if not callable(function):
        raise TypeError(f"Expected `function` to be callable. Received: {function!r}.")
    points = sobol_design(dimensions, samples, seed=seed)
    if bounds is not None:
        try:
            limits = np.broadcast_to(np.asarray(bounds, np.float64), (points.shape[1], 2))
        except (ValueError, TypeError):
            limits = None
        if limits is None or not np.all(np.isfinite(limits)) or np.any(limits[:, 1] <= limits[:, 0]):
            raise ValueError(f"Received an invalid value for `bounds`: {bounds!r}. Expected (low, high) with "
                             f"low < high, or one such pair per input ([{points.shape[1]}, 2]).")
        points = limits[:, 0] + points * (limits[:, 1] - limits[:, 0])
    values = np.asarray(function(points), np.float64)
    if values.shape != (len(points),):
        raise ValueError(f"Expected `function` to return one value per point ([{len(points)}]). "
                         f"Received shape {values.shape}.")
    return sobol_estimates(values, dimensions, samples)
