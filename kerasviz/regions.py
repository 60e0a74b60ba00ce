"""Dense outputs explained part by part: a segmenter's regions, a detector's boxes, for the dashboard.

A segmenter (output `[B, h, w, K]`, one class vector per position) has no
single predicted class: what a user asks is "why is *this* region a car?".
`explain_regions` finds each image's predicted region of each class (the
argmax over the classes) and explains it with any registered method through
a `kerasviz.targets.Region` target (the class's score summed over the
region). `explain_detections` does the same for a detector's most confident
boxes, through `kerasviz.Detection`. `RegionMaps.write` records them for the
dashboard's "Regions" view, where a click on a region (or a box) of the
image shows its map.
"""

import typing

import numpy as np
import tensorflow as tf

from kerasviz import detection_target, inputs, models, output_targets, registry, summary, targets
from kerasviz.metrics import catalog


class RegionMaps(typing.NamedTuple):
    """Each image's predicted class regions (or boxes) and the map of each.

    Attributes:
        method: the method's name.
        classes: int32 `[R]`, the class of each region (a column per class;
            `explain_regions`), or `[B, R]`, of each image's box
            (`explain_detections`).
        masks: bool `[B, R, h, w]`, where each image is predicted as each
            class, at the output's resolution (all False where it is not);
            None for boxes.
        maps: float32 `[B, R, H, W]`, the map of each region at the image's
            size, larger = more important (zero where the image has none).
        boxes: float32 `[B, R, 4]`, each image's boxes `(y0, x0, y1, x1)` in
            fractions, most confident first (NaN where it has fewer); None
            for regions.
        scores: float32 `[B, R]`, each box's class probability (NaN: no box); None for regions.
    """

    method: str
    classes: np.ndarray
    masks: typing.Optional[np.ndarray]
    maps: np.ndarray
    boxes: typing.Optional[np.ndarray] = None
    scores: typing.Optional[np.ndarray] = None

    def present(self):
        """Bool `[B, R]`: the image has this region (or box), and so a map."""
        if self.masks is not None:
            return self.masks.any(axis=(2, 3))
        return np.isfinite(self.boxes).all(axis=-1)

    def write(self, images, *, step=None, class_names=None, value_range=(0.0, 1.0)):
        """Records them for the dashboard's "Regions" view (`kerasviz.summary.write_regions`)."""
        return summary.write_regions(self.method, images, self.maps, self.classes, masks=self.masks, boxes=self.boxes,
                                     scores=self.scores, step=step, class_names=class_names, value_range=value_range)


def _check_classes(classes, n_classes, argname="classes"):
    values = np.asarray(classes)
    if values.ndim != 1 or values.size == 0 or values.dtype.kind not in "iu":
        raise TypeError(f"Expected `{argname}` to be a non-empty list of int classes. Received: {argname}={classes!r}.")
    if values.min() < 0 or values.max() >= n_classes or len(set(values.tolist())) != len(values):
        raise ValueError(f"Expected `{argname}` to hold distinct classes in [0, {n_classes}). Received: "
                         f"{argname}={values.tolist()}.")
    return values.astype(np.int32)


def explain_regions(model, images, method="saliency", *, classes=None, background=None, min_pixels=1,
                    batch_size=None, **params) -> RegionMaps:
    """Explains each predicted class region of a segmentation model's output.

    For each class, the images where the model predicts it at `min_pixels`
    positions or more are explained with `method` and the target
    `kerasviz.targets.Region(class, that image's region)`: the class's score
    summed over the region (for a linear method the map of a region is the
    sum of its positions' maps). One call of `method` per class, over the
    images that have it. Grid methods (occlusion) are mapped to pixels as
    their record says; maps whose low values matter are turned so larger is
    more important, as everywhere in the dashboard.

    Args:
        model: a segmentation model whose output is `[B, h, w, K]`.
        images: `[B, H, W, C]` in the model's own input space.
        method: a registered method's name (`kerasviz.registry.METHODS`).
        classes: the classes to explain (a list of ints); default: every
            class predicted somewhere in the images, but `background`.
        background: a class never explained by default (e.g. 0), or None.
        min_pixels: the fewest output positions of a class in an image for
            its region to be explained.
        batch_size: passed on to `method`.
        **params: the method's own parameters (e.g. `steps=32`).

    Returns:
        A `RegionMaps`.

    Raises:
        ValueError, TypeError: a model whose output is not a map of class
            scores, unknown `method`, invalid `classes`, `background` or
            `min_pixels`, or nothing predicted to explain.

    Example:

    >>> regions = kerasviz.explain_regions(segmenter, images, "integrated_gradients", background=0)
    >>> regions.write(images, step=epoch)  # the dashboard's "Regions" view
    """
    if not isinstance(method, str):
        raise TypeError(f"Expected `method` to be a registered method's name. Received: method={method!r}.")
    entry = registry.resolve([(method, params)], argname="method", callables=False)[0]
    min_pixels = inputs.check_positive_int(min_pixels, "min_pixels")
    batch = inputs.check_images(model, images)
    targets.Region(0).bind(model)  # a model with a dense output, or the Region's named error
    scores = np.concatenate([np.asarray(models.run(model, tf.constant(batch[a:b]))[0])
                             for a, b in inputs.batches(len(batch), inputs.check_batch_size(batch_size))])
    n_classes = scores.shape[-1]
    labels = scores.argmax(-1)  # [B, h, w]
    if background is not None and not (isinstance(background, (int, np.integer)) and 0 <= background < n_classes):
        raise ValueError(f"Expected `background` to be a class in [0, {n_classes}) or None. Received: "
                         f"background={background!r}.")
    if classes is None:
        classes = [c for c in np.unique(labels).tolist() if c != background]
        if not classes:
            raise ValueError("The model predicts only the `background` class on these images: no region to explain.")
    classes = _check_classes(classes, n_classes)
    masks = labels[:, None] == classes[None, :, None, None]  # [B, R, h, w]
    masks &= masks.sum(axis=(2, 3), keepdims=True) >= min_pixels
    size = batch.shape[1:3]
    maps = np.zeros((len(batch), len(classes)) + size, np.float32)
    kwargs = {} if batch_size is None else {"batch_size": batch_size}
    for r, index in enumerate(classes):
        chosen = np.flatnonzero(masks[:, r].any(axis=(1, 2)))
        if not len(chosen):
            continue
        result = entry.function(model, batch[chosen], targets.Region(int(index), masks[chosen, r]), **kwargs,
                                **entry.params)
        maps[chosen, r] = catalog.pixel_maps(entry.method, result, size, entry.params)
    return RegionMaps(entry.name, classes, masks, maps)


def explain_detections(model, images, method="saliency", *, top=3, min_score=0.0, boxes="boxes", scores="scores",
                       iou=False, batch_size=None, **params) -> RegionMaps:
    """Explains each image's most confident boxes of a detector, one map per box.

    For a detector with a box output `[B, N, 4]` (`(y0, x0, y1, x1)` in
    fractions) and a class-probability output `[B, N, K]`, each box's class
    is its most probable one and its confidence that probability; the `top`
    most confident boxes of each image (at least `min_score`) are explained
    with `method` and the target `kerasviz.Detection(box, class)` (the box's
    pre-softmax class score; with `iou=True`, times the IoU of the box with
    where it is now, so that the map also says what holds the box in place).
    One call of `method` per rank, over the images that have a box of that rank.

    Args:
        model: a detector with (at least) a box and a score output.
        images: `[B, H, W, C]` in the model's own input space.
        method: a registered method's name that takes the target (the
            gradient and path families; perturbation methods read the
            softmax back).
        top: boxes explained per image.
        min_score: the least class probability of a box explained.
        boxes, scores: the names (or indices) of the box and score outputs.
        iou: weigh the score by the box's IoU with its current place.
        batch_size: passed on to `method`.
        **params: the method's own parameters.

    Returns:
        A `RegionMaps` with `boxes` and `scores` (its `masks` None).

    Raises:
        ValueError, TypeError: unknown `method` or outputs, invalid `top` or
            `min_score`, outputs of the wrong shape.

    Example:

    >>> found = kerasviz.explain_detections(detector, images, "integrated_gradients", top=5, min_score=0.3)
    >>> found.write(images, class_names=names)  # the dashboard's "Regions" view, boxes drawn
    """
    if not isinstance(method, str):
        raise TypeError(f"Expected `method` to be a registered method's name. Received: method={method!r}.")
    entry = registry.resolve([(method, params)], argname="method", callables=False)[0]
    top = inputs.check_positive_int(top, "top")
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not 0 <= min_score <= 1:
        raise ValueError(f"Expected `min_score` to be a probability in [0, 1]. Received: min_score={min_score!r}.")
    box_at, score_at = output_targets.output_position(model, boxes, "boxes"), \
        output_targets.output_position(model, scores, "scores")
    batch = inputs.as_numpy(images)
    outputs = [[], []]
    for a, b in inputs.batches(len(batch), inputs.check_batch_size(batch_size)):
        run = models.run(model, tf.constant(batch[a:b]), logits=False)[0]
        outputs[0].append(np.asarray(run[box_at]))
        outputs[1].append(np.asarray(run[score_at]))
    found, probabilities = (np.concatenate(o) for o in outputs)
    if found.ndim != 3 or found.shape[-1] != 4 or probabilities.ndim != 3 or probabilities.shape[:2] != found.shape[:2]:
        raise ValueError(f"Expected a box output [B, N, 4] and a score output [B, N, K]. The outputs {boxes!r} and "
                         f"{scores!r} have the shapes {found.shape[1:]} and {probabilities.shape[1:]}.")
    best = probabilities.max(-1)  # [B, N]
    order = np.argsort(-best, axis=1, kind="stable")[:, :top]  # [B, top]
    top = order.shape[1]
    rows = np.arange(len(batch))[:, None]
    confident = best[rows, order] >= min_score
    chosen_boxes = np.where(confident[..., None], found[rows, order], np.nan).astype(np.float32)
    classes = probabilities.argmax(-1)[rows, order].astype(np.int32)
    maps = np.zeros((len(batch), top) + batch.shape[1:3], np.float32)
    kwargs = {} if batch_size is None else {"batch_size": batch_size}
    for r in range(top):
        chosen = np.flatnonzero(confident[:, r])
        if not len(chosen):
            continue
        target = detection_target.Detection(order[chosen, r], classes[chosen, r],
                                            iou_with=found[chosen, order[chosen, r]].clip(0, 1) if iou else None,
                                            boxes=boxes, scores=scores)
        result = entry.function(model, batch[chosen], target, **kwargs, **entry.params)
        maps[chosen, r] = catalog.pixel_maps(entry.method, result, batch.shape[1:3], entry.params)
    return RegionMaps(entry.name, classes, None, maps, chosen_boxes,
                      np.where(confident, best[rows, order], np.nan).astype(np.float32))
