"""Targets on other outputs than one class vector: regression units and named outputs.

They join the `kerasviz.targets` algebra (`+`, `-`, `*` and `Sum`) and are
accepted by every method that reads `target.score`:

- `OutputUnit(index)`: the value of one unit of a regression output;
- `WeightedUnits(weights)`: a weighted sum of an output's units (the area
  of a box: `WeightedUnits([-1, -1, 1, 1])` is `y1 + x1 - y0 - x0`...);
- `OnOutput(output, target)`: `target` read on the named output of a model
  with several outputs (`OnOutput("area", OutputUnit(0)) +
  OnOutput("class", ClassScore(2))`).

Scores are read before a final softmax or sigmoid, like class scores, on a
model with one output; on a model with several outputs only a softmax is
bypassed (a sigmoid there is as likely a box or a bounded regression as
multi-label scores: it is read as it is). A linear output (the usual
regression head) is read as it is. Methods that perturb the input and read
probabilities (occlusion, RISE, LIME, KernelSHAP) read a regression target's
raw value: it has no class terms. On a model with several outputs, they put
back each output's softmax and leave the others.
"""

import numbers

import keras
import numpy as np
import tensorflow as tf

from kerasviz import models
from kerasviz.targets import Target, as_target


def output_position(model, output, argname="output"):
    """The index in `model.outputs` of `output` (a name of `model.output_names`, an output layer's name, an int)."""
    try:
        symbolic = list(model.outputs or [])
    except (AttributeError, ValueError):
        symbolic = []
    names = output_names(model)
    layers = [getattr(getattr(o, "_keras_history", None), "operation", None) for o in symbolic]
    layer_names = [getattr(layer, "name", None) for layer in layers]
    if isinstance(output, numbers.Integral) and not isinstance(output, bool):
        if 0 <= output < max(len(symbolic), 1):
            return int(output)
    elif isinstance(output, str):
        for candidates in (names, layer_names):
            if output in candidates:
                return candidates.index(output)
    else:
        raise TypeError(f"Expected `{argname}` to be an output's name or index. Received: {argname}={output!r} "
                        f"of type {type(output).__name__}.")
    raise ValueError(f"Received an invalid value for `{argname}`: {output!r}. The model {model.name!r} has the "
                     f"outputs {names or layer_names or ['(one output)']}.")


def output_names(model):
    """The names of `model.outputs`, in order: the keys of a dict of outputs, else `model.output_names`."""
    try:
        structure = model.output
    except (AttributeError, ValueError):
        structure = None
    if isinstance(structure, dict):
        flat = keras.tree.flatten(structure)
        by_id = {id(tensor): key for key, tensor in structure.items()}
        return [by_id.get(id(tensor)) for tensor in flat]
    return list(getattr(model, "output_names", None) or [])


class OutputView:
    """A model seen through one of its outputs: what a target inside `OnOutput` binds against.

    `outputs` is the chosen output alone; everything else is the model's.
    """

    def __init__(self, model, position):
        self._model, self.outputs = model, [model.outputs[position]]

    def __getattr__(self, name):
        return getattr(self._model, name)


def _output_shape(model):
    """The shape (without batch) of a model's (single, or viewed) output, or None when unknown."""
    try:
        return tuple(model.outputs[0].shape[1:])
    except (AttributeError, ValueError, TypeError, IndexError):
        return None


class OutputUnit(Target):
    """The value of one unit of the model's output: a regression target.

    For a regression model (the area of a shape, a box's coordinates, an
    age), the output unit itself is the score to explain. Read before a final
    sigmoid or softmax, like a class score.

    Args:
        index: an int for a flat output `[B, units]`, or a tuple for an
            output of higher rank (`(y, x, c)` for `[B, h, w, c]`).

    Example:

    >>> maps = kerasviz.integrated_gradients(area_model, images, target=kerasviz.OutputUnit(0))
    """

    def __init__(self, index=0):
        index = (index,) if isinstance(index, numbers.Integral) else tuple(index)
        if not index or not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in index):
            raise TypeError(f"Expected `index` to be an int or a tuple of ints. Received: index={index!r}.")
        self.index = tuple(int(i) for i in index)

    def bind(self, model):
        shape = _output_shape(model)
        if shape is not None and (len(shape) != len(self.index) or any(
                d is not None and not 0 <= i < d for i, d in zip(self.index, shape))):
            raise ValueError(f"Received an invalid value for `index`: {self.index} does not address a unit of the "
                             f"output of the model {model.name!r}, of shape {shape}.")
        return self

    def key(self):
        return ("output_unit", self.index)

    def score(self, logits, activations, class_idx):
        return logits[(slice(None),) + self.index]

    def __repr__(self):
        return f"OutputUnit({self.index[0] if len(self.index) == 1 else self.index})"


class WeightedUnits(Target):
    """A weighted sum of the units of the model's output: `sum_u w_u y_u` per image.

    Args:
        weights: one number per unit, in the output's shape without the batch
            axis (`[units]` for a flat output), finite, not all zero.

    Example:

    >>> width_plus_height = kerasviz.WeightedUnits([-1, -1, 1, 1])  # on boxes (y0, x0, y1, x1)
    """

    def __init__(self, weights):
        array = np.asarray(weights, np.float64) if not isinstance(weights, str) else np.asarray([])
        if array.ndim < 1 or not array.size or not np.all(np.isfinite(array)) or not np.any(array):
            raise ValueError(f"Received an invalid value for `weights`: {weights!r}. Expected a finite, non-zero "
                             "array with one number per output unit.")
        self.weights = array

    def bind(self, model):
        shape = _output_shape(model)
        if shape is not None and tuple(shape) != self.weights.shape:
            raise ValueError(f"Received `weights` of shape {self.weights.shape} for the output of the model "
                             f"{model.name!r}, of shape {shape}.")
        return self

    def key(self):
        return ("weighted_units", self.weights.shape, tuple(self.weights.ravel().tolist()))

    def score(self, logits, activations, class_idx):
        weighted = logits * tf.constant(self.weights, tf.float32)
        return tf.reduce_sum(tf.reshape(weighted, [tf.shape(weighted)[0], -1]), axis=1)

    def __repr__(self):
        return f"WeightedUnits({self.weights.tolist()})"


class OnOutput(Target):
    """A target read on one named output of a model with several outputs.

    Any target that reads the model's output (a class, `Region`,
    `OutputUnit`, `WeightedUnits`, a sum of them) can be read on any output;
    targets on different outputs add up (`OnOutput("a", 1) + OnOutput("b",
    OutputUnit(0))`). Class indices stay per image and travel as data, as
    for a single output.

    Args:
        output: the output's name (`model.output_names`, or its layer's
            name) or its index in `model.outputs`.
        target: what to read there: anything `target=` takes (None, an int,
            one int per image, a `Target` that reads the model's output).

    Example:

    >>> maps = kerasviz.saliency(model, images, target=kerasviz.OnOutput("area", kerasviz.OutputUnit(0)))
    """

    def __init__(self, output, target=None):
        if not (isinstance(output, (str, numbers.Integral)) and not isinstance(output, bool)):
            raise TypeError(f"Expected `output` to be an output's name or index. Received: output={output!r}.")
        self.output, self.target, self.position = output, as_target(target), None
        if isinstance(self.target, OnOutput) or self.target.names_outputs() or not self.target.reads_logits():
            raise TypeError(f"Expected `target` to read the model's output (a class, a Region, an OutputUnit...). "
                            f"Received: target={target!r}.")

    def layers(self):
        return self.target.layers()

    def class_terms(self):
        return self.target.class_terms()

    def class_outputs(self):
        return [self.position] * len(self.class_terms())

    def names_outputs(self):
        return True

    def bind(self, model):
        bound = object.__new__(OnOutput)
        bound.output, bound.position = self.output, output_position(model, self.output)
        bound.target = self.target.bind(OutputView(model, bound.position) if models.output_count(model) > 1
                                        else model)
        return bound

    def key(self):
        return ("on_output", self.position, self.target.key())

    def score(self, logits, activations, class_idx):
        return self.target.score(logits[self.position] if isinstance(logits, list) else logits, activations,
                                 class_idx)

    def __repr__(self):
        return f"OnOutput({self.output!r}, {self.target!r})"
