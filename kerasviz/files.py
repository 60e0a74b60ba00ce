"""Reading image files as a model sees them: the centre crop to its aspect ratio, resized, in its value range.

One reader for the command line (`kerasviz.cli.common`), `explain_dataset`'s
lists of files and the examples. ImageNet classifiers are evaluated on the
centre crop of a photo resized to their input (bicubic), so that is the
default; `stretch=True` resizes the whole picture instead (Keras's
`image_dataset_from_directory` default). Pixels 0..255 map linearly onto the
model's `value_range` per channel (BGR for the "caffe" preset).
"""

import numpy as np
from PIL import Image, UnidentifiedImageError

from kerasviz import inputs


def fit_picture(picture, size, *, stretch=False, resample=None):
    """A PIL image brought to `size = (height, width)`: its centre crop to that aspect ratio, resized.

    The crop keeps the largest centred box of the target's aspect ratio (a
    square one for a square model input), so nothing is distorted; with
    `stretch` the whole picture is resized instead. `resample` defaults to
    bicubic (use nearest for masks).
    """
    resample = Image.BICUBIC if resample is None else resample
    height, width = size
    if not stretch:
        w, h = picture.size
        scale = min(w / width, h / height)  # the largest box of the target's aspect ratio that fits
        crop_w, crop_h = min(w, max(1, round(width * scale))), min(h, max(1, round(height * scale)))
        left, top = (w - crop_w) // 2, (h - crop_h) // 2
        picture = picture.crop((left, top, left + crop_w, top + crop_h))
    return picture.resize((width, height), resample)


def read_image(path, model, value_range, *, fixed_size=True, stretch=False, range_argname="value_range"):
    """One image file -> `[1, H, W, C]` float32 in the model's input space.

    Brought to the model's input size when it is fixed (`fit_picture`), else
    kept at its own size with `fixed_size=False`, or refused; greyscale or
    RGB as the model takes.

    Raises:
        ValueError: the file cannot be read as an image, the model has no
            fixed input size (with `fixed_size`), or `value_range` (named
            `range_argname` in the message) does not fit the channels.
    """
    shape = inputs.model_input_shape(model)
    size = None if shape is None or None in shape[:2] else shape[:2]
    if size is None and fixed_size:
        raise ValueError(f"model {model.name!r}: it has no fixed input size; resize the images yourself.")
    channels = 3 if shape is None or shape[2] is None else shape[2]
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if size is not None:
                image = fit_picture(image, size, stretch=stretch)
            array = np.asarray(image, np.float32) / 255.0
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise ValueError(f"image {path!r}: cannot be read ({error}).") from None
    array = array.reshape(*array.shape[:2], channels)
    resolved = inputs.check_value_range(value_range, channels, range_argname)
    if resolved.bgr:
        array = array[..., ::-1]
    low, high = resolved.low.astype(np.float32), resolved.high.astype(np.float32)
    return (low + array * (high - low))[None]
