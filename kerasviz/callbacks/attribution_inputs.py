"""`AttributionCallback` on a model with several inputs: images as a dict or list, one column group per input.

The methods whose records say `several_inputs` (the gradient methods, the
CAMs, RISE, LRP, DeepLIFT; occlusion's grids excepted here) take a
multi-input model's `images` as a dict `{input name: array}` or a list in
the order of `model.inputs` (`kerasviz.gradients.multi_input`) and return
one map per attributed image input, the attributions of an attributed side input (a method's
`attribute=` parameter chooses, e.g. `("saliency", {"attribute": "all"})`).
`ProbeInputs` holds the callback's probe examples of every input, checks them
against the model before the first step, computes the probabilities shown
with them, and hands each method's result to
`kerasviz.summary.write_attribution` keyed by input name.
"""

import numpy as np
import tensorflow as tf

from kerasviz import inputs, models, registry
from kerasviz.callbacks.base import probe_arrays
from kerasviz.gradients import multi_input

# The methods that take a multi-input model (their records' `several_inputs`) and return maps over pixels: a
# grid method's scores (occlusion) would need its geometry per input, which the per-input records do not carry.
METHODS = tuple(name for name in registry.names_with("several_inputs") if registry.METHODS[name].output != "grid")


def probe_inputs(images, labels, max_images):
    """`(images, labels)`: the first `max_images` examples of every input, on the host, in the structure given."""
    if isinstance(images, dict):
        first = {str(name): probe_arrays(value, None, max_images)[0] for name, value in images.items()}
    else:
        first = [probe_arrays(value, None, max_images)[0] for value in images]
    counts = {k: len(v) for k, v in (first.items() if isinstance(first, dict) else enumerate(first))}
    if len(set(counts.values())) != 1:
        raise ValueError(f"Expected every input in `images` to hold the same number of examples. Received {counts}.")
    if labels is not None:
        labels = inputs.class_labels(labels)[:max_images]
        count = next(iter(counts.values()))
        if len(labels) != count:
            raise ValueError(f"Received {len(labels)} `labels` for {count} examples in `images`.")
    return first, labels


def values(structure):
    """The arrays of a dict or list of them."""
    return structure.values() if isinstance(structure, dict) else structure


class ProbeInputs:
    """The probe examples of a multi-input model, checked against it.

    Attributes:
        images: the examples as given (dict or list).
        names: the model's input names, in the order of `model.inputs`.
        count: the number of examples.
        target: the resolved `kerasviz.targets.Target`.
    """

    def __init__(self, model, images, target, batch_size):
        prepared = multi_input.MultiPrepared(model, images, target, batch_size, "all", "AttributionCallback")
        self.images, self.names, self.count = images, prepared.names, len(prepared.arrays[0])
        self.target = prepared.target  # what `AttributionCallback.visualize` reads a multi-output model's classes from
        self._arrays, self._structure, self._batch_size = prepared.arrays, prepared.structure, prepared.batch_size

    def first(self):
        """The first example of every input, in the structure given (the methods' trial run at fit start)."""
        if isinstance(self.images, dict):
            return {name: value[:1] for name, value in self.images.items()}
        return [value[:1] for value in self.images]

    def by_name(self, structure):
        """`{input name: value}` of a value in the structure of `images` (None in a list: no key)."""
        if isinstance(structure, dict):
            return {str(k): v for k, v in structure.items()}
        if not isinstance(structure, (list, tuple)) or len(structure) != len(self.names):
            raise ValueError(f"Expected one entry per input {self.names}. Received: {type(structure).__name__}.")
        return {name: v for name, v in zip(self.names, structure) if v is not None}

    def outputs(self, model):
        """The model's output for the examples (probabilities where it declares a softmax or sigmoid), numpy."""
        activation = models.output_activation(model)
        chunks = []
        for start, end in inputs.batches(self.count, self._batch_size):
            tensors = [tf.constant(a[start:end]) for a in self._arrays]
            structured = dict(zip(self.names, tensors)) if self._structure == "dict" else tensors
            logits, _ = models.run(model, structured)
            chunks.append(models.probabilities(logits, activation))
        if isinstance(chunks[0], list):
            return [np.concatenate([np.asarray(c[k]) for c in chunks]) for k in range(len(chunks[0]))]
        return np.concatenate([np.asarray(c) for c in chunks])
