"""The engine of the ordered-removal metrics: scores of images with a window of an order of pixels replaced.

Pixel flipping, region perturbation, selectivity, IROF, monotonicity, the
faithfulness estimate and ROAD all remove pixels in an order the map gives
(pixel by pixel, patch by patch, superpixel by superpixel) and read the
class score. Each perturbed image is `(order, lo, hi)`: the pixels whose
`order` lies in `[lo, hi)` are replaced (by the baseline of `kerasviz.fill`,
or by ROAD's noisy linear imputation), the others kept. The images are built
inside one compiled graph from the order and two ints per image, at most
`batch_size` at a time: only the windows travel from the host.
"""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, models
from kerasviz.gradients import core

# Rong et al. 2022's neighbour weights: 1/6 for the 4 direct neighbours, 1/12 for the 4 diagonal ones.
IMPUTATION_KERNEL = np.array([[1, 2, 1], [2, 0, 2], [1, 2, 1]], np.float32) / 12.0


def impute(images, removed, iterations):
    """Linear imputation in the graph: each removed pixel becomes the weighted mean of its neighbours.

    The fixed point of Rong et al. 2022's linear system (their eq. 3, the
    weights of `IMPUTATION_KERNEL`, pixels outside the image left out),
    reached by `iterations` Jacobi sweeps from each image's mean colour of
    its kept pixels. `images` float32 `[N, H, W, C]`, `removed` bool
    `[N, H, W]`.
    """
    channels = images.shape[-1]
    kernel = tf.constant(np.tile(IMPUTATION_KERNEL[:, :, None, None], [1, 1, channels, 1]))
    kept = 1.0 - tf.cast(removed, tf.float32)[..., None]
    ones = tf.ones_like(images[..., :1])
    weight = tf.nn.depthwise_conv2d(tf.tile(ones, [1, 1, 1, channels]), kernel, [1, 1, 1, 1], "SAME")
    mean = tf.reduce_sum(images * kept, axis=[1, 2], keepdims=True) / tf.maximum(
        tf.reduce_sum(kept, axis=[1, 2], keepdims=True), 1.0)
    start = images * kept + mean * (1.0 - kept)

    def sweep(_, values):
        neighbours = tf.nn.depthwise_conv2d(values, kernel, [1, 1, 1, 1], "SAME") / weight
        return _ + 1, images * kept + neighbours * (1.0 - kept)

    _, out = tf.while_loop(lambda i, _: i < iterations, sweep, (tf.constant(0), start))
    return out


def _function(prepared, probabilities, imputation):
    model = prepared.model
    iterations = imputation[0] if imputation else 0

    def build(model_ref):
        activation = models.output_activation(model_ref())

        def scores(images, baselines, order, lo, hi, local, classes, pair_ids, seed, noise, low, high):
            window = tf.gather(order, local)
            removed = (window >= lo[:, None, None]) & (window < hi[:, None, None])
            originals = tf.gather(images, local)
            if imputation:
                fill = impute(originals, removed, iterations)
                fill += noise * core.sample_normal(seed, pair_ids, tuple(shape))
                fill = tf.clip_by_value(fill, low, high)  # +-inf without a value range
            else:
                fill = tf.gather(baselines, local)
            logits, _ = models.run(model_ref(), tf.where(removed[..., None], fill, originals))
            outputs = models.probabilities(logits, activation) if probabilities else logits
            return tf.gather(outputs, classes, batch_dims=1)

        return scores

    shape = prepared.images.shape[1:]
    signature = [tf.TensorSpec([None, *shape], tf.float32), tf.TensorSpec([None, *shape], tf.float32),
                 tf.TensorSpec([None, *shape[:2]], tf.int32)] + [tf.TensorSpec([None], tf.int32)] * 4 + [
                     tf.TensorSpec([None], tf.int64), tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.float32)] + [
                     tf.TensorSpec([shape[-1]], tf.float32)] * 2
    return compiled.compiled_function(model, ("ordered_scores", shape, probabilities, iterations), build, signature)


def ordered_scores(prepared, classes, order, windows, baselines, *, probabilities=True, imputation=None,
                   seed=0, value_range=None):
    """The class score of each image with each window of its order replaced.

    Args:
        prepared: the call's `core.Prepared`.
        classes: int32 `[B]`, the class read per image.
        order: int32 `[B, H, W]`, each pixel's place in the removal order
            (its rank, or its region's rank).
        windows: int `[B, S, 2]`: perturbed image `s` of image `b` has the
            pixels with `lo <= order < hi` replaced.
        baselines: float32 `[B, H, W, C]`, what replaced pixels become.
        probabilities: read the probability (softmax of the logits) instead
            of the logit.
        imputation: None (the baselines), or `(iterations, noise)`: ROAD's
            noisy linear imputation (`impute`, plus Gaussian noise of std
            `noise` seeded by `seed` and the pair's global index).
        value_range: a resolved `kerasviz.inputs.ValueRange` or None: the
            imputed pixels are clipped into it (the baselines are used as
            given).

    Returns:
        float32 `[B, S]`. Costs `B * S` forward passes, `batch_size` at a time.
    """
    windows = np.asarray(windows, np.int32)
    n_images, samples = windows.shape[:2]
    function = _function(prepared, probabilities, imputation)
    flat = windows.reshape(-1, 2)
    channels = prepared.images.shape[-1]
    bounds = (-np.inf, np.inf) if value_range is None else (value_range.low, value_range.high)
    low, high = [np.broadcast_to(np.asarray(bound, np.float32), [channels]).copy() for bound in bounds]
    out = np.empty([n_images * samples], np.float32)
    for first, last, pair_ids, local in core.pair_chunks(n_images, samples, prepared.batch_size):
        part = slice(first, last + 1)
        out[pair_ids[0]:pair_ids[-1] + 1] = function(
            tf.constant(prepared.images[part]), tf.constant(baselines[part]), tf.constant(order[part]),
            tf.constant(flat[pair_ids, 0]), tf.constant(flat[pair_ids, 1]), tf.constant(local),
            tf.constant(classes[pair_ids // samples].astype(np.int32)), tf.constant(pair_ids),
            tf.constant(np.int64(seed)), tf.constant(np.float32(imputation[1] if imputation else 0.0)),
            tf.constant(low), tf.constant(high),
        ).numpy()
    return out.reshape(n_images, samples)


def region_ids(height, width, patch):
    """int32 `[H, W]`: the patch of a grid of `patch x patch` squares each pixel is in (row-major; edge
    patches are cut), and the number of patches."""
    rows, cols = -(-height // patch), -(-width // patch)
    ids = (np.arange(height) // patch)[:, None] * cols + (np.arange(width) // patch)[None, :]
    return ids.astype(np.int32), rows * cols


def region_order(maps, regions, n_regions, *, reduce="sum", descending=True):
    """int32 `[B, H, W]`: the rank of each pixel's region by the map's sum (or mean) over it.

    `regions` int `[H, W]` (shared) or `[B, H, W]` (per image), ids
    `0..n_regions - 1`. Ranks count from 0, largest first with `descending`
    (ties: the lower id first). Returns `(order, region values [B, n_regions])`.
    """
    regions = np.broadcast_to(regions, maps.shape)
    values = np.stack([np.bincount(r.ravel(), weights=m.ravel(), minlength=n_regions)
                       for r, m in zip(regions, maps)])
    if reduce == "mean":
        counts = np.stack([np.bincount(r.ravel(), minlength=n_regions) for r in regions])
        values = np.where(counts > 0, values / np.maximum(counts, 1), -np.inf if descending else np.inf)
    keys = -values if descending else values
    ranks = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
    order = np.take_along_axis(ranks, regions.reshape(len(maps), -1), axis=1).reshape(maps.shape)
    return order.astype(np.int32), values


def removal_windows(counts):
    """int32 `[B, S, 2]`: the windows `[0, count)` (the first `count` of the order removed)."""
    counts = np.asarray(counts, np.int32)
    return np.stack([np.zeros_like(counts), counts], axis=-1)
