"""Adversarial images: fooling images (iterative, targeted) and the fast gradient sign method."""

import math
import numbers
import typing

import numpy as np
import tensorflow as tf

from kerasviz import inputs, models, targets
from kerasviz.gradients import core, synthesis
from kerasviz.gradients.class_visualization import RMS_STEP

# CS231n's fooling images: learning rate 1 on the L2-normalized gradient of a
# 224x224x3 normalized image, i.e. a per-pixel RMS step of 1/25 of the class
# visualization's: 0.00058 of the value range.
FOOLING_RMS_STEP = RMS_STEP / 25.0


class FoolingResult(typing.NamedTuple):
    """The result of `fooling_image`.

    Attributes:
        image: float32 `[B, H, W, C]`, the fooling images (input space).
        steps: the number of updates made.
        perturbation: float32 `[B, H, W, C]`, `image - original`.
        magnified_perturbation: float32 `[B, H, W, C]` in `[0, 1]` for display:
            `0.5 + 0.5 * perturbation / max|perturbation|` per image (grey:
            unchanged).
        fooled: whether the model predicts the target class for every image.
    """

    image: np.ndarray
    steps: int
    perturbation: np.ndarray
    magnified_perturbation: np.ndarray
    fooled: bool


def _classes(model, images, value, argname):
    """int32 `[B]` class indices from an int or a sequence, validated against the model."""
    if value is None or isinstance(value, bool) or not (
        isinstance(value, numbers.Integral) or np.ndim(value) == 1
    ):
        raise TypeError(
            f"Expected `{argname}` to be an int class index or a sequence of them (one per "
            f"image). Received: {argname}={value!r}."
        )
    n_classes = targets.num_classes(model, images.shape[1:])
    try:
        return targets.ClassScore(value).column(len(images), n_classes)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Received an invalid value for `{argname}`: {error}") from None


def _logits(model, images):
    return core.model_outputs(core.Prepared(model, images, None, None), images)[1]


def fooling_image(
    model,
    image,
    target_class,
    *,
    max_steps=100,
    learning_rate=None,
    value_range=(0.0, 1.0),
) -> FoolingResult:
    """Changes images imperceptibly until the model predicts a chosen class.

    Gradient ascent on the target class's logit, with the gradient normalized
    to unit RMS per image and no other prior, stopped as soon as the model
    predicts `target_class` for every image (Szegedy et al., 2014,
    "Intriguing properties of neural networks"; the recipe of CS231n's
    assignment 3, whose learning rate 1 on the L2-normalized gradient of a
    224x224 normalized image is a per-pixel RMS step of 0.00058 of the value
    range, the default here). The prediction is checked before every step.
    Costs at most `max_steps` forward and backward passes per image, plus
    one forward pass.

    Args:
        model: a built Keras image classifier.
        image: `[B, H, W, C]` in the model's input space.
        target_class: an int class, or one per image.
        max_steps: the most updates to make.
        learning_rate: per-pixel RMS step in input units; default
            `0.00058 * (max - min)`.
        value_range: `(min, max)` of the input space; images stay in it.

    Returns:
        A `FoolingResult(image, steps, perturbation, magnified_perturbation, fooled)`.

    Raises:
        ValueError, TypeError: an invalid argument (named in the message).

    Example:

    >>> result = fooling_image(model, images[:1], target_class=2)
    >>> result.fooled, result.steps
    (True, 12)
    """
    models.check_model(model)
    original = inputs.check_images(model, image, "image")
    classes = _classes(model, original, target_class, "target_class")
    max_steps = inputs.check_positive_int(max_steps, "max_steps")
    value_range = inputs.check_value_range(value_range)
    if learning_rate is None:
        span = value_range[1] - value_range[0] if value_range else float(np.ptp(original)) or 1.0
        learning_rate = FOOLING_RMS_STEP * span

    def fooled(step, images, logits):
        return bool(np.all(np.argmax(logits, axis=-1) == classes))

    result = synthesis.optimize(
        model, classes, original, steps=max_steps, learning_rate=learning_rate,
        value_range=value_range, normalize_gradient="l2", stop=fooled,
    )
    done = fooled(None, result.image, _logits(model, result.image))
    delta = result.image - original
    peak = np.max(np.abs(delta), axis=(1, 2, 3), keepdims=True)
    magnified = 0.5 + 0.5 * delta / np.where(peak > 0, peak, 1.0)
    return FoolingResult(result.image, result.steps, delta.astype(np.float32),
                         magnified.astype(np.float32), done)


def _signed_cross_entropy(logits, activations, labels, direction):
    """`direction * cross_entropy(labels, softmax(logits))`: +1 moves away from `labels`, -1 toward."""
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return direction * loss


def fgsm(
    model,
    images,
    target=None,
    *,
    target_class=None,
    epsilon=0.007,
    value_range=(0.0, 1.0),
    batch_size=None,
) -> np.ndarray:
    """Fast gradient sign method: one step of size epsilon along the loss gradient's sign.

    `x + eps * sign(d loss / d x)` with the cross-entropy of the model's
    softmax over its logits: away from the true (or predicted) class, or
    with `target_class`, `x - eps * sign(...)` toward that class (Goodfellow
    et al., 2015, "Explaining and Harnessing Adversarial Examples",
    section 4; their epsilon 0.007 on GoogLeNet, one 8-bit grey level, is
    the default here as a fraction of the value range). The result is
    clipped to `value_range`. Costs one forward and one backward pass per
    image (plus one forward pass when `target=None`).

    Args:
        model: a built Keras image classifier.
        images: `[B, H, W, C]` in the model's input space.
        target: the class to move away from: `None` (the predicted class),
            an int, or one int per image (the true labels).
        target_class: for a targeted attack: an int class, or one per image,
            to move toward. Not together with `target`.
        epsilon: the L-infinity size of the step, as a fraction of
            `value_range` (in input units when `value_range` is None).
        value_range: `(min, max)` of the input space. `None`: no clipping.
        batch_size: at most this many images per compiled call (default 32).

    Returns:
        float32 `[B, H, W, C]`: the adversarial images.

    Raises:
        ValueError, TypeError: an invalid argument (named in the message).

    Example:

    >>> adversarial = fgsm(model, images, labels, epsilon=0.03)
    """
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not (
        math.isfinite(epsilon) and epsilon > 0
    ):
        raise ValueError(f"Received an invalid value for `epsilon`: {epsilon!r}. Expected a positive number.")
    if target is not None and target_class is not None:
        raise ValueError(
            f"Received both `target` ({target!r}) and `target_class` ({target_class!r}): pass "
            "`target` to move away from a class, or `target_class` to move toward one."
        )
    if isinstance(target, targets.Target) and not isinstance(target, targets.ClassScore):
        raise TypeError(f"Expected `target` to be None, an int or a sequence of ints. Received: target={target!r}.")
    value_range = inputs.check_value_range(value_range)
    prepared = core.Prepared(model, images, target, batch_size)
    images = prepared.images
    if target_class is not None:
        labels, direction = _classes(model, images, target_class, "target_class"), -1.0
    else:
        labels, direction = core.predicted_classes(prepared)[:, 0], 1.0
    step = epsilon * (value_range[1] - value_range[0] if value_range else 1.0)
    signs = np.full([len(images)], direction, np.float32)
    out = []
    for start, stop in inputs.batches(len(images), prepared.batch_size):
        part = slice(start, stop)
        out.append(synthesis.optimize(
            model, _signed_cross_entropy, images[part], layers=(),
            extras=(labels[part].astype(np.int32), signs[part]), steps=1, learning_rate=step,
            value_range=value_range, normalize_gradient="sign",
        ).image)
    return np.concatenate(out, axis=0)
