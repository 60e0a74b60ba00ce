"""Maximally activating patches: the image crops that excite a channel most."""

import numbers
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from kerasviz import compiled, display, image, inputs, models, progress
from kerasviz.activations.receptive_field import (
    ReceptiveField, not_spatial, receptive_field, spatial_layer,
)


class TopPatches(NamedTuple):
    """The `k` strongest activations of each channel over a dataset, with their image crops.

    Row `c` of every array is channel `channels[c]`, its entries sorted by
    score, highest first (ties: lower stream index, then lower position).

    Attributes:
        channels: int64 `[C]`, the channels asked for.
        scores: float32 `[C, k]`, the activations.
        image_index: int64 `[C, k]`, the image's index in the stream.
        positions: int64 `[C, k, 2]`, `(row, col)` in the layer's grid.
        boxes: int64 `[C, k, 4]`, `(top, left, bottom, right)` in input
            pixels, clipped to the image, bottom and right exclusive.
        patches: a list of `C` arrays `[k, size_h, size_w, C_in]` in the
            data's own dtype and input space: the receptive field of each
            position, the part outside the image filled with 0.
        receptive_field: the layer's `ReceptiveField`.
        layer: the layer's path (the default one when none was given).
    """

    channels: np.ndarray
    scores: np.ndarray
    image_index: np.ndarray
    positions: np.ndarray
    boxes: np.ndarray
    patches: list
    receptive_field: ReceptiveField
    layer: str

    # Shown as a labelled picture in Jupyter (see `kerasviz.display`).
    _repr_png_ = display.repr_png
    _repr_html_ = display.repr_html

    def figure(self, value_range=(0.0, 1.0)):
        """A row per channel, strongest first, titled with the layer (`kerasviz.show`)."""
        channels = ", ".join(str(int(c)) for c in self.channels)
        title = f"top patches of layer {self.layer}: a row per channel ({channels}), strongest first"
        return display.Figure(image.titled(patches_grid(self, value_range=value_range), title), title)


def _check_channels(channels):
    single = isinstance(channels, numbers.Integral) and not isinstance(channels, bool)
    values = [channels] if single else channels
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(
            f"Expected `channels` to be an int or a sequence of ints. Received: channels={channels!r}."
        )
    values = list(values)
    if not values or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ValueError(
            f"Received an invalid value for `channels`: {channels!r}. Expected a non-negative int "
            "or a non-empty sequence of them."
        )
    return np.asarray(values, np.int32)


def _check_range(channels, count, path):
    if count is not None and channels.max() >= count:
        raise ValueError(
            f"Received an invalid value for `channels`: {channels.tolist()}. The layer {path!r} "
            f"has {count} channels (0 to {count - 1})."
        )


def _images_of(element):
    if isinstance(element, (tuple, list)):
        element = element[0]
    if isinstance(element, dict):
        raise TypeError("Expected `data` to yield images or (images, labels). Received a dict.")
    return np.asarray(element)


def _stream(data, batch_size):
    """Yields the data as numpy batches of at most `batch_size` images, never all at once."""
    if isinstance(data, tf.data.Dataset):
        buffer = []
        for element in data:
            batch = _images_of(element)
            if batch.ndim == 3:  # an unbatched dataset: batch it here
                buffer.append(batch)
                if len(buffer) == batch_size:
                    yield np.stack(buffer)
                    buffer = []
            elif batch.ndim == 4:
                for start, stop in inputs.batches(len(batch), batch_size):
                    yield batch[start:stop]
            else:
                yield batch  # check_images explains what is wrong
        if buffer:
            yield np.stack(buffer)
        return
    if not isinstance(data, (tf.Tensor, tf.Variable)):
        data = inputs.as_numpy(data, "data")
    if len(data.shape) < 2:
        yield np.asarray(data)  # check_images explains what is wrong
        return
    for start, stop in inputs.batches(int(data.shape[0]), batch_size):
        yield np.asarray(data[start:stop])


def _count(data):
    """The number of images in `data` when known without reading it (not for a `tf.data.Dataset`)."""
    shape = getattr(data, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) == 4 and shape[0] is not None else None


def _top_function(model, path, image_shape):
    """Compiled `(images, channels, k) -> (values [C, k'], flat indices [C, k'], grid [3])`."""
    def build(model_ref):
        def top(images, channels, k):
            _, captured = models.run(model_ref(), images, capture=(path,), logits=False)
            activation = tf.cast(captured[path], tf.float32)
            if activation.shape.rank != 4:
                raise not_spatial(model_ref(), path, tuple(activation.shape))
            shape = tf.shape(activation)
            picked = tf.gather(activation, tf.clip_by_value(channels, 0, shape[3] - 1), axis=3)
            flat = tf.transpose(tf.reshape(picked, [-1, tf.size(channels)]))  # [C, B * h * w]
            # Sorted top_k puts the lower index first among equals: the stream order.
            values, indices = tf.math.top_k(flat, tf.minimum(k, tf.shape(flat)[1]), sorted=True)
            return values, indices, shape[1:]

        return top

    signature = [
        tf.TensorSpec([None, *image_shape], tf.float32),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([], tf.int32),
    ]
    return compiled.compiled_function(model, ("top_patches", path, image_shape), build, signature)


def _crop(batch, seen, key, per_image, width, rf):
    """The receptive field of the winner `key` cut from its image in `batch`, zero outside the image."""
    picture = batch[key // per_image - seen]
    row, col = divmod(key % per_image, width)
    top, left, bottom, right = rf.box(row, col, picture.shape[:2])
    start_r, start_c = rf.start(row, col)
    canvas = np.zeros((*rf.size, picture.shape[2]), picture.dtype)
    canvas[top - start_r:bottom - start_r, left - start_c:right - start_c] = picture[top:bottom, left:right]
    return canvas


def _static_channels(found):
    try:
        return found.output.shape[-1]
    except (AttributeError, ValueError):
        return None


def top_patches(model, data, layer=None, channels=0, *, k: int = 9, batch_size=None, verbose=0) -> TopPatches:
    """The image patches that activate channels of a spatial layer most (maximally activating patches).

    Streams `data` through the model, keeps for each channel the `k` highest
    activations over every image and position of `layer`, and cuts out the
    receptive field of each winner (Zeiler & Fergus, 2014, "Visualizing and
    Understanding Convolutional Networks", section 4; Girshick et al., 2014,
    figure 4). Per batch, `tf.math.top_k` runs in the graph over the
    flattened `(image, position)` activations of each channel; the result is
    merged with the running top-k on the host. Several channels share one
    pass over the data. Only winners' crops are kept: memory is `batch_size`
    images plus `C * k` crops. Costs one forward pass per image, plus the
    receptive field (free when analytic; else `2 * 12` backward passes).

    Args:
        model: a built Keras image model.
        data: `[N, H, W, C]` numpy array or tensor, or a `tf.data.Dataset` of
            images or `(images, labels)` (batched or not), in the model's own
            input space.
        layer: a spatial layer (name, path, index or object); default: the
            last layer with a `[B, h, w, K]` output.
        channels: a channel index or a sequence of them.
        k: how many patches per channel (fewer if the data has fewer positions).
        batch_size: images per compiled call (default 32); results do not depend on it.
        verbose: 0 (silent, the default) or 1: a Keras progress bar over the
            images (of unknown total for a `tf.data.Dataset`).

    Returns:
        A `TopPatches` (channels, scores, image_index, positions, boxes,
        patches, receptive_field); see its docstring for shapes.

    Raises:
        ValueError: `layer` not spatial or not in the model, `channels` out
            of range, `k` or `batch_size` not a positive int, `data` empty or
            of the wrong shape, or of varying image sizes.
        TypeError: `data` or `channels` of the wrong type.

    Example:

    >>> result = kerasviz.top_patches(model, dataset, "block_5_add", channels=[0, 1, 2], k=8)
    >>> picture = kerasviz.patches_grid(result, value_range=(-1, 1))
    """
    models.check_model(model)
    k = inputs.check_positive_int(k, "k")
    batch_size = inputs.check_batch_size(batch_size)
    verbose = progress.check_verbose(verbose)
    path = spatial_layer(model, layer, role="patches")
    wanted = _check_channels(channels)
    _check_range(wanted, _static_channels(models.get_layer(model, path)[1]), path)
    scores = keys = crops = function = rf = image_shape = None
    seen = 0
    for raw in progress.track(_stream(data, batch_size), _count(data), verbose, size=len, unit="image"):
        batch = inputs.check_images(model, raw, "data")
        if image_shape is None:
            image_shape = batch.shape[1:]
            function = _top_function(model, path, image_shape)
        elif batch.shape[1:] != image_shape:
            raise ValueError(
                f"Received images of varying shapes in `data`: {image_shape} then {batch.shape[1:]}."
            )
        values, indices, grid = (t.numpy() for t in function(
            tf.constant(batch), tf.constant(wanted), tf.constant(k, tf.int32)))
        if rf is None:
            _check_range(wanted, int(grid[2]), path)
            rf = receptive_field(model, path, input_shape=image_shape)
            per_image, width = int(grid[0] * grid[1]), int(grid[1])
            scores = np.zeros([len(wanted), 0], np.float32)
            keys = np.zeros([len(wanted), 0], np.int64)
            crops = [[] for _ in wanted]
        batch_keys = seen * per_image + indices.astype(np.int64)  # stream index * h * w + position
        all_scores = np.concatenate([scores, values], axis=1)
        all_keys = np.concatenate([keys, batch_keys], axis=1)
        order = np.lexsort((all_keys, -all_scores.astype(np.float64)), axis=-1)[:, :k]
        kept = scores.shape[1]
        for c, row in enumerate(order):
            crops[c] = [
                crops[c][j] if j < kept else _crop(raw, seen, int(all_keys[c, j]), per_image, width, rf)
                for j in row
            ]
        scores, keys = np.take_along_axis(all_scores, order, 1), np.take_along_axis(all_keys, order, 1)
        seen += len(batch)
    if rf is None:
        raise ValueError("Received an empty dataset for `data`: it yielded no images.")
    positions = np.stack(np.divmod(keys % per_image, width), axis=-1)
    boxes = np.asarray(
        [[rf.box(r, c, image_shape[:2]) for r, c in row] for row in positions], np.int64
    ).reshape(len(wanted), -1, 4)
    return TopPatches(
        wanted.astype(np.int64), scores.astype(np.float32), keys // per_image, positions, boxes,
        [np.stack(c) for c in crops], rf, path,
    )


def patches_grid(result: TopPatches, *, value_range=(0.0, 1.0), pad: int = 2) -> np.ndarray:
    """One picture of a `top_patches` result: a row per channel, its `k` crops side by side.

    Crops go to display space with `kerasviz.image.to_display(value_range)`
    (uint8 crops: `value_range=(0, 255)`); the parts of a receptive field
    that fall outside the image are grey (0.5).

    Args:
        result: a `TopPatches` from `top_patches`.
        value_range: the model's pixel range `(lo, hi)`, or None to stretch
            each crop on its own (see `kerasviz.image.to_display`).
        pad: pixels between crops.

    Returns:
        float32 `[C * (size_h + pad) - pad, k * (size_w + pad) - pad, C_in]` in [0, 1].

    Raises:
        TypeError: `result` is not a `TopPatches`.
        ValueError: invalid `value_range` or `pad`.

    Example:

    >>> kerasviz.image.encode_png(kerasviz.patches_grid(result))
    """
    if not isinstance(result, TopPatches):
        raise TypeError(
            f"Expected `result` to be the TopPatches of `top_patches`. Received: {type(result).__name__}."
        )
    crops = np.stack(result.patches)  # [C, k, size_h, size_w, C_in]
    n_channels, k = crops.shape[:2]
    cells = image.to_display(crops.reshape(-1, *crops.shape[2:]).astype(np.float32), value_range)
    rf = result.receptive_field
    for cell, (row, col), box in zip(cells, result.positions.reshape(-1, 2), result.boxes.reshape(-1, 4)):
        start_r, start_c = rf.start(int(row), int(col))
        inside = np.zeros(cell.shape[:2], bool)
        inside[box[0] - start_r:box[2] - start_r, box[1] - start_c:box[3] - start_c] = True
        cell[~inside] = 0.5
    return image.tile(cells, cols=k, pad=pad)
