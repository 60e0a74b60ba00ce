"""Occlusion sensitivity (Zeiler & Fergus, 2014), naive or incremental (Nakandala et al., 2019)."""

import logging
import numbers

import numpy as np

from kerasviz import fill, inputs, models, progress
from kerasviz.activations import incremental, incremental_plan, multi_input_occlusion, naive_occlusion
from kerasviz.gradients import core, multi_input

INFERENCES = ("auto", "incremental", "naive")


def occlusion_positions(size, patch, stride):
    """Start coordinates of the occluder along one image axis of `size` pixels.

    Every `stride` pixels from 0 while the patch fits, plus one final position
    flush with the far border when the last regular one does not reach it, so
    that every pixel is covered when `stride <= patch`.
    """
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] + patch < size:
        starts.append(size - patch)
    return np.asarray(starts, np.int32)


def occlusion_geometry(height: int, width: int, patch=None, stride=None) -> tuple[int, int]:
    """Occlusion's `(patch, stride)` on an image of `height x width` pixels, defaults for those left None.

    The default occluder's side is an eighth of the image's shorter side
    (rounded, at least 1 pixel) and the default stride half the patch (at
    least 1): patch 8 and stride 4 at 64 px, 28 and 14 at 224 px, 35 and 17
    at 280 px. An occluder that grows with the image hides the same share of
    an object at any resolution (an 8-px patch on a 280-px photo hides too
    little of a dog to move its score), and the grid keeps 15 or 16
    positions per axis: 225 to 256 forward passes per image whatever its
    size. `occlusion`, `occlusion_plan`, `occlusion_to_input`,
    `occlusion_coarse_to_fine`, the callbacks' records and
    `kerasviz.metrics` all resolve their geometry here.

    Args:
        height: the image's height in pixels, a positive int.
        width: the image's width in pixels, a positive int.
        patch: the occluder's side, or None for the default.
        stride: the step between positions, or None for `patch // 2` (of
            the default patch when `patch` is None too).

    Returns:
        `(patch, stride)`, two positive ints.

    Raises:
        ValueError: `height`, `width`, `patch` or `stride` not a positive
            int, or `patch` larger than the image.

    Example:

    >>> kerasviz.occlusion_geometry(224, 224)
    (28, 14)
    >>> kerasviz.occlusion_geometry(224, 224, patch=16)
    (16, 8)
    """
    height, width = inputs.check_positive_int(height, "height"), inputs.check_positive_int(width, "width")
    if patch is None:
        patch = max(1, int(np.floor(min(height, width) / 8 + 0.5)))
    patch = inputs.check_positive_int(patch, "patch")
    if patch > min(height, width):
        raise ValueError(
            f"Received an invalid value for `patch`: {patch}. The occluder must fit in the "
            f"image, which is {height} x {width} pixels."
        )
    stride = max(1, patch // 2) if stride is None else inputs.check_positive_int(stride, "stride")
    return patch, stride


def position_count(image_shape, patch=None, stride=None):
    """How many occluder positions `occlusion` evaluates per image of `image_shape` (its registry cost)."""
    height, width = image_shape[:2]
    patch, stride = occlusion_geometry(height, width, patch, stride)
    return len(occlusion_positions(height, patch, stride)) * len(occlusion_positions(width, patch, stride))


def grid_of(height, width, params):
    """The grid `occlusion` called with `params` uses: `{"patch", "stride", "shape": [nY, nX]}` (the registry's)."""
    patch, stride = occlusion_geometry(height, width, params.get("patch"), params.get("stride"))
    shape = [len(occlusion_positions(height, patch, stride)), len(occlusion_positions(width, patch, stride))]
    return {"patch": patch, "stride": stride, "shape": shape}


def grid_to_pixels(maps, image_size, params):
    """`occlusion`'s `[B, nY, nX]` for `params` as `[B, H, W]` (`occlusion_to_input`; the registry's)."""
    return occlusion_to_input(maps, image_size, params.get("patch"), params.get("stride"))


def check_inference(inference):
    """`inference` of `occlusion` and `occlusion_coarse_to_fine`, checked: one of `INFERENCES`."""
    if inference not in INFERENCES:
        raise ValueError(f"Received an invalid value for `inference`: {inference!r}. Expected one of {INFERENCES}.")
    return inference


def _planned(prepared, starts_y, starts_x, patch, inference):
    """`(plan, planned, graph)`: the `OcclusionPlan` that will run, and (incremental) what runs it."""
    if models.output_count(prepared.model) > 1:  # the incremental plan follows one output
        chosen = "a model with several outputs runs naive"
        return incremental_plan.OcclusionPlan("naive", chosen, (), None, chosen, 0, 0,
                                              incremental_plan.NAIVE_BATCH), None, None
    planned, graph = incremental.plan_for(prepared.model, prepared.images.shape[1:], starts_y, starts_x, patch,
                                          prepared.capture)
    plan = planned.plan
    if inference == "naive":
        plan = plan._replace(inference="naive", chosen="inference='naive' was asked")
    elif inference == "incremental" and planned.ops:
        plan = plan._replace(inference="incremental", chosen=f"inference='incremental' was asked ({plan.chosen})")
    return plan, planned, graph


def scorer(prepared, class_idx, colours, patch, stride, inference, batch_size):
    """`(scorer, plan)`: `scorer.scores(b, iy, ix)` scores positions of image `b` (occluder `colours [B, C]`).

    With `batch_size=None` and incremental inference, `prepared.batch_size`
    becomes the plan's (memory like naive inference's default).
    """
    height, width = prepared.images.shape[1:3]
    starts_y, starts_x = occlusion_positions(height, patch, stride), occlusion_positions(width, patch, stride)
    plan, planned, graph = _planned(prepared, starts_y, starts_x, patch, inference)
    logging.getLogger("kerasviz").info("%s", plan)
    if plan.inference == "incremental":
        if batch_size is None:
            prepared.batch_size = plan.batch_size
        return incremental.IncrementalScorer(prepared, class_idx, colours, planned, graph), plan
    return naive_occlusion.NaiveScorer(prepared, class_idx, colours, starts_y, starts_x, patch), plan


def occlusion_plan(model, images, target=None, *, patch=None, stride=None, inference="auto"):
    """What `occlusion` does for these arguments: incremental or naive, and which layers on regions.

    Computes nothing but the plan (one symbolic trace of the model, cached):
    the layers incremental inference (Nakandala et al., 2019) computes on the
    region an occluder can change, the first layer from which the model runs
    on whole maps and why (its region covers too much of its map, a layer
    that cannot run on a region such as a `Lambda` or a subclassed block, a
    layer the target reads, the output), and the predicted multiply-adds per
    occluded image of both ways. `occlusion` logs the same plan at INFO on
    the logger `"kerasviz"`.

    Args:
        model, images, target, patch, stride, inference: as for `occlusion`.

    Returns:
        An `OcclusionPlan` (a named tuple: `inference`, `regions`,
        `full_from`, `reason`, `flops_naive`, `flops_incremental`); `str()`
        of it is one readable line.

    Example:

    >>> print(kerasviz.occlusion_plan(model, images, patch=16, stride=8))
    """
    prepared = core.Prepared(model, images, target, None)
    patch, stride = occlusion_geometry(*prepared.images.shape[1:3], patch, stride)
    height, width = prepared.images.shape[1:3]
    starts_y, starts_x = occlusion_positions(height, patch, stride), occlusion_positions(width, patch, stride)
    return _planned(prepared, starts_y, starts_x, patch, check_inference(inference))[0]


def occlusion(model, images, target=None, *, patch=None, stride=None, value=None, batch_size=None,
              inference="auto", verbose=0, attribute=None):
    """Occlusion sensitivity: the target's probability as a grey patch slides over the image.

    A `patch x patch` square of every image is replaced by `value`, at every
    position of a grid with step `stride`, and the model is run on each
    occluded copy (Zeiler & Fergus, 2014, "Visualizing and Understanding
    Convolutional Networks", section 4.2). Low values mark the regions the
    prediction depends on. Class targets read the class *probability* (the
    model's softmax, or sigmoid, applied to its logits); a target without
    class terms (`Channel`, `Neuron`, `LayerL2`: a neuron-occlusion study)
    reads its raw score; in a sum each term reads its own. With `target=None`
    the class is the one predicted for the clean image.

    Two ways to the same numbers. *Naive* inference runs every occluded copy
    (built inside the graph, at most `batch_size` at a time) through the
    whole model: one forward pass per image and occluder position (a
    224 x 224 image has 15 x 15 = 225 positions with the default patch 28
    and stride 14, 55 x 55 = 3,025 with `patch=8`, `stride=4`).
    *Incremental* inference (Nakandala et al., SIGMOD 2019, "Incremental
    and Approximate Inference for Faster Occlusion-based Deep CNN
    Explanations") computes each image's clean activations once, then,
    for `batch_size` positions at a time, recomputes each convolution,
    pooling, padding, pointwise and merge layer only on the region the
    occluder can change, and runs the rest of the model on whole maps once
    that region covers half of its map (or at a layer it cannot compute on a
    region: global pooling, a `Lambda`, a subclassed block). It is exact (the
    same scores up to float rounding), and its plan is logged at INFO on the
    logger `"kerasviz"` and returned by `occlusion_plan`. Both cost one more
    forward pass per image for the predicted class.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        patch: the side of the square occluder, in pixels (default: an
            eighth of the image's shorter side, `occlusion_geometry`: 8 at
            64 px, 28 at 224 px, 35 at 280 px).
        stride: the step between positions (default `patch // 2`). Along
            each axis the positions are `0, stride, 2 * stride, ...` while the
            patch fits, plus a last one flush with the border when those do
            not reach it: `nY = (H - patch) // stride + 1`, plus one when
            `(H - patch) % stride != 0` (`nX` likewise).
        value: what the occluder is filled with, in the model's input space
            (`kerasviz.fill.colours`): a float, one float per channel, one
            colour per image `[B, 1, 1, C]`, or `None` (default) for each
            image's own mean colour (its per-channel mean).
        batch_size: at most this many occluded images (positions) per
            compiled call; results do not depend on it. Default: 32 for
            naive inference; for incremental inference as many (up to 512) as
            keep a call's largest tensor as large as naive's with 32.
        inference: `"auto"` (default: incremental when its plan predicts at
            most half of naive's multiply-adds), `"incremental"` (whenever a
            layer can be computed on a region) or `"naive"`.
        verbose: 0 (silent, the default) or 1: a Keras progress bar over the
            `B * nY * nX` occluded images.
        attribute: for a model with several inputs (`images` a dict keyed by
            input name, or a list in the order of `model.inputs`): which
            image inputs to occlude, each in turn while the other inputs keep
            their values: None (every image input) or input names or
            indices; a side (non-image) input cannot be occluded. `patch`
            and `stride` apply to each (None: each input's own default),
            `value` is one value for all or a dict/list with one per input;
            inference is naive. The result has the structure of `images`:
            a grid per occluded input, None (or no key) for the others. Must
            be None for a model with one input.

    Returns:
        float32 `[B, nY, nX]`: the target's score with the occluder at each
        position. `occlusion_to_input` brings it to `[B, H, W]`.

    Raises:
        ValueError: `patch` or `stride` not a positive int, `patch` larger
            than the image, `value` of the wrong length or not finite, an
            unknown `inference`; invalid `images`, `target` or `batch_size`.
        TypeError: `value` or `target` of the wrong type.

    Example:

    >>> heat = kerasviz.occlusion(model, images, patch=16, stride=8)
    >>> maps = kerasviz.occlusion_to_input(heat, images.shape[1:3], patch=16, stride=8)
    """
    verbose = progress.check_verbose(verbose)
    inference = check_inference(inference)
    if multi_input.is_several(model, images):
        return _several_inputs(model, images, target, patch, stride, value, batch_size, inference, verbose,
                               attribute)
    multi_input.check_single_input_attribute(attribute)
    prepared = core.Prepared(model, images, target, batch_size)
    n_images, height, width = prepared.images.shape[:3]
    patch, stride = occlusion_geometry(height, width, patch, stride)
    colours = fill.colours(value, prepared.images, argname="value")
    class_idx = core.predicted_classes(prepared)
    function, _ = scorer(prepared, class_idx, colours, patch, stride, inference, batch_size)
    n_y, n_x = len(occlusion_positions(height, patch, stride)), len(occlusion_positions(width, patch, stride))
    n_positions = n_y * n_x
    scores = np.empty([n_images, n_positions], np.float32)
    chunks = [(b, start, stop) for b in range(n_images)
              for start, stop in inputs.batches(n_positions, prepared.batch_size)]
    for b, start, stop in progress.track(chunks, n_images * n_positions, verbose, size=lambda c: c[2] - c[1],
                                         unit="image"):
        positions = np.arange(start, stop)
        scores[b, start:stop] = function.scores(b, positions // n_x, positions % n_x)
    return inputs.warn_if_constant(scores.reshape(n_images, n_y, n_x), "occlusion", "score under occlusion")


def _several_inputs(model, images, target, patch, stride, value, batch_size, inference, verbose, attribute):
    """`occlusion` on a model with several inputs (`kerasviz.activations.multi_input_occlusion`)."""
    prepared = multi_input_occlusion.prepare(model, images, target, batch_size, attribute, inference)
    colours = multi_input_occlusion.colours(prepared, value)
    class_idx = multi_input.predicted_classes(prepared)
    grids = {}
    for k in prepared.attributed:
        height, width = prepared.arrays[k].shape[1:3]
        side, step = occlusion_geometry(height, width, patch, stride)
        grids[k] = multi_input_occlusion.occluded_scores(
            prepared, k, class_idx, colours[k], occlusion_positions(height, side, step),
            occlusion_positions(width, side, step), side, verbose)
    return prepared.result(grids, signed=True)


def _image_size(image_size):
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        return int(image_size), int(image_size)
    size = tuple(image_size) if isinstance(image_size, (tuple, list)) else None
    if size is None or len(size) not in (2, 3) or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in size
    ):
        raise ValueError(
            "Expected `image_size` to be an int or (height, width). "
            f"Received: image_size={image_size!r}."
        )
    return int(size[0]), int(size[1])


def occlusion_to_input(heatmap, image_size, patch=None, stride=None):
    """Brings an occlusion heatmap to the input's size.

    Each pixel gets the mean of the values of the occluder positions whose
    patch covers it (the positions of `occlusion` for the same `patch` and
    `stride`). A pixel no position covers (only when `stride > patch`) gets
    the mean of its image's map: no evidence either way.

    Args:
        heatmap: `[B, nY, nX]` (or `[nY, nX]`) from `occlusion`.
        image_size: the input's `(H, W)` (an int for a square image).
        patch: the `patch` given to `occlusion` (default, as there,
            `occlusion_geometry(H, W)`'s).
        stride: the `stride` given to `occlusion` (default `patch // 2`).

    Returns:
        float32 `[B, H, W]` (or `[H, W]` for a 2-D heatmap).

    Raises:
        ValueError: the heatmap's shape does not match `image_size`, `patch`
            and `stride`, or invalid `patch`, `stride`, `image_size`.

    Example:

    >>> maps = kerasviz.occlusion_to_input(heat, (224, 224), patch=8, stride=4)
    """
    height, width = _image_size(image_size)
    patch, stride = occlusion_geometry(height, width, patch, stride)
    heat = np.asarray(heatmap, np.float64)
    single = heat.ndim == 2
    heat = heat[None] if single else heat
    starts_y = occlusion_positions(height, patch, stride)
    starts_x = occlusion_positions(width, patch, stride)
    if heat.ndim != 3 or heat.shape[1:] != (len(starts_y), len(starts_x)):
        raise ValueError(
            f"Received a `heatmap` of shape {np.shape(heatmap)}, but an image of {height} x "
            f"{width} pixels with patch={patch} and stride={stride} has "
            f"{len(starts_y)} x {len(starts_x)} occluder positions."
        )

    def cover(size, starts):
        pixels = np.arange(size)[:, None]
        return ((pixels >= starts[None]) & (pixels < starts[None] + patch)).astype(np.float64)

    cover_y, cover_x = cover(height, starts_y), cover(width, starts_x)
    total = np.einsum("yi,bij,xj->byx", cover_y, heat, cover_x)
    count = cover_y.sum(axis=1)[:, None] * cover_x.sum(axis=1)[None, :]
    uncovered = heat.mean(axis=(1, 2))[:, None, None]
    maps = np.where(count > 0, total / np.maximum(count, 1), uncovered).astype(np.float32)
    return maps[0] if single else maps
