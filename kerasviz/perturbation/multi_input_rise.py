"""RISE (Petsiuk et al., 2018) on a model with several inputs: each image input masked in turn.

`kerasviz.rise` comes here when `images` is a dict or a list. Each attributed
image input is blended towards its baseline by the random masks (the same
masks, `rise_sampling`, at each input's own size) while every other input
keeps its values; its saliency is `sum_i score(masked_i) * mask_i / (masks *
keep)`, as for one input. A side (non-image) input cannot be masked.
"""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, fill, inputs, models, progress
from kerasviz.gradients import multi_input
from kerasviz.perturbation import rise_sampling


def _function(prepared, k, grid, keep):
    """The compiled `(xs..., class_idx, baselines, seed, pair_ids) -> (weighted mask sums, min, max)`, `k` masked."""
    target, capture, n = prepared.target, prepared.capture, len(prepared.arrays)
    structure, names = prepared.structure, tuple(prepared.names)
    with_classes = bool(target.class_terms())
    height, width = prepared.arrays[k].shape[1:3]

    def build(model_ref):
        activation = models.output_activation(model_ref())

        def weighted_masks(*args):
            xs, (class_idx, baselines, seed, pair_ids) = args[:n], args[n:]
            # Pairs are mask-major (pair p: mask p // B, image p % B), as for one input.
            n_images = tf.cast(tf.shape(xs[0])[0], tf.int64)
            mask_ids, image_ids = pair_ids // n_images, pair_ids % n_images
            unique = rise_sampling.masks_graph(seed, tf.range(mask_ids[0], mask_ids[-1] + 1), height, width, grid,
                                               keep)
            masks = tf.gather(unique, mask_ids - mask_ids[0])
            points = [tf.gather(x, image_ids) for x in xs]
            start = tf.gather(baselines, image_ids)
            points[k] = start + masks[..., None] * (points[k] - start)
            packed = dict(zip(names, points)) if structure == "dict" else points
            logits, activations = models.run(model_ref(), packed, capture=capture)
            outputs = models.probabilities(logits, activation) if with_classes else logits
            scores = target.score(outputs, activations, tf.gather(class_idx, image_ids))
            return rise_sampling.weighted_masks(scores, masks, image_ids, n_images)

        return weighted_masks

    signature = [tf.TensorSpec([None, *a.shape[1:]], tf.float32) for a in prepared.arrays] + [
        tf.TensorSpec([None, prepared.class_idx.shape[1]], tf.int32),
        tf.TensorSpec([None, *prepared.arrays[k].shape[1:]], tf.float32),
        tf.TensorSpec([], tf.int64), tf.TensorSpec([None], tf.int64)]
    key = ("multi_input_rise", k, grid, keep, target.key(), capture, tuple(a.shape[1:] for a in prepared.arrays))
    return compiled.compiled_function(prepared.model, key, build, signature)


def rise(model, images, target, *, batch_size, seed, masks, grid, keep, baseline, verbose, attribute):
    """`kerasviz.rise` for several inputs: a saliency map per attributed image input, the other inputs held."""
    verbose = progress.check_verbose(verbose)
    n_masks = inputs.check_positive_int(masks, "masks")
    grid = inputs.check_positive_int(grid, "grid")
    keep, seed = rise_sampling.check_keep(keep), inputs.check_seed(seed)
    prepared = multi_input.MultiPrepared(model, images, target, batch_size, attribute, "rise")
    side = [prepared.names[k] for k in prepared.attributed if prepared.arrays[k].ndim != 4]
    if side:
        raise ValueError(f"Received `attribute={attribute!r}` for `rise`: its masks cover an image input "
                         f"[B, H, W, C], and {side} are not images (side inputs are held at their values).")
    given = prepared.per_input(baseline, "baseline", 0.0)
    class_idx = multi_input.predicted_classes(prepared)
    n_images, total = len(class_idx), len(class_idx) * n_masks
    maps = {}
    for k in prepared.attributed:
        baselines = fill.baselines(given[k], prepared.arrays[k], argname=f"baseline[{prepared.names[k]!r}]")
        function = _function(prepared, k, grid, keep)
        constants = [tf.constant(a) for a in prepared.arrays] + [
            tf.constant(class_idx), tf.constant(baselines.astype(np.float32)), tf.constant(seed, tf.int64)]
        sums = np.zeros(prepared.arrays[k].shape[:3], np.float64)
        low, high = np.full(n_images, np.inf), np.full(n_images, -np.inf)
        for start, stop in progress.track(inputs.batches(total, prepared.batch_size), total, verbose,
                                          size=lambda c: c[1] - c[0], unit="mask"):
            weighted, chunk_low, chunk_high = function(*constants, tf.range(start, stop, dtype=tf.int64))
            sums += weighted.numpy()
            low, high = np.minimum(low, chunk_low.numpy()), np.maximum(high, chunk_high.numpy())
        inputs.warn_if_constant(np.stack([low, high], axis=1), f"rise ({prepared.names[k]!r})",
                                "score under the masks")
        maps[k] = (sums / (n_masks * keep)).astype(np.float32)
    return prepared.result(maps, signed=True)
