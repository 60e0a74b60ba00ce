"""What a hidden pixel becomes: one policy for the baselines, fills and occluders of every method.

Occlusion hides a square, RISE blends towards a baseline where a mask is
low, LIME, KernelSHAP and MuFidelity switch segments off, deletion and
insertion remove pixels, and Integrated Gradients walks from a baseline to
the image. Each names what the hidden pixels become `baseline` (occlusion:
`value`), and each resolves it here, so the same input means the same thing
and is refused with the same message (`Received an invalid value for
`baseline`: ...`, naming the argument and echoing what was received).

The forms, in the model's own input space:

- a float: every pixel and channel takes it. `0.0` is the all-zeros input:
  black only where 0 is black (pixels in [0, 1] or [0, 255]); `black(value_range)`
  gives black in any space (-1.0 for `"tf"`, one value per channel for `"caffe"`).
- an array whose last axis holds the images' `C` channels and which broadcasts to
  `[B, H, W, C]`: one float per channel `[C]`, an image `[H, W, C]` for every
  image, images `[B, H, W, C]` (or `[1, H, W, C]`), one colour per image
  `[B, 1, 1, C]`. Another channel count (a grey `[H, W, 1]` for colour images) is
  refused, not broadcast.
- `"mean"`: each image's own mean colour (the per-channel mean of its pixels).
- `"blur"`: the image blurred (`blur`: a Gaussian of sigma an eighth of its side).
- `None`, only where it is a method's default: there it means `"mean"`.

Anything else is refused before the model runs: a `TypeError` for what is no number,
numeric array or str (and for a str where a method takes no named form, `None` where it
is no default), a `ValueError` for an unknown name, the wrong shape, NaN or inf.

Which method takes which forms, and its default and why:

- `occlusion`, `occlusion_coarse_to_fine` (`value`, `colours`): one colour per image (a float,
  per channel, `[B, 1, 1, C]`; `None`: each image's mean colour). The occluder is a constant patch
  (incremental inference relies on it). Zeiler & Fergus slide a grey square; the image's own mean
  colour is that grey in any input space, adding no colour or brightness the image lacks on average.
- `rise` (`baseline=0.0`): every form; 0.0 is Petsiuk et al.'s `image * mask`.
- `lime`, `kernel_shap` (`baseline=None`: each image's mean colour): every form. LIME's image
  explainer also hides superpixels with a mean colour (each superpixel's own, by default).
- `integrated_gradients`, `guided_integrated_gradients` (`baseline=0.0`): a float or an array.
  0.0 is Sundararajan et al.'s black image for pixels in [0, 1] or [0, 255] (a score near zero).
  `"mean"` is refused: a baseline of the image's own colours leaves those colours unattributed.
  `integrated_gradients` also takes `"blur"`, which there is Blur IG's path (Xu et al., 2020,
  `blur_integrated_gradients`): through ever less blurred images from a blur of `max_sigma`,
  not the straight line from `blur(images)`. `expected_gradients` draws `references`, a
  distribution of images rather than a fill (so do `gradient_shap` and `deeplift_shap`); `xrai`
  uses Integrated Gradients' default.
- `deeplift` (`baseline=0.0`, its reference): a float, an array or `"blur"` (each image blurred:
  a reference of the image's own coarse colours). 0.0 is Shrikumar et al.'s all-zeros reference.
  `"mean"` is refused as for Integrated Gradients.
- `layer_integrated_gradients`, `layer_conductance`, `neuron_conductance` (`baseline=0.0`): a
  float or an array, as Integrated Gradients' straight path (no named form: `"blur"` would read
  as Blur IG's path, which they do not take).
- `kerasviz.metrics.deletion` (`baseline=0.0`: Petsiuk et al. set deleted pixels to zero),
  `insertion` (`baseline="blur"`: their insertion starts from a blurred copy), `mufidelity`
  (`baseline=0.0`, as deletion): every form.

Example:

>>> from kerasviz import fill
>>> fill.baselines("mean", images).shape == images.shape
True
>>> kerasviz.integrated_gradients(model, images, baseline=fill.black("tf"))  # black is -1.0 there
"""

import math
import numbers

import numpy as np

from kerasviz import inputs

MEAN, BLUR = "mean", "blur"
NAMES = {MEAN: "each image's mean colour", BLUR: "the image blurred"}


def _blur_matrix(n, sigma):
    """`[n, n]` Gaussian blur along one axis, symmetric edges, truncated at 3 sigma."""
    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    weights /= weights.sum()
    source = np.pad(np.arange(n), radius, mode="symmetric")
    rows = np.repeat(np.arange(n), len(offsets))
    cols = source[(np.arange(n)[:, None] + radius + offsets[None]).ravel()]
    matrix = np.zeros([n, n])
    np.add.at(matrix, (rows, cols), np.tile(weights, n))
    return matrix


def blur(images, sigma=None):
    """Gaussian blur of `[B, H, W, C]` images; `sigma` defaults to size / 8 per axis.

    The `"blur"` form: symmetric edges, the kernel cut at 3 sigma, so a
    constant image stays constant. Returns float32 `[B, H, W, C]`.

    Example:

    >>> start = fill.blur(images)  # what insertion starts from
    """
    height, width = images.shape[1:3]
    rows = _blur_matrix(height, sigma or height / 8)
    cols = _blur_matrix(width, sigma or width / 8)
    out = np.einsum("ih,bhwc->biwc", rows, images)
    return np.einsum("jw,biwc->bijc", cols, out).astype(np.float32)


def black(value_range, channels=None):
    """Black in a model's input space: the low end of its `value_range`, to pass as a `baseline`.

    Args:
        value_range: a preset of `kerasviz.inputs.VALUE_RANGE_PRESETS`
            (`"tf"`, `"torch"`, `"caffe"`) or `(low, high)`.
        channels: the images' channel count, checked against a per-channel range.

    Returns:
        A float (one range for every channel) or float32 `[C]` (one per
        channel, in the model's channel order: BGR for `"caffe"`).

    Raises:
        ValueError: `value_range` is None, unknown or malformed.

    Example:

    >>> fill.black("tf"), fill.black((0, 255))
    (-1.0, 0.0)
    """
    resolved = inputs.check_value_range(value_range, channels)
    if resolved is None:
        raise ValueError("Received an invalid value for `value_range`: None. Expected a preset, one of "
                         f"{sorted(inputs.VALUE_RANGE_PRESETS)}, or a pair (low, high).")
    return float(resolved.low[0]) if resolved.low.size == 1 else resolved.low.astype(np.float32)


def _echo(value):
    """What was received, short: the repr of a small value, the shape and dtype of an array."""
    shape = getattr(value, "shape", None)
    if shape is not None and math.prod(shape) > 8:
        return f"an array of shape {tuple(shape)} and dtype {getattr(value, 'dtype', '?')}"
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _expected(shape, names, none, per_image):
    """The forms a call accepts, in words, for its messages."""
    forms = [f"None ({NAMES[none]})"] if none is not None else []
    forms += ["a float", f"{shape[-1]} floats (one per channel)"]
    if per_image:
        forms.append(f"one colour per image [B, 1, 1, C] = {shape}")
    else:
        forms += [f"an image [H, W, C] = {shape[1:]}", f"images [B, H, W, C] = {shape}"]
    forms += [f'"{name}" ({NAMES[name]})' for name in names]
    return ", ".join(forms[:-1]) + " or " + forms[-1]


def _refuse(error, argname, value, why, expected):
    return error(f"Received an invalid value for `{argname}`: {_echo(value)}{why}. Expected {expected}.")


def _named(name, images, shape):
    if name == MEAN:
        means = images.mean(axis=(1, 2), keepdims=True, dtype=np.float64).astype(np.float32)
        return np.ascontiguousarray(np.broadcast_to(means, shape))
    return blur(images)


def _resolve(value, images, shape, argname, names, none, per_image=False):
    """`value` as float32 broadcast to `shape`: `[B, H, W, C]`, or `[B, 1, 1, C]` with `per_image`."""
    expected = _expected(shape, names, none, per_image)
    if value is None and none is not None:
        return _named(none, images, shape)
    if isinstance(value, str):
        if not names:
            raise _refuse(TypeError, argname, value, " (a str)", expected)
        if value not in names:
            raise _refuse(ValueError, argname, value, "", expected)
        return _named(value, images, shape)
    if value is None or isinstance(value, (bool, bytes, np.bool_)):
        raise _refuse(TypeError, argname, value, f" (of type {type(value).__name__})", expected)
    if isinstance(value, numbers.Real):
        array = np.asarray(value, np.float64)
    else:
        try:
            array = np.asarray(value)
        except (TypeError, ValueError):  # a ragged sequence
            array = np.asarray(None)
        if array.dtype.kind not in "uif":
            raise _refuse(TypeError, argname, value, f" (of type {type(value).__name__}, dtype {array.dtype})",
                          expected)
        if array.ndim and (array.ndim > 4 or array.shape[-1] != shape[-1] or not _broadcasts(array.shape, shape)):
            why = "" if _echo(value).startswith("an array") else f" (shape {array.shape})"
            raise _refuse(ValueError, argname, value, why, expected)
    with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf, refused below
        array = array.astype(np.float32)
    finite = np.isfinite(array)
    if not finite.all():
        why = " (not finite)" if array.size == 1 else f" ({finite.size - int(finite.sum())} of {finite.size} " \
            "values NaN or inf)"
        raise _refuse(ValueError, argname, value, why, "finite values")
    return np.ascontiguousarray(np.broadcast_to(array, shape))


def _broadcasts(shape, target):
    try:
        return np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


def baselines(value, images, *, argname="baseline", names=(MEAN, BLUR), none=None):
    """What each pixel of each image becomes: `value` resolved to float32 `[B, H, W, C]`.

    Args:
        value: a float, an array (channels last, broadcast to the images), or
            one of `names` (see the module's forms).
        images: float32 `[B, H, W, C]`, the checked images (`"mean"` and
            `"blur"` are computed from them).
        argname: the argument's name in messages.
        names: the named forms the method accepts (`"mean"`, `"blur"`).
        none: what `None` stands for (`"mean"` where the method's default is
            None), or None to refuse `None`.

    Returns:
        float32 `[B, H, W, C]`, contiguous.

    Raises:
        TypeError: `value` is not a number, a numeric array or a str (or a
            str where the method takes no named form; `None` where refused).
        ValueError: an unknown name, an array of the wrong shape or channel
            count, NaN or inf.

    Example:

    >>> fill.baselines(0.5, images).shape == images.shape
    True
    """
    return _resolve(value, images, images.shape, argname, names, none)


def colours(value, images, *, argname="value", names=(), none=MEAN):
    """One colour per image: `value` resolved to float32 `[B, C]` (occlusion's occluder).

    Args:
        value: a float, `C` floats, `[B, 1, 1, C]`, one of `names`, or None
            (standing for `none`).
        images: float32 `[B, H, W, C]`, the checked images.
        argname, names, none: as for `baselines`; `names` may hold `"mean"` only (a
            blurred image is not one colour).

    Returns:
        float32 `[B, C]`.

    Raises:
        TypeError, ValueError: as for `baselines`.

    Example:

    >>> fill.colours(None, images).shape == (len(images), images.shape[-1])
    True
    """
    n_images, channels = images.shape[0], images.shape[-1]
    shape = (n_images, 1, 1, channels)
    return _resolve(value, images, shape, argname, names, none, per_image=True).reshape(n_images, channels)
