"""Feature maps: a layer's activations for given images, channels as labelled tiles."""

import numbers
import typing

import numpy as np
import tensorflow as tf

from kerasviz import compiled, image, inputs, models

MAX_CHANNELS = 16
ORDERS = ("mean", "index")


class FeatureMaps(typing.NamedTuple):
    """The result of `feature_maps`.

    Attributes:
        maps: float32 `[B, h, w, K]`: the activations of the `K` chosen
            channels, in the order shown.
        channels: int32 `[K]`: the channel index of each map.
        means: float32 `[K]`: each channel's mean activation over the images
            and positions.
        grids: float32 `[B, rows, cols]` in [0, 1]: per image, its maps as
            tiles titled with the channel and its mean activation there,
            scaled together (from the image's smallest to its largest value
            over the chosen maps) so that tiles compare.
        layer: the layer's path (the default is said here).
    """

    maps: np.ndarray
    channels: np.ndarray
    means: np.ndarray
    grids: np.ndarray
    layer: str


def _function(model, path, shape):
    def build(model_ref):
        def forward(images):
            captured = models.run(model_ref(), images, capture=(path,), logits=False)[1]
            return tf.cast(captured[path], tf.float32)

        return forward

    signature = [tf.TensorSpec([None, *shape], tf.float32)]
    return compiled.compiled_function(model, ("feature_maps", path, shape), build, signature)


def _chosen(channels, means, max_channels, order):
    count = len(means)
    if channels is None:
        ranked = np.argsort(-means, kind="stable") if order == "mean" else np.arange(count)
        return ranked[:max_channels]
    if isinstance(channels, numbers.Integral) and not isinstance(channels, bool):
        channels = [channels]
    values = np.asarray(channels)
    if values.ndim != 1 or not len(values) or values.dtype.kind not in "iu":
        raise TypeError(
            f"Expected `channels` to be None, an int or a non-empty sequence of ints. Received: channels={channels!r}.")
    bad = [int(c) for c in values if not 0 <= c < count]
    if bad:
        raise ValueError(f"Received an invalid value for `channels`: {bad[0]}. The layer has {count} channels.")
    return values[np.argsort(-means[values], kind="stable")] if order == "mean" else values


def feature_maps(model, images, layer=None, *, channels=None, max_channels: int = MAX_CHANNELS, order: str = "mean",
                 batch_size=None, pad: int = 1) -> FeatureMaps:
    """The activations of a layer for some images, as one labelled grid per image.

    Each channel of a spatial layer is a map over positions: where in the
    image its feature is found (Zeiler & Fergus, 2014, "Visualizing and
    Understanding Convolutional Networks"; Yosinski et al., 2015, the "live
    activations" of their toolbox). Channels are ranked by their mean
    activation over all the given images, so every image's grid shows the
    same channels in the same places. Costs one forward pass per image.

    Args:
        model: a built Keras model, any form (nested layers by path,
            `"backbone/conv2"`).
        images: `[B, H, W, C]` in the model's input space.
        layer: a spatial layer (name, path, index or object); default: the
            last feature block with a spatial extent (the Grad-CAM layer of
            `kerasviz.layer_graph.default_layers`).
        channels: None (the `max_channels` most active), an int, or a
            sequence of channel indices.
        max_channels: how many channels to show when `channels` is None.
        order: `"mean"` (most active first) or `"index"` (channel order).
        batch_size: images per forward pass (memory bound; results do not
            depend on it).
        pad: pixels between tiles.

    Returns:
        A `FeatureMaps(maps, channels, means, grids, layer)`.

    Raises:
        ValueError, TypeError: an invalid argument (named in the message),
            or a layer whose output is not `[B, h, w, C]`.

    Example:

    >>> result = feature_maps(model, photos, "conv2")
    >>> kerasviz.image.encode_png(result.grids[0])
    """
    models.check_model(model)
    images = inputs.check_images(model, images)
    batch_size = inputs.check_batch_size(batch_size)
    max_channels = inputs.check_positive_int(max_channels, "max_channels")
    if order not in ORDERS:
        raise ValueError(f"Received an invalid value for `order`: {order!r}. Expected one of {ORDERS}.")
    path = models.default_layers(model, "grad_cam", images.shape[1:])[0] if layer is None else \
        models.get_layer(model, layer)[0]
    function = _function(model, path, images.shape[1:])
    values = np.concatenate([function(tf.constant(images[a:b])).numpy() for a, b in inputs.batches(len(images), batch_size)])
    if values.ndim != 4:
        raise ValueError(
            f"Received an invalid value for `layer`: {path!r} has outputs of shape {values.shape[1:]} per "
            f"image, not [h, w, C]. Spatial layers of the model {model.name!r}: {models.spatial_layers(model)}.")
    means = values.mean(axis=(0, 1, 2))
    chosen = _chosen(channels, means, max_channels, order)
    maps = values[..., chosen]
    grids = []
    for k, per_image in enumerate(maps):
        low, high = per_image.min(), per_image.max()
        scaled = (per_image - low) / (high - low) if high > low else np.zeros_like(per_image)
        titles = [f"{c}: {per_image[..., i].mean():.3g}" for i, c in enumerate(chosen)]
        grids.append(image.tile(np.moveaxis(scaled, -1, 0), pad=pad, titles=titles))
    return FeatureMaps(maps.astype(np.float32), np.asarray(chosen, np.int32), means[chosen].astype(np.float32),
                       np.stack(grids).astype(np.float32), path)
