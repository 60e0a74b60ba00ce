"""DeepLIFT (Shrikumar et al., 2017) on a model with several inputs.

`kerasviz.deeplift` comes here when `images` is a dict or a list. The model
runs on `[inputs; references]` in one batch under the Rescale rule (or
RevealCancel's overrides), as for one input (`kerasviz.relevance.deeplift`);
each attributed input has its own reference (`baseline`, once for all or one
per input), and every input held fixed is its own reference, so it gets no
contribution. The contributions `(x_k - x0_k) * m_k` of all the attributed
inputs sum to `score(x) - score(x with the attributed inputs at their
references)` (summation-to-delta, eq. 1 of the paper).
"""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, fill
from kerasviz.gradients import multi_input
from kerasviz.relevance import deeplift_checks


def _function(prepared, rule):
    """The compiled `(xs..., starts..., class_idx) -> contributions per attributed input`."""
    target, capture, n = prepared.target, prepared.capture, len(prepared.arrays)
    structure, names, attributed = prepared.structure, tuple(prepared.names), tuple(prepared.attributed)

    def build(model_ref):
        def contributions(*args):
            xs, starts, class_idx = args[:n], args[n:2 * n], args[2 * n]
            size = tf.shape(xs[0])[0]
            batches = [tf.concat([x, s], axis=0) for x, s in zip(xs, starts)]
            with tf.GradientTape() as tape:
                tape.watch(batches)
                packed = dict(zip(names, batches)) if structure == "dict" else batches
                logits, activations = deeplift_checks.run_paired(model_ref(), packed, capture, rule)
                halves = {path: value[:size] for path, value in activations.items()}
                scores = target.score(logits[:size], halves, class_idx)
            multipliers = tape.gradient(scores, [batches[k] for k in attributed],
                                        unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return tuple((xs[k] - starts[k]) * tf.cast(m[:size], tf.float32) for k, m in zip(attributed, multipliers))

        return contributions

    specs = [tf.TensorSpec([None, *a.shape[1:]], tf.float32) for a in prepared.arrays]
    signature = specs + specs + [tf.TensorSpec([None, prepared.class_idx.shape[1]], tf.int32)]
    key = ("multi_input_deeplift", rule, attributed, target.key(), capture, tuple(a.shape[1:] for a in prepared.arrays))
    return compiled.compiled_function(prepared.model, key, build, signature)


def deeplift(model, images, target, *, batch_size, baseline, rule, signed, attribute):
    """`kerasviz.deeplift` for several inputs: each attributed input against its reference, the others held."""
    rule = deeplift_checks.check_rule(rule)
    prepared = multi_input.MultiPrepared(model, images, target, batch_size, attribute, "deeplift")
    deeplift_checks.check_supported(prepared.model, "DeepLIFT", rule)
    starts = prepared.starts(baseline, fill.BLUR)
    class_idx = multi_input.predicted_classes(prepared)
    function = _function(prepared, rule)
    deeplift_checks.check_unreached(function, prepared.model, "DeepLIFT")
    per_call = max(1, prepared.batch_size // 2)  # an input and its reference are two evaluations
    parts = []
    for first in range(0, len(class_idx), per_call):
        part = slice(first, first + per_call)
        parts.append(function(*[tf.constant(a[part]) for a in prepared.arrays],
                              *[tf.constant(s[part]) for s in starts], tf.constant(class_idx[part])))
    values = {k: np.concatenate([np.asarray(p[i]) for p in parts]) for i, k in enumerate(prepared.attributed)}
    return prepared.result(values, signed)
