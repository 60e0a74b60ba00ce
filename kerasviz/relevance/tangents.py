"""Forward-mode derivatives carried by hand through a model's layers (the `dy/da` of layer conductance).

`tf.autodiff.ForwardAccumulator` builds each op's Jacobian-vector product
from its backward function (TensorFlow's double-VJP construction): on a
real network the tangent then costs about three forward passes. A layer's
own tangent is cheaper to write down: `W t` through a linear layer (its
kernel, no bias), `f'(z) t` through an elementwise nonlinearity, the
window's maximum's tangent through max pooling, `a' b + a b'` through a
product, the layer itself through parameter-free linear layers (sums,
concatenations, padding, average pooling, reshaping). `Tangents` adds these
as overrides of `kerasviz.models.run`, so the tangent is computed next to
the model's own forward pass.

Nothing is assumed about what it cannot see: a layer with no rule here, or
a computation between layers that is not a layer (a subclassed model's
own `tf` code), makes every tangent that depends on it *unknown*
(`Tangents.of` returns None), and the caller then uses the accumulator.

Checked against the accumulator at the Grad-CAM layer of ResNet50 and
ResNet50V2, MobileNetV2 and V3-Small, EfficientNetB0 and V2-B0,
DenseNet121, Xception, InceptionV3, NASNetMobile and VGG16 (`weights=None`):
equal within 1.5e-6 of the tangent's peak. ConvNeXt (LayerNormalization)
and InceptionResNetV2 (its own scaling layer) take the accumulator.
"""

import keras
import numpy as np
import tensorflow as tf

from kerasviz import models, patching
from kerasviz.relevance import canonizers, rescale, reveal_cancel

_L = keras.layers
_AFFINE = tuple(t for t in (getattr(_L, n, None) for n in ("Rescaling", "Normalization")) if t is not None)
_LINEAR_OPS = rescale.LINEAR_OPS - {"Multiply"}  # the ops linear in their tensors (a product has its own rule)
_ADDITIVE_OPS = {"Add", "Subtract"}
_SEARCH_LIMIT = 20000  # graph ops a dependency search visits before it calls a tensor unknown


class UnknownTangent(Exception):
    """Raised by a caller that found, while tracing, a tangent it needs unknown (`Tangents.of` gave None)."""


class _Unknown:
    """The tangent of a tensor that depends on the input through something without a rule."""


UNKNOWN = _Unknown()


def _f32(t):
    return tf.cast(t, tf.float32)


class Tangents:
    """The tangents of a model's tensors in the direction `tangent` of its input `points`, computed by hand.

    Pass `add_overrides` as `kerasviz.models.run`'s `overrides` (inside
    `tf.function`: the tensors are found by the graph), then read a
    tensor's tangent with `of`.

    Args:
        model: the model (its layers, nested models' included).
        points: the tensor the model runs on.
        tangent: its tangent, same shape.
    """

    def __init__(self, model, points, tangent):
        self.layers = [layer for _, layer in models.iter_layers(model) if not isinstance(layer, keras.Model)]
        self.known = {points.ref(): _f32(tangent)}  # ref -> float32 tangent, None (constant) or UNKNOWN
        self.pending = {}  # id(layer) -> the tangent of its pre-activation, read by its fused activation

    def add_overrides(self, frame):
        """`models.run`'s `overrides`: every layer's call records its outputs' tangents."""
        for layer in self.layers:
            rule = _rule(layer)
            frame.add(layer, "call", self._call(layer, rule))
            activation = patching.original(layer, "activation")
            if rule is _kernel and activation is not None and activation is not keras.activations.linear:
                frame.add(layer, "activation", self._activation(layer, activation))

    def of(self, tensor):
        """The float32 tangent of `tensor` (zeros where it is constant), or None where it is unknown."""
        found = self._lookup(tensor)
        if found is UNKNOWN:
            return None
        return tf.zeros_like(_f32(tensor)) if found is None else found

    def _lookup(self, tensor):
        for t in canonizers.passed_on(tensor):
            if t.ref() in self.known:
                return self.known[t.ref()]
        return UNKNOWN if self._depends(tensor) else None

    def _depends(self, tensor):
        """Whether `tensor`, made outside every layer's rule, may depend on the input (a graph search)."""
        if not hasattr(tensor, "op"):
            return True
        seen, stack = set(), [tensor]
        while stack:
            t = stack.pop()
            if t.ref() in seen:
                continue
            seen.add(t.ref())
            if len(seen) > _SEARCH_LIMIT:
                return True
            if t.ref() in self.known:
                if self.known[t.ref()] is not None:
                    return True
                continue
            stack.extend(t.op.inputs)
        return False

    def _record(self, outputs, tangents):
        for output, tangent in zip(tf.nest.flatten(outputs), tf.nest.flatten(tangents)):
            if tf.is_tensor(output):
                self.known[output.ref()] = tangent

    def _call(self, layer, rule):
        def override(call, *args, **kwargs):
            inputs = tf.nest.flatten((args, kwargs))
            found = [self._lookup(t) for t in inputs if tf.is_tensor(t)]
            if any(t is UNKNOWN for t in found):
                return self._all(call(*args, **kwargs), UNKNOWN)
            if all(t is None for t in found):
                return self._all(call(*args, **kwargs), None)
            if rule is None:
                return self._all(call(*args, **kwargs), UNKNOWN)
            outputs, tangents = rule(self, layer, call, args, kwargs)
            self._record(outputs, tangents)
            return outputs

        return override

    def _all(self, outputs, value):
        self._record(outputs, tf.nest.map_structure(lambda _: value, outputs))
        return outputs

    def _activation(self, layer, activation):
        elementwise = activation in rescale.ELEMENTWISE
        shared = rescale.shared_activation(activation)

        def override(fn, z, *args, **kwargs):
            pre = self.pending.pop(id(layer), None)
            y = fn(z, *args, **kwargs)
            if pre is None:  # called outside the layer's rule (the layer is constant or unknown)
                return y
            self.known[z.ref()] = pre
            if pre is UNKNOWN or not elementwise:
                self.pending[id(layer)] = UNKNOWN
            else:
                self.pending[id(layer)] = _through(lambda v: fn(v, *args, **kwargs),
                                                   None if args or kwargs else shared, pre, z, y)
            return y

        return override

    def tangent_args(self, args, kwargs):
        """`(args, kwargs)` with each tensor replaced by its tangent (zeros where it is constant)."""
        def swap(t):
            if not tf.is_tensor(t):
                return t
            found = self._lookup(t)
            return tf.zeros_like(_f32(t)) if found is None else found

        return tf.nest.map_structure(swap, (args, kwargs))


def _first(args, kwargs):
    return args[0] if args else kwargs["inputs"]


def _kernel(carried, layer, call, args, kwargs):
    tangent = carried.of(_first(args, kwargs))
    for part in canonizers.linear_parts(layer):
        tangent = part.apply(tangent, part.kernel)
    carried.pending[id(layer)] = tangent
    output = call(*args, **kwargs)
    return output, carried.pending.pop(id(layer))


def _linear(carried, layer, call, args, kwargs):
    t_args, t_kwargs = carried.tangent_args(args, kwargs)
    if type(layer).__name__ in _ADDITIVE_OPS:  # `x + 3.0`: a number added is a constant, its tangent 0
        t_args = [0.0 if _is_constant(a) else a for a in t_args]
    return call(*args, **kwargs), _f32(call(*t_args, **t_kwargs))


def _is_constant(value):
    return isinstance(value, (int, float, np.ndarray)) and not isinstance(value, bool)


def _quotient(carried, layer, call, args, kwargs):
    """`x / c` for a constant `c` (a number, or a tensor that does not depend on the input)."""
    numerator, denominator = args[:2]
    output = call(*args, **kwargs)
    if tf.is_tensor(denominator) and carried._lookup(denominator) is not None:
        return output, UNKNOWN
    return output, _f32(call(carried.of(numerator), denominator, *args[2:], **kwargs))


def _affine(carried, layer, call, args, kwargs):
    """An elementwise affine layer (Rescaling, Normalization): `L(t) - L(0)`."""
    x = _first(args, kwargs)
    tangent = carried.of(x)
    rest = args[1:]
    zero = tf.zeros_like(tangent[:1])
    return call(*args, **kwargs), _f32(call(tangent, *rest, **kwargs)) - _f32(call(zero, *rest, **kwargs))


def _batch_norm(carried, layer, call, args, kwargs):
    return call(*args, **kwargs), carried.of(_first(args, kwargs)) * canonizers.batch_norm_affine(layer)[0]


def _elementwise(carried, layer, call, args, kwargs):
    z = _first(args, kwargs)
    rest, kwargs = args[1:], dict(kwargs)
    kwargs.pop("inputs", None)
    output = call(z, *rest, **kwargs)
    shared = None
    if isinstance(layer, (_L.ReLU, _L.LeakyReLU)):
        shared = rescale.Rectifier.of_layer(layer)
    elif isinstance(layer, _L.Activation) and not rest:
        shared = rescale.shared_activation(patching.original(layer, "activation"))
    return output, _through(lambda v: call(v, *rest, **kwargs), shared, carried.of(z), z, output)


def _by_output(rectifier):
    """Whether `rectifier`'s derivative is a function of its output (then its input need not be kept: the
    convolution before it and the rectifier fuse into one op)."""
    return rectifier.threshold == 0 and rectifier.negative_slope >= 0 and (
        rectifier.max_value is None or rectifier.max_value > 0)


def _slope_of_output(rectifier, slope=None):
    """The kernel `f'(z) tangent` of a rectifier that `_by_output` accepts, read from its output `y`
    (`rescale.kernel_of`'s `make`: the rectifier comes as the forward; its closed-form `slope` reads inputs)."""
    def kernel(tangent, y):
        inside = y > 0 if rectifier.negative_slope == 0 else tf.ones_like(y, tf.bool)
        if rectifier.max_value is not None:
            inside = inside & (y < rectifier.max_value)
        if rectifier.negative_slope == 0:
            return tf.where(inside, tangent, tf.zeros_like(tangent))
        factor = tf.where(y > 0, 1.0, float(rectifier.negative_slope))
        return tf.where(inside, factor * tangent, tf.zeros_like(tangent))

    return kernel


def _slope_of_input(forward, slope):
    def kernel(tangent, z):
        return (rescale.derivative(forward, z) if slope is None else slope(z)) * tangent

    return kernel


def _through(call, shared, tangent, z, y):
    """The tangent of `y = call(z)` (elementwise): `f'(z) tangent`, one compiled kernel, shared by equal
    nonlinearities (`shared`: a `rescale.Rectifier`, a Keras activation or None, as `rescale.kernel_of`)."""
    if isinstance(shared, rescale.Rectifier) and _by_output(shared):
        return rescale.kernel_of(_slope_of_output, call, shared)(tangent, _f32(y))
    return rescale.kernel_of(_slope_of_input, call, shared)(tangent, z)


def _product(carried, layer, call, args, kwargs):
    """`a' b + a b'` (a Multiply layer's inputs, or a Keras `multiply` op's arguments, numbers included)."""
    factors = tf.nest.flatten(_first(args, kwargs) if isinstance(layer, _L.Layer) else args[:2])
    factors = [f for f in factors if tf.is_tensor(f) or _is_constant(f)]
    output = call(*args, **kwargs)
    total = None
    for i, factor in enumerate(factors):
        found = carried._lookup(factor) if tf.is_tensor(factor) else None
        if found is None:
            continue
        term = found
        for j, other in enumerate(factors):
            if j != i:
                term = term * (_f32(other) if tf.is_tensor(other) else tf.constant(other, tf.float32))
        total = term if total is None else total + term
    return output, tf.broadcast_to(total, tf.shape(output))


def _max_pool_2d(carried, layer, call, args, kwargs):
    x = _first(args, kwargs)
    output = call(*args, **kwargs)
    size, strides = (1, *layer.pool_size, 1), (1, *layer.strides, 1)
    tangent = tf.raw_ops.MaxPoolGradGrad(orig_input=_f32(x), orig_output=_f32(output), grad=carried.of(x),
                                         ksize=size, strides=strides, padding=layer.padding.upper())
    return output, tangent


def _global_max_pool(carried, layer, call, args, kwargs):
    x = _first(args, kwargs)
    output = call(*args, **kwargs)
    flat_x = tf.reshape(x, [tf.shape(x)[0], -1, tf.shape(x)[-1]])
    flat_t = tf.reshape(carried.of(x), tf.shape(flat_x))
    at = tf.argmax(flat_x, axis=1, output_type=tf.int32)
    tangent = tf.gather(tf.transpose(flat_t, [0, 2, 1]), at[..., None], batch_dims=2)[..., 0]
    return output, tf.reshape(tangent, tf.shape(output))


def _channels_last(layer):
    return getattr(layer, "data_format", "channels_last") == "channels_last"


def _rule(layer):
    """The tangent rule of `layer` (a layer or a Keras op of a functional graph), or None."""
    if not isinstance(layer, _L.Layer):
        kind = type(layer).__name__
        if kind in _LINEAR_OPS:
            return _linear
        if kind == "Multiply":
            return _product
        if kind in ("Divide", "TrueDivide"):
            return _quotient
        return _elementwise if kind in rescale.ELEMENTWISE_OPS else None
    if isinstance(layer, reveal_cancel.KERNEL_LAYERS):
        return None if getattr(layer, "padding", None) == "causal" else _kernel  # padded in `call`
    if isinstance(layer, _L.BatchNormalization):
        return _batch_norm if reveal_cancel.over_last_axis(layer) else None
    if isinstance(layer, (_L.Subtract, *reveal_cancel.CARRYING)):
        return _linear
    if isinstance(layer, _AFFINE):
        return _affine
    if isinstance(layer, _L.Multiply):
        return _product
    if isinstance(layer, (_L.ReLU, _L.LeakyReLU, _L.ELU, _L.PReLU)):
        return _elementwise
    if isinstance(layer, _L.Activation):
        return _elementwise if patching.original(layer, "activation") in rescale.ELEMENTWISE else None
    if isinstance(layer, _L.MaxPooling2D) and _channels_last(layer):
        return _max_pool_2d
    if isinstance(layer, (_L.GlobalMaxPooling1D, _L.GlobalMaxPooling2D, _L.GlobalMaxPooling3D)) \
            and _channels_last(layer):
        return _global_max_pool
    return None
