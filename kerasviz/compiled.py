"""One compiled function per (model, method, static parameters), traced once.

Each method builds its `tf.function` through `compiled_function`, which keeps it
in a `weakref.WeakKeyDictionary` keyed on the model: a long job that explains
many models does not keep them alive, and repeated calls (or a callback's
calls, epoch after epoch) reuse the same trace.

The builder receives a *weak* reference to the model: a function that held
the model strongly would keep its own cache key alive forever.
"""

import threading
import weakref

import tensorflow as tf

_FUNCTIONS = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def compiled_function(model, key, build, signature=None):
    """Returns the cached `tf.function` for `(model, key)`, building it on first use.

    Args:
        model: the Keras model the function reads.
        key: a hashable description of everything static the function depends
            on (method name, layer paths, target structure, static params).
        build: `build(model_ref) -> callable`, called once; `model_ref()` gives
            the model (or None once it is gone). The result is wrapped in
            `tf.function` unless it is one already.
        signature: the `tf.TensorSpec`s of the arguments (batch dims `None`),
            so that chunks of any size share one trace. The key must then
            cover everything the signature depends on.
    """
    with _LOCK:
        per_model = _FUNCTIONS.setdefault(model, {})
        function = per_model.get(key)
        if function is None:
            function = build(weakref.ref(model))
            if not hasattr(function, "experimental_get_tracing_count"):
                function = tf.function(
                    function, input_signature=signature, reduce_retracing=signature is None
                )
                # Each cached function is traced once, but many are built from the same Python
                # code (one per model and layer): TensorFlow would warn of "frequent retracing".
                function._omit_frequent_tracing_warning = True
            per_model[key] = function
        return function


def elementwise(function):
    """`function`, compiled by XLA: a rule's elementwise arithmetic fused into one pass over its tensors.

    Run op by op, each of a propagation rule's elementwise ops (ten for
    DeepLIFT's Rescale rule, forty for RevealCancel, four to six for an LRP
    rule's stabilized division) reads and writes a layer-sized tensor, and on
    small layers these passes cost more than the layer; XLA fuses them into
    one loop (one loop per output: a kernel that returns two tensors returns
    them stacked, or XLA computes their shared parts twice). Traced once per
    dtype, compiled once per shape.
    """
    return tf.function(function, jit_compile=True, reduce_retracing=True)


def tracing_count(model):
    """How many traces the cached functions of `model` made in all (for tests)."""
    with _LOCK:
        functions = list(_FUNCTIONS.get(model, {}).values())
    return sum(f.experimental_get_tracing_count() for f in functions)


def cached_keys(model):
    """The keys of the cached functions of `model` (for tests)."""
    with _LOCK:
        return list(_FUNCTIONS.get(model, {}))
