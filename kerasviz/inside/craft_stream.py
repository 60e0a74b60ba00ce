"""CRAFT's patches and its streamed fit: NMF of the patches' pooled activations, one batch of images at a time.

`cut_patches` and `pooled_patches` are the patches of `craft.craft_concepts`
(both of its paths); `streamed_factorization` is its streamed path: the
images come from a `tf.data.Dataset` (or another re-iterable source of
batches), and scikit-learn's `MiniBatchNMF` (Mairal, Bach, Ponce & Sapiro,
2010, "Online Learning for Matrix Factorization and Sparse Coding"; the
multiplicative-update form of Lefèvre, Bach & Févotte, 2011) learns the bank
by `partial_fit` on chunks of `NMF_BATCH` patches, `passes` times over the
data; a last pass writes each patch in the fixed bank (non-negative least
squares) and sums the reconstruction error. Memory holds one batch of images,
one chunk of patch activations and, per patch, its `k` coefficients and origin
(not its `C` activations): `P * (4 k + 24)` bytes for `P` patches.
"""

import warnings

import numpy as np
import tensorflow as tf
from sklearn.decomposition import MiniBatchNMF, non_negative_factorization
from sklearn.exceptions import ConvergenceWarning

from kerasviz import inputs
from kerasviz.inside import building_blocks, streams

#: Fel et al., 2023 (and the authors' code, github.com/deel-ai/Craft): crops taken every 0.8 crop widths.
STRIDE_FRACTION = 0.8
#: Patches per `partial_fit` (scikit-learn's default `batch_size` of `MiniBatchNMF`).
NMF_BATCH = 1024
#: Passes of `partial_fit` over the stream, after the sampling pass and before the coefficients' pass.
PASSES = 1
#: Patches sampled (uniformly, in one pass) for the in-memory NMF that starts `MiniBatchNMF`; its iterations.
RESERVOIR = 4096
START_ITER = 1000
#: `MiniBatchNMF`'s default forget factor, per pass over the data as in its `fit`.
FORGET = 0.7


def cut_patches(images, size):
    """`(crops [P, size, size, c], origins [P, 3])`: every crop of side `size` every `0.8 * size` pixels."""
    stride = max(1, int(size * STRIDE_FRACTION))
    height, width = images.shape[1:3]
    rows, cols = range(0, height - size + 1, stride), range(0, width - size + 1, stride)
    origins = np.array([(n, r, c) for n in range(len(images)) for r in rows for c in cols], np.int64)
    crops = np.stack([images[n, r:r + size, c:c + size] for n, r, c in origins])
    return crops, origins


def pooled_patches(model, images, path, size, batch_size):
    """`(pooled float32 [P, C], origins [P, 3])`: each crop resized to the input size, its activation averaged."""
    height, width = images.shape[1:3]
    crops, origins = cut_patches(images, size)
    pooled = []
    for c, d in inputs.batches(len(crops), batch_size):
        resized = tf.image.resize(crops[c:d], (height, width), method="bilinear").numpy()
        values = streams.activations(model, resized, path, batch_size)
        pooled.append(streams.non_negative(values, path).mean(axis=(1, 2)))
    return np.concatenate(pooled), origins


def is_stream(images):
    """True for a `tf.data.Dataset` or another iterable of batches (not an array, a tensor, a list or a tuple)."""
    if isinstance(images, tf.data.Dataset):
        return True
    if isinstance(images, (np.ndarray, tf.Tensor, tf.Variable, list, tuple, str, bytes)) or \
            hasattr(images, "__array__"):
        return False
    return hasattr(images, "__iter__") or hasattr(images, "__getitem__")


def _batches(images, batch_size):
    """Yields float32 image batches `[B, H, W, c]` of a stream (the first part of tuple elements)."""
    if isinstance(images, tf.data.Dataset):
        for (batch,) in streams.batches(images, batch_size, "images"):
            yield batch
        return
    source = iter(images)
    if source is images:
        raise TypeError("Received a one-shot iterator for `images`: CRAFT's streamed fit reads the images several "
                        "times. Pass a `tf.data.Dataset` (`tf.data.Dataset.from_generator` wraps a generator) or "
                        "an iterable that restarts on each `iter()`.")
    for element in source:
        yield np.asarray(element[0] if isinstance(element, (tuple, list)) else element)


def _pooled_stream(model, images, path, size, batch_size, value_range):
    """Yields `(pooled [p, C], origins [p, 3])` per batch of the stream, image indices counted along it."""
    seen = 0
    for batch in _batches(images, max(1, batch_size // 4)):
        checked = streams.check_batch(model, batch, value_range, "images")
        pooled, origins = pooled_patches(model, checked, path, size, batch_size)
        yield pooled.astype(np.float64), origins + [seen, 0, 0]
        seen += len(checked)


def _chunks(pooled_stream):
    """Regroups the stream's rows into chunks of exactly `NMF_BATCH` rows (the last one smaller)."""
    pending, rows = [], 0
    for pooled, _ in pooled_stream:
        pending.append(pooled)
        rows += len(pooled)
        while rows >= NMF_BATCH:
            joined = np.concatenate(pending)
            yield joined[:NMF_BATCH]
            pending, rows = [joined[NMF_BATCH:]], rows - NMF_BATCH
    if rows:
        yield np.concatenate(pending)


def _reservoir(pooled_stream, size, rng):
    """`(sample [min(P, size), C], P)`: a uniform sample of the stream's rows (Vitter's algorithm R), in order."""
    sample, kept, seen = None, None, 0
    for pooled, _ in pooled_stream:
        if sample is None:
            sample, kept = np.empty((size, pooled.shape[1])), np.empty(size, np.int64)
        for row in pooled:
            slot = seen if seen < size else rng.integers(0, seen + 1)
            if slot < size:
                sample[slot], kept[slot] = row, seen
            seen += 1
    count = min(seen, size)
    return sample[:count][np.argsort(kept[:count], kind="stable")], seen


def first_batch(images, batch_size):
    """The stream's first batch of images (to read their size), or a ValueError when it is empty."""
    for batch in _batches(images, max(1, batch_size // 4)):
        return batch
    raise ValueError("Received an empty stream for `images`.")


def streamed_factorization(model, images, path, size, concepts, *, batch_size, seed, passes, value_range):
    """`(bank [k, C], coefficients [P, k], origins [P, 3], error)` of the stream's patches (`MiniBatchNMF`).

    A first pass draws `RESERVOIR` patches uniformly (seeded) and counts
    them; the in-memory NMF of the sample (`building_blocks.factorize`)
    starts `MiniBatchNMF` (`init="custom"`), whose `partial_fit` then reads
    every patch `passes` times in chunks of `NMF_BATCH`, forgetting as its
    `fit` does over `P` rows (`forget_factor ** (NMF_BATCH / P)` per chunk).
    Deterministic for a fixed order of the images. The bank's rows are then
    scaled to unit length and a last pass writes each patch in it
    (non-negative least squares, as `concept_coefficients`) and sums
    `||A - U W||` and `||A||`.
    """
    rng = np.random.default_rng(seed)
    sample, count = _reservoir(_pooled_stream(model, images, path, size, batch_size, value_range), RESERVOIR, rng)
    if concepts > min(sample.shape):
        raise ValueError(f"Received `concepts={concepts}`, more than the {min(sample.shape)} that the patches' "
                         f"activations {sample.shape} (patches x channels of {path!r}) allow.")
    _, start, _ = building_blocks.factorize(sample, concepts, seed, START_ITER, path)
    rows = min(NMF_BATCH, count)
    nmf = MiniBatchNMF(concepts, init="custom", batch_size=NMF_BATCH, forget_factor=FORGET ** (rows / count),
                       random_state=seed % 2**32)
    for _ in range(passes):
        for chunk in _chunks(_pooled_stream(model, images, path, size, batch_size, value_range)):
            if hasattr(nmf, "components_"):
                nmf.partial_fit(chunk)
            else:  # the start: W is solved afresh for each chunk, its value here only passes the checks
                nmf.partial_fit(chunk, W=np.ones((len(chunk), concepts)), H=start.copy())
    bank = nmf.components_.astype(np.float64)
    norms = np.linalg.norm(bank, axis=1, keepdims=True)
    bank = bank / np.where(norms == 0, 1.0, norms)
    # The result, allocated once (its P rows are known since the first pass): no list to concatenate at the end.
    coefficients, origins = np.empty((count, concepts), np.float32), np.empty((count, 3), np.int64)
    filled, residual, total = 0, 0.0, 0.0
    for pooled, where in _pooled_stream(model, images, path, size, batch_size, value_range):
        if filled + len(pooled) > count:
            raise ValueError(f"Received a stream for `images` that yielded {count} patches on its first pass and "
                             "more on a later one: the streamed fit needs the same images on every pass.")
        with warnings.catch_warnings():  # a least-squares fit: its residual is the error returned
            warnings.simplefilter("ignore", ConvergenceWarning)
            u, _, _ = non_negative_factorization(pooled, H=bank, n_components=concepts, update_H=False,
                                                 max_iter=2000, tol=1e-6)
        residual += float(np.sum((pooled - u @ bank) ** 2))
        total += float(np.sum(pooled ** 2))
        coefficients[filled:filled + len(u)], origins[filled:filled + len(u)] = u, where
        filled += len(u)
    if filled != count:
        raise ValueError(f"Received a stream for `images` that yielded {count} patches on its first pass and "
                         f"{filled} on the last: the streamed fit needs the same images on every pass.")
    error = float(np.sqrt(residual / total)) if total else 0.0
    return bank.astype(np.float32), coefficients, origins, error
