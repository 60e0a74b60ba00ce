"""2-D and 3-D maps of feature vectors: PCA and t-SNE, with the library chosen by the number of points."""

import logging
import numbers
import os

import numpy as np

from kerasviz import progress
from kerasviz.activations import points

logger = logging.getLogger("kerasviz")

_METHODS = ("pca", "tsne")
_TSNE_ITERATIONS = 1000  # scikit-learn's default, explicit so that the progress bar knows it
_TSNE_ONE_THREAD_MAX = 5000
_OPENTSNE_ITERATIONS = (250, 500)  # openTSNE's defaults: early exaggeration, then the rest
# Above this many points, t-SNE runs on openTSNE's FFT-accelerated gradients (2-D maps) instead of
# scikit-learn's Barnes-Hut, and PCA streams the features in chunks (benchmarks/embeddings.py).
OPENTSNE_MIN = 3000  # measured: 1k points 55 s (scikit-learn) vs 155 s (FFT); 10k: > 900 s vs 154 s
STREAMED_PCA_MIN = 10_000_000  # N * D values (40 MB of float32): below, one in-memory PCA; from there, in chunks
COVARIANCE_PCA_MAX_DIMS = 4096  # streamed PCA: the exact covariance (D x D float64, 128 MB at 4096) up to here
_PCA_CHUNK_VALUES = 4_000_000  # values read per chunk by the incremental PCA (16 MB of float32)


def _chunks(n, d, dims):
    rows = max(_PCA_CHUNK_VALUES // max(d, 1), 5 * dims, 1)
    return [(start, min(start + rows, n)) for start in range(0, n, rows)]


def pca(x, dims, seed):
    """`[N, dims]` principal-component coordinates, float64; memory bounded by a chunk beyond `STREAMED_PCA_MIN`.

    Small inputs: scikit-learn's `PCA` (exact, or its seeded randomized SVD on
    large inputs). Large ones (a memory map from `features(..., out=...)`) are
    read chunk by chunk, never copied whole: up to `COVARIANCE_PCA_MAX_DIMS`
    dimensions, the exact covariance is summed over chunks (float64, `D x D`)
    and its top eigenvectors taken; wider features go through scikit-learn's
    `IncrementalPCA` (Ross et al., 2008) with 20 extra components, its
    approximation. Component signs follow scikit-learn's rule (the largest
    loading of each component positive).
    """
    from sklearn.decomposition import PCA, IncrementalPCA

    n, d = x.shape
    if n * d < STREAMED_PCA_MIN:
        return PCA(n_components=dims, random_state=seed).fit_transform(x)
    chunks = _chunks(n, d, dims + 20)
    if d <= COVARIANCE_PCA_MAX_DIMS:
        total, gram = np.zeros(d), np.zeros((d, d))
        for start, stop in chunks:
            block = np.asarray(x[start:stop], np.float64)
            total += block.sum(axis=0)
            gram += block.T @ block
        mean = total / n
        covariance = (gram - n * np.outer(mean, mean)) / max(n - 1, 1)
        _, vectors = np.linalg.eigh(covariance)
        components = vectors[:, ::-1][:, :dims].T
    else:
        if len(chunks) > 1 and chunks[-1][1] - chunks[-1][0] < dims + 20:  # partial_fit needs enough rows
            chunks[-2:] = [(chunks[-2][0], n)]
        model = IncrementalPCA(n_components=min(d, dims + 20, chunks[0][1] - chunks[0][0]))
        for start, stop in chunks:
            model.partial_fit(x[start:stop])
        mean, components = model.mean_, model.components_[:dims]
    largest = np.abs(components).argmax(axis=1)
    components = components * np.sign(components[np.arange(dims), largest])[:, None]
    out = np.empty((n, dims), np.float64)
    for start, stop in chunks:
        out[start:stop] = (np.asarray(x[start:stop], np.float64) - mean) @ components.T
    return out


def _sklearn_tsne(x, dims, perplexity, seed, verbose):
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    # One OpenMP thread up to a few thousand points: on 2 busy cores (TensorFlow's threads, other
    # processes), 300 points took 8.2 s with the default threads and 0.9 s with one.
    threads = 1 if len(x) <= _TSNE_ONE_THREAD_MAX else None
    with threadpool_limits(threads, user_api="openmp"), \
            progress.sklearn_iterations(_TSNE_ITERATIONS, verbose) as sklearn_verbose:
        tsne = TSNE(n_components=dims, perplexity=float(perplexity), init="pca", learning_rate="auto",
                    max_iter=_TSNE_ITERATIONS, random_state=seed, verbose=sklearn_verbose)
        return tsne.fit_transform(x)


def _opentsne(x, perplexity, seed, verbose):
    import openTSNE

    total = sum(_OPENTSNE_ITERATIONS)
    progbar = progress.bar(total, verbose, "iteration")
    done = [0]

    def advance(iteration, error, embedding):
        done[0] += 50
        progbar.update(min(done[0], total), values=[("KL", float(error))])

    tsne = openTSNE.TSNE(
        n_components=2, perplexity=float(perplexity), learning_rate="auto", initialization="pca",
        early_exaggeration_iter=_OPENTSNE_ITERATIONS[0], n_iter=_OPENTSNE_ITERATIONS[1],
        negative_gradient_method="fft", n_jobs=os.cpu_count() or 1, random_state=seed,
        callbacks=advance if progbar is not None else None, callbacks_every_iters=50)
    result = np.asarray(tsne.fit(np.ascontiguousarray(x, dtype=np.float64)))
    if progbar is not None:
        progbar.update(total, finalize=True)
    return result


def project(features, method="pca", *, dims=2, seed=0, perplexity=30.0, verbose=0) -> np.ndarray:
    """2-D or 3-D coordinates of feature vectors, by PCA or t-SNE.

    PCA keeps the directions of largest variance: scikit-learn's `PCA` (a
    seeded randomized SVD for large inputs); from `STREAMED_PCA_MIN` values
    the features are read in chunks (the exact covariance summed chunk by
    chunk, see `pca`), so a memory-mapped `features(..., out=...)` matrix is
    never loaded whole. scikit-learn's `IncrementalPCA` was measured and not
    taken: 8 times slower than the randomized SVD on 10k 128-D points, and
    approximate (0.998 of the top-2 variance). t-SNE (van der
    Maaten & Hinton, 2008) keeps neighbourhoods; as is standard, features with
    more than 50 dimensions are first reduced to 50 by PCA. Up to
    `OPENTSNE_MIN` points (and for 3-D maps) it runs scikit-learn's
    Barnes-Hut `TSNE` (`init="pca"`, `learning_rate="auto"`, 1000
    iterations); above, openTSNE's FFT-accelerated interpolation (Linderman
    et al., 2019; Poličar et al., 2024: approximate neighbours, 250
    early-exaggeration + 500 iterations, PCA initialization), which scales
    as `O(N)` where Barnes-Hut is `O(N log N)` with a large constant. Both
    are deterministic for a given `seed`. Measured (`benchmarks/embeddings.py`,
    50-D clustered features, 2 CPU cores shared with a load average of ~16,
    so seconds are inflated): 1k points took 55 s with scikit-learn, 66 s
    with openTSNE's Barnes-Hut and 155 s with its FFT (whose fixed cost per
    iteration dominates small maps); 10k points took more than 900 s with
    scikit-learn (stopped), 653 s with openTSNE's Barnes-Hut and 154 s with
    its FFT, whose cost grows about linearly from there: 100k points took
    410 s (peak RSS 0.83 GB) with openTSNE's FFT.

    Args:
        features: `[N, D]`, for example from `features` (a memory map too).
        method: `"pca"` or `"tsne"`.
        dims: 2 or 3.
        seed: int in `[0, 2**32)` seeding the randomized SVD of PCA and
            t-SNE's random state. Small inputs give the same map for every
            seed (t-SNE starts from PCA).
        perplexity: t-SNE's effective number of neighbours (5 to 50 is usual);
            needs `N > 3 * perplexity`.
        verbose: 0 (silent, the default) or 1: a Keras progress bar over
            t-SNE's iterations (PCA is quick and shows none).

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
    x = points.matrix(features, "features")
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
        return pca(x, dims, seed).astype(np.float32)
    if isinstance(perplexity, bool) or not isinstance(perplexity, numbers.Real) or not perplexity > 0:
        raise ValueError(f"Received an invalid value for `perplexity`: {perplexity!r}. Expected a float > 0.")
    if n < 5 or n <= 3 * perplexity:
        raise ValueError(
            f"Received too few samples in `features` for t-SNE: {n} samples with "
            f"perplexity={perplexity} (needs more than 3 * perplexity = {3 * perplexity:g}, "
            "and at least 5). Pass more samples or a smaller `perplexity`."
        )
    if d > 50:
        x = pca(x, min(50, n), seed)
    if n > OPENTSNE_MIN and dims == 2:
        logger.info("kerasviz: t-SNE of %d points with openTSNE (FFT gradients, approximate neighbours)", n)
        return _opentsne(x, perplexity, seed, verbose).astype(np.float32)
    return _sklearn_tsne(np.asarray(x), dims, perplexity, seed, verbose).astype(np.float32)
