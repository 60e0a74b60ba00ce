"""The arguments of `explain_dataset`, checked and recorded: what a resumed run must match.

The fingerprint of a run is the sha256 of these arguments as canonical JSON
(`shards.fingerprint`): the model by a digest of its weights, the methods with
their parameters (arrays by digest), the metrics, the target, the batch and
shard sizes, the seed and the value range.
"""

import hashlib
import numbers

import numpy as np
import tensorflow as tf

from kerasviz import inputs, registry
from kerasviz.datasets import shards

RESERVED = ("seed", "batch_size", "verbose", "target")


def model_digest(model):
    """sha256 of the model's class, input shape and weights (in order: shapes, dtypes, values).

    Not the names: Keras numbers layers per session (`dense_1`), so the same
    model loaded in another process has other names.
    """
    h = hashlib.sha256(f"{type(model).__name__}{inputs.model_input_shape(model)}".encode())
    for weight in model.weights:
        value = np.ascontiguousarray(np.asarray(weight))
        h.update(f"{value.dtype.str}{value.shape}".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def canonical(value, argname):
    """`value` as JSON (arrays by digest), or a TypeError naming `argname`."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [canonical(v, argname) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: canonical(v, argname) for k, v in sorted(value.items())}
    if isinstance(value, (np.ndarray, tf.Tensor)):
        array = np.asarray(value)
        return {"array": shards.digest(array)}
    if isinstance(value, inputs.ValueRange):  # a checked range: its bounds, its preset and channel order
        return {"low": value.low.tolist(), "high": value.high.tolist(), "name": value.name, "bgr": bool(value.bgr)}
    raise TypeError(f"Expected `{argname}` to hold numbers, strings, lists, dicts or arrays (they are recorded "
                    f"to check that a resumed run has the same arguments). Received {value!r} of type "
                    f"{type(value).__name__}.")


def method_entries(methods, method_params, value_range):
    """`[registry.Entry]`: `methods` by name, each with `method_params` where it takes them, then its own.

    Names only: a resumed run must know it computes the same methods. The
    `value_range` goes to the methods that take one.
    """
    entries = registry.resolve([methods] if isinstance(methods, str) else methods, callables=False)
    for key in method_params:
        if key in RESERVED or not any(e.accepts(key) for e in entries):
            raise TypeError(f"Received an unexpected keyword argument `{key}` for explain_dataset: none of the "
                            f"methods {[e.name for e in entries]} takes it" +
                            (f" (`{key}` is explain_dataset's own)." if key in RESERVED else "."))
    resolved = []
    for entry in entries:
        for key in entry.params:
            if key in RESERVED:
                raise ValueError(f"Received `{key}` in the params of {entry.name!r}: explain_dataset sets it "
                                 f"(pass explain_dataset's own `{key}`).")
        merged = {k: v for k, v in method_params.items() if entry.accepts(k)}
        if value_range is not None and entry.accepts("value_range"):
            merged["value_range"] = value_range
        resolved.append(entry._replace(params={**merged, **entry.params}))
    return resolved


def check_target(model, target, has_labels):
    if target is None or target == "label" and has_labels:
        return target
    n_classes = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    if isinstance(target, numbers.Integral) and not isinstance(target, bool) and 0 <= target and (
            n_classes is None or target < n_classes):
        return int(target)
    if target == "label":
        raise ValueError("Received target='label' for a dataset without labels: pass a tf.data.Dataset of "
                         "(images, labels).")
    raise ValueError(f"Received an invalid value for `target`: {target!r}. Expected None (the predicted "
                     f"class), a class index below {n_classes} or 'label' (each image's label).")
