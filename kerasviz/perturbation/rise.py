"""RISE: randomized input sampling for explanation (Petsiuk et al., 2018)."""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, fill, inputs, models, progress
from kerasviz.gradients import core, multi_input
from kerasviz.perturbation import multi_input_rise, rise_sampling


def rise_masks(n_masks, image_size, *, grid=7, keep=0.5, seed=0):
    """The first `n_masks` masks `rise` uses for images of `image_size = (H, W)` (float32 `[n, H, W]`).

    Mask `m` depends only on `(seed, m, grid, keep, image_size)`: `rise` with
    `masks=n_masks` and the same settings averages exactly these.
    """
    n_masks = inputs.check_positive_int(n_masks, "n_masks")
    grid = inputs.check_positive_int(grid, "grid")
    ids = tf.range(n_masks, dtype=tf.int64)
    return rise_sampling.masks_graph(inputs.check_seed(seed), ids, int(image_size[0]), int(image_size[1]), grid,
                                     rise_sampling.check_keep(keep)).numpy()


def _function(prepared, grid, keep):
    model, target, capture = prepared.model, prepared.target, prepared.capture
    with_classes = bool(target.class_terms())
    height, width = prepared.images.shape[1:3]

    def build(model_ref):
        activation = models.output_activation(model_ref())

        def weighted_masks(images, class_idx, baselines, seed, pair_ids):
            # Pairs are mask-major (pair p: mask p // B, image p % B): a chunk's masks are
            # consecutive, each is built once and serves every image.
            n_images = tf.cast(tf.shape(images)[0], tf.int64)
            mask_ids, image_ids = pair_ids // n_images, pair_ids % n_images
            unique = rise_sampling.masks_graph(seed, tf.range(mask_ids[0], mask_ids[-1] + 1), height, width, grid,
                                               keep)
            masks = tf.gather(unique, mask_ids - mask_ids[0])
            start = tf.gather(baselines, image_ids)
            perturbed = start + masks[..., None] * (tf.gather(images, image_ids) - start)
            logits, activations = models.run(model_ref(), perturbed, capture=capture)
            outputs = models.probabilities(logits, activation) if with_classes else logits
            scores = target.score(outputs, activations, tf.gather(class_idx, image_ids))
            return rise_sampling.weighted_masks(scores, masks, image_ids, n_images)

        return weighted_masks

    signature = prepared.signature(
        tf.TensorSpec([None, *prepared.images.shape[1:]], tf.float32),
        tf.TensorSpec([], tf.int64),
        tf.TensorSpec([None], tf.int64),
    )
    return compiled.compiled_function(model, prepared.key("rise", grid, keep), build, signature)


def rise(model, images, target=None, *, batch_size=None, seed=0, masks=4000, grid=7, keep=0.5, baseline=0.0,
         verbose=0, attribute=None):
    """RISE: the class probability averaged over random masks, weighted by each mask.

    Petsiuk et al., 2018, "RISE: Randomized Input Sampling for Explanation of
    Black-box Models", section 3: `masks` binary `grid x grid` grids (each
    cell kept with probability `keep`) are upsampled bilinearly to
    `(grid + 1) * ceil(H / grid)` pixels, shifted by a random offset of up to
    one cell and cropped to `H x W`; the image is blended towards `baseline`
    where a mask is low (`baseline + mask * (image - baseline)`; the paper's
    `image * mask` is `baseline=0`), and the saliency is
    `sum_i score(masked_i) * mask_i / (masks * keep)`. Class targets read the
    class *probability*; a target without class terms reads its raw score.
    Masks are built inside the graph from `seed` and the mask's index (the same
    masks for every image: `rise_masks` gives them), once per chunk for all the
    images, and accumulated there, at most `batch_size` masked images at a time. Costs `masks` forward passes
    per image (the paper: 4000 for ResNet50, 8000 for VGG16), plus one for
    `target=None`.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        batch_size: at most this many masked images per compiled call
            (default: `inputs.default_batch_size`); results do not depend on it.
        seed: int seed of the masks; same seed, same masks.
        masks: how many masks per image.
        grid: the side of the low-resolution grid (the paper: 7).
        keep: the probability that a cell is kept (the paper: 0.5).
        baseline: what masked pixels blend towards, in the model's input
            space (`kerasviz.fill`): a float (default 0.0, the paper's
            `image * mask`), one float per channel, an image or images,
            `"mean"` (each image's mean colour) or `"blur"`.
        verbose: 0 (silent, the default) or 1: a Keras progress bar over the
            `B * masks` masked images.
        attribute: for a model with several inputs (`images` a dict keyed by
            input name, or a list in the order of `model.inputs`): which
            image inputs to mask, each in turn (the same masks at each
            input's size) while the other inputs keep their values: None
            (every image input) or input names or indices; a side
            (non-image) input cannot be masked. `baseline` is one value for
            all or a dict/list with one per input. The result has the
            structure of `images`: a map per masked input, None (or no key)
            for the others. Must be None for a model with one input.

    Returns:
        float32 `[B, H, W]`: the saliency (the expected score given that the
        pixel is kept).

    Raises:
        ValueError, TypeError: invalid `images`, `target`, `batch_size`,
            `seed`, `masks`, `grid`, `keep` or `baseline`.

    Example:

    >>> maps = kerasviz.rise(model, images, masks=2000, grid=7)
    """
    if multi_input.is_several(model, images):
        return multi_input_rise.rise(model, images, target, batch_size=batch_size, seed=seed, masks=masks, grid=grid,
                                     keep=keep, baseline=baseline, verbose=verbose, attribute=attribute)
    multi_input.check_single_input_attribute(attribute)
    prepared = core.Prepared(model, images, target, batch_size, cost="forward")
    verbose = progress.check_verbose(verbose)
    n_masks = inputs.check_positive_int(masks, "masks")
    grid = inputs.check_positive_int(grid, "grid")
    keep, seed = rise_sampling.check_keep(keep), inputs.check_seed(seed)
    baselines = fill.baselines(baseline, prepared.images)
    class_idx = core.predicted_classes(prepared)
    function = _function(prepared, grid, keep)
    constants = [tf.constant(a) for a in (prepared.images, class_idx, baselines)] + [tf.constant(seed, tf.int64)]
    n_images = len(prepared.images)
    sums = np.zeros(prepared.images.shape[:3], np.float64)
    low, high = np.full(n_images, np.inf), np.full(n_images, -np.inf)
    total = n_images * n_masks
    for start, stop in progress.track(inputs.batches(total, prepared.batch_size), total, verbose,
                                      size=lambda c: c[1] - c[0], unit="mask"):
        weighted, chunk_low, chunk_high = function(*constants, tf.range(start, stop, dtype=tf.int64))
        sums += weighted.numpy()
        # Images a chunk does not reach get +-max float from the segment reductions: no effect here.
        low, high = np.minimum(low, chunk_low.numpy()), np.maximum(high, chunk_high.numpy())
    # A score no mask changes leaves only the masks' own sampling noise in the map: say so.
    inputs.warn_if_constant(np.stack([low, high], axis=1), "rise", "score under the masks")
    return inputs.warn_if_constant((sums / (n_masks * keep)).astype(np.float32), "rise")
