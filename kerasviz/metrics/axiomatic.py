"""The axioms a map may satisfy: completeness, non-sensitivity and input invariance.

- `completeness` (Sundararajan et al., 2017; Quantus's Completeness): the map
  sums to the score's change from the baseline.
- `non_sensitivity` (Nguyen & Martinez, 2020): the regions with no
  attribution are exactly those the score does not depend on.
- `input_invariance` (Kindermans et al., 2017): a model that sees the
  image shifted by a constant, and undoes the shift, gets the same map.

Lower is better for all three (each measures a violation).
"""

import contextlib
import numbers
import threading
import weakref

import keras
import numpy as np

from kerasviz import fill
from kerasviz.gradients import core
from kerasviz.metrics import faithfulness_correlations, faithfulness_curves, robustness, sanity


def completeness(model, images, maps, target=None, *, baseline=0.0, batch_size=None) -> np.ndarray:
    """Completeness: how far the map's sum is from the score's change from the baseline, relatively.

    Sundararajan et al., 2017 ("Axiomatic Attribution for Deep Networks",
    section 3, Proposition 1; Bach et al.'s conservation): a complete map
    sums to `f(x) - f(baseline)`, `f` the class logit. Quantus tests the
    equality; here `|sum(map) - (f(x) - f(baseline))| / |f(x) - f(baseline)|`,
    0 for a complete map (Integrated Gradients with enough steps, on the
    same baseline). Pass *signed* maps summed over channels (`compare` does,
    for methods with `signed=True`); magnitude maps cannot be complete.
    Lower is better. Costs 2 forward passes per image.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        maps: `[B, H, W]` signed attribution maps.
        target: `None` (the predicted class), an int class or a sequence of ints.
        baseline: the reference input (`kerasviz.fill`), the method's own
            (Integrated Gradients': 0.0).
        batch_size: at most this many images per compiled call.

    Returns:
        float32 `[B]` (inf where the score does not change).

    Raises:
        ValueError, TypeError: invalid arguments.

    Example:

    >>> maps = kerasviz.integrated_gradients(model, images, signed=True, steps=256).sum(-1)
    >>> kerasviz.metrics.completeness(model, images, maps).mean()
    """
    prepared, values, baselines, classes = faithfulness_curves.setup("completeness", model, images, maps, target,
                                                                     baseline, batch_size)
    logits = [core.model_outputs(prepared, x)[1].astype(np.float64) for x in (prepared.images, baselines)]
    change = logits[0][np.arange(len(classes)), classes] - logits[1][np.arange(len(classes)), classes]
    gap = np.abs(values.sum(axis=(1, 2)) - change)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(gap > 0, gap / np.abs(change), 0.0).astype(np.float32)


def non_sensitivity(model, images, maps, target=None, *, grid=8, eps=1e-3, baseline=0.0,
                    batch_size=None) -> np.ndarray:
    """Non-sensitivity: the share of cells where a zero attribution and a zero effect disagree.

    Nguyen & Martinez, 2020 ("On Quantitative Aspects of Model
    Interpretability", section 4.2): features whose removal leaves the score
    unchanged should get no attribution, and only they. Per cell of a
    `grid x grid` partition: its attribution is zero when `|sum| <= eps *`
    the largest cell's, its effect is zero when removing it alone (to
    `baseline`) moves the class logit by at most `eps *` the largest move;
    the value is the share of cells where exactly one of the two is zero
    (Quantus counts the pixels of that symmetric difference, one pixel at a
    time). Lower is better. Costs `grid^2 + 1` forward passes per image.

    Args:
        model, images, maps, target, baseline, batch_size: as for `completeness`.
        grid: the side of the grid of cells.
        eps: the relative tolerance of "zero".

    Returns:
        float32 `[B]`, in [0, 1].

    Raises:
        ValueError, TypeError: invalid arguments.

    Example:

    >>> kerasviz.metrics.non_sensitivity(model, images, maps).mean()
    """
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 <= eps < 1:
        raise ValueError(f"Received an invalid value for `eps`: {eps!r}. Expected a float in [0, 1).")
    attribution, lost = faithfulness_correlations.cell_scores("non_sensitivity", model, images, maps, target, grid,
                                                              baseline, batch_size)
    attribution, lost = np.abs(attribution), np.abs(lost)
    no_attribution = attribution <= eps * attribution.max(axis=1, keepdims=True)
    no_effect = lost <= eps * lost.max(axis=1, keepdims=True)
    return (no_attribution ^ no_effect).mean(axis=1).astype(np.float32)


class Shift(keras.layers.Layer):
    """Subtracts a constant held in a variable, float32 `[C]`: assigned per call, read (not traced) by the graphs."""

    def __init__(self, channels, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.shift = self.add_weight(shape=(channels,), initializer="zeros", trainable=False, name="shift")

    def call(self, images):
        return images - self.shift


def _behind_shift(inner, channels):
    """`(g, its Shift layer)`: `g(x) = inner(x - shift)`, a new model around `inner` (left untouched)."""
    shape = tuple(inner.inputs[0].shape[1:]) if getattr(inner, "inputs", None) else (None, None, channels)
    inputs_ = keras.Input(shape)
    undo = Shift(channels, name="undo_shift")
    return keras.Model(inputs_, inner(undo(inputs_)), name=f"{inner.name}_shifted"), undo


_SHIFTED = weakref.WeakKeyDictionary()  # model -> (its copy behind a Shift, the Shift, the copy, the user's lock)
_SHIFTED_LOCK = threading.Lock()


@contextlib.contextmanager
def shifted_model(model, images, shift):
    """A model of the same function on inputs shifted by `shift`: `g(x + shift) = model(x)` for every `x`.

    Kindermans et al. fold `-W shift` into the first layer's bias; a
    subtraction in front of the model is the same function, also at a
    padded convolution's borders, and leaves `model` untouched. The
    subtraction reads the shift from a variable in front of a copy of the
    model (`sanity.clone`), kept per model (weakly: it goes with the model),
    its weights set from the model's and the shift assigned on each borrow:
    the methods trace it once, not once per call (a new model per call is a
    new trace of every compiled method). One caller uses it at a time; a
    caller that finds it in use gets a fresh one, and a model that cannot
    be cloned is wrapped itself, both uncached (a trace per call).

    Args:
        model: a built Keras image model with one input.
        images: `[B, H, W, C]`, to build a copy.
        shift: a float or one float per channel.

    Yields:
        The model `g`.
    """
    channels = images.shape[-1]
    values = np.broadcast_to(np.asarray(shift, np.float32), [channels])
    with _SHIFTED_LOCK:
        entry = _SHIFTED.get(model)
    if entry is None:
        try:
            copy = sanity.clone(model, images)
            entry = (*_behind_shift(copy, channels), copy, threading.Lock())
        except ValueError:  # not cloneable: the model itself is wrapped below, for this call only
            pass
        else:
            with _SHIFTED_LOCK:
                entry = _SHIFTED.setdefault(model, entry)
    if entry is None or not entry[-1].acquire(blocking=False):
        shifted, undo = _behind_shift(model if entry is None else sanity.clone(model, images), channels)
        undo.shift.assign(values)
        yield shifted
        return
    shifted, undo, copy, lock = entry
    try:
        try:
            copy.set_weights(model.get_weights())
        except ValueError:  # the model changed its weights' structure since the copy was made
            copy = sanity.clone(model, images)
            shifted, undo = _behind_shift(copy, channels)
            with _SHIFTED_LOCK:
                _SHIFTED[model] = (shifted, undo, copy, lock)
        undo.shift.assign(values)
        yield shifted
    finally:
        lock.release()


def input_invariance(model, images, method, target=None, *, shift=None, batch_size=None,
                     value_range=None) -> np.ndarray:
    """Input invariance: how much the map changes for a model that undoes a constant shift of its input.

    Kindermans et al., 2017 ("The (Un)reliability of Saliency Methods",
    section 2): the images shifted by a constant, `x + shift`, explained on
    a model `g` with `g(x + shift) = f(x)` (the same function, so a map that
    explains the *function* is the same). Gradients pass; gradient x input,
    and Integrated Gradients from a fixed black baseline, do not. Quantus
    tests equality to 1e-4; here the relative change
    `||e_g(x + shift) - e_f(x)||_2 / ||e_f(x)||_2`, 0 for an invariant
    method. Lower is better. Costs 1 call of `method` per image (on the
    shifted model: a copy of `model` behind the shift, traced once per
    model and method, not per call).

    Args:
        model: a built Keras image model with one input.
        images: `[B, H, W, C]` in the model's own input space.
        method: an attribution method `method(model, images, target, batch_size=...)`.
        target: `None` (the predicted class), an int class or a sequence of ints.
        shift: the constant added (a float, or one per channel); default a
            tenth of the images' value spread (max - min).
        batch_size: passed on to `method` when given.
        value_range: the input range of a method that takes one (a preset
            or `(low, high)`), or None. The shifted images are deliberately
            *not* clipped into it: clipping would break `g(x + shift) =
            f(x)`, the identity the metric rests on. The shifted model's
            input space is the range shifted, so `method` is called with
            `value_range=value_range` on the images and with
            `value_range=` the range plus `shift` on the shifted images (it
            must take a `value_range` keyword, as `kerasviz.gradient_shap`
            and `kerasviz.smoothgrad` do; its noise scale is the range's
            width, the same for both).

    Returns:
        float32 `[B]` (NaN for an all-zero map).

    Raises:
        TypeError: `method` is not callable.
        ValueError: invalid arguments.

    Example:

    >>> kerasviz.metrics.input_invariance(model, images, kerasviz.gradient_x_input).mean()
    """
    robustness.check_method(method)
    prepared = core.Prepared(model, images, target, batch_size)
    x = prepared.images
    if shift is None:
        shift = 0.1 * float(x.max() - x.min() or 1.0)
    offset = fill.baselines(shift, x, argname="shift", names=())[:1, :1, :1]
    fixed = robustness.fixed_target(prepared, target)
    kwargs = {} if batch_size is None else {"batch_size": prepared.batch_size}
    resolved = robustness.check_range(value_range, x)
    ranges = ({}, {}) if resolved is None else (
        {"value_range": value_range},
        {"value_range": tuple(tuple(np.broadcast_to(bound + offset[0, 0, 0], [x.shape[-1]]).tolist())
                              for bound in (resolved.low, resolved.high))})
    original = np.asarray(method(model, x, fixed, **kwargs, **ranges[0]), np.float64).reshape(len(x), -1)
    with shifted_model(model, x, offset[0, 0, 0]) as shifted:
        moved = np.asarray(method(shifted, x + offset, fixed, **kwargs, **ranges[1]), np.float64).reshape(len(x), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.linalg.norm(moved - original, axis=1) / np.linalg.norm(original, axis=1)).astype(np.float32)
