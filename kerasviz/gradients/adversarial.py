"""Adversarial images: fooling images (iterative, targeted) and the fast gradient sign method."""

import math
import numbers
import typing

import numpy as np
import tensorflow as tf

from kerasviz import display, image, inputs, models, targets
from kerasviz.gradients import core, synthesis

# The default fooling step: a per-pixel RMS change of one 8-bit grey level (1/255 of the value range)
# per step, on the unit-RMS gradient of the margin. With each image frozen as soon as it is fooled, the
# step bounds the overshoot; measured (tests/gradients/test_fooling.py) it fools 16-32 px images in tens of steps.
FOOLING_RMS_STEP = 1.0 / 255.0


class FoolingResult(typing.NamedTuple):
    """The result of `fooling_image`.

    Attributes:
        image: float32 `[B, H, W, C]`, the fooling images (input space).
        steps: the number of update rounds made (the largest of `image_steps`).
        perturbation: float32 `[B, H, W, C]`, `image - original`.
        magnified_perturbation: float32 `[B, H, W, C]` in `[0, 1]` for display:
            `0.5 + 0.5 * perturbation / max|perturbation|` per image (grey:
            unchanged).
        fooled: whether the model predicts the target class for every image.
        image_steps: int32 `[B]`: the updates each image received (it is
            frozen once fooled; `max_steps` for an image never fooled).
        image_fooled: bool `[B]`: whether each image is fooled.
    """

    image: np.ndarray
    steps: int
    perturbation: np.ndarray
    magnified_perturbation: np.ndarray
    fooled: bool
    image_steps: np.ndarray
    image_fooled: np.ndarray

    # Shown as a labelled picture in Jupyter (see `kerasviz.display`).
    _repr_png_ = display.repr_png
    _repr_html_ = display.repr_html

    def figure(self, value_range=(0.0, 1.0)):
        """Per image: the original, the magnified perturbation, the result (`kerasviz.show`)."""
        fooled = image.to_display(self.image, value_range)
        original = image.to_display(self.image - self.perturbation, value_range)
        shown = np.broadcast_to(self.magnified_perturbation, fooled.shape)
        cells = np.stack([original, shown, fooled], axis=1).reshape((-1,) + fooled.shape[1:])
        names = []
        for steps, done in zip(np.asarray(self.image_steps), np.asarray(self.image_fooled)):
            names += ["original", "perturbation (magnified)",
                      f"fooled in {int(steps)} steps" if done else f"not fooled ({int(steps)} steps)"]
        title = "fooling images: " + ("all fooled" if self.fooled else "not all fooled")
        return display.Figure(image.titled(image.tile(cells, cols=3, pad=2, titles=names), title), title)


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
        raise type(error)(str(error).replace("`target`", f"`{argname}`").replace("target=", f"{argname}=")) from None


def _logits(model, images):
    return core.model_outputs(core.Prepared(model, images, None, None), images)[1]


def _margin(logits, activations, labels):
    """`z_t - max_{j != t} z_j` per image: positive exactly when the model predicts `t`."""
    target = tf.gather(logits, labels, batch_dims=1)
    others = tf.where(tf.one_hot(labels, tf.shape(logits)[-1]) > 0, -np.inf, logits)
    return target - tf.reduce_max(others, axis=-1)


def fooling_image(
    model,
    image,
    target_class,
    *,
    max_steps=100,
    learning_rate=None,
    value_range=(0.0, 1.0),
    verbose=0,
) -> FoolingResult:
    """Changes images slightly until the model predicts a chosen class.

    Gradient ascent, with the gradient normalized to unit RMS per image and
    no other prior (Szegedy et al., 2014, "Intriguing properties of neural
    networks"; CS231n's assignment 3), on the margin `z_t - max_{j != t} z_j`
    between the target's logit and the largest other one (Carlini & Wagner,
    2017, "Towards Evaluating the Robustness of Neural Networks", objective
    f6 with kappa = 0). Raising the target's logit alone can fail: the
    original class's logit may rise faster; the margin's gradient lowers the
    strongest rival at the same time. The prediction is checked before every
    step, and each image is frozen as soon as the model predicts
    `target_class` for it, so that an image fooled early is not pushed
    further while the others catch up: each image ends as it would alone.
    Costs at most `max_steps` forward and backward passes per image, plus
    one forward pass.

    Args:
        model: a built Keras image classifier (at least 2 classes).
        image: `[B, H, W, C]` in the model's input space, inside `value_range`.
        target_class: an int class, or one per image.
        max_steps: the most updates to make.
        learning_rate: the per-pixel RMS step in units of the value range
            (`kerasviz.optimize`); default one grey level, 1 / 255.
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`) or `(min, max)`. `image` must lie
            in it (else ValueError), and the fooling images stay in it.
        verbose: 0 (silent), 1 (a progress bar over `max_steps`, ending
            early when every image is fooled) or 2 (one line when done).

    Returns:
        A `FoolingResult(image, steps, perturbation, magnified_perturbation,
        fooled, image_steps, image_fooled)`.

    Raises:
        ValueError, TypeError: an invalid argument (named in the message),
            images outside `value_range`.

    Example:

    >>> result = fooling_image(model, images[:2], target_class=2, value_range="tf")
    >>> result.fooled, result.image_steps
    (True, array([12,  7], dtype=int32))
    """
    models.check_model(model)
    original = inputs.check_images(model, image, "image")
    classes = _classes(model, original, target_class, "target_class")
    if targets.num_classes(model, original.shape[1:]) < 2:
        raise ValueError(
            f"The model {model.name!r} has a single output unit: fooling it into a class needs a "
            "classifier with at least 2 classes."
        )
    max_steps = inputs.check_positive_int(max_steps, "max_steps")
    value_range = inputs.check_value_range(value_range, original.shape[-1])
    inputs.check_in_range(original, value_range, "image")
    if learning_rate is None:
        learning_rate = FOOLING_RMS_STEP
    fooled_at = np.full([len(original)], -1, np.int64)

    def fooled(step, images, logits):
        done = np.argmax(logits, axis=-1) == classes
        fooled_at[done & (fooled_at < 0)] = step
        return done

    result = synthesis.optimize(
        model, _margin, original, layers=(), extras=(classes,), steps=max_steps, learning_rate=learning_rate, value_range=value_range,
        normalize_gradient="l2", stop=fooled, verbose=verbose,
    )
    done = np.argmax(_logits(model, result.image), axis=-1) == classes
    image_steps = np.where(fooled_at >= 0, fooled_at, result.steps).astype(np.int32)
    delta = result.image - original
    peak = np.max(np.abs(delta), axis=(1, 2, 3), keepdims=True)
    magnified = 0.5 + 0.5 * delta / np.where(peak > 0, peak, 1.0)
    return FoolingResult(result.image, result.steps, delta.astype(np.float32),
                         magnified.astype(np.float32), bool(np.all(done)), image_steps, done)


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
            `value_range` (of each channel's width for a per-channel range;
            of the images' spread when `value_range` is None).
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`) or `(min, max)`. `images` must lie
            in it (else ValueError); the results are kept in it. `None`: no
            range.
        batch_size: at most this many images per compiled call (default 32).

    Returns:
        float32 `[B, H, W, C]`: the adversarial images.

    Raises:
        ValueError, TypeError: an invalid argument (named in the message),
            images outside `value_range`.

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
    prepared = core.Prepared(model, images, target, batch_size)
    images = prepared.images
    value_range = inputs.check_value_range(value_range, images.shape[-1])
    inputs.check_in_range(images, value_range, "images")
    if target_class is not None:
        labels, direction = _classes(model, images, target_class, "target_class"), -1.0
    else:
        labels, direction = core.predicted_classes(prepared)[:, 0], 1.0
    step = epsilon if value_range is not None else epsilon / (float(np.ptp(images)) or 1.0)
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
