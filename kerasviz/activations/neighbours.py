"""Nearest neighbours in feature space: exact (scikit-learn) or approximate (HNSW, hnswlib), and their figure."""

import logging
import os

import numpy as np

from kerasviz import image, inputs
from kerasviz.activations import points

logger = logging.getLogger("kerasviz")

_METRICS = ("euclidean", "cosine")
_INDEXES = ("auto", "exact", "hnsw")
# `index="auto"` searches exactly up to this many points, approximately beyond (benchmarks/embeddings.py).
EXACT_NEIGHBORS_MAX = 150_000
_HNSW = {"M": 16, "ef_construction": 200, "ef": 64}  # hnswlib's recommended range; recall 0.968 at 100k, 128-D


def _exact(points_, vectors, k, metric):
    from sklearn.neighbors import NearestNeighbors

    search = NearestNeighbors(n_neighbors=k, metric=metric).fit(points_)
    distances, indices = search.kneighbors(vectors, k)
    return indices, distances


def _hnsw(points_, vectors, k, metric):
    import hnswlib

    index = hnswlib.Index(space="l2" if metric == "euclidean" else "cosine", dim=points_.shape[1])
    index.init_index(max_elements=len(points_), M=_HNSW["M"], ef_construction=_HNSW["ef_construction"],
                     random_seed=0)
    index.set_num_threads(os.cpu_count() or 1)
    index.add_items(np.asarray(points_, np.float32), np.arange(len(points_)))
    index.set_ef(max(_HNSW["ef"], k))
    indices, distances = index.knn_query(np.asarray(vectors, np.float32), k)
    distances = np.sqrt(np.maximum(distances, 0)) if metric == "euclidean" else distances
    return indices.astype(np.int64), distances


def nearest_neighbors(features, queries=None, k=5, *, metric="euclidean", exclude_self=False, index="auto"):
    """The `k` nearest neighbours of each query among `features`.

    With the features of a late layer, neighbours are images the network sees
    as alike, even when their pixels differ (Krizhevsky et al., 2012, figure 4;
    CS231n). Two searches, chosen by measurement (`benchmarks/embeddings.py`,
    128-D clustered features, every point its own query, k=5, on 2 CPU cores
    shared with a load average of ~16, so seconds are inflated):

    - `"exact"`: scikit-learn's `NearestNeighbors` (brute force or a tree,
      its choice), `O(Q * N * D)`: 1.0 s for 1k points, 8.5 s for 10k, 122 s
      for 100k (a k-d tree: 44 s at 10k; faiss's flat index: 7.8 s at 10k,
      not enough faster to add a dependency).
    - `"hnsw"`: an approximate HNSW graph (Malkov & Yashunin, 2018; hnswlib,
      M=16, ef=64), `O(N log N)`: 14 s for 10k points (recall 1.000 against
      the exact search) and 177 s for 100k (recall 0.968); faiss's HNSW
      took 21 s at 10k. Built with all cores, so ties and missed neighbours
      can differ from run to run.

    `"auto"` searches exactly up to `EXACT_NEIGHBORS_MAX` (150,000) points:
    at 100k the exact search was still the faster one here; beyond, where
    its quadratic cost (extrapolated) passes HNSW's, it uses HNSW and says so
    in the "kerasviz" log.

    Args:
        features: `[N, D]`, the points searched (for example `features(model, train)`).
        queries: `[Q, D]` query vectors, a 1-D int array of indices into
            `features`, or `None` for every point of `features`.
        k: neighbours per query.
        metric: `"euclidean"` or `"cosine"` (`1 - cosine similarity`).
        exclude_self: with index queries (or `None`), leave the query point
            itself out of its neighbours.
        index: `"auto"`, `"exact"` or `"hnsw"` (see above).

    Returns:
        `(indices, distances)`: int64 `[Q, k]` into `features` and float32
        `[Q, k]`, nearest first.

    Raises:
        ValueError: shapes do not match, NaN/inf, index out of range, `k` not
            in `[1, N]` (`N - 1` with `exclude_self`), unknown `metric` or
            `index`, `exclude_self` with query vectors.

    Example:

    >>> indices, _ = kerasviz.nearest_neighbors(train_codes, test_codes[:8], k=5)
    >>> picture = kerasviz.neighbors_figure(train_images, indices, query_images=test_images[:8])
    """
    data = points.matrix(features, "features")
    n = len(data)
    if metric not in _METRICS:
        raise ValueError(f"Received an invalid value for `metric`: {metric!r}. Expected one of {_METRICS}.")
    if index not in _INDEXES:
        raise ValueError(f"Received an invalid value for `index`: {index!r}. Expected one of {_INDEXES}.")
    own = None
    if queries is None:
        own = np.arange(n)
    elif np.asarray(queries).ndim == 1 and np.asarray(queries).dtype.kind in "iu":
        own = np.asarray(queries, np.int64)
        if own.size == 0 or own.min() < -n or own.max() >= n:
            raise ValueError(
                f"Received invalid indices in `queries` (shape {own.shape}): expected indices "
                f"into the {n} rows of `features`."
            )
        own = own % n
    if own is not None:
        vectors = data if queries is None else data[own]
    else:
        vectors = points.matrix(queries, "queries")
        if vectors.shape[1] != data.shape[1]:
            raise ValueError(
                f"Received `queries` of shape {vectors.shape} for `features` of shape "
                f"{data.shape}: the feature sizes differ."
            )
        if exclude_self:
            raise ValueError(
                "Received `exclude_self=True` with query vectors: pass `queries` as indices "
                "into `features` (or None) so that each query's own point is known."
            )
    extra = 1 if exclude_self else 0
    k = inputs.check_positive_int(k, "k")
    if k + extra > n:
        raise ValueError(
            f"Received an invalid value for `k`: {k}. `features` has {n} points"
            f"{' and each query excludes itself' if extra else ''}, so k <= {n - extra}."
        )
    if index == "auto":
        index = "exact" if n <= EXACT_NEIGHBORS_MAX else "hnsw"
        if index == "hnsw":
            logger.info("kerasviz: approximate (HNSW) neighbours for %d points (exact up to %d; "
                        "index='exact' to force it)", n, EXACT_NEIGHBORS_MAX)
    search = _exact if index == "exact" else _hnsw
    indices, distances = search(data, vectors, k + extra, metric)
    if extra:
        keep = indices != own[:, None]
        keep[keep.all(axis=1), -1] = False  # self not returned (duplicates, or missed by HNSW): drop the farthest
        indices = indices[keep].reshape(len(vectors), k)
        distances = distances[keep].reshape(len(vectors), k)
    return indices.astype(np.int64), distances.astype(np.float32)


def neighbors_figure(images, indices, *, query_images=None, pad=2) -> np.ndarray:
    """One row per query: the query image, then its neighbours, nearest first.

    The figure of Krizhevsky et al., 2012 (figure 4, right) and CS231n's
    "nearest neighbours in feature space". Built with `kerasviz.image.tile`.

    Args:
        images: `[N, H, W(, C)]` in display space [0, 1], the images of the
            points `indices` refer to.
        indices: int `[Q, k]` from `nearest_neighbors`.
        query_images: `[Q, H, W(, C)]` drawn first in each row; `None` draws
            the neighbours only.
        pad: white pixels between tiles.

    Returns:
        float32 `[Q * (H + pad) - pad, (k + 1) * (W + pad) - pad(, C)]`
        (`k` columns without `query_images`).

    Raises:
        ValueError: shapes do not match, indices out of range.
    """
    pictures = points.display_images(images, "images")
    idx = np.asarray(indices)
    if idx.ndim != 2 or idx.dtype.kind not in "iu" or idx.size == 0:
        raise ValueError(f"Received an invalid value for `indices`: shape {idx.shape}, dtype "
                         f"{idx.dtype}. Expected a non-empty int array [Q, k].")
    if idx.min() < 0 or idx.max() >= len(pictures):
        raise ValueError(f"Received `indices` outside [0, {len(pictures)}), the rows of `images`.")
    rows = pictures[idx]  # [Q, k, H, W(, C)]
    if query_images is not None:
        queries = points.display_images(query_images, "query_images")
        if queries.shape != (len(idx),) + pictures.shape[1:]:
            raise ValueError(
                f"Received `query_images` of shape {queries.shape}; expected {len(idx)} images "
                f"of shape {pictures.shape[1:]} (one per row of `indices`)."
            )
        rows = np.concatenate([queries[:, None], rows], axis=1)
    return image.tile(rows.reshape((-1,) + pictures.shape[1:]), cols=rows.shape[1], pad=pad)
