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
    steps=100,
    learning_rate=None,
    l2=1e-3,
    blur_every=None,
    blur_sigma=0.5,
    jitter=None,
    parameterization=None,
    transforms=None,
    value_range=(0.0, 1.0),
    seed=0,
    callback=None,
    verbose=0,
) -> synthesis.Synthesis:
    """Synthesizes the image that maximizes a class score (or a unit's activation).

    Gradient ascent on the pre-softmax class score from a near-blank start
    (Simonyan et al., 2013, "Deep Inside Convolutional Networks", section 2),
    regularized as in Yosinski et al., 2015 ("Understanding Neural Networks
    Through Deep Visualization"): L2 decay, a Gaussian blur every few steps,
    random jitter, and clipping to the valid range. The defaults are those of
    CS231n's assignment 3 (SqueezeNet, 224x224): 100 steps, `l2=1e-3`, blur
    every 10 steps with sigma 0.5, jitter 16 pixels at 224 (scaled here with
    the image size), and a learning rate of 25 on the L2-normalized gradient
    of a mean/std-normalized image, which is a per-pixel RMS step of 0.0146
    of the value range (used here, `normalize_gradient="l2"`). Costs `steps`
    forward and backward passes per image, all images in one batch.

    With a `parameterization` (`"fourier"`: a 1/f-scaled spectrum with
    decorrelated colours; `"pixels"`: pixels under a sigmoid) the image is
    decoded from a latent that Adam changes, and `transforms` (e.g.
    `"standard"`: pad, jitter, scale, rotate) replace the jitter and the
    blur (Olah et al., 2017, "Feature Visualization"); see
    `kerasviz.optimize`. The default stays CS231n's pixel recipe: measured
    on both demo models at 64 steps (`benchmarks/feature_visualization.py`),
    it reaches the highest class score (shapes: logit 22.6 and probability
    0.84, against 16.7 and 0.78 with Fourier and 8.7 and 0.65 with Fourier
    and transforms; digits: 48.2 against 42.9 and 34.4), while transforms
    and Fourier lower the high-frequency share.

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
        learning_rate: per-pixel RMS step in input units; default
            `0.0146 * (max - min)` (CS231n's, see above). With a
            `parameterization`: Adam's step in latent units, default 0.05.
        l2: weight of the squared distance to the range's centre.
        blur_every: blur every this many steps (0: never); default 10
            (pixel ascent only: not with a `parameterization`).
        blur_sigma: the blur's standard deviation in pixels.
        jitter: the largest random shift in pixels; default `16 * min(H, W) / 224`
            (pixel ascent only: with a `parameterization` use `transforms`).
        parameterization: None (CS231n's normalized pixel ascent), `"pixels"`,
            `"fourier"` or a `kerasviz.gradients.parameterization.Parameterization`.
        transforms: None, `"standard"` or a sequence of
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

    >>> result = class_visualization(model, 3, steps=200)
    >>> kerasviz.image.to_display(result.image)
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
                    "pixel ascent's jitter and blur do not apply to a parameterization; use `transforms`.")
        learning_rate = parameterizations.LEARNING_RATE if learning_rate is None else learning_rate
        jitter, blur_every = 0, 0
    if learning_rate is None:
        learning_rate = RMS_STEP
    if jitter is None:
        jitter = int(round(16 * min(start.shape[1:3]) / 224))
    return synthesis.optimize(
        model, target, start, steps=steps, learning_rate=learning_rate, value_range=value_range,
        l2=l2, jitter=jitter, blur_every=10 if blur_every is None else blur_every, blur_sigma=blur_sigma,
        normalize_gradient="l2", seed=seed, callback=callback, verbose=verbose,
        parameterization=parameterization, transforms=transforms,
    )
