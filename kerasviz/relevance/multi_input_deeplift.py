"""DeepLIFT (Shrikumar et al., 2017) on a model with several inputs.

`kerasviz.deeplift` comes here when `images` is a dict or a list. The model
runs on the inputs and their references under the Rescale rule (or
RevealCancel's), as for one input (`kerasviz.relevance.deeplift_checks.multipliers`);
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
            pack = (lambda tensors: dict(zip(names, tensors))) if structure == "dict" else list
            multipliers = deeplift_checks.multipliers(
                model_ref(), list(xs), list(starts), capture, rule,
                lambda logits, activations: target.score(logits, activations, class_idx), pack, attributed)
            return tuple((xs[k] - starts[k]) * m for k, m in zip(attributed, multipliers))

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
