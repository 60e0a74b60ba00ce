"""Layer-wise Relevance Propagation (Bach et al., 2015) on a model with several inputs.

`kerasviz.lrp` comes here when `images` is a dict or a list. The propagation
is the single-input one (`kerasviz.relevance.propagation.Trace`: every layer's
rule in one backward pass): relevance starts at the target's score and flows
back through every branch to every input it reaches, so, summed over all the
inputs, it is the score less what biases and stabilizers absorb.
`attribute` only chooses which inputs' relevance is returned (default: the
image inputs); nothing is held fixed, since LRP moves no input. An image
input gets its map (relevance summed over channels) or, with `signed`, its
relevance per value; a side input its relevance per value.
"""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, models
from kerasviz.gradients import multi_input
from kerasviz.relevance import composites
from kerasviz.relevance.propagation import Trace


def _value_bounds(prepared, value_range):
    """Per input: `(bounds, nonnegative)`: an image input's `value_range` (checked), nothing for a side input."""
    found = []
    for name, array in zip(prepared.names, prepared.arrays):
        value = inputs.check_value_range(value_range, array.shape[-1]) if array.ndim == 4 else None
        if value is None:
            found.append((None, False))
            continue
        inputs.check_in_range(array, value, f"images[{name!r}]")
        low, high = (np.broadcast_to(v, (array.shape[-1],)).astype(np.float32) for v in (value.low, value.high))
        found.append(((low, high), bool(np.all(value.low >= 0))))
    return found


def lrp(model, images, target, *, batch_size, composite, value_range, signed, attribute):
    """`kerasviz.lrp` for several inputs: the relevance that reaches each attributed input."""
    prepared = multi_input.MultiPrepared(model, images, target, batch_size, attribute, "lrp")
    if models.output_count(prepared.model) > 1:
        raise ValueError(f"LRP explains models with one output; the model {prepared.model.name!r} has "
                         f"{models.output_count(prepared.model)}.")
    chosen = composites.get(composite)
    bounds = _value_bounds(prepared, value_range)
    target, capture, n = prepared.target, prepared.capture, len(prepared.arrays)
    structure, names, attributed = prepared.structure, tuple(prepared.names), tuple(prepared.attributed)
    images_at = tuple(k for k in attributed if prepared.arrays[k].ndim == 4)

    def build(model_ref):
        def relevance(*args):
            xs, class_idx = list(args[:n]), args[n]
            limits = [None if b is None else tuple(tf.broadcast_to(tf.constant(v), tf.shape(x)) for v in b)
                      for x, (b, _) in zip(xs, bounds)]
            trace = Trace(model_ref(), chosen, xs, limits, [nonnegative for _, nonnegative in bounds])
            with tf.GradientTape() as tape:
                tape.watch(xs)
                packed = dict(zip(names, xs)) if structure == "dict" else xs
                logits, activations = models.run(model_ref(), packed, capture=capture,
                                                 overrides=trace.add_overrides)
                trace.check([logits, *activations.values()], "lrp")
                scores = target.score(logits, activations, class_idx)
                objective = scores * tf.stop_gradient(scores)  # relevance starts at the score itself
            values = tape.gradient(objective, [xs[k] for k in attributed],
                                   unconnected_gradients=tf.UnconnectedGradients.ZERO)
            values = [tf.cast(v, tf.float32) for v in values]
            return tuple(v if signed or k not in images_at else tf.reduce_sum(v, axis=-1)
                         for k, v in zip(attributed, values))

        return relevance

    signature = [tf.TensorSpec([None, *a.shape[1:]], tf.float32) for a in prepared.arrays] + [
        tf.TensorSpec([None, prepared.class_idx.shape[1]], tf.int32)]
    key = ("multi_input_lrp", chosen.key(), tuple(None if b is None else tuple(map(tuple, b)) for b, _ in bounds),
           signed, attributed, target.key(), capture, tuple(a.shape[1:] for a in prepared.arrays))
    function = compiled.compiled_function(prepared.model, key, build, signature)
    parts = [function(*[tf.constant(a[s:e]) for a in prepared.arrays], tf.constant(prepared.class_idx[s:e]))
             for s, e in inputs.batches(len(prepared.class_idx), prepared.batch_size)]
    values = {k: np.concatenate([np.asarray(p[i]) for p in parts]) for i, k in enumerate(attributed)}
    return prepared.result(values, signed=True)
