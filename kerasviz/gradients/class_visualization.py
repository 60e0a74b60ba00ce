"""Class model visualization: the image a class (or a unit) responds to most."""

import math

import numpy as np

from kerasviz import inputs, models, targets
from kerasviz.gradients import parameterization as parameterizations
from kerasviz.gradients import synthesis

# CS231n assignment 3 (class visualization, SqueezeNet on 224x224x3 ImageNet
# images normalized by the ImageNet mean and std): learning rate 25 on the
# L2-normalized gradient, L2 regularization 1e-3, blur every 10 steps with
# sigma 0.5, jitter 16 pixels, 100 iterations.
_CS231N_PIXELS = 224 * 224 * 3
_CS231N_STD = 0.226  # the mean ImageNet std in [0, 1] units: one normalized unit
# An L2 step of 25 over 150528 values, in normalized units: a per-pixel RMS of
# 25 / sqrt(150528) = 0.0644 std, 0.0146 of the [0, 1] range.
RMS_STEP = 25.0 / math.sqrt(_CS231N_PIXELS) * _CS231N_STD
CS231N_L2 = 1e-3
# The default recipe, measured on a real ImageNet classifier (EfficientNet-Lite3, 280 px, raw 0-255 input:
# `benchmarks/picture_quality.py`, 256 steps, four classes): a Fourier spectrum scaled by 1 / f ** 1.25
# rather than Olah et al.'s 1 / f: a class score pulls toward fine adversarial texture, and the steeper
# prior halves the share of spectral energy above half Nyquist (0.19 -> 0.09) at the same p(target)
# (1.00 on held-out transforms); a single channel keeps 1 / f (`feature_visualization`), whose fine-
# textured channels go dead under the steeper prior. Adam's step in latent units: 0.15 gives the
# contrast of a photo (0.18 RMS against 0.11 at lucid's 0.05); 0.2 burns the image into noise.
PARAMETERIZATION = parameterizations.Parameterization("fourier", decay=1.25)
LATENT_LEARNING_RATE = 0.15


def _n_images(target):
    if isinstance(target, targets.Target):
        terms = target.class_terms()
        sizes = [np.size(t.index) for t in terms if t.index is not None and np.ndim(t.index)]
        return max(sizes, default=1)
    if target is not None and np.ndim(target) == 1:
        return len(target)
    return 1


def _start(model, target, init, image_shape, value_range, seed):
    if init is not None:
        if image_shape is not None:
            raise ValueError("Received both `init` and `image_shape`: pass one of them.")
        return inputs.check_images(model, init, "init")
    shape = inputs.check_image_shape(model, image_shape)
    return synthesis.grey_start(_n_images(target), shape, value_range, seed)


def class_visualization(
    model,
    target,
    *,
    init=None,
    image_shape=None,
    steps=256,
    learning_rate=None,
    l2=None,
    blur_every=None,
    blur_sigma=0.5,
    jitter=None,
    parameterization=PARAMETERIZATION,
    transforms="standard",
    value_range=(0.0, 1.0),
    seed=0,
    callback=None,
    verbose=0,
) -> synthesis.Synthesis:
    """Synthesizes the image that maximizes a class score (or a unit's activation).

    Gradient ascent on the pre-softmax class score from a near-grey start
    (Simonyan et al., 2013, "Deep Inside Convolutional Networks", section 2).
    By default the image is decoded from a colour-decorrelated Fourier
    spectrum scaled by `1 / f ** 1.25` (`PARAMETERIZATION`) that Adam
    changes, through random pad, jitter, scale and rotation at every step
    (Olah et al., 2017, "Feature Visualization"; Mordvintsev et al., 2018,
    "Differentiable Image Parameterizations"): the recipe that gives
    recognisable objects on a real ImageNet network. On EfficientNet-Lite3
    (280 px, raw 0-255 input), ten classes, 256 steps
    (`benchmarks/picture_quality.py`): p(target) 1.00 on the image and
    after transforms it never saw (flips, zooms, half resolution), RMS
    contrast 0.19 of the range (a photo's is about 0.2), 8% of the spectral
    energy above half Nyquist.

    `parameterization=None, transforms=None` is CS231n's pixel recipe
    (assignment 3, SqueezeNet, 224x224), regularized as in Yosinski et al.,
    2015 ("Understanding Neural Networks Through Deep Visualization"): L2
    decay (`l2=1e-3`), a Gaussian blur every 10 steps with sigma 0.5, jitter
    of 16 pixels at 224 (scaled with the image size), and a per-pixel RMS
    step of 0.0146 of the value range on the L2-normalized gradient (their
    learning rate 25 on mean/std-normalized images), clipped to the range.
    Everything is in units of `value_range` (`kerasviz.optimize`): a model
    that takes `[0, 255]` gets the picture of its `[0, 1]` twin. Costs
    `steps` forward and backward passes per image, all images in one batch.

    Args:
        model: a built Keras image model (softmax at the end is bypassed).
        target: an int class, a sequence of classes (one image each), or a
            `kerasviz.targets.Target` (`Neuron`, `Channel`, a weighted sum).
        init: starting images `[B, H, W, C]` in the model's input space; by
            default one image per class of `target`: the centre of
            `value_range` plus Gaussian noise (std 2% of the range) from `seed`.
        image_shape: `(H, W, C)` of the generated images when `init` is None
            and the model's input size is free.
        steps: the number of ascent steps.
        learning_rate: with a `parameterization`, Adam's step in latent
            units, default 0.15 (measured above; lucid's is 0.05); without,
            the per-pixel RMS step in units of the value range, default
            0.0146 (CS231n's).
        l2: weight of the squared distance of the unit image to the range's
            centre (`kerasviz.optimize`); default 0 with a parameterization
            (its sigmoid keeps the image in range), `1e-3` without (CS231n's).
        blur_every: blur every this many steps (0: never); default 10
            (pixel ascent only: not with a `parameterization`).
        blur_sigma: the blur's standard deviation in pixels.
        jitter: the largest random shift in pixels; default `16 * min(H, W) / 224`
            (pixel ascent only: with a `parameterization` use `transforms`).
        parameterization: a `kerasviz.gradients.parameterization.Parameterization`
            (the default: Fourier, decay 1.25, see `PARAMETERIZATION`),
            `"fourier"` (decay 1), `"pixels"`, or None (CS231n's
            normalized pixel ascent).
        transforms: `"standard"` (the default), None, or a sequence of
            `kerasviz.gradients.transforms.Transform`s, applied to the image
            the model sees at every step.
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`) or `(min, max)`; `init` must lie in
            it (else ValueError) and the images stay in it. `None`: no range.
        seed: an int seeding the start noise and the jitter.
        callback: `callback(step, image, loss)` after each step.
        verbose: 1 shows a progress bar.

    Returns:
        A `Synthesis(image, losses, steps)`; `losses` are the class scores
        (mean over images) step by step.

    Raises:
        ValueError, TypeError: an invalid argument (named in the message).

    Example:

    >>> result = class_visualization(model, [22, 340], value_range=(0, 255))
    >>> kerasviz.image.to_display(result.image, (0, 255))
    """
    models.check_model(model)
    if target is None:
        raise ValueError(
            "Received target=None: class visualization needs the class (or a `Target`) to maximize."
        )
    value_range = inputs.check_value_range(value_range)
    seed = inputs.check_seed(seed)
    start = _start(model, target, init, image_shape, value_range, seed)
    if parameterization is not None:
        for name, value in (("jitter", jitter), ("blur_every", blur_every)):
            if value:
                raise ValueError(
                    f"Received `{name}={value!r}` with `parameterization={parameterization!r}`: the "
                    "pixel ascent's jitter and blur do not apply to a parameterization; use `transforms` "
                    "(or pass `parameterization=None` for the pixel recipe).")
        learning_rate = LATENT_LEARNING_RATE if learning_rate is None else learning_rate
        l2 = 0.0 if l2 is None else l2
        jitter, blur_every = 0, 0
    if learning_rate is None:
        learning_rate = RMS_STEP
    if jitter is None:
        jitter = int(round(16 * min(start.shape[1:3]) / 224))
    return synthesis.optimize(
        model, target, start, steps=steps, learning_rate=learning_rate, value_range=value_range,
        l2=CS231N_L2 if l2 is None else l2, jitter=jitter, blur_every=10 if blur_every is None else blur_every,
        blur_sigma=blur_sigma, normalize_gradient="l2", seed=seed, callback=callback, verbose=verbose,
        parameterization=parameterization, transforms=transforms,
    )
