"""Checking what users pass in, once, with errors that name the argument.

Every public method funnels its `images`, `batch_size` and `seed` through
here, so the rules (and the messages) are the same everywhere.
"""

import math
import numbers

import numpy as np
import tensorflow as tf

DEFAULT_BATCH_SIZE = 32


def model_input_shape(model):
    """The model's input shape `(H, W, C)` with `None` for free dims, or `None` when unknown."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        return None
    if len(inputs) != 1:
        raise ValueError(
            f"The model {model.name!r} has {len(inputs)} inputs; kerasviz explains image "
            "models with a single input."
        )
    return tuple(inputs[0].shape[1:])


def _as_array(images, argname):
    if isinstance(images, tf.data.Dataset):
        batches = []
        for element in images:
            if isinstance(element, (tuple, list)):
                element = element[0]
            if isinstance(element, dict):
                raise TypeError(
                    f"Expected `{argname}` to yield image batches or (images, labels) tuples. "
                    "Received a dataset of dicts."
                )
            batches.append(np.asarray(element))
        if not batches:
            raise ValueError(f"Received an empty dataset for `{argname}`.")
        return np.concatenate(batches, axis=0)
    if isinstance(images, (tf.Tensor, tf.Variable)):
        return images.numpy()
    try:
        return np.asarray(images)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"Expected `{argname}` to be a numpy array, a tensor or a tf.data.Dataset of "
            f"images. Received: {type(images).__name__} ({error})."
        ) from None


def check_images(model, images, argname="images"):
    """Validates a batch of images against `model`; returns a float32 numpy array.

    Args:
        model: the model the images are for (its input shape is checked when known).
        images: `[B, H, W, C]` numpy array, tensor or `tf.data.Dataset` yielding
            batches (or `(images, labels)` tuples). uint8 and other integer or
            float dtypes are converted to float32 *without rescaling*: images
            stay in the model's own input space.
        argname: the argument name used in error messages.

    Raises:
        TypeError: not image data (strings, objects, dicts).
        ValueError: wrong rank, spatial size or channels, empty, NaN or inf.
    """
    array = _as_array(images, argname)
    if array.dtype.kind not in "uifb" or array.dtype.kind == "b":
        raise TypeError(
            f"Expected `{argname}` to hold numbers (uint8 or float). Received dtype "
            f"{array.dtype}."
        )
    expected = model_input_shape(model)
    if array.ndim != 4:
        hint = " For a single image, pass `image[None]`." if array.ndim == 3 else ""
        raise ValueError(
            f"Expected `{argname}` to be a batch of images of rank 4 [B, H, W, C]. "
            f"Received an array of shape {array.shape}.{hint}"
        )
    if array.shape[0] == 0:
        raise ValueError(f"Received an empty batch for `{argname}` (shape {array.shape}).")
    if expected is not None:
        if len(expected) != 3:
            raise ValueError(
                f"The model {model.name!r} takes inputs of shape {expected}, not images "
                "[H, W, C]; kerasviz explains image models."
            )
        for got, want, what in zip(array.shape[1:], expected, ("height", "width", "channels")):
            if want is not None and got != want:
                raise ValueError(
                    f"Received images of the wrong {what} for `{argname}`: shape {array.shape}, "
                    f"but the model {model.name!r} expects [B, {', '.join(str(d) for d in expected)}]."
                )
    return check_finite(array.astype(np.float32, copy=False), argname)


def check_finite(array, argname):
    """Raises a ValueError naming `argname` when `array` holds NaN or inf; returns it."""
    finite = np.isfinite(array)
    if not np.all(finite):
        raise ValueError(
            f"Received NaN or inf values in `{argname}` ({int(np.sum(~finite))} of {array.size} values)."
        )
    return array


def check_value_range(value_range):
    """`None` or a `(low, high)` pair of finite floats with `low < high`: the model's pixel range."""
    if value_range is None:
        return None
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise ValueError(
            f"Received an invalid value for `value_range`: {value_range!r}. Expected None "
            "or a pair (min, max) of finite numbers with min < max, e.g. (0, 255)."
        )
    return low, high


def check_batch_size(batch_size, default=DEFAULT_BATCH_SIZE):
    """`None` gives `default`; otherwise a positive int."""
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(
            f"Received an invalid value for `batch_size`: {batch_size!r}. "
            "Expected a positive int or None."
        )
    return int(batch_size)


def check_positive_int(value, argname):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"Received an invalid value for `{argname}`: {value!r}. Expected a positive int."
        )
    return int(value)


def check_seed(seed):
    """`None` (a fresh random seed) or an int in `[0, 2**63)`; returns an int."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"Expected `seed` to be an int or None. Received: seed={seed!r}.")
    if not 0 <= seed < 2**63:
        raise ValueError(
            f"Received an invalid value for `seed`: {seed}. Expected an int in [0, 2**63)."
        )
    return int(seed)


def batches(n, batch_size):
    """`(start, stop)` slices covering `range(n)` in chunks of `batch_size`."""
    return [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
