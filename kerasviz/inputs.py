"""Checking what users pass in, once, with errors that name the argument.

Every public method funnels its `images`, `batch_size` and `seed` through
here, so the rules (and the messages) are the same everywhere.
"""

import numbers
import warnings

import numpy as np
import tensorflow as tf

from kerasviz import registry

# The batch of the methods that take no model (and the fallback where a model's activations cannot be sized:
# `kerasviz.model_cost.default_batch_size`).
DEFAULT_BATCH_SIZE = 32


def model_input_shape(model):
    """The model's input shape `(H, W, C)` with `None` for free dims, or `None` when unknown.

    Where the model declares what it accepts (a functional model's
    `input_spec`), that shape: a cut of ours that runs a fixed-size
    classifier's layers at any size declares free dims there
    (`kerasviz.models.extractor(..., any_size=True)`).
    """
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        return None
    if len(inputs) != 1:
        raise ValueError(
            f"The model {model.name!r} has {len(inputs)} inputs; this method explains image models with a "
            f"single input. {', '.join(registry.names_with('several_inputs'))} take a model with several inputs "
            "(`images` a dict by input name or a list)."
        )
    spec = getattr(model, "input_spec", None)
    spec = spec[0] if isinstance(spec, (list, tuple)) and len(spec) == 1 else spec
    if getattr(spec, "shape", None) is not None and len(spec.shape) == len(inputs[0].shape):
        return tuple(spec.shape[1:])
    return tuple(inputs[0].shape[1:])


def check_single_output(model, target=None):
    """Raises a ValueError when a functional (or Sequential) model has more than one output, unless `target` picks.

    kerasviz explains one score per image; a model with several outputs is
    refused here, before any tracing, with a message saying what to do,
    unless `target` (a `kerasviz.targets.Target`) says which output it reads
    (`OnOutput`, `Detection`) or reads no output at all (a layer target).
    Subclassed models have no symbolic outputs: they are checked when run.
    """
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        return
    if target is not None and (not target.reads_logits() or target.names_outputs()):
        return
    if outputs and len(outputs) != 1:
        try:
            structure = model.output
        except (AttributeError, ValueError):
            structure = None
        names = (sorted(structure) if isinstance(structure, dict)  # a dict of outputs flattens by sorted key
                 else getattr(model, "output_names", None) or list(range(len(outputs))))
        raise ValueError(
            f"The model {model.name!r} has {len(outputs)} outputs; kerasviz explains models with "
            f"a single output unless the target names one: `target=kerasviz.OnOutput({names[0]!r}, 3)` "
            f"(outputs: {list(names)}). Received: target={target!r}."
        )


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
    return as_numpy(images, argname)


def as_numpy(images, argname="images"):
    """`images` (a numpy array, a tensor, nested lists) as a numpy array, or a TypeError naming `argname`."""
    if isinstance(images, (tf.Tensor, tf.Variable)):
        return images.numpy()
    try:
        return np.asarray(images)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"Expected `{argname}` to be a numpy array, a tensor or a tf.data.Dataset of "
            f"images. Received: {type(images).__name__} ({error})."
        ) from None


def class_labels(labels, argname="labels"):
    """int64 class indices `[N]` from int labels `[N]` or one-hot `[N, K]`, else a ValueError naming `argname`."""
    labels = np.asarray(labels)
    if labels.ndim == 2:  # one-hot
        labels = labels.argmax(axis=-1)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"Expected `{argname}` to be int class indices [N] (or one-hot [N, K]). Received an "
                         f"array of shape {labels.shape} and dtype {labels.dtype}.")
    return labels.astype(np.int64)


def check_images(model, images, argname="images", any_size=False, target=None):
    """Validates a batch of images against `model`; returns a float32 numpy array.

    Args:
        model: the model the images are for (its input shape is checked when known).
        images: `[B, H, W, C]` numpy array, tensor or `tf.data.Dataset` yielding
            batches (or `(images, labels)` tuples). uint8 and other integer or
            float dtypes are converted to float32 *without rescaling*: images
            stay in the model's own input space.
        argname: the argument name used in error messages.
        any_size: accept any height and width (the channels still must
            match), for a caller that runs the model's layers at other sizes.
        target: the call's `Target`, when it has one: a target that names
            an output lets a model with several outputs through.

    Raises:
        TypeError: not image data (strings, objects, dicts).
        ValueError: wrong rank, spatial size or channels, empty, NaN or inf; a
            model with several outputs (`check_single_output`).
    """
    check_single_output(model, target)
    expected = model_input_shape(model)  # a model with several inputs is refused before its images are read
    array = _as_array(images, argname)
    if array.dtype.kind not in "uifb" or array.dtype.kind == "b":
        raise TypeError(
            f"Expected `{argname}` to hold numbers (uint8 or float). Received dtype "
            f"{array.dtype}."
        )
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
            if want is not None and got != want and not (any_size and what != "channels"):
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


# The input conventions of `keras.applications` (`imagenet_utils.preprocess_input` modes), as the
# range of values an RGB image in [0, 255] takes after each: per channel, in the model's channel order.
_IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
_IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
VALUE_RANGE_PRESETS = {
    "tf": ((-1.0,), (1.0,)),  # x / 127.5 - 1: MobileNet(V2), Inception, Xception, NASNet
    "torch": (  # (x / 255 - mean) / std, RGB: DenseNet
        tuple(-m / s for m, s in zip(_IMAGENET_MEAN_RGB, _IMAGENET_STD_RGB)),
        tuple((1.0 - m) / s for m, s in zip(_IMAGENET_MEAN_RGB, _IMAGENET_STD_RGB)),
    ),
    "caffe": (  # RGB -> BGR, minus the ImageNet mean, no scaling: VGG16/19, ResNet50
        tuple(-m for m in _CAFFE_MEAN_BGR),
        tuple(255.0 - m for m in _CAFFE_MEAN_BGR),
    ),
}
# The other conventions are plain pairs: (0, 255) for models with the preprocessing inside (EfficientNet,
# ConvNeXt, RegNet, and any model fed uint8 pixels), (0, 1) for models trained on scaled pixels.
_BGR_PRESETS = frozenset({"caffe"})


class ValueRange:
    """The valid values of a model's input, per channel: `low[c] <= x[..., c] <= high[c]`.

    Attributes:
        low, high: float64 `[C]` (`[1]` when every channel has the same range).
        name: the preset it came from (`"tf"`, ...), or None.
        bgr: whether the channels are in BGR order (the `"caffe"` convention).
    """

    def __init__(self, low, high, name=None, bgr=False):
        self.low, self.high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        self.name, self.bgr = name, bgr

    @property
    def span(self):
        """The mean width `mean(high - low)`, the unit that step sizes and noise levels scale with."""
        return float(np.mean(self.high - self.low))

    @property
    def centre(self):
        return (self.low + self.high) / 2.0

    def __iter__(self):
        """`low, high = value_range`: floats, or tuples of floats for a per-channel range."""
        for bound in (self.low, self.high):
            yield float(bound[0]) if bound.size == 1 else tuple(float(v) for v in bound)

    def __repr__(self):
        return repr(self.name) if self.name is not None else repr(tuple(self))


def check_value_range(value_range, channels=None, argname="value_range"):
    """Resolves a `value_range` argument: `None`, a preset name, or `(low, high)`.

    Args:
        value_range: `None` (no declared range), one of `VALUE_RANGE_PRESETS`
            (`"tf"`: [-1, 1]; `"torch"`: ImageNet mean/std normalized RGB;
            `"caffe"`: BGR minus the ImageNet mean, on the 0-255 scale), or a
            pair `(low, high)`, e.g. `(0, 255)` or `(0, 1)`, whose members
            are numbers or sequences with one number per channel.
        channels: the images' channel count, checked against per-channel ranges.
        argname: the argument name used in error messages.

    Returns:
        A `ValueRange`, or None.

    Raises:
        ValueError: an unknown name, a malformed pair, `low >= high`, or a
            per-channel range for another number of channels.
    """
    if value_range is None or isinstance(value_range, ValueRange):
        resolved = value_range
    elif isinstance(value_range, str):
        if value_range not in VALUE_RANGE_PRESETS:
            raise ValueError(
                f"Received an invalid value for `{argname}`: {value_range!r}. Expected None, one "
                f"of {sorted(VALUE_RANGE_PRESETS)} or a pair (min, max), e.g. (0, 255)."
            )
        low, high = VALUE_RANGE_PRESETS[value_range]
        resolved = ValueRange(low, high, value_range, value_range in _BGR_PRESETS)
    else:
        resolved = _explicit_range(value_range, argname)
    if resolved is not None and channels is not None and resolved.low.size not in (1, channels):
        raise ValueError(
            f"Received `{argname}={resolved!r}`, a range for {resolved.low.size} channels, for "
            f"images with {channels} channels."
        )
    return resolved


def _explicit_range(value_range, argname):
    try:
        low, high = value_range
        low, high = np.atleast_1d(np.asarray(low, np.float64)), np.atleast_1d(np.asarray(high, np.float64))
        valid = low.ndim == 1 and low.shape == high.shape or low.size == 1 or high.size == 1
        low, high = np.broadcast_arrays(low, high)
    except (TypeError, ValueError):
        valid = False
    if not (valid and low.ndim == 1 and np.all(np.isfinite(low)) and np.all(np.isfinite(high))
            and np.all(high > low)):
        raise ValueError(
            f"Received an invalid value for `{argname}`: {value_range!r}. Expected None, one of "
            f"{sorted(VALUE_RANGE_PRESETS)} or a pair (min, max) of finite numbers (or of "
            "per-channel sequences) with min < max, e.g. (0, 255)."
        )
    return ValueRange(low.copy(), high.copy())


def check_in_range(images, value_range, argname):
    """Raises a ValueError naming `argname` and `value_range` when `images` leave the range.

    Nothing is ever clipped silently: an image outside the declared range
    means the range (or the preprocessing) is wrong. A relative tolerance of
    1e-5 of each channel's width absorbs float32 rounding in preprocessing.

    Args:
        images: float `[..., C]`.
        value_range: a `ValueRange` (from `check_value_range`) or None (no check).
        argname: the images' argument name.

    Returns:
        `images`.
    """
    if value_range is None:
        return images
    slack = 1e-5 * (value_range.high - value_range.low)
    flat = images.reshape(-1, images.shape[-1])
    below = flat < (value_range.low - slack)
    above = flat > (value_range.high + slack)
    outside = below | above
    if np.any(outside):
        raise ValueError(
            f"Received `{argname}` with values outside `value_range={value_range!r}`: "
            f"{int(np.sum(outside))} of {outside.size} values, from {float(flat.min()):.6g} to "
            f"{float(flat.max()):.6g}. Pass the `value_range` of the model's input space (a preset "
            f"{sorted(VALUE_RANGE_PRESETS)} or (min, max)); images are never clipped to it."
        )
    return images


def check_image_shape(model, image_shape, argname="image_shape"):
    """`(H, W, C)` of positive ints that the model accepts; `None` gives the model's own.

    Raises:
        ValueError: not three positive ints, a size the model does not take,
            or `None` for a model whose input size is free or unknown.
    """
    expected = model_input_shape(model)
    shape = expected if image_shape is None else image_shape
    try:
        dims = tuple(shape)
    except TypeError:
        dims = ()
    if len(dims) != 3 or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1 for d in dims
    ):
        raise ValueError(
            f"Received an invalid value for `{argname}`: {image_shape!r}. The model's input shape "
            f"is {expected}; pass `{argname}=(H, W, C)` with positive ints."
        )
    if expected is not None and any(w is not None and g != w for g, w in zip(dims, expected)):
        raise ValueError(
            f"Received an invalid value for `{argname}`: {image_shape!r}. The model "
            f"{model.name!r} takes images of shape {expected}."
        )
    return tuple(int(d) for d in dims)


def images_as_references(images, method):
    """The call's own images as a method's reference distribution (`references=None`), refused for one image.

    Expected Gradients, GradientShap and DeepLiftShap draw references from
    the batch when none are given; a batch of one image would draw only the
    image itself, and the attributions would be zero (or noise alone).
    """
    if len(images) < 2:
        raise ValueError(
            f"Received `references=None` with a single image: {method} then draws its references from the "
            "images of the call, and the only one is the image itself, so every attribution would be zero "
            "(or noise alone). Pass `references=` (background images in the model's input space, e.g. 16 to "
            "100 training images), or explain several images in one call."
        )
    return images


def warn_if_constant(values, method, what="map"):
    """Warns when an item of `values` (one per image, on axis 0) is constant; returns `values`.

    A constant attribution map, or a constant model output under
    perturbation, explains nothing: the model's score does not depend on the
    input there (a model that ignores its input, dead ReLUs, a saturated
    output). Displays normalize such maps to zeros (`kerasviz.image.normalize`),
    which would look like a confident "nothing matters" if it went unsaid.

    Args:
        values: `[B, ...]` float array.
        method: the method's name, put in the message.
        what: what the values are ("map", "score under occlusion"), put in the message.
    """
    flat = np.asarray(values).reshape(len(values), -1)
    constant = np.flatnonzero(flat.min(axis=1) == flat.max(axis=1))
    if constant.size:
        shown = ", ".join(str(i) for i in constant[:10]) + (", ..." if constant.size > 10 else "")
        warnings.warn(
            f"{method}: the {what} of {constant.size} of {len(flat)} images is constant (image "
            f"{shown}; value {float(flat[constant[0], 0]):.6g}): it tells nothing about any pixel. The "
            "target's score does not change with the input there (a model whose output ignores its "
            "input, dead ReLUs, a saturated output), or, for a path method, the image is its own "
            "baseline. It displays as all zeros.",
            RuntimeWarning,
            stacklevel=3,
        )
    return values


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
