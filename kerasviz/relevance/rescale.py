"""DeepLIFT's Rescale rule as a modified gradient: overrides of `kerasviz.models.run` (`ReferenceRun`).

The model runs twice in one trace: on the references, forward only, where
every nonlinearity records its input and output, then on the inputs (row
for row) under the tape. Linear layers keep their gradient; every
nonlinearity's backward returns its *multiplier* instead of its
derivative, computed from its input's values and the reference's
(Shrikumar et al., 2017, "Learning Important Features Through Propagating
Activation Differences", sections 3.3 and 3.5.2):

- an elementwise activation `y = f(z)` (ReLU family, sigmoid, tanh, swish,
  GELU, ...): `m = (f(z) - f(z0)) / (z - z0)`, and the derivative `f'(z)`
  where `|z - z0| <= EPSILON` (there `z - z0` carries no difference to
  share, whatever the multiplier);
- max pooling: the difference of each output `y - y0` is carried to the
  window's maximum of the side whose maximum is larger, divided by that
  input's difference (multipliers in [0, 1]), so the differences are
  conserved through the pool whatever the two maxima;
- a product of two tensors `a * b` (squeeze-and-excitation gates): the
  Shapley split of `a b - a0 b0`: `m_a = (b + b0) / 2`, `m_b = (a + a0) / 2`,
  exact for any inputs.

The chain rule then multiplies multipliers, and `(x - x0) * gradient` sums
to `f(x) - f(x0)` exactly (summation-to-delta) on networks made of these
and linear layers. `unsupported_layers` lists what has no rule; the
softmax (or sigmoid) at the output is bypassed: DeepLIFT explains logits.
RevealCancel (`kerasviz.relevance.reveal_cancel`) runs the same two runs
with its own rule at the elementwise nonlinearities and takes max pooling
and products from here.
"""

import collections
import dataclasses

import keras
import tensorflow as tf

from kerasviz import compiled, models, patching

RESCALE_SCOPE = "kerasviz_rescale"
EPSILON = 1e-6

# Elementwise activations (Keras functions): rescaled. softmax/log_softmax are not elementwise.
_NOT_ELEMENTWISE = {getattr(keras.activations, n, None) for n in ("softmax", "log_softmax", "glu")} - {None}
ELEMENTWISE = frozenset(
    (set(patching.GUIDED_ACTIVATIONS) | set(patching.UNGUIDED_ACTIVATIONS)
     | {getattr(keras.activations, n, None) for n in (
         "hard_tanh", "log_sigmoid", "sparse_plus", "tanh_shrink", "hard_shrink", "soft_shrink", "swish",
         "hard_swish", "relu6", "silu", "gelu", "celu")}) - _NOT_ELEMENTWISE - {None})

_L = keras.layers
_ELEMENTWISE_LAYERS = (_L.ReLU, _L.LeakyReLU, _L.ELU, _L.PReLU)
_MAX_POOLING = tuple(getattr(_L, n) for n in (
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "GlobalMaxPooling3D"))
_LINEAR_LAYERS = tuple(getattr(_L, n) for n in (
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv1D",
    "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "Dense", "EinsumDense", "BatchNormalization",
    "Add", "Subtract", "Average", "Concatenate", "Flatten", "Reshape", "Permute", "RepeatVector",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
    "GaussianNoise", "AlphaDropout", "ActivityRegularization", "Rescaling", "Normalization", "Identity",
    "InputLayer", "Resizing", "CenterCrop", "Activation") if hasattr(_L, n))
# Keras ops of a functional graph (not layers): linear in their tensor arguments, or a product handled here.
LINEAR_OPS = {"Add", "Subtract", "Negative", "Reshape", "Transpose", "Concatenate", "ExpandDims", "Squeeze",
               "Multiply", "Average"}
ELEMENTWISE_OPS = {"Relu", "Relu6", "LeakyRelu", "Elu", "Selu", "Gelu", "Silu", "HardSilu", "Sigmoid",
                   "HardSigmoid", "Tanh", "Softplus", "Softsign", "Mish", "Celu"}
# Graph ops that are nonlinear in what flows through them: outside RESCALE_SCOPE, a rule was not applied.
NONLINEAR_OP_TYPES = ("Relu", "Relu6", "LeakyRelu", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus", "Softsign",
                      "Erf", "MaxPool", "MaxPoolV2", "MaxPool3D", "Softmax", "LogSoftmax")


def derivative(forward, z):
    """The derivative of the elementwise `forward` at `z`, float32."""
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = forward(z)
    return tf.cast(tape.gradient(y, z), tf.float32)


@dataclasses.dataclass(frozen=True)
class Rectifier:
    """Keras's `relu(z, negative_slope, max_value, threshold)` with its derivative in closed form.

    Equal rectifiers (ReLU6 in every block of a network) share one compiled
    kernel of a rule (`kernel_of`).
    """

    negative_slope: float = 0.0
    max_value: "float | None" = None
    threshold: float = 0.0

    @classmethod
    def of_layer(cls, layer):
        """The rectifier of a `ReLU` or `LeakyReLU` layer."""
        return cls(_number(layer.negative_slope), _number(getattr(layer, "max_value", None)),
                   _number(getattr(layer, "threshold", 0.0)))

    def __call__(self, z):
        return keras.activations.relu(z, negative_slope=self.negative_slope, max_value=self.max_value,
                                      threshold=self.threshold)

    def slope(self, z):
        """The derivative at `z`, float32."""
        value = tf.cast(z > self.threshold, tf.float32)
        if self.negative_slope:
            value = value + (1.0 - value) * float(self.negative_slope)
        return value if self.max_value is None else value * tf.cast(z < self.max_value, tf.float32)


_ACTIVATION_RECTIFIERS = {keras.activations.relu: Rectifier(), keras.activations.relu6: Rectifier(max_value=6.0)}


_KERNELS = {}


def shared_activation(activation):
    """What equal uses of the Keras `activation` share (`kernel_of`): a `Rectifier`, the activation itself,
    or None for sigmoid and softmax, which `kerasviz.models.run` may bypass at the output (the layer then
    computes the identity, not them)."""
    if activation in models.PROBABILITY_ACTIVATIONS:
        return None
    return _ACTIVATION_RECTIFIERS.get(activation, activation)


def kernel_of(make, call, shared):
    """`make(forward, slope)`, compiled (`kerasviz.compiled.elementwise`): one per rule and `shared`, else one
    per call.

    `shared` is the nonlinearity as a function of its input alone that
    equal nonlinearities share (a `Rectifier`, whose closed-form derivative
    is the `slope`; a Keras activation), or None: `forward` is then `call`.
    `slope` is None where the derivative is to be differentiated. Each
    kernel XLA compiles costs tens of milliseconds at the first call; a
    network's rectifiers share theirs.
    """
    if shared is None:
        return compiled.elementwise(make(call, None))
    key = (make, shared)
    if key not in _KERNELS:
        _KERNELS[key] = compiled.elementwise(make(shared, getattr(shared, "slope", None)))
    return _KERNELS[key]


def _f32(t):
    return tf.cast(t, tf.float32)


def multipliers(forward, z, z0, y, y0, slope=None):
    """`(f(z) - f(z0)) / (z - z0)`, float32, the derivative `f'(z)` where `|z - z0| <= EPSILON`.

    There `z - z0` carries no difference to share, whatever the multiplier.
    `slope(z)`, the derivative in closed form where known, else `forward` is
    differentiated.
    """
    dz = _f32(z) - _f32(z0)
    ratio = tf.math.divide_no_nan(_f32(y) - _f32(y0), dz)
    return tf.where(tf.abs(dz) <= EPSILON, derivative(forward, z) if slope is None else slope(z), ratio)


class ReferenceRun:
    """The references' side of the Rescale rule: one run of the model records it, the next reads it.

    DeepLIFT runs the model on the references first, forward only: every
    nonlinearity records its inputs and output. Then it runs the model on
    the inputs under the tape: each nonlinearity reads what its own call
    recorded and returns the Rescale multipliers as its gradient, so the
    backward pass runs over the inputs alone. A layer's calls are matched in
    order (a layer called twice reads its two records in turn). Pass
    `add_overrides` as `kerasviz.models.run`'s `overrides` for both runs and
    call `replay()` between them.

    Args:
        layers: the model's layers, nested models' included
            (`kerasviz.models.iter_layers`); those without a nonlinearity
            get no override.
    """

    def __init__(self, layers):
        self.layers = list(layers)
        self.recording = True
        self._records = collections.defaultdict(list)
        self._read = collections.Counter()

    def add_overrides(self, frame):
        """`models.run`'s `overrides`: the Rescale rule at every nonlinearity of `layers`."""
        for layer in self.layers:
            add(frame, layer, self)

    def replay(self):
        """Switches from recording (the references' run) to reading (the inputs' run)."""
        self.recording = False

    def through(self, key, call, rule, *tensors):
        """`call(*tensors)`: recorded under `key`, or by `rule(call, tensors, recorded tensors, recorded output)`."""
        if self.recording:
            with tf.name_scope(RESCALE_SCOPE):
                output = tf.stop_gradient(call(*tensors))
            self._records[key].append((tensors, output))
            return output
        index = self._read[key]
        self._read[key] += 1
        references, reference_output = self._records[key][index]
        return rule(call, tensors, references, reference_output)


def _rescale_kernel(forward, slope):
    """The Rescale rule's backward of an elementwise `forward`: `dy` times the multipliers."""
    def chained(dy, z, y, z0, y0):
        return dy * tf.cast(multipliers(forward, z, z0, y, y0, slope), dy.dtype)

    return chained


def _elementwise_rule(shared):
    """The Rescale rule of an elementwise `call(z)` against the reference's `z0`, `y0` (`shared`: `kernel_of`)."""
    def rule(call, tensors, references, y0):
        (z0,) = references
        chained = kernel_of(_rescale_kernel, call, shared)

        @tf.custom_gradient
        def rescaled(z):
            with tf.name_scope(RESCALE_SCOPE):
                y = call(z)

            def grad(dy, variables=None):
                with tf.name_scope(RESCALE_SCOPE):
                    dz = chained(dy, z, y, z0, y0)
                if variables:  # PReLU's slopes: not explained, no gradient
                    return dz, [tf.zeros_like(v) for v in variables]
                return dz

            return y, grad

        return rescaled(tensors[0])

    return rule


@compiled.elementwise
def _pool_multipliers(routed, z, z0):
    """The carried differences `routed` over `z - z0` (0 where that is within `EPSILON`): one kernel for all pools."""
    dz = _f32(z) - _f32(z0)
    small = tf.abs(dz) <= EPSILON  # there |y - y0| <= |z - z0| is small too: nothing to carry
    return tf.where(small, tf.zeros_like(dz), routed / tf.where(small, tf.ones_like(dz), dz))


def _max_pool_rule(pool_grad):
    """The Rescale rule of a max pooling `call(z)` against the reference's `z0`, `y0` (see `add`).

    Each output's `y - y0` goes to the input that is the window's maximum
    for the side whose maximum is larger (the input's if `y >= y0`, else the
    reference's), divided by that input's own difference `z - z0`: there
    `|z - z0| >= |y - y0|`, so the multiplier lies in [0, 1], and the sum of
    `(z - z0) * m` over the window is `y - y0`, whatever the two maxima.
    `pool_grad(z, y, g)`, the pooling's own gradient op where known (2-D
    max pooling), else the pooling is differentiated again.
    """
    def rule(call, tensors, references, y0):
        (z0,) = references

        def route(z, y, g):
            if pool_grad is not None:
                return _f32(pool_grad(z, y, g))
            with tf.GradientTape() as tape:
                tape.watch(z)
                again = call(z)
            return _f32(tape.gradient(again, z, output_gradients=g))

        @tf.custom_gradient
        def pooled(z):
            with tf.name_scope(RESCALE_SCOPE):
                y = call(z)

            def grad(dy):
                with tf.name_scope(RESCALE_SCOPE):
                    carried = dy * tf.cast(y - y0, dy.dtype)
                    rising = tf.cast(y >= y0, dy.dtype)
                    routed = route(z, y, carried * rising) + route(z0, y0, carried * (1 - rising))
                    return tf.cast(_pool_multipliers(routed, z, z0), dy.dtype)

            return y, grad

        return pooled(tensors[0])

    return rule


def _product_rule(call, tensors, references, y0):
    """`y = a * b` (broadcast), with the gradients `(b + b0) / 2` to `a` and `(a + a0) / 2` to `b`."""
    (a, b), (a0, b0) = tensors, references
    with tf.name_scope(RESCALE_SCOPE):
        y = call(a, b)
        surrogate = a * tf.stop_gradient((b + b0) / 2) + tf.stop_gradient((a + a0) / 2) * b
        return tf.stop_gradient(y) + (surrogate - tf.stop_gradient(surrogate))


def _max_pool_2d_grad(layer):
    """`(z, y, g) -> gradient` of a channels-last `MaxPooling2D` by TensorFlow's own kernel, else None."""
    if not isinstance(layer, _L.MaxPooling2D) or layer.data_format != "channels_last":
        return None
    ksize = [1, *layer.pool_size, 1]
    strides = [1, *layer.strides, 1]
    padding = layer.padding.upper()
    return lambda z, y, g: tf.raw_ops.MaxPoolGrad(orig_input=z, orig_output=y, grad=g, ksize=ksize, strides=strides,
                                                  padding=padding, data_format="NHWC")


def add(frame, layer, run, nonlinearity=None):
    """Adds the Rescale overrides `layer` needs to a `kerasviz.patching.Frame` (none for linear layers).

    Args:
        frame: the frame.
        layer: a layer (or a Keras op of a functional graph).
        run: the `ReferenceRun` whose records the overrides write (the
            references' run) and read (the inputs' run).
        nonlinearity: `nonlinearity(shared)`, the rule of the elementwise
            nonlinearities as `ReferenceRun.through` takes it (default: the
            Rescale rule; RevealCancel passes its own,
            `kerasviz.relevance.reveal_cancel`); `shared` is the
            nonlinearity as a function of its input alone that equal
            nonlinearities share (a `Rectifier`, or a Keras activation), or
            None (`kernel_of`).
    """
    nonlinearity = nonlinearity or _elementwise_rule

    def elementwise(key, shared):
        def override(fn, x, *args, **kwargs):
            rule = nonlinearity(shared if isinstance(shared, Rectifier) or not (args or kwargs) else None)
            return run.through(key, lambda z: fn(z, *args, **kwargs), rule, x)

        return override

    activation = patching.original(layer, "activation")
    if activation in ELEMENTWISE and activation is not keras.activations.linear:
        shared = shared_activation(activation)
        frame.add(layer, "activation", elementwise((id(layer), "activation"), shared))
    kind = type(layer).__name__
    key = (id(layer), "call")
    if isinstance(layer, (_L.ReLU, _L.LeakyReLU)):
        frame.add(layer, "call", elementwise(key, Rectifier.of_layer(layer)))
    elif isinstance(layer, _ELEMENTWISE_LAYERS) or (_is_op(layer) and kind in ELEMENTWISE_OPS):
        frame.add(layer, "call", elementwise(key, None))
    elif isinstance(layer, _MAX_POOLING):
        rule = _max_pool_rule(_max_pool_2d_grad(layer))
        frame.add(layer, "call", lambda call, x, *args, **kwargs: run.through(
            key, lambda z: call(z, *args, **kwargs), rule, x))
    elif isinstance(layer, _L.Multiply):
        def multiply_layer(call, inputs, *args, **kwargs):
            if not (isinstance(inputs, (list, tuple)) and len(inputs) == 2):
                return call(inputs, *args, **kwargs)
            return run.through(key, lambda a, b: call([a, b], *args, **kwargs), _product_rule, *inputs)

        frame.add(layer, "call", multiply_layer)
    elif _is_op(layer) and kind == "Multiply":
        def multiply_op(call, x1, x2, *args, **kwargs):
            if not _both_batch_tensors(x1, x2):
                return call(x1, x2, *args, **kwargs)  # a product with a constant or a weight: linear
            return run.through(key, lambda a, b: call(a, b, *args, **kwargs), _product_rule, x1, x2)

        frame.add(layer, "call", multiply_op)


def _number(value):
    return None if value is None else float(value)


def _both_batch_tensors(x1, x2):
    """Whether a product `x1 * x2` is of two tensors of one rank (not of a tensor and a constant or a weight)."""
    return tf.is_tensor(x1) and tf.is_tensor(x2) and x1.shape.rank is not None and x1.shape.rank == x2.shape.rank


def _is_op(layer):
    return not isinstance(layer, keras.layers.Layer)


def _inputs_count(layer):
    try:
        inputs = layer.input
    except (AttributeError, ValueError):
        return None
    return len(inputs) if isinstance(inputs, (list, tuple)) else 1


def unsupported_layers(layers, output_layer=None):
    """`[(path, what)]` of `layers` (`(path, layer)` pairs, `kerasviz.models.iter_layers`) the Rescale rule cannot take.

    Supported: linear layers (convolutions, dense, batch normalization in
    inference, pooling by average, padding, reshaping, merging by sum,
    average or concatenation), elementwise activations (fused, `Activation`,
    `ReLU`, `LeakyReLU`, `ELU`, `PReLU`, and Keras's elementwise ops),
    max pooling, products of two tensors, and the softmax of `output_layer`
    (bypassed). Nested models are read through. Keras's other layers
    (LayerNormalization, attention, ...) are listed; a user's own layer, and
    a subclassed model's own `call`, are checked on the traced graph instead
    (`unreached_ops`: a rectifier, sigmoid, tanh or max pooling op there that
    no rule covers).
    """
    found = []
    for path, layer in layers:
        kind = type(layer).__name__
        activation = patching.original(layer, "activation")
        if isinstance(layer, keras.Model):
            continue
        if _is_op(layer):
            if kind not in LINEAR_OPS | ELEMENTWISE_OPS:
                found.append((path, f"the op {kind}"))
            continue
        if isinstance(layer, _L.Softmax) or activation in _NOT_ELEMENTWISE:
            if layer is not output_layer:
                found.append((path, f"{kind} (softmax inside the network)"))
            continue
        if activation is not None and callable(activation) and activation not in ELEMENTWISE:
            found.append((path, f"{kind} with the activation {getattr(activation, '__name__', activation)!r}"))
            continue
        if isinstance(layer, _L.Multiply):
            if (_inputs_count(layer) or 2) > 2:
                found.append((path, "Multiply of more than two tensors"))
            continue
        if isinstance(layer, _LINEAR_LAYERS + _ELEMENTWISE_LAYERS + _MAX_POOLING):
            continue
        if type(layer).__module__.split(".")[0] == "keras":  # a Keras layer without a rule
            found.append((path, kind))
    return found


def unreached_ops(graph):
    """Names of nonlinear ops in a traced `graph` that no Rescale rule covered (e.g. `tf.nn.relu` in a `call`)."""
    return [op.name for op in graph.get_operations()
            if op.type in NONLINEAR_OP_TYPES and RESCALE_SCOPE not in op.name]
