"""Changing what a model computes for one kerasviz trace only, on one thread.

Gradient methods need the model to compute something slightly different while
kerasviz traces its own graph: a layer's output recorded (**capture**), a final
softmax bypassed (**logits**), rectifiers given the guided-backpropagation
gradient (**guided**). The layer objects are the user's, shared with their
training loop, their own `model(x)` calls and other threads.

So nothing is swapped in and out per call. For as long as at least one
kerasviz trace needs a layer, the layer carries a *dispatcher* in place of its
`call` (or its fused `activation`): an instance attribute that looks up the
calling thread's innermost `patched` frame and, when that frame has an
override for this layer, applies it; for every other thread, and for this
thread outside the frame, it calls the original. Dispatchers are installed
and removed under one lock with a reference count per (layer, attribute), so
any interleaving of threads leaves the layer exactly as it was once the last
frame that needed it is gone. `original(layer, name)` reads through a
dispatcher, so introspection (our own, and `get_config`) sees the original.
"""

import contextlib
import functools
import threading

import keras
import tensorflow as tf

GUIDED_SCOPE = "kerasviz_guided"
PLAIN_SCOPE = "kerasviz_plain"  # a pass meant to keep plain gradients, beside a guided one

_LOCK = threading.Lock()
_INSTALLED = {}  # (id(layer), attribute name) -> _Installed
_LOCAL = threading.local()  # .frames: the stack of this thread's active frames


class _Installed:
    """A dispatcher on one (layer, attribute) and what to put back when its count reaches 0."""

    def __init__(self, layer, name):
        self.had_instance_attr = name in vars(layer)
        self.instance_value = vars(layer).get(name)
        self.original = getattr(layer, name)
        self.count = 0
        key = (id(layer), name)

        @functools.wraps(self.original)
        def dispatch(*args, **kwargs):
            override = _current_override(key)
            if override is None:
                return self.original(*args, **kwargs)
            return override(self.original, *args, **kwargs)

        dispatch._kerasviz_original = self.original
        self.dispatcher = dispatch


def _current_override(key):
    frames = getattr(_LOCAL, "frames", None)
    if not frames:
        return None
    return frames[-1].overrides.get(key)


def original(layer, name):
    """`getattr(layer, name)`, seen through a kerasviz dispatcher if one is installed."""
    value = getattr(layer, name, None)
    return getattr(value, "_kerasviz_original", value)


def _install(layer, name):
    key = (id(layer), name)
    with _LOCK:
        entry = _INSTALLED.get(key)
        if entry is None:
            entry = _INSTALLED[key] = _Installed(layer, name)
            object.__setattr__(layer, name, entry.dispatcher)
        entry.count += 1


def _uninstall(layer, name):
    key = (id(layer), name)
    with _LOCK:
        entry = _INSTALLED[key]
        entry.count -= 1
        if entry.count:
            return
        del _INSTALLED[key]
        if entry.had_instance_attr:
            object.__setattr__(layer, name, entry.instance_value)
        else:
            object.__delattr__(layer, name)


def installed_count():
    """How many dispatchers are installed now, on all layers (for tests: 0 when idle)."""
    with _LOCK:
        return len(_INSTALLED)


class Frame:
    """The overrides of one `patched` block: `{(id(layer), attr): override(original, *args)}`."""

    def __init__(self):
        self.overrides = {}
        self.layers = {}

    def add(self, layer, name, override):
        """Adds an override; one added before for the same attribute runs inside it."""
        key = (id(layer), name)
        inner = self.overrides.get(key)
        self.overrides[key] = override if inner is None else _compose(override, inner)
        self.layers[key] = (layer, name)


def _compose(outer, inner):
    """`outer` applied to the original as modified by `inner` (e.g. capture around guided)."""
    def override(fn, *args, **kwargs):
        return outer(functools.partial(inner, fn), *args, **kwargs)

    return override


@contextlib.contextmanager
def frame(build):
    """Installs the dispatchers a frame needs, activates it on this thread, removes them on exit.

    Args:
        build: `build(frame)` adds the overrides (called before anything is
            installed, so a failure there leaves the model untouched).
    """
    new = Frame()
    build(new)
    installed = []
    frames = _LOCAL.__dict__.setdefault("frames", [])
    try:
        for layer, name in new.layers.values():
            _install(layer, name)
            installed.append((layer, name))
        frames.append(new)
        try:
            yield new
        finally:
            frames.pop()
    finally:
        for layer, name in reversed(installed):
            _uninstall(layer, name)


def guided(forward, backward):
    """Wraps an elementwise activation so that its gradient is guided.

    Forward: unchanged. Backward: `backward(relu(dy), x)`, the activation's
    own derivative applied to the positive part of the upstream signal: it
    passes only where the upstream gradient is positive *and* the unit passes
    signal (Springenberg et al., 2015, "Striving for Simplicity", section 3.4).
    """
    def apply(x, *args, **kwargs):
        @tf.custom_gradient
        def guided_activation(x):
            with tf.name_scope(GUIDED_SCOPE):
                y = forward(x, *args, **kwargs)

            def grad(dy):
                with tf.name_scope(GUIDED_SCOPE):
                    return backward(tf.nn.relu(dy), x)

            return y, grad

        return guided_activation(x)

    return apply


def deconvnet_backward(g, x):
    """DeconvNet's backward through a rectifier: the rectified upstream signal, whatever `x` was.

    With `guided`, the backward is `relu(dy)` only: the forward pass's mask
    (where the unit was active) is ignored (Zeiler & Fergus, 2014,
    "Visualizing and Understanding Convolutional Networks", section 2.1:
    "we pass the reconstructed signal through a relu non-linearity").
    """
    return g


def relu_backward(negative_slope=0.0, max_value=None, threshold=0.0):
    """The derivative of Keras's `relu(x, negative_slope, max_value, threshold)`, applied to `g`.

    The plain ReLU and ReLU6 use TensorFlow's fused gradient kernels (one pass
    over the tensor); other settings use the derivative written out.
    """
    if negative_slope == 0 and threshold == 0 and max_value is None:
        return lambda g, x: tf.raw_ops.ReluGrad(gradients=g, features=x)
    if negative_slope == 0 and threshold == 0 and max_value == 6:
        return lambda g, x: tf.raw_ops.Relu6Grad(gradients=g, features=x)

    def backward(g, x):
        slope = tf.where(x > threshold, tf.ones_like(x), tf.fill(tf.shape(x), tf.cast(negative_slope, x.dtype)))
        if max_value is not None:
            slope = slope * tf.cast(x < max_value, x.dtype)
        return g * tf.cast(slope, g.dtype)

    return backward


def derivative_backward(forward):
    """The derivative of any elementwise `forward`, by automatic differentiation, applied to `g`."""
    def backward(g, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = forward(x)
        return tape.gradient(y, x, output_gradients=tf.cast(g, y.dtype))

    return backward


def _keras_fn(name):
    return getattr(keras.activations, name, None)


# Rectifier-like activations, all guided by the same rule: ReLU family by their exact derivative,
# the smooth rectifiers (swish/SiLU in EfficientNet, hard-swish in MobileNetV3, GELU in ConvNeXt)
# by their own derivative applied to the rectified upstream gradient.
GUIDED_ACTIVATIONS = {
    fn: backward
    for fn, backward in [
        (keras.activations.relu, relu_backward()),
        (keras.activations.relu6, relu_backward(max_value=6.0)),
        *[(_keras_fn(n), None) for n in ("leaky_relu", "elu", "selu", "celu", "gelu", "silu",
                                           "hard_silu", "mish", "softplus", "squareplus")],
    ]
    if fn is not None
}

# Elementwise activations that are not rectifiers: gates and squashing functions (the sigmoid of a
# squeeze-and-excitation block, a tanh) keep their plain gradient, as in Springenberg et al.
UNGUIDED_ACTIVATIONS = frozenset(
    fn for fn in (_keras_fn(n) for n in ("linear", "sigmoid", "hard_sigmoid", "tanh", "softmax",
                                         "softsign", "log_softmax", "exponential")) if fn is not None
)


# How a rectifier's gradient is changed: guided backprop, DeconvNet. (DeepLIFT's rules are overrides of their own:
# `kerasviz.relevance.rescale`, `kerasviz.relevance.reveal_cancel`.)
RULES = ("guided", "deconvnet")


def guided_activation(fn, rule="guided"):
    """The guided (or DeconvNet, `rule="deconvnet"`) version of a Keras activation, or None for a non-rectifier."""
    if fn not in GUIDED_ACTIVATIONS:
        return None
    if rule == "deconvnet":
        return guided(fn, deconvnet_backward)
    return guided(fn, GUIDED_ACTIVATIONS[fn] or derivative_backward(fn))
