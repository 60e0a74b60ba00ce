"""The t-SNE grid picture: images laid out on a regular grid by their 2-D coordinates."""

import math
import numbers
import typing

import numpy as np

from kerasviz import display, image, inputs
from kerasviz.activations import points

EXACT_ASSIGNMENT_MAX = 2000  # embedding_grid: Hungarian assignment up to this many images


class EmbeddingGrid(typing.NamedTuple):
    """Images on a regular grid. `image`: float32 picture in [0, 1]; `cells`: int `[N, 2]` (row, col) per image."""

    image: np.ndarray
    cells: np.ndarray

    # Shown as a labelled picture in Jupyter (see `kerasviz.display`).
    _repr_png_ = display.repr_png
    _repr_html_ = display.repr_html

    def figure(self, value_range=(0.0, 1.0)):
        """The picture (`kerasviz.show`)."""
        return display.Figure(self.image, "embedding grid")


def _grid_shape(grid, n):
    if grid is None:
        side = math.ceil(math.sqrt(n))
        return side, side
    shape = (grid, grid) if isinstance(grid, numbers.Integral) else grid
    if (not isinstance(shape, (tuple, list)) or len(shape) != 2 or any(
            isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in shape)):
        raise ValueError(f"Received an invalid value for `grid`: {grid!r}. Expected an int or (rows, cols).")
    if shape[0] * shape[1] < n:
        raise ValueError(
            f"Received an invalid value for `grid`: {grid!r}; its {shape[0] * shape[1]} cells "
            f"cannot hold {n} images."
        )
    return int(shape[0]), int(shape[1])


def _unit(values, steps):
    """Min-max scales to [0, steps] (a constant axis goes to the middle)."""
    span = values.max() - values.min()
    return (values - values.min()) / span * steps if span > 0 else np.full_like(values, steps / 2)


def _assign(points, centres):
    """Cell index per point: exact (Hungarian) for small N, else greedy nearest free cell."""
    if len(points) <= EXACT_ASSIGNMENT_MAX:
        from scipy.optimize import linear_sum_assignment

        cost = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
        rows, cols = linear_sum_assignment(cost)
        cells = np.empty(len(points), np.int64)
        cells[rows] = cols
        return cells
    nearest = np.sqrt(((points - np.clip(np.rint(points), 0, None)) ** 2).sum(-1))
    taken = np.zeros(len(centres))
    cells = np.empty(len(points), np.int64)
    for i in np.argsort(nearest, kind="stable"):  # points closest to a cell centre choose first
        cost = (centres[:, 0] - points[i, 0]) ** 2 + (centres[:, 1] - points[i, 1]) ** 2 + taken
        cells[i] = np.argmin(cost)
        taken[cells[i]] = np.inf
    return cells


def _display_pictures(images):
    """`embedding_grid`'s images as float32 in [0, 1]: uint8 read as 0-255, anything else checked."""
    raw = np.asarray(images)
    pictures = inputs.check_finite(points.display_images(raw, "images"), "images")
    if raw.dtype == np.uint8:
        return pictures / np.float32(255.0)
    low, high = float(pictures.min()), float(pictures.max())
    if low < -1e-6 or high > 1.0 + 1e-6:
        raise ValueError(
            f"Received `images` with values from {low:.6g} to {high:.6g}; expected display space "
            "[0, 1] (floats) or uint8. Bring model inputs there with "
            "`kerasviz.image.to_display(images, value_range)`."
        )
    return np.clip(pictures, 0.0, 1.0)  # float rounding only


def embedding_grid(images, coords, *, grid=None, cell=None) -> EmbeddingGrid:
    """Lays images out on a regular grid by their 2-D coordinates (the t-SNE grid picture).

    Coordinates are scaled per axis to fill the grid (x to columns, left to
    right; y to rows, bottom to top, as in a scatter plot), and each image is
    assigned to one cell, each cell holding at most one image, minimizing the
    total squared distance between points and cell centres: an exact linear
    assignment (`scipy.optimize.linear_sum_assignment`, about `O(N^3)`: 0.35 s
    for 1000 images, 5 s for 2000 on 2 CPU cores) up to `EXACT_ASSIGNMENT_MAX`
    images, beyond that a greedy one (points nearest a cell centre choose
    first; `O(N * cells)`, 0.25 s for 10k images). Empty
    cells are white. As in Karpathy's "t-SNE visualization of CNN codes".

    Args:
        images: `[N, H, W]` or `[N, H, W, C]` in display space: floats in
            [0, 1] or uint8 (0-255); `kerasviz.image.to_display` brings model
            inputs there.
        coords: `[N, 2]`, for example `project(codes, "tsne")`.
        grid: cells per side (int) or `(rows, cols)`; default `ceil(sqrt(N))`
            per side; at most `max(4 * N, 256)` cells.
        cell: thumbnail size, an int or `(height, width)`; default the images'
            own size (others are resized bilinearly).

    Returns:
        `EmbeddingGrid(image, cells)`: float32 `[rows * h, cols * w(, C)]`
        and int64 `[N, 2]`, the `(row, col)` of each image.

    Raises:
        ValueError: shapes do not match, NaN/inf, float images outside [0, 1],
            a grid too small or too large for `N`, invalid `cell`, a picture
            over `kerasviz.image.MAX_CANVAS_VALUES`.
    """
    pictures = _display_pictures(images)
    xy = points.matrix(coords, "coords").astype(np.float64)
    n = len(pictures)
    if xy.shape != (n, 2):
        raise ValueError(f"Received `coords` of shape {xy.shape}; expected [{n}, 2] for {n} images.")
    rows, cols = _grid_shape(grid, n)
    if grid is not None and rows * cols > max(4 * n, 256):
        raise ValueError(
            f"Received an invalid value for `grid`: {grid!r}; its {rows * cols} cells are over "
            f"max(4 * N, 256) = {max(4 * n, 256)} for {n} images (the assignment costs N x cells)."
        )
    h, w = pictures.shape[1:3]
    size = (h, w) if cell is None else (cell, cell) if isinstance(cell, numbers.Integral) else cell
    if (not isinstance(size, (tuple, list)) or len(size) != 2 or any(
            isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in size)):
        raise ValueError(f"Received an invalid value for `cell`: {cell!r}. Expected an int or (height, width).")
    image.check_canvas((rows * size[0], cols * size[1]) + pictures.shape[3:], {"grid": grid, "cell": cell})
    if tuple(size) != (h, w):
        channels = pictures[..., None] if pictures.ndim == 3 else pictures
        maps = np.moveaxis(channels, -1, 1).reshape((-1, h, w))
        resized = image.resize_maps(maps, tuple(size)).reshape((n, -1) + tuple(size))
        pictures = np.clip(np.moveaxis(resized, 1, -1), 0, 1).reshape((n,) + tuple(size) + pictures.shape[3:])
        h, w = size
    grid_points = np.stack([_unit(-xy[:, 1], rows - 1), _unit(xy[:, 0], cols - 1)], axis=1)
    centres = np.stack(np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij"), -1).reshape(-1, 2)
    flat = _assign(grid_points, centres.astype(np.float64))
    canvas = np.ones((rows * h, cols * w) + pictures.shape[3:], np.float32)
    for i, c in enumerate(flat):
        r, q = divmod(int(c), cols)
        canvas[r * h:(r + 1) * h, q * w:(q + 1) * w] = pictures[i]
    return EmbeddingGrid(canvas, np.stack(np.divmod(flat, cols), axis=1).astype(np.int64))
