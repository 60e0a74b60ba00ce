"""Superpixels from scikit-image's segmentations, as the perturbation methods use them."""

import warnings

import numpy as np
from skimage import segmentation as _segmentation

from kerasviz import inputs

# Defaults per method: `slic` (Achanta et al., 2012), `felzenszwalb` (Felzenszwalb & Huttenlocher,
# 2004), `quickshift` (Vedaldi & Soatto, 2008; LIME's image explainer segments with these settings).
DEFAULTS = {
    "slic": {"n_segments": 50, "compactness": 10.0},
    "felzenszwalb": {"scale": 100.0, "sigma": 0.8, "min_size": 20},
    "quickshift": {"kernel_size": 4, "max_dist": 200.0, "ratio": 0.2},
}


def _scaled(image, low):
    """`image` scaled to `[low, 1]` by its own minimum and maximum (a constant image: all `low`)."""
    image = image.astype(np.float64)
    span = image.max() - image.min()
    unit = (image - image.min()) / span if span > 0 else np.zeros_like(image)
    return low + (1 - low) * unit


def _segment(image, method, params, low):
    scaled = _scaled(image, low)
    rgb = scaled.shape[-1] == 3
    if method == "slic":
        labels = _segmentation.slic(scaled, channel_axis=-1, convert2lab=rgb, start_label=0, **params)
    elif method == "felzenszwalb":
        labels = _segmentation.felzenszwalb(scaled, channel_axis=-1, **params)
    else:
        if not rgb:
            scaled = np.repeat(scaled[..., :1].mean(-1, keepdims=True), 3, axis=-1)
        labels = _segmentation.quickshift(scaled, convert2lab=rgb, **params)
    return _contiguous(labels)


def _contiguous(labels):
    """Labels renumbered `0..K - 1` in order, in linear time (scikit-image's are usually already so)."""
    present = np.bincount(labels.ravel()) > 0
    if present.all():
        return labels.astype(np.int32)
    return (np.cumsum(present) - 1)[labels].astype(np.int32)


def segment_all(images, method, params, value_low=0.0):
    """`superpixels` of checked images, without its single-segment warning (XRAI's coarse scales)."""
    options = {**DEFAULTS[method], **params}
    try:
        return np.stack([_segment(image, method, options, value_low) for image in images])
    except TypeError as error:
        raise ValueError(f"Received invalid parameters for the {method!r} segmentation: {params!r} "
                         f"({error}).") from None


def superpixels(images, method="slic", *, value_low=0.0, **params):
    """Superpixels of each image, from scikit-image's segmentation algorithms.

    Each image is scaled to `[value_low, 1]` by its own minimum and maximum
    (segmentation looks at structure, not at the model's input space) and
    segmented by `skimage.segmentation.<method>`: `"slic"` (Achanta et al.,
    2012, "SLIC Superpixels Compared to State-of-the-Art Superpixel Methods"),
    `"felzenszwalb"` (Felzenszwalb & Huttenlocher, 2004, "Efficient
    Graph-Based Image Segmentation") or `"quickshift"` (Vedaldi & Soatto,
    2008, "Quick Shift and Kernel Methods for Mode Seeking"). Labels are
    renumbered `0..K - 1` per image. Runs on the host, one image at a time.

    Args:
        images: `[B, H, W, C]` float array.
        method: `"slic"`, `"felzenszwalb"` or `"quickshift"`.
        value_low: the low end of the range images are scaled to (XRAI
            segments images scaled to `[-1, 1]`).
        **params: keyword arguments of the scikit-image function, over
            `DEFAULTS[method]` (`slic`: `n_segments=50, compactness=10`;
            `felzenszwalb`: `scale=100, sigma=0.8, min_size=20`;
            `quickshift`: `kernel_size=4, max_dist=200, ratio=0.2`).

    Returns:
        int32 `[B, H, W]` labels.

    Raises:
        ValueError: an unknown `method`, images not `[B, H, W, C]`, or
            parameters scikit-image rejects.

    Example:

    >>> segments = kerasviz.superpixels(images, "felzenszwalb", scale=200)
    >>> segments.max(axis=(1, 2)) + 1  # superpixels per image
    """
    if method not in DEFAULTS:
        raise ValueError(f"Received an invalid value for `method`: {method!r}. Expected one of "
                         f"{sorted(DEFAULTS)}.")
    array = np.asarray(images)
    if array.ndim != 4 or array.dtype.kind not in "uif":
        raise ValueError(f"Expected `images` to be a numeric array [B, H, W, C]. Received shape "
                         f"{array.shape} and dtype {array.dtype}.")
    inputs.check_finite(array, "images")
    labels = segment_all(array, method, params, value_low)
    single = np.flatnonzero(labels.reshape(len(labels), -1).max(axis=1) == 0)
    if single.size:  # e.g. slic on pure noise: connectivity enforcement merges everything
        warnings.warn(f"superpixels: the {method!r} segmentation of {single.size} of {len(labels)} images "
                      f"(image {', '.join(map(str, single[:10]))}) is a single segment: a method on these "
                      "superpixels cannot tell one part of the image from another. Try other parameters "
                      "or another segmentation.", RuntimeWarning, stacklevel=2)
    return labels


def check_segments(segments, segment_params, images):
    """int32 `[B, H, W]` labels `0..K_b - 1`: computed (a method name) or validated (an array)."""
    if isinstance(segments, str):
        return superpixels(images, segments, **(segment_params or {}))
    if segment_params:
        raise ValueError(f"Received `segment_params`={segment_params!r} with precomputed `segments`: "
                         "the parameters only apply to a segmentation method name.")
    array = np.asarray(segments)
    if array.shape != images.shape[:3] or array.dtype.kind not in "iu":
        raise ValueError(f"Expected `segments` to be a method name {sorted(DEFAULTS)} or int labels "
                         f"[B, H, W] = {images.shape[:3]}. Received shape {array.shape}, dtype "
                         f"{array.dtype}.")
    if (array < 0).any():
        raise ValueError("Received negative labels in `segments`: labels must be ints >= 0.")
    return np.stack([_contiguous(s) for s in array])


def counts(segments):
    """The number of segments `K_b` of each image of int32 `[B, H, W]` labels `0..K_b - 1`."""
    return [int(s.max()) + 1 for s in segments]
