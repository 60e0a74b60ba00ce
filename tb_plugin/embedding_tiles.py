"""Level-of-detail tiles over an embeddings record's 2-D coordinates, for drawing 100,000 points.

The coordinates' bounding box (of the finite points) is the unit square of a
quadtree: at level `L` it is cut into `2**L x 2**L` tiles, tile `(tx, ty)`
covering `[tx, tx + 1) / 2**L` in x and `[ty, ty + 1) / 2**L` in y (y up, as
in the plot). Every point has a fixed priority: its position in one seeded
random permutation. A tile answers its points of lowest priority, at most
`TILE_POINTS`, so each tile shows a uniform sample of its points, density is
kept, and a point shown at one level is shown at every finer one (zooming in
adds points, never swaps them). Non-finite coordinates are left out of every
tile and counted.

Pure numpy, no TensorBoard: `plugin.py` serves it.
"""

import numpy as np

TILE_POINTS = 2048  # points per tile answer at most
# Records store coordinates as float16 times a per-point scale (11 significant bits): past 2**12 tiles a
# side, tiles would cut between points that the record cannot tell apart.
MAX_LEVEL = 12
_SEED = 0


class TileIndex:
    """The quadtree of one record's `coords [N, 2]`, levels built on first use."""

    def __init__(self, coords):
        coords = np.asarray(coords, np.float64).reshape(-1, 2)
        self.n = len(coords)
        finite = np.isfinite(coords).all(axis=1)
        self.nonfinite = int((~finite).sum())
        kept = np.flatnonzero(finite)
        priority = np.random.default_rng(_SEED).permutation(self.n)
        order = kept[np.argsort(priority[kept], kind="stable")]  # finite points, lowest priority first
        self.order = order
        xy = coords[order]
        if len(xy):
            lo, hi = xy.min(axis=0), xy.max(axis=0)
        else:
            lo, hi = np.zeros(2), np.ones(2)
        span = np.where(hi > lo, hi - lo, 1.0)
        self.bounds = [float(lo[0]), float(lo[1]), float(lo[0] + span[0]), float(lo[1] + span[1])]
        unit = (xy - lo) / span
        self.unit = np.clip(unit, 0.0, np.nextafter(1.0, 0.0))  # the max lands in the last tile
        self.coords = coords
        self._levels = {}

    def _level(self, level):
        """`(cell ids sorted, positions into self.order in that order)` at one level."""
        if level not in self._levels:
            side = 1 << level
            cells = np.floor(self.unit * side).astype(np.int64)
            ids = cells[:, 1] * side + cells[:, 0]
            by_cell = np.argsort(ids, kind="stable")  # stable: priority order within a cell
            self._levels[level] = (ids[by_cell], by_cell)
        return self._levels[level]

    def tile(self, level, tx, ty, limit=TILE_POINTS):
        """`(indices, total)`: the tile's first `limit` point indices by priority, and how many it holds."""
        side = 1 << level
        ids, by_cell = self._level(level)
        cell = ty * side + tx
        start, stop = np.searchsorted(ids, cell, "left"), np.searchsorted(ids, cell, "right")
        chosen = self.order[by_cell[start:min(stop, start + limit)]]
        return chosen, int(stop - start)


THUMB_TILE_MAX = 256  # thumbnails per /embedding_thumbs sheet at most (a tile shown whole, zoomed in)
_MAX_SHEET_SIDE = 8192


def _column(header, key, n, kind):
    """A header list of one value per point as a numpy array (NaN / -1 for missing), or None."""
    values = header.get(key)
    if not isinstance(values, list) or len(values) != n:
        return None
    if kind == "int":
        return np.array([v if isinstance(v, int) and not isinstance(v, bool) else -1 for v in values], np.int64)
    return np.array([v if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan for v in values],
                    np.float64)


class EmbeddingView:
    """What the embeddings view asks of one record: a summary, tiles, one point, a tile's thumbnails.

    Raises ValueError (answered 404 by the plugin) when the record's arrays do
    not make an embedding: `coords` not `[N, 2]` floats.
    """

    def __init__(self, header, arrays):
        coords = arrays.get("coords")
        if coords is None or coords.ndim != 2 or coords.shape[1] != 2 or not coords.shape[0] \
                or coords.dtype.kind != "f":
            raise ValueError(f"`coords` is not [N, 2] floats ({None if coords is None else list(coords.shape)})")
        self.n = n = coords.shape[0]
        self.header = header
        self.index = TileIndex(coords)
        self.labels = _column(header, "labels", n, "int")
        self.predictions = _column(header, "predictions", n, "int")
        self.probabilities = _column(header, "probabilities", n, "float")
        neighbors = arrays.get("neighbors")
        self.neighbors = neighbors if neighbors is not None and neighbors.ndim == 2 and len(neighbors) == n \
            and neighbors.dtype.kind in "iu" else None
        thumbs = arrays.get("thumbnails")
        self.thumbnails = thumbs if thumbs is not None and thumbs.dtype == np.uint8 and len(thumbs) == n and (
            thumbs.ndim == 3 or (thumbs.ndim == 4 and thumbs.shape[-1] in (1, 3, 4))) \
            and 0 < thumbs.shape[1] <= 256 and 0 < thumbs.shape[2] <= 256 else None
        self.nbytes = sum(a.nbytes for a in (coords, self.neighbors, self.thumbnails) if a is not None)

    def info(self):
        """The header without its per-point lists, with class counts, bounds and sizes."""
        per_point = ("labels", "predictions", "probabilities")
        header = {k: v for k, v in self.header.items() if k not in per_point}
        counts = {}
        for key, column in (("label", self.labels), ("prediction", self.predictions)):
            if column is not None:
                classes, count = np.unique(column[column >= 0], return_counts=True)
                counts[key] = {str(int(c)): int(m) for c, m in zip(classes, count)}
        notes = []
        for key in per_point:
            if self.header.get(key) is not None and getattr(self, key) is None:
                notes.append(f"the header's `{key}` does not hold one entry per point: left out")
        if self.index.nonfinite:
            notes.append(f"{self.index.nonfinite} points with non-finite coordinates are not drawn")
        return {
            "n": self.n, "bounds": self.index.bounds, "tile_points": TILE_POINTS, "max_level": MAX_LEVEL,
            "thumb_tile_max": THUMB_TILE_MAX, "header": header, "counts": counts,
            "has": {"labels": self.labels is not None, "predictions": self.predictions is not None,
                    "probabilities": self.probabilities is not None, "neighbors": self.neighbors is not None},
            "neighbors_k": 0 if self.neighbors is None else int(self.neighbors.shape[1]),
            "thumbnail": None if self.thumbnails is None else list(self.thumbnails.shape[1:3]),
            "notes": notes,
        }

    def _points(self, indices):
        xy = self.index.coords[indices]
        out = {"index": indices.tolist(), "x": np.round(xy[:, 0], 6).tolist(), "y": np.round(xy[:, 1], 6).tolist()}
        for key, column in (("label", self.labels), ("prediction", self.predictions)):
            out[key] = None if column is None else column[indices].tolist()
        out["probability"] = None if self.probabilities is None else [
            None if not np.isfinite(p) else round(float(p), 4) for p in self.probabilities[indices]]
        return out

    def tile(self, level, tx, ty):
        indices, total = self.index.tile(level, tx, ty)
        body = {"level": level, "tx": tx, "ty": ty, "total": total, "complete": total <= TILE_POINTS}
        body.update(self._points(indices))
        return body

    def point(self, i):
        """Point `i` with its recorded neighbours (those in range; the others counted)."""
        body = {k: None if v is None else v[0] for k, v in self._points(np.array([i])).items()}
        row = [] if self.neighbors is None else [int(j) for j in self.neighbors[i]]
        kept = np.array([j for j in row if 0 <= j < self.n and j != i], np.int64)
        body["neighbors"] = self._points(kept)
        body["neighbors_dropped"] = len(row) - len(kept)
        return body

    def thumbs(self, level, tx, ty):
        """`(sheet uint8, columns, count)`: the tile's thumbnails in its point order, row-major; None when too many."""
        if self.thumbnails is None:
            return None
        indices, total = self.index.tile(level, tx, ty)
        if total > THUMB_TILE_MAX or not len(indices):
            return None
        items = self.thumbnails[indices]
        h, w = items.shape[1:3]
        columns = int(np.ceil(np.sqrt(len(items))))
        rows = -(-len(items) // columns)
        sheet = np.zeros((rows * h, columns * w) + items.shape[3:], np.uint8)
        for k, item in enumerate(items):
            r, c = divmod(k, columns)
            sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = item
        return sheet, columns, len(items)
