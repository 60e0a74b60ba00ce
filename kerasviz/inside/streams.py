"""What the `kerasviz.inside` computations share: a layer's activations (and gradients) batch by batch.

Every computation here reads one layer over a stream of images: a compiled
function per (model, layer, image shape), traced once, running the model no
deeper than the layer (`kerasviz.models.run_layers`), and a reader of the
data that holds one batch at a time.
"""

import numbers

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, models
from kerasviz.gradients import core

_NEGATIVE = 1e-6  # relative: activations below -this * max are not non-negative


def layer_path(model, layer):
    """The canonical path of `layer` in `model`, checking that it has a channel axis."""
    path, _ = models.get_layer(model, layer)
    shape = models.output_shape(model, path)
    if shape is not None and len(shape) not in (1, 3):
        raise ValueError(
            f"Received an invalid value for `layer`: {layer!r} outputs shape {tuple(shape)}; expected "
            "[B, h, w, C] (a spatial layer) or [B, C].")
    return path


def activation_function(model, path, shape):
    """The compiled `images [B, *shape] -> float32 activations of layer `path``, traced once per shape."""

    def build(model_ref):
        def forward(images):
            return tf.cast(models.run_layers(model_ref(), images, (path,))[path], tf.float32)

        return forward

    signature = [tf.TensorSpec([None, *shape], tf.float32)]
    return compiled.compiled_function(model, ("inside_activations", path, tuple(shape)), build, signature)


def activations(model, images, path, batch_size):
    """The float32 activations of layer `path` for checked `images` (all in memory), chunked."""
    function = activation_function(model, path, images.shape[1:])
    return np.concatenate([function(tf.constant(images[a:b])).numpy()
                           for a, b in inputs.batches(len(images), batch_size)], axis=0)


def non_negative(values, path):
    """`values` with float round-off below 0 set to 0, or a ValueError: NMF needs a rectified layer."""
    low, high = float(values.min()), float(np.abs(values).max())
    if low < -_NEGATIVE * max(high, 1e-30):
        raise ValueError(f"The activations of {path!r} go down to {low:.4g}; NMF needs non-negative ones: "
                         "pick a rectified layer (after a ReLU).")
    return np.maximum(values, 0.0)


def check_value_range(value_range, channels):
    return None if value_range is None else inputs.check_value_range(value_range, channels)


def check_batch(model, batch, value_range, argname="data"):
    """A batch of images checked against the model (and `value_range` when given), float32 numpy."""
    array = inputs.check_images(model, np.asarray(batch), argname)
    return inputs.check_in_range(array, check_value_range(value_range, array.shape[-1]), argname)


def _split(element, argname):
    if isinstance(element, dict):
        raise TypeError(f"Expected `{argname}` to yield image batches or (images, ...) tuples. Received a dict.")
    if isinstance(element, (tuple, list)):
        return tuple(np.asarray(part) for part in element)
    return (np.asarray(element),)


def batches(data, batch_size, argname="data", parts=1):
    """Yields tuples of `parts` numpy arrays (images first), at most `batch_size` rows each.

    `data` is images (an array, a tensor, a list of images) for `parts=1`,
    a tuple of `parts` arrays of equal length (`(images, masks)`) for more,
    or a `tf.data.Dataset` of batches of either (an unbatched dataset is
    batched here; extra parts of its elements, labels, are dropped). Only
    one batch is held at a time; a dataset is iterated anew on each call
    (two passes read it twice).
    """
    if isinstance(data, tf.data.Dataset):
        pending = []
        for element in data:
            element = _split(element, argname)
            if len(element) < parts:
                raise ValueError(
                    f"Expected `{argname}` to yield {parts} arrays per element "
                    f"(images{', masks' if parts > 1 else ''}). Received {len(element)}.")
            element = element[:parts]
            if element[0].ndim == 3:
                pending.append(element)
                if len(pending) == batch_size:
                    yield tuple(np.stack(p) for p in zip(*pending))
                    pending = []
                continue
            for a, b in inputs.batches(len(element[0]), batch_size):
                yield tuple(p[a:b] for p in element)
        if pending:
            yield tuple(np.stack(p) for p in zip(*pending))
        return
    if parts > 1 and isinstance(data, (tuple, list)):
        if len(data) < parts:
            raise ValueError(
                f"Expected `{argname}` to be a tuple of {parts} arrays. Received a {type(data).__name__} "
                f"of {len(data)}.")
        arrays = tuple(inputs.as_numpy(p, argname) for p in data[:parts])
    elif parts > 1:
        raise TypeError(
            f"Expected `{argname}` to be a tuple `(images, masks)` or a `tf.data.Dataset` yielding them. "
            f"Received: {type(data).__name__}.")
    else:
        arrays = (inputs.as_numpy(data, argname),)
    lengths = {len(a) if a.ndim else -1 for a in arrays}
    if len(lengths) != 1 or -1 in lengths:
        raise ValueError(
            f"Expected the arrays of `{argname}` to have one row per image. Received shapes "
            f"{[a.shape for a in arrays]}.")
    n = lengths.pop()
    if n == 0:
        raise ValueError(f"Received an empty dataset for `{argname}`.")
    for a, b in inputs.batches(n, batch_size):
        yield tuple(p[a:b] for p in arrays)


def check_int(value, argname, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"Received an invalid value for `{argname}`: {value!r}. Expected an int >= {minimum}.")
    return int(value)


def layer_gradients(model, images, path, target, batch_size=None, value_range=None):
    """`(scores [B], gradients, activations)` of the target's score w.r.t. layer `path`, float32.

    `target` as everywhere in kerasviz (None: the predicted class; an int; one
    int per image; a `Target`); class scores are the logits behind a softmax.
    One forward and backward pass per image, compiled once per (model,
    layer, target structure, image shape).
    """
    if value_range is not None:
        images = check_batch(model, images, value_range, "images")
    prepared = core.Prepared(model, images, target, batch_size)
    prepared.class_idx = core.predicted_classes(prepared)

    def build(model_ref):
        step = core.gradient_step(model_ref, prepared.target, prepared.capture, wrt_layer=path)

        def function(batch, class_idx):
            return step(batch, class_idx)

        return function

    function = compiled.compiled_function(model, prepared.key("inside_layer_gradients", path), build,
                                          prepared.signature())
    scores, gradients, values = core.run_chunks(function, prepared, prepared.images, prepared.class_idx)
    return scores.astype(np.float32), gradients, values


