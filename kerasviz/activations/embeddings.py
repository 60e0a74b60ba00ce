"""FC-layer embeddings: features, nearest neighbours, PCA / t-SNE maps and image grids."""

import math
import numbers
import typing

import numpy as np
import tensorflow as tf

from kerasviz import compiled, display, image, inputs, models, progress

_POOLS = ("avg", "max", None)
_METRICS = ("euclidean", "cosine")
_METHODS = ("pca", "tsne")
_TSNE_ITERATIONS = 1000  # scikit-learn's default, explicit so that the progress bar knows it
_TSNE_ONE_THREAD_MAX = 5000
EXACT_ASSIGNMENT_MAX = 2000  # embedding_grid: Hungarian assignment up to this many images


def _feature_function(model, path, pool, shape):
    """The compiled `images [B, *shape] -> features [B, D]` for one layer, traced once per shape."""

    def build(model_ref):
        def forward(images):
            _, captured = models.run(model_ref(), images, capture=(path,), logits=False)
            values = captured[path]
            if not isinstance(values, tf.Tensor):
                raise ValueError(
                    f"Received an invalid value for `layer`: {path!r} returns "
                    f"{type(values).__name__}, not one tensor."
                )
            values = tf.cast(values, tf.float32)
            rank = values.shape.rank
            if rank > 2 and pool is not None:
                reduce = tf.reduce_mean if pool == "avg" else tf.reduce_max
                values = reduce(values, axis=list(range(1, rank - 1)))
            return tf.reshape(values, [tf.shape(values)[0], -1])

        return forward

    signature = [tf.TensorSpec([None, *shape], tf.float32)]
    return compiled.compiled_function(model, ("features", path, pool, shape), build, signature)


def _raw_batches(data, batch_size):
    """Yields `(array, from_dataset)` pieces of `data`, never holding a whole dataset."""
    if isinstance(data, tf.data.Dataset):
        for element in data:  # one batch held at a time (add `.prefetch()` to overlap the pipeline)
            if isinstance(element, (tuple, list)):
                element = element[0]
            if isinstance(element, dict):
                raise TypeError(
                    "Expected `data` to yield image batches or (images, labels) tuples. "
                    "Received a dataset of dicts."
                )
            yield element, True
        return
    array = data.numpy() if isinstance(data, (tf.Tensor, tf.Variable)) else data
    try:
        array = np.asarray(array)
    except (TypeError, ValueError) as error:
        raise TypeError(
            "Expected `data` to be a numpy array, a tensor or a tf.data.Dataset of images. "
            f"Received: {type(data).__name__} ({error})."
        ) from None
    if array.ndim != 4 or len(array) == 0:
        yield array, False  # check_images raises the right error
        return
    for start, stop in inputs.batches(len(array), batch_size):
        yield array[start:stop], False


def features(model, data, layer=None, *, batch_size=None, pool="avg") -> np.ndarray:
    """The outputs of one layer for a stream of images: the "CNN codes".

    The activations of a late layer (by default the fully connected layer
    before the classifier, after its ReLU: AlexNet's 4096-D "fc7" codes of
    Krizhevsky et al., 2012, section 6.1, and CS231n's "t-SNE of CNN codes")
    place images that the network sees alike close together. Images are
    streamed: a `tf.data.Dataset` is iterated batch by batch and each batch is
    checked (rank, size, finite values) on its own, so memory grows with the
    features, not with the images. One compiled function per (model, layer,
    pool, image shape), traced once. Costs one forward pass of the whole model
    per image: 0.8 to 1.0 times the throughput of the model's own compiled
    forward pass at the same batch size (`benchmarks/activations.py`, 2 CPU
    cores; the per-batch check costs most on tiny models).

    Args:
        model: a built Keras image model (any form; a nested layer is named by
            its path, e.g. `"backbone/conv2"`).
        data: images `[N, H, W, C]` in the model's own input space: a numpy
            array, a tensor, or a `tf.data.Dataset` yielding batches (or
            `(images, labels)` tuples).
        layer: a layer name, path, index or object; default: the `Dense`
            layer before the last one
            (`kerasviz.models.default_layer(model, "embedding")`): the
            classifier's input, the "CNN code" (VGG's fc2, a ResNet's global
            pooling; an all-convolutional net's class-map conv input, pooled).
        batch_size: at most this many images per compiled call (default 32;
            larger dataset batches are split); results do not depend on it.
        pool: for layers with spatial outputs `[B, h, w, C]`: `"avg"`
            (default: global average, `[N, C]`), `"max"` (global max) or
            `None` (flatten, `[N, h * w * C]`). 2-D outputs are kept as they are.

    Returns:
        float32 `[N, D]`.

    Raises:
        ValueError: invalid `images` (in any batch), `layer`, `batch_size` or
            `pool`; an empty dataset; a dataset whose batches give features of
            different sizes (`pool=None` with images of different sizes).
        TypeError: `data` is not image data.

    Example:

    >>> codes = kerasviz.features(model, dataset)  # [N, 64] from the "fc" layer
    """
    models.check_model(model)
    batch_size = inputs.check_batch_size(batch_size)
    if pool not in _POOLS:
        raise ValueError(f"Received an invalid value for `pool`: {pool!r}. Expected 'avg', 'max' or None.")
    if layer is None:
        layer = models.default_layer(model, "embedding")
    path, _ = models.get_layer(model, layer)
    outputs = []
    for index, (raw, from_dataset) in enumerate(_raw_batches(data, batch_size)):
        try:
            batch = inputs.check_images(model, np.asarray(raw), "data")
        except ValueError as error:
            if not from_dataset:
                raise
            raise ValueError(
                f"{error} (batch {index} of the dataset; a dataset must yield batches "
                "[B, H, W, C], for example `dataset.batch(32)`)"
            ) from None
        function = _feature_function(model, path, pool, batch.shape[1:])
        if from_dataset and raw.dtype == tf.float32 and len(batch) <= batch_size:
            outputs.append(function(raw).numpy())  # the checked tensor itself: no copy
            continue
        for start, stop in inputs.batches(len(batch), batch_size):
            outputs.append(function(tf.constant(batch[start:stop])).numpy())
    if not outputs:
        raise ValueError("Received an empty dataset for `data`.")
    sizes = sorted({o.shape[1] for o in outputs})
    if len(sizes) > 1:
        raise ValueError(
            f"The batches of `data` give features of different sizes {sizes} at layer {path!r}; "
            "use images of one size or `pool='avg'`."
        )
    return np.concatenate(outputs, axis=0)


def _matrix(value, argname):
    """A finite 2-D float array (float32 kept, other dtypes to float64)."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"Expected `{argname}` to hold numbers. Received dtype {array.dtype}.")
    if array.ndim != 2 or array.size == 0:
        raise ValueError(
            f"Received an invalid value for `{argname}`: shape {array.shape}. "
            "Expected a non-empty 2-D array [N, D]."
        )
    if array.dtype != np.float32:
        array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"Received NaN or inf values in `{argname}` (shape {array.shape}).")
    return array


def nearest_neighbors(features, queries=None, k=5, *, metric="euclidean", exclude_self=False):
    """The `k` nearest neighbours of each query among `features`.

    With the features of a late layer, neighbours are images the network sees
    as alike, even when their pixels differ (Krizhevsky et al., 2012, figure 4;
    CS231n). Exact search with scikit-learn's `NearestNeighbors` (brute force
    or a tree, its choice): costs `O(Q * N * D)` at worst; every one of 10k
    4096-D points against the others took 10 s on 2 CPU cores.

    Args:
        features: `[N, D]`, the points searched (for example `features(model, train)`).
        queries: `[Q, D]` query vectors, a 1-D int array of indices into
            `features`, or `None` for every point of `features`.
        k: neighbours per query.
        metric: `"euclidean"` or `"cosine"` (`1 - cosine similarity`).
        exclude_self: with index queries (or `None`), leave the query point
            itself out of its neighbours.

    Returns:
        `(indices, distances)`: int64 `[Q, k]` into `features` and float32
        `[Q, k]`, nearest first.

    Raises:
        ValueError: shapes do not match, NaN/inf, index out of range, `k` not
            in `[1, N]` (`N - 1` with `exclude_self`), unknown `metric`,
            `exclude_self` with query vectors.

    Example:

    >>> indices, _ = kerasviz.nearest_neighbors(train_codes, test_codes[:8], k=5)
    >>> picture = kerasviz.neighbors_figure(train_images, indices, query_images=test_images[:8])
    """
    from sklearn.neighbors import NearestNeighbors

    points = _matrix(features, "features")
    n = len(points)
    if metric not in _METRICS:
        raise ValueError(f"Received an invalid value for `metric`: {metric!r}. Expected one of {_METRICS}.")
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
        vectors = points[own]
    else:
        vectors = _matrix(queries, "queries")
        if vectors.shape[1] != points.shape[1]:
            raise ValueError(
                f"Received `queries` of shape {vectors.shape} for `features` of shape "
                f"{points.shape}: the feature sizes differ."
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
    search = NearestNeighbors(n_neighbors=k + extra, metric=metric).fit(points)
    distances, indices = search.kneighbors(vectors, k + extra)
    if extra:
        keep = indices != own[:, None]
        keep[keep.all(axis=1), -1] = False  # self not returned (duplicates): drop the farthest
        indices = indices[keep].reshape(len(vectors), k)
        distances = distances[keep].reshape(len(vectors), k)
    return indices.astype(np.int64), distances.astype(np.float32)


def _images(value, argname):
    array = np.asarray(value)
    if array.dtype.kind not in "iuf" or array.ndim not in (3, 4) or array.size == 0:
        raise ValueError(
            f"Received an invalid value for `{argname}`: shape {array.shape}, dtype {array.dtype}. "
            "Expected images [N, H, W] or [N, H, W, C] in display space [0, 1]."
        )
    return array.astype(np.float32)


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
    pictures = _images(images, "images")
    idx = np.asarray(indices)
    if idx.ndim != 2 or idx.dtype.kind not in "iu" or idx.size == 0:
        raise ValueError(f"Received an invalid value for `indices`: shape {idx.shape}, dtype "
                         f"{idx.dtype}. Expected a non-empty int array [Q, k].")
    if idx.min() < 0 or idx.max() >= len(pictures):
        raise ValueError(f"Received `indices` outside [0, {len(pictures)}), the rows of `images`.")
    rows = pictures[idx]  # [Q, k, H, W(, C)]
    if query_images is not None:
        queries = _images(query_images, "query_images")
        if queries.shape != (len(idx),) + pictures.shape[1:]:
            raise ValueError(
                f"Received `query_images` of shape {queries.shape}; expected {len(idx)} images "
                f"of shape {pictures.shape[1:]} (one per row of `indices`)."
            )
        rows = np.concatenate([queries[:, None], rows], axis=1)
    return image.tile(rows.reshape((-1,) + pictures.shape[1:]), cols=rows.shape[1], pad=pad)


def project(features, method="pca", *, dims=2, seed=0, perplexity=30.0, verbose=0) -> np.ndarray:
    """2-D or 3-D coordinates of feature vectors, by PCA or t-SNE.

    PCA (scikit-learn's `PCA`; a seeded randomized SVD for large inputs) keeps
    the directions of largest variance. t-SNE (van der Maaten & Hinton, 2008;
    scikit-learn's Barnes-Hut `TSNE` with `init="pca"` and
    `learning_rate="auto"`) keeps neighbourhoods; as is standard, features with
    more than 50 dimensions are first reduced to 50 by PCA. Both are
    deterministic for a given `seed`. Measured cost (`benchmarks/activations.py`,
    2 CPU cores, 4096-D random float32 features): PCA 0.14 s for 1k points and
    0.8 s for 10k; t-SNE 3.5 s for 1k points and about 75 s for 10k.

    Args:
        features: `[N, D]`, for example from `features`.
        method: `"pca"` or `"tsne"`.
        dims: 2 or 3.
        seed: int in `[0, 2**32)` seeding scikit-learn's `random_state`: the
            randomized SVD PCA uses on large inputs. t-SNE starts from a PCA
            initialization and is otherwise deterministic, so small inputs
            give the same map for every seed.
        perplexity: t-SNE's effective number of neighbours (5 to 50 is usual);
            needs `N > 3 * perplexity`.
        verbose: 0 (silent, the default) or 1: a Keras progress bar over
            t-SNE's iterations (scikit-learn's log, read as it runs; PCA is
            quick and shows none).

    Returns:
        float32 `[N, dims]`.

    Raises:
        ValueError: unknown `method`, `dims` not 2 or 3, too few samples or
            dimensions (t-SNE: `N <= 3 * perplexity` or `N < 5`), invalid
            `seed` or `perplexity`, NaN/inf in `features`.

    Example:

    >>> xy = kerasviz.project(codes, "tsne", perplexity=30)
    >>> picture = kerasviz.embedding_grid(display_images, xy).image
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = _matrix(features, "features")
    verbose = progress.check_verbose(verbose)
    n, d = x.shape
    if method not in _METHODS:
        raise ValueError(f"Received an invalid value for `method`: {method!r}. Expected 'pca' or 'tsne'.")
    if isinstance(dims, bool) or dims not in (2, 3):
        raise ValueError(f"Received an invalid value for `dims`: {dims!r}. Expected 2 or 3.")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f"Received an invalid value for `seed`: {seed!r}. Expected an int in [0, 2**32).")
    if n < dims or d < dims:
        raise ValueError(
            f"Received `features` of shape {x.shape}: a {dims}-D projection needs at least "
            f"{dims} samples and {dims} dimensions."
        )
    if method == "pca":
        return PCA(n_components=dims, random_state=seed).fit_transform(x).astype(np.float32)
    if isinstance(perplexity, bool) or not isinstance(perplexity, numbers.Real) or not perplexity > 0:
        raise ValueError(f"Received an invalid value for `perplexity`: {perplexity!r}. Expected a float > 0.")
    if n < 5 or n <= 3 * perplexity:
        raise ValueError(
            f"Received too few samples in `features` for t-SNE: {n} samples with "
            f"perplexity={perplexity} (needs more than 3 * perplexity = {3 * perplexity:g}, "
            "and at least 5). Pass more samples or a smaller `perplexity`."
        )
    if d > 50:
        x = PCA(n_components=min(50, n), random_state=seed).fit_transform(x)
    # One OpenMP thread up to a few thousand points: on 2 busy cores (TensorFlow's threads, other
    # processes), 300 points took 8.2 s with the default threads and 0.9 s with one.
    threads = 1 if n <= _TSNE_ONE_THREAD_MAX else None
    with threadpool_limits(threads, user_api="openmp"), \
            progress.sklearn_iterations(_TSNE_ITERATIONS, verbose) as sklearn_verbose:
        tsne = TSNE(n_components=dims, perplexity=float(perplexity), init="pca", learning_rate="auto",
                    max_iter=_TSNE_ITERATIONS, random_state=seed, verbose=sklearn_verbose)
        return tsne.fit_transform(x).astype(np.float32)


class EmbeddingGrid(typing.NamedTuple):
    """Images on a regular grid. `image`: float32 picture in [0, 1]; `cells`: int `[N, 2]` (row, col) per image."""

    image: np.ndarray
    cells: np.ndarray

    # Shown as a labelled picture in Jupyter (see `kerasviz.display`).
    _repr_png_ = display.repr_png
    _repr_html_ = display.repr_html


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
    pictures = inputs.check_finite(_images(raw, "images"), "images")
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
    points = _matrix(coords, "coords").astype(np.float64)
    n = len(pictures)
    if points.shape != (n, 2):
        raise ValueError(f"Received `coords` of shape {points.shape}; expected [{n}, 2] for {n} images.")
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
    grid_points = np.stack([_unit(-points[:, 1], rows - 1), _unit(points[:, 0], cols - 1)], axis=1)
    centres = np.stack(np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij"), -1).reshape(-1, 2)
    flat = _assign(grid_points, centres.astype(np.float64))
    canvas = np.ones((rows * h, cols * w) + pictures.shape[3:], np.float32)
    for i, c in enumerate(flat):
        r, q = divmod(int(c), cols)
        canvas[r * h:(r + 1) * h, q * w:(q + 1) * w] = pictures[i]
    return EmbeddingGrid(canvas, np.stack(np.divmod(flat, cols), axis=1).astype(np.int64))
