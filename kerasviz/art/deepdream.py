"""DeepDream: amplify what a layer already sees, over several octaves."""

import functools
import operator

import numpy as np
import tensorflow as tf

from kerasviz import inputs, models, targets
from kerasviz.gradients import parameterization as parameterizations
from kerasviz.gradients import regularizers, synthesis

# Layers that give good dreams on `keras.applications` models, by architecture. An entry is used when
# all its names exist in the model; VGG19 comes before VGG16 (it has VGG16's names too).
DEFAULT_LAYERS = (
    ("vgg19", ("block4_conv4",)),
    ("vgg16", ("block4_conv3",)),
    ("inception_v3", ("mixed3", "mixed5")),  # the TensorFlow DeepDream tutorial's choice
    ("mobilenet_v2", ("block_10_expand_relu",)),
    ("resnet50", ("conv4_block3_out",)),
)


def _has_layers(model, names):
    try:
        for name in names:
            models.get_layer(model, name)
    except (ValueError, TypeError):
        return False
    return True


def default_dream_layers(model, image_shape=None):
    """The default DeepDream layers of `model`: a known architecture's, else the middle of the stride-16 stage.

    Layers in the middle of a network respond to textures and object parts,
    which is what makes dreams interesting (Mordvintsev et al., 2015); the
    last layers give object-like blobs, the first ones strokes. The known
    layers all sit at a sixteenth of the input side, so elsewhere the
    default is the middle rectified block of the second-deepest resolution
    stage, not a depthwise convolution's where there is another (blocks at
    about 60% and 80% of the depth in a net of fewer than 4 stages). Only
    meaningful layers (rectified or block outputs, `kerasviz.layer_graph`)
    are candidates, never a BatchNormalization or pooling output.
    """
    for _, names in DEFAULT_LAYERS:
        if _has_layers(model, names):
            return tuple(models.get_layer(model, name)[0] for name in names)
    return models.default_layers(model, "dream", image_shape)


def _any_size_cut(model, paths):
    """`model` up to the deepest of `paths`, on an input of any size (one output; the others inside), or None."""
    order = {path: k for k, (path, _) in enumerate(models.iter_layers(model))}
    cut = models.extractor(model, (max(paths, key=order.get),), any_size=True)
    try:
        for path in paths:  # a cut holds only the layers its output depends on
            models.get_layer(cut, path)
    except (ValueError, TypeError, AttributeError):
        return None
    return cut


def _resize(images, size):
    return tf.image.resize(images, size, method="bilinear", antialias=True).numpy()


def deep_dream(
    model,
    image,
    layers=None,
    *,
    octaves=4,
    octave_scale=1.4,
    steps_per_octave=20,
    learning_rate=None,
    jitter=None,
    parameterization=None,
    transforms=None,
    value_range=(0.0, 1.0),
    seed=0,
    callback=None,
    verbose=0,
) -> synthesis.Synthesis:
    """Amplifies the patterns that layers already see in an image (DeepDream).

    Gradient ascent on the mean squared activation of `layers`
    (`kerasviz.targets.LayerL2`, summed over layers: its gradient is the
    activation itself, so the image drifts toward what the layers detect),
    with a step normalized by the gradient's mean absolute value and random
    jitter (Mordvintsev, Olah & Tyka, 2015, "Inceptionism: Going Deeper into
    Neural Networks", and their `deepdream` notebook). The image is processed
    from a small octave up: at each octave the original is resized to the
    octave's size, the detail dreamt so far (the dreamt image minus the
    resized original) is upscaled and added to it, and `steps_per_octave`
    steps run. The result has the input's size. Costs `octaves *
    steps_per_octave` forward and backward passes per image, at up to the full
    size; the step is traced once per octave size.

    The classifiers people have take one fixed size (`include_top=True`):
    for them the octaves, and photos of another size, run through the
    network cut after the dream layers with its input check widened to any
    size (`kerasviz.models.extractor(..., any_size=True)`: the model's own
    layers and live weights, called at the new sizes; the model gains
    nothing). The layers before a classifier's head are convolutions, which
    take any size. A model whose first part cannot be cut so (a subclassed
    model of fixed size, a layer called twice, dream layers on parallel
    branches) takes `octaves=1` and images of its size only, and says so.

    Args:
        model: a built Keras image model.
        image: images `[B, H, W, C]` in the model's input space, of any size for a
            model of fixed input size whose first part can be cut (see above).
        layers: the layer(s) to amplify (names, paths, indices or objects).
            Default: per architecture, VGG16 `block4_conv3`, VGG19
            `block4_conv4`, InceptionV3 `mixed3` + `mixed5`, MobileNetV2
            `block_10_expand_relu`, ResNet50 `conv4_block3_out`; otherwise the
            middle rectified block of the stride-16 stage
            (`default_dream_layers`).
        octaves: the number of scales (4, the notebook's).
        octave_scale: the size ratio between octaves (1.4, the notebook's).
        steps_per_octave: ascent steps per octave: 20, twice the
            notebook's, measured on a real ImageNet classifier
            (EfficientNet-Lite3, 280 px, two photos: an RMS change of 17-18
            grey levels of 255 against 12 at 10 steps, the patterns plain to
            see; `benchmarks/picture_quality.py`).
        learning_rate: the mean absolute per-pixel step; default `1.5 / 255`
            of the value range (the notebook's step of 1.5 on 0-255 images).
        jitter: the largest random shift in pixels; default 32 (the
            notebook's), capped at a quarter of each octave's smaller side
            (pixel ascent only: with a `parameterization` use `transforms`).
        parameterization: None (the notebook's normalized pixel ascent), or
            what Adam changes instead, each octave starting from its image's
            latent: `"pixels"`, `"fourier"` or a
            `kerasviz.gradients.parameterization.Parameterization` (see
            `kerasviz.optimize`); `learning_rate` is then Adam's (default 0.05).
            The pixel default reaches the highest objective at equal steps
            on the demo models (`benchmarks/feature_visualization.py`).
        transforms: None, `"standard"` or a sequence of
            `kerasviz.gradients.transforms.Transform`s, applied to the image
            the model sees at every step.
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`) or `(min, max)`; `image` must lie in
            it (else ValueError) and the dream stays in it. `None`: no range.
        seed: an int seeding the jitter (octave `k` uses `seed + k`).
        callback: `callback(step, image, loss)` after each step (the step
            counted over all octaves; the image at the octave's size).
        verbose: 1 shows a progress bar per octave.

    Returns:
        A `Synthesis(image, losses, steps)`: `image` float32 of the input's
        shape, `losses` the objective at every step of every octave (each
        octave at its own size), `steps` their number.

    Raises:
        ValueError, TypeError: an invalid argument (named in the message).

    Example:

    >>> model = keras.applications.InceptionV3(weights="imagenet", include_top=False,
    ...                                        input_shape=(None, None, 3))
    >>> dream = deep_dream(model, photo[None], octaves=4, value_range="tf")
    """
    models.check_model(model)
    expected = inputs.model_input_shape(model)
    fixed = expected is not None and (expected[0] is not None or expected[1] is not None)
    images = inputs.check_images(model, image, "image", any_size=True)
    octaves = inputs.check_positive_int(octaves, "octaves")
    steps_per_octave = inputs.check_positive_int(steps_per_octave, "steps_per_octave")
    scale = regularizers.check_non_negative(octave_scale, "octave_scale")
    if scale <= 1.0:
        raise ValueError(f"Received an invalid value for `octave_scale`: {octave_scale!r}. Expected a number > 1.")
    value_range = inputs.check_value_range(value_range, images.shape[-1])
    inputs.check_in_range(images, value_range, "image")
    seed = inputs.check_seed(seed)
    if jitter is not None:
        jitter = regularizers.check_non_negative(jitter, "jitter", integer=True)
    if parameterization is not None:
        if jitter:
            raise ValueError(
                f"Received `jitter={jitter!r}` with `parameterization={parameterization!r}`: the pixel "
                "ascent's jitter does not apply to a parameterization; use `transforms`.")
        jitter = 0
        learning_rate = parameterizations.LEARNING_RATE if learning_rate is None else learning_rate
    if layers is None:
        layers = default_dream_layers(model, None if fixed else images.shape[1:])
    elif isinstance(layers, (str, int)) or not isinstance(layers, (list, tuple)):
        layers = (layers,)
    if not layers:
        raise ValueError(f"Received an invalid value for `layers`: {layers!r}. Expected at least one layer.")
    paths = tuple(dict.fromkeys(models.get_layer(model, l, argname="layers")[0] for l in layers))
    objective = functools.reduce(operator.add, [targets.LayerL2(p) for p in paths])
    dreamer = model
    if fixed and (octaves > 1 or images.shape[1:3] != tuple(expected[:2])):
        dreamer = _any_size_cut(model, paths)
        if dreamer is None:
            raise ValueError(
                f"Received `octaves={octaves}` and images of size {images.shape[1:3]} for the model "
                f"{model.name!r}, whose input size is fixed ({expected}) and whose layers up to "
                f"{list(paths)} cannot be run at other sizes (a subclassed model, a layer called twice, "
                "a nested model of fixed size, or layers on parallel branches). Build it with "
                f"`input_shape=(None, None, {images.shape[-1]})`, or pass `octaves=1` and images of "
                "its size."
            )
    height, width = images.shape[1:3]
    sizes = [
        (max(1, int(round(height / scale**k))), max(1, int(round(width / scale**k))))
        for k in reversed(range(octaves))
    ]
    if min(sizes[0]) < 4:
        raise ValueError(
            f"Received `octaves={octaves}` and `octave_scale={octave_scale}` for images of size "
            f"{(height, width)}: the smallest octave would be {sizes[0]}; use fewer octaves."
        )
    rate = regularizers.check_learning_rate(1.5 / 255.0 if learning_rate is None else learning_rate)
    if callback is not None and not callable(callback):
        raise TypeError(f"Expected `callback` to be callable or None. Received: callback={callback!r}.")
    detail = np.zeros((len(images), *sizes[0], images.shape[3]), np.float32)
    losses = []
    for k, size in enumerate(sizes):
        base = images if size == (height, width) else _resize(images, size)
        start = base + (detail if detail.shape[1:3] == size else _resize(detail, size))
        if value_range is not None:  # the detail was dreamt in range; resizing may overshoot it
            start = np.clip(start, value_range.low, value_range.high)
        offset = k * steps_per_octave
        result = synthesis.optimize(
            dreamer, objective, start.astype(np.float32), steps=steps_per_octave,
            learning_rate=lambda step, offset=offset: rate(step + offset),
            value_range=value_range,
            jitter=min(32, min(size) // 4) if jitter is None else jitter,
            seed=(seed + k) % 2**63, normalize_gradient="mean_abs", verbose=verbose,
            parameterization=parameterization, transforms=transforms,
            callback=None if callback is None else (lambda s, im, loss, o=offset: callback(s + o, im, loss)),
        )
        detail = result.image - base
        losses.append(result.losses)
    losses = np.concatenate(losses).astype(np.float32)
    return synthesis.Synthesis(result.image, losses, len(losses))
