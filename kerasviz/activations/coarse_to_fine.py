"""Coarse-to-fine occlusion: approximate, refined only where the score changes."""

import logging

import numpy as np

from kerasviz import inputs, progress
from kerasviz.fill import colours
from kerasviz.activations import occlusion as exact
from kerasviz.gradients import core


def _coarse_indices(n, coarse):
    """Every `coarse`-th index of `range(n)`, and the last one."""
    found = list(range(0, n, coarse))
    if found[-1] != n - 1:
        found.append(n - 1)
    return np.asarray(found)


def _cells(n, nodes):
    """`[n, cells]`: which cells `[nodes[i], nodes[i + 1]]` hold each index (both ends included)."""
    index = np.arange(n)[:, None]
    return (index >= nodes[None, :-1]) & (index <= nodes[None, 1:]) if len(nodes) > 1 else np.ones((n, 1), bool)


def _interpolate(coarse_map, cy, cx, n_y, n_x):
    """Bilinear interpolation of values at `(cy, cx)` onto the whole `n_y x n_x` grid."""
    rows = np.stack([np.interp(np.arange(n_x), cx, row) for row in coarse_map])
    return np.stack([np.interp(np.arange(n_y), cy, column) for column in rows.T], axis=1)


def _spread(values):
    return values.max() - values.min() if values.size else 0.0


def occlusion_coarse_to_fine(model, images, target=None, *, patch=None, stride=None, coarse=4, threshold=0.1,
                             value=None, batch_size=None, inference="auto", verbose=0):
    """Occlusion on a coarse grid, refined where the score changes: fast, and APPROXIMATE.

    The occluder is first evaluated at every `coarse`-th position of the
    grid of `occlusion(patch=..., stride=...)` along each axis (and the last
    one). Each cell of that coarse grid whose four corner scores differ by
    more than `threshold` times the range of the image's coarse map is then
    evaluated at every position; the other cells are filled by bilinear
    interpolation of their corners. This is the "adaptive drill-down" idea of
    Nakandala et al., SIGMOD 2019 ("Incremental and Approximate Inference for
    Faster Occlusion-based Deep CNN Explanations", section 4), in its plain
    coarse-to-fine form: a small region whose score drops while the corners
    of its cell agree is missed, so the map is an approximation of
    `occlusion`'s. `threshold=0` refines every cell whose corners differ at
    all. How many positions were evaluated is logged at INFO on the logger
    `"kerasviz"`; measure its error against `occlusion` on your model before
    trusting it (`benchmarks/occlusion.py` reports it). On the trained demo
    model (patch 8, stride 4, `coarse=4`, `threshold=0.1`) it evaluated 43 %
    of the positions, with a largest error of 2.4 % of the map's range and a
    mean of 0.08 %; on a random-weight net, whose maps are rough everywhere,
    it refines almost every cell and saves nothing.

    Args:
        model, images, target, patch, stride, value, batch_size, inference,
            verbose: as for `occlusion` (each evaluation is incremental or
            naive, as `inference` says).
        coarse: the coarse grid's step, in positions of the fine grid (an
            int >= 1; 1 evaluates every position: exact).
        threshold: a cell is refined when its corners differ by more than this
            share of the coarse map's range (a float >= 0).

    Returns:
        float32 `[B, nY, nX]`, the shape of `occlusion`'s result.

    Raises:
        ValueError: `coarse` not a positive int, `threshold` negative or not
            finite, and whatever `occlusion` raises.

    Example:

    >>> quick = kerasviz.occlusion_coarse_to_fine(model, images, patch=8, stride=4, coarse=4)
    """
    verbose = progress.check_verbose(verbose)
    inference = exact.check_inference(inference)
    coarse = inputs.check_positive_int(coarse, "coarse")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not np.isfinite(threshold) \
            or threshold < 0:
        raise ValueError(f"Received an invalid value for `threshold`: {threshold!r}. Expected a float >= 0.")
    prepared = core.Prepared(model, images, target, batch_size)
    n_images, height, width = prepared.images.shape[:3]
    patch, stride = exact.occlusion_geometry(height, width, patch, stride)
    function, _ = exact.scorer(prepared, core.predicted_classes(prepared),
                               colours(value, prepared.images, argname="value"), patch, stride, inference,
                               batch_size)
    n_y = len(exact.occlusion_positions(height, patch, stride))
    n_x = len(exact.occlusion_positions(width, patch, stride))
    cy, cx = _coarse_indices(n_y, coarse), _coarse_indices(n_x, coarse)
    in_y, in_x = _cells(n_y, cy), _cells(n_x, cx)
    bar = progress.bar(n_images * n_y * n_x, verbose, unit="position")
    maps, evaluated = np.empty([n_images, n_y, n_x], np.float32), 0

    def evaluate(b, mask):
        iy, ix = np.nonzero(mask)
        values = np.empty(len(iy), np.float32)
        for start, stop in inputs.batches(len(iy), prepared.batch_size):
            values[start:stop] = function.scores(b, iy[start:stop], ix[start:stop])
            if bar is not None:
                bar.add(stop - start)
        return iy, ix, values

    for b in range(n_images):
        known = np.zeros([n_y, n_x], bool)
        known[np.ix_(cy, cx)] = True
        iy, ix, values = evaluate(b, known)
        grid = np.zeros([n_y, n_x], np.float32)
        grid[iy, ix] = values
        coarse_map = grid[np.ix_(cy, cx)]
        maps[b] = _interpolate(coarse_map, cy, cx, n_y, n_x)
        corners = np.stack([coarse_map[:-1, :-1], coarse_map[:-1, 1:], coarse_map[1:, :-1], coarse_map[1:, 1:]]) \
            if len(cy) > 1 and len(cx) > 1 else coarse_map[None]
        refine = (corners.max(0) - corners.min(0)) > threshold * _spread(coarse_map)
        fine = ((in_y.astype(np.int32) @ refine.astype(np.int32) @ in_x.T.astype(np.int32)) > 0) & ~known
        fy, fx, fine_values = evaluate(b, fine)
        maps[b][iy, ix], maps[b][fy, fx] = values, fine_values
        evaluated += len(iy) + len(fy)
        if bar is not None:
            bar.add(n_y * n_x - len(iy) - len(fy))
    logging.getLogger("kerasviz").info(
        "occlusion_coarse_to_fine (approximate): evaluated %d of %d positions (%.0f%%)", evaluated,
        n_images * n_y * n_x, 100.0 * evaluated / (n_images * n_y * n_x))
    return inputs.warn_if_constant(maps, "occlusion_coarse_to_fine", "score under occlusion")
