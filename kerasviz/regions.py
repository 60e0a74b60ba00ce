"""A segmentation model explained region by region: each predicted class region's map, for the dashboard.

A segmenter (output `[B, h, w, K]`, one class vector per position) has no
single predicted class: what a user asks is "why is *this* region a car?".
`explain_regions` finds each image's predicted region of each class (the
argmax over the classes) and explains it with any registered method through
a `kerasviz.targets.Region` target (the class's score summed over the
region). `RegionMaps.write` records them for the dashboard's "Regions" view,
where a click on a region of the image shows its map.
"""

import typing

import numpy as np
import tensorflow as tf

from kerasviz import inputs, models, registry, summary, targets
from kerasviz.metrics import catalog


class RegionMaps(typing.NamedTuple):
    """Each image's predicted class regions and the map of each.

    Attributes:
        method: the method's name.
        classes: int32 `[R]`, the class of each region (a column per class).
        masks: bool `[B, R, h, w]`, where each image is predicted as each
            class, at the output's resolution (all False where it is not).
        maps: float32 `[B, R, H, W]`, the map of each image's region of each
            class at the image's size, larger = more important (zero where
            the image has no such region).
    """

    method: str
    classes: np.ndarray
    masks: np.ndarray
    maps: np.ndarray

    def present(self):
        """Bool `[B, R]`: the image has a region of the class (and so a map)."""
        return self.masks.any(axis=(2, 3))

    def write(self, images, *, step=None, class_names=None, value_range=(0.0, 1.0)):
        """Records them for the dashboard's "Regions" view (`kerasviz.summary.write_regions`)."""
        return summary.write_regions(self.method, images, self.maps, self.classes, masks=self.masks, step=step,
                                     class_names=class_names, value_range=value_range)


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
