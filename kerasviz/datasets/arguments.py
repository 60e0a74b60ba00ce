"""The arguments of `explain_dataset`, checked and recorded: what a resumed run must match.

The fingerprint of a run is the sha256 of these arguments as canonical JSON
(`shards.fingerprint`): the model by a digest of its weights, the methods with
their parameters (arrays by digest), the metrics, the target, the batch and
shard sizes, the seed and the value range.
"""

import hashlib
import inspect
import numbers

import numpy as np
import tensorflow as tf

from kerasviz import inputs, registry
from kerasviz.datasets import shards
from kerasviz.metrics.compare import _method_entries

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
    raise TypeError(f"Expected `{argname}` to hold numbers, strings, lists, dicts or arrays (they are recorded "
                    f"to check that a resumed run has the same arguments). Received {value!r} of type "
                    f"{type(value).__name__}.")


def method_entries(methods, method_params, value_range):
    """`[(name, function, params)]`: `methods` as `compare` takes them (named ones), with `method_params`."""
    if isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, (list, tuple)) or not methods:
        raise TypeError("Expected `methods` to be a non-empty list of method names from "
                        f"kerasviz.registry.ATTRIBUTION_METHODS or (name, params dict) pairs. Received: "
                        f"methods={methods!r}.")
    for entry in methods:
        name = entry[0] if isinstance(entry, tuple) else entry
        if not isinstance(name, str):
            raise TypeError(f"Received an invalid entry in `methods`: {entry!r}. explain_dataset takes methods by "
                            f"name (a resumed run must know it computes the same method): one of "
                            f"{sorted(registry.ATTRIBUTION_METHODS)}.")
    entries = _method_entries(list(methods))
    accepted = {name: set(inspect.signature(function).parameters) for name, function, _ in entries}
    for key in method_params:
        if key in RESERVED or not any(key in a for a in accepted.values()):
            raise TypeError(f"Received an unexpected keyword argument `{key}` for explain_dataset: none of the "
                            f"methods {[e[0] for e in entries]} takes it" +
                            (f" (`{key}` is explain_dataset's own)." if key in RESERVED else "."))
    resolved = []
    for name, function, params in entries:
        for key in params:
            if key in RESERVED:
                raise ValueError(f"Received `{key}` in the params of {name!r}: explain_dataset sets it "
                                 f"(pass explain_dataset's own `{key}`).")
        merged = {k: v for k, v in method_params.items() if k in accepted[name]}
        if value_range is not None and "value_range" in accepted[name]:
            merged["value_range"] = value_range
        merged.update(params)
        resolved.append((name, function, merged))
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
