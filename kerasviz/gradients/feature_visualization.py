"""Feature visualization: what each channel of a layer responds to, many channels in one batch."""

import numbers
import typing
import warnings

import numpy as np

from kerasviz import image, inputs, models, targets
from kerasviz.gradients import parameterization as parameterizations
from kerasviz.gradients import regularizers, synthesis

MAX_CHANNELS = 16  # channels shown by default: the first ones, as `filter_grid` does
# Adam's step in latent units, measured on a real ImageNet classifier (EfficientNet-Lite3, 280 px, its default
# layer, 8 channels, 256 steps: `benchmarks/picture_quality.py`): 0.1 reaches the same activations as lucid's
# 0.05 with more contrast (0.14 RMS of the range against 0.10), every channel firing.
LEARNING_RATE = 0.1
# The weight of the diversity term with several images per channel, measured there too (4 images of one channel,
# 256 steps; `picture_quality.py --parts facets`): at 0 the four images are the same picture (mean pairwise Gram
# cosine 0.996 at the layer); at 10 four visibly different facets (0.29) at 95% of the activation; on another
# channel 100 and 1000 spread them no further (0.28 against 0.35 at 10) at 75%.
DIVERSITY = 10.0


class FeatureVisualization(typing.NamedTuple):
    """The result of `feature_visualization`.

    Attributes:
        images: float32 `[N, H, W, C]` in the model's input space, channel by
            channel (`images_per_channel` consecutive images each).
        channels: int32 `[N]`: the channel each image maximizes.
        objectives: float32 `[N]`: each image's final objective (the
            channel's mean activation), measured on the image itself,
            without transforms.
        grid: float32 `[rows, cols, 3 or 1]` in [0, 1]: the images as a grid,
            one row per channel when `images_per_channel > 1`, each titled
            with its layer, channel and objective.
        layer: the layer's path (the default is said here).
        losses: float32 `[steps]`: the batch's mean objective at every step.
    """

    images: np.ndarray
    channels: np.ndarray
    objectives: np.ndarray
    grid: np.ndarray
    layer: str
    losses: np.ndarray


def default_layer(model, image_shape=None):
    """The default layer: DeepDream's (`kerasviz.art.deepdream.default_dream_layers` without a known architecture).

    The middle rectified block of the second-deepest resolution stage (a
    sixteenth of the input side in a 5-stage net: object parts, as lucid's
    mixed4a-4e), not a depthwise convolution's where there is another (each
    of its channels sees one input channel: on EfficientNet-Lite3, 3 of 16
    stayed grey), or the block at about 80% of the depth in a net of fewer
    stages; never a BatchNormalization, pooling or pre-activation output,
    nor the classifier head (`kerasviz.layer_graph.default_layers`, role
    `"dream"`).
    """
    return models.default_layers(model, "dream", image_shape)[-1]


def _warn_dead(path, per_image, objectives):
    """Warns about channels whose activation is exactly zero everywhere on their final image.

    A rectified channel that never fires gives no gradient: its image is the
    starting noise, shown as if it were what the channel responds to.
    """
    dead = sorted({c for c, v in zip(per_image, np.asarray(objectives)) if v == 0.0})
    if dead:
        shown = ", ".join(str(c) for c in dead[:10]) + (", ..." if len(dead) > 10 else "")
        plural = "s" if len(dead) > 1 else ""
        warnings.warn(
            f"feature_visualization: channel{plural} {shown} of layer {path!r} never activated (its activation "
            "is 0 at every position of its final image, so no gradient reached the image): a dead channel, or "
            "one this starting image cannot excite. Its image is the starting noise, not a feature.",
            RuntimeWarning, stacklevel=3)


def _channels(channels, count):
    if channels is None:
        return list(range(min(count or MAX_CHANNELS, MAX_CHANNELS)))
    if isinstance(channels, numbers.Integral) and not isinstance(channels, bool):
        if channels < 1:
            raise ValueError(f"Received an invalid value for `channels`: {channels!r}. Expected an int >= 1.")
        return list(range(min(int(channels), count or int(channels))))
    values = np.asarray(channels)
    if values.ndim != 1 or not len(values) or values.dtype.kind not in "iu":
        raise TypeError(
            f"Expected `channels` to be None, an int (the first so many) or a non-empty sequence of "
            f"channel indices. Received: channels={channels!r}.")
    return [int(c) for c in values]


def feature_visualization(
    model,
    layer=None,
    channels=None,
    *,
    images_per_channel: int = 1,
    image_shape=None,
    steps: int = 256,
    learning_rate: float = LEARNING_RATE,
    parameterization="fourier",
    transforms="standard",
    diversity: float = DIVERSITY,
    pre_activation=None,
    l2: float = 0.0,
    tv: float = 0.0,
    value_range=(0.0, 1.0),
    seed: int = 0,
    callback=None,
    verbose: int = 0,
) -> FeatureVisualization:
    """Synthesizes, for each of many channels of a layer, an image that excites it most.

    One batched optimization for all channels: each image maximizes its own
    channel's mean activation (`kerasviz.targets.Channel` with one channel
    per image), through a decorrelated Fourier parameterization and random
    pad/jitter/scale/rotation at every step (Olah, Mordvintsev & Schubert,
    2017, "Feature Visualization", Distill; Mordvintsev et al., 2018,
    "Differentiable Image Parameterizations"), with Adam (`LEARNING_RATE`,
    0.1, measured on a real ImageNet network), before the layer's rectifier
    where it has one (`pre_activation`: no channel starts dead). Everything
    is in units of `value_range`, so a `[0, 255]` model gets the pictures of
    its `[0, 1]` twin. With `images_per_channel > 1` and `diversity > 0`, a Gram
    diversity term (`kerasviz.targets.Diversity`) pushes the images of each
    channel apart so they show several facets of it. Costs `steps` forward
    and backward passes of a batch of `len(channels) * images_per_channel`
    images, one compiled step (traced once per model, layer, image shape,
    parameterization and transforms).

    Args:
        model: a built Keras image model.
        layer: the layer (name, path, index or object); default: a
            rectified block of the second-deepest resolution stage
            (`default_layer`).
        channels: None (the first 16), an int (the first so many) or a
            sequence of channel indices.
        images_per_channel: images per channel (facets, with `diversity`).
        image_shape: `(H, W, C)` when the model's input size is free.
        steps: the number of optimization steps.
        learning_rate: Adam's step size in latent units (with
            `parameterization=None`: the normalized pixel step of `optimize`,
            in units of the value range).
        parameterization: `"fourier"` (1/f-scaled spectrum, decorrelated
            colours for RGB, sigmoid), `"pixels"`, a
            `kerasviz.gradients.parameterization.Parameterization`, or None
            (the plain pixel ascent of `kerasviz.optimize`).
        transforms: `"standard"` (`kerasviz.gradients.transforms.standard`),
            None, or a sequence of `Transform`s.
        diversity: the weight of the diversity term when
            `images_per_channel > 1` (0: none; `DIVERSITY`, 10, by default:
            measured to give different facets at 95% of the activation).
        pre_activation: optimize what enters the layer's rectifier rather
            than its output (`kerasviz.targets.Channel(...,
            pre_activation=True)`): a channel that is zero everywhere on the
            grey start has no gradient after a ReLU, but one before it (lucid
            optimizes `mixed4a_pre_relu` for this reason). `None`: when the
            layer ends in a rectifier (`kerasviz.models.has_rectifier`).
            `objectives` and the dead-channel warning still read the output.
        l2: weight of the squared distance to the range's centre.
        tv: weight of the total variation.
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`) or `(min, max)`; the images stay in it.
        seed: an int seeding the start and the transforms.
        callback: `callback(step, images, loss)` after each step.
        verbose: 1 shows a progress bar.

    Returns:
        A `FeatureVisualization(images, channels, objectives, grid, layer, losses)`.

    Raises:
        ValueError, TypeError: an invalid argument (named in the message).

    Example:

    >>> result = feature_visualization(model, "conv3", channels=8, steps=128)
    >>> kerasviz.image.encode_png(result.grid)
    """
    models.check_model(model)
    shape = inputs.check_image_shape(model, image_shape)
    per_channel = inputs.check_positive_int(images_per_channel, "images_per_channel")
    diversity = regularizers.check_non_negative(diversity, "diversity")
    value_range = inputs.check_value_range(value_range, shape[-1])
    if value_range is None:
        raise ValueError("Received `value_range=None`: feature visualization needs the model's input range.")
    seed = inputs.check_seed(seed)
    path = default_layer(model, shape) if layer is None else models.get_layer(model, layer)[0]
    count = models.output_shape(model, path)
    chosen = _channels(channels, count[-1] if count else None)
    per_image = [c for c in chosen for _ in range(per_channel)]
    if pre_activation is None:
        pre_activation = models.has_rectifier(models.get_layer(model, path)[1])
    objective = targets.Channel(path, per_image, pre_activation=pre_activation)
    if diversity > 0 and per_channel > 1:
        objective = objective + diversity * targets.Diversity(path, group_size=per_channel)
    if parameterization is None:
        start = synthesis.grey_start(len(per_image), shape, value_range, seed)
    else:
        start = parameterizations.random_images(parameterization, len(per_image), shape, value_range, seed)
    result = synthesis.optimize(
        model, objective, start, steps=steps, learning_rate=learning_rate, value_range=value_range,
        l2=l2, tv=tv, seed=seed, callback=callback, verbose=verbose,
        parameterization=parameterization, transforms=transforms,
    )
    objectives = synthesis.objective_values(model, targets.Channel(path, per_image), result.image)
    _warn_dead(path, per_image, objectives)
    display = image.to_display(result.image, value_range)
    if display.shape[-1] == 1:
        display = display[..., 0]
    titles = [f"{path} {c}\n{v:.3g}" for c, v in zip(per_image, objectives)]
    grid = image.tile(display, cols=per_channel if per_channel > 1 else None, titles=titles)
    return FeatureVisualization(result.image, np.asarray(per_image, np.int32), objectives.astype(np.float32),
                                grid, path, result.losses)
