"""XRAI: an attribution summed over superpixels at several scales (Kapishnikov et al., 2019)."""

import concurrent.futures

import numpy as np

from kerasviz import inputs, progress, targets
from kerasviz.gradients import core
from kerasviz.gradients.integrated import integrated_gradients
from kerasviz.perturbation import superpixels as superpixels_module

SCALES = (50, 100, 150, 250, 500, 1200)


def _attributions(attribution, model, images, classes, batch_size, steps, verbose):
    if attribution is None:
        signed = integrated_gradients(model, images, classes, batch_size=batch_size, steps=steps, signed=True,
                                      verbose=verbose)
        return signed.sum(axis=-1, dtype=np.float64)
    if callable(attribution):
        maps = attribution(model, images, classes, batch_size=batch_size)
    else:
        maps = attribution
    maps = np.asarray(maps, np.float64)
    if maps.shape != images.shape[:3]:
        raise ValueError(f"Expected `attribution` to give maps [B, H, W] = {images.shape[:3]}. Received "
                         f"shape {maps.shape}.")
    return inputs.check_finite(maps, "attribution")


def greedy_regions(attribution, labels):
    """The XRAI map of one image: regions added greedily by attribution density.

    Args:
        attribution: float `[H, W]`.
        labels: int `[scales, H, W]`, one segmentation per scale (labels
            `0..K_s - 1`); a region is a segment of one scale.

    Returns:
        float64 `[H, W]`: each pixel holds the gain (the mean attribution over
        the pixels it brought in) of the region that first covered it.
    """
    n_scales, n_pixels = len(labels), attribution.size
    offsets = np.cumsum([0] + [int(s.max()) + 1 for s in labels])
    regions = (labels.reshape(n_scales, -1) + offsets[:-1, None])  # [scales, P] global region ids
    flat = regions.ravel()
    values = attribution.ravel().astype(np.float64)
    count = np.bincount(flat, minlength=offsets[-1]).astype(np.float64)
    total = np.bincount(flat, weights=np.tile(values, n_scales), minlength=offsets[-1])
    order = np.argsort(flat, kind="stable")
    bounds = np.r_[0, np.cumsum(count).astype(np.int64)]
    selected = np.zeros(n_pixels, bool)
    out = np.zeros(n_pixels)
    while not selected.all():
        with np.errstate(invalid="ignore", divide="ignore"):
            gain = np.where(count > 0, total / count, -np.inf)
        best = int(np.argmax(gain))
        pixels = order[bounds[best]:bounds[best + 1]] % n_pixels
        new = pixels[~selected[pixels]]
        out[new], selected[new] = gain[best], True
        touched = regions[:, new].ravel()
        count -= np.bincount(touched, minlength=len(count))
        total -= np.bincount(touched, weights=np.tile(values[new], n_scales), minlength=len(count))
    return out.reshape(attribution.shape)


def xrai(model, images, target=None, *, batch_size=None, attribution=None, steps=50, scales=SCALES,
         sigma=0.8, min_size=None, verbose=0):
    """XRAI: regions ranked by how much attribution they hold per pixel.

    Kapishnikov et al., 2019, "XRAI: Better Attributions Through Regions",
    section 3: each image is over-segmented by Felzenszwalb's graph method at
    several `scales` (the paper's: 50, 100, 150, 250, 500, 1200, on the image
    scaled to [-1, 1]); starting from nothing, the region (of any scale) whose
    not-yet-covered pixels have the highest mean attribution is added, until
    the image is covered; each pixel gets the gain of the region that covered
    it, so the map ranks regions, densest first. The attribution is
    Integrated Gradients (signed, summed over channels) by default. The paper
    also dilates each segment by 5 pixels; here segments stay a partition.
    Costs the attribution (Integrated Gradients: `steps` forward and backward
    passes per image) plus, on the host, one segmentation per image and scale
    and the greedy selection (linear in the number of pixels times scales).

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        batch_size: passed on to the attribution (default: `inputs.default_batch_size`); results do not
            depend on it.
        attribution: `None` (signed Integrated Gradients over `steps` points,
            summed over channels), an attribution method called as
            `attribution(model, images, target, batch_size=...)` returning
            `[B, H, W]`, or precomputed maps `[B, H, W]`.
        steps: the Integrated Gradients steps of the default attribution.
        scales: Felzenszwalb's `scale` values, one segmentation each.
        sigma: Felzenszwalb's Gaussian pre-smoothing.
        min_size: Felzenszwalb's smallest segment in pixels (default
            `H * W // 335`: the paper's 150 at 224 x 224).
        verbose: 0 (silent, the default) or 1: a Keras progress bar over the
            default attribution's `B * steps` path points, then one over the
            images for the region selection.

    Returns:
        float32 `[B, H, W]`: the gain of the region that covered each pixel.

    Raises:
        ValueError, TypeError: invalid `images`, `target`, `batch_size`,
            `attribution`, `steps` or `scales`.

    Example:

    >>> maps = kerasviz.xrai(model, images, steps=32)
    >>> top = maps >= np.quantile(maps, 0.9, axis=(1, 2), keepdims=True)  # the top 10% regions
    """
    prepared = core.Prepared(model, images, target, batch_size)
    verbose = progress.check_verbose(verbose)
    if isinstance(scales, (int, float)) or not len(scales) or not all(
            isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in scales):
        raise ValueError(f"Received an invalid value for `scales`: {scales!r}. Expected a non-empty "
                         "sequence of positive numbers.")
    height, width = prepared.images.shape[1:3]
    min_size = max(1, height * width // 335) if min_size is None else inputs.check_positive_int(min_size, "min_size")
    # The attribution explains the class predicted for the clean image (as every method does).
    classes = core.predicted_classes(prepared)[:, 0] if isinstance(prepared.target, targets.ClassScore) else target
    # The segmentation (host) runs in a thread while the attribution (TensorFlow, GIL released) runs.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        segmenting = pool.submit(lambda: np.stack([superpixels_module.segment_all(
            prepared.images, "felzenszwalb", {"scale": float(s), "sigma": sigma, "min_size": min_size}, -1.0)
            for s in scales], axis=1))  # [B, scales, H, W]; a coarse scale may be one segment
        attributions = _attributions(attribution, model, prepared.images, classes, prepared.batch_size, steps,
                                     verbose)
        labels = segmenting.result()
    pairs = progress.track(zip(attributions, labels), len(labels), verbose, unit="image")
    maps = np.stack([greedy_regions(a, l) for a, l in pairs]).astype(np.float32)
    return inputs.warn_if_constant(maps, "xrai")
