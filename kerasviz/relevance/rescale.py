"""DeepLIFT's Rescale rule as a modified gradient, installed by `kerasviz.models.patched(rule="rescale")`.

The model runs once on a batch laid out `[inputs; references]` (the first
half the inputs, the second half their references, row for row). Linear
layers keep their gradient; every nonlinearity's backward returns its
*multiplier* instead of its derivative, computed from the two halves
(Shrikumar et al., 2017, "Learning Important Features Through Propagating
Activation Differences", sections 3.3 and 3.5.2):

- an elementwise activation `y = f(z)` (ReLU family, sigmoid, tanh, swish,
  GELU, ...): `m = (f(z) - f(z0)) / (z - z0)`, and the derivative `f'(z)`
  where `|z - z0| <= EPSILON` (there `z - z0` carries no difference to
  share, whatever the multiplier);
- max pooling: the difference of each output `y - y0` is carried to the
  window's maximum of the half whose maximum is larger, divided by that
  input's difference (multipliers in [0, 1]), so the differences are
  conserved through the pool whatever the two maxima;
- a product of two tensors `a * b` (squeeze-and-excitation gates): the
  Shapley split of `a b - a0 b0`: `m_a = (b + b0) / 2`, `m_b = (a + a0) / 2`,
  exact for any inputs.

The chain rule then multiplies multipliers, and `(x - x0) * gradient` sums
to `f(x) - f(x0)` exactly (summation-to-delta) on networks made of these
and linear layers. `unsupported_layers` lists what has no rule; the
softmax (or sigmoid) at the output is bypassed: DeepLIFT explains logits.
"""

import keras
import tensorflow as tf

from kerasviz import patching

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
_LINEAR_OPS = {"Add", "Subtract", "Negative", "Reshape", "Transpose", "Concatenate", "ExpandDims", "Squeeze",
               "Multiply", "Average"}
_ELEMENTWISE_OPS = {"Relu", "Relu6", "LeakyRelu", "Elu", "Selu", "Gelu", "Silu", "HardSilu", "Sigmoid",
                    "HardSigmoid", "Tanh", "Softplus", "Softsign", "Mish", "Celu"}
# Graph ops that are nonlinear in what flows through them: outside RESCALE_SCOPE, a rule was not applied.
NONLINEAR_OP_TYPES = ("Relu", "Relu6", "LeakyRelu", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus", "Softsign",
                      "Erf", "MaxPool", "MaxPoolV2", "MaxPool3D", "Softmax", "LogSoftmax")


def halves(tensor):
    """`(inputs half, references half)` of a `[inputs; references]` batch."""
    n = tf.shape(tensor)[0] // 2
    return tensor[:n], tensor[n:]


def derivative(forward, z):
    """The derivative of the elementwise `forward` at `z`, float32."""
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = forward(z)
    return tf.cast(tape.gradient(y, z), tf.float32)


def relu_slope(negative_slope=0.0, max_value=None, threshold=0.0):
    """The derivative of Keras's `relu(x, negative_slope, max_value, threshold)`, float32, in closed form."""
    def slope(z):
        value = tf.cast(z > threshold, tf.float32)
        if negative_slope:
            value = value + (1.0 - value) * float(negative_slope)
        return value if max_value is None else value * tf.cast(z < max_value, tf.float32)

    return slope


_ACTIVATION_SLOPES = {keras.activations.relu: relu_slope(), keras.activations.relu6: relu_slope(max_value=6.0)}


def _multipliers(forward, z, y, slope=None):
    """`(f(z) - f(z0)) / (z - z0)` for both halves, the derivative where `|z - z0| <= EPSILON`."""
    zx, z0 = halves(z)
    yx, y0 = halves(y)
    dz = tf.cast(zx - z0, tf.float32)
    ratio = tf.math.divide_no_nan(tf.cast(yx - y0, tf.float32), dz)
    slope = derivative(forward, zx) if slope is None else slope(zx)
    m = tf.where(tf.abs(dz) <= EPSILON, slope, ratio)
    return tf.concat([m, m], axis=0)


def elementwise(forward, slope=None):
    """`forward` (an elementwise function of its first argument) with the Rescale multiplier as its gradient.

    `slope(z)`, the derivative in closed form where known (the ReLU family), else by differentiation.
    """
    def apply(z, *args, **kwargs):
        def bound(x):
            return forward(x, *args, **kwargs)

        @tf.custom_gradient
        def rescaled(z):
            with tf.name_scope(RESCALE_SCOPE):
                y = bound(z)

            def grad(dy, variables=None):
                with tf.name_scope(RESCALE_SCOPE):
                    dz = dy * tf.cast(_multipliers(bound, z, y, slope), dy.dtype)
                if variables:  # PReLU's slopes: not explained, no gradient
                    return dz, [tf.zeros_like(v) for v in variables]
                return dz

            return y, grad

        return rescaled(z)

    return apply


def max_pool(call, pool_grad=None):
    """A max-pooling `call` whose gradient carries each output's `y - y0` to one input of its window.

    The difference goes to the input that is the window's maximum for the
    half whose maximum is larger (the input's if `y >= y0`, else the
    reference's), divided by that input's own difference `z - z0`: there
    `|z - z0| >= |y - y0|`, so the multiplier lies in [0, 1], and the sum of
    `(z - z0) * m` over the window is `y - y0`, whatever the two maxima.
    `pool_grad(z, y, g)`, the pooling's own gradient op where known (2-D
    max pooling), else the pooling is differentiated again.
    """
    def apply(z, *args, **kwargs):
        def bound(x):
            return call(x, *args, **kwargs)

        @tf.custom_gradient
        def pooled(z):
            with tf.name_scope(RESCALE_SCOPE):
                y = bound(z)

            def grad(dy):
                with tf.name_scope(RESCALE_SCOPE):
                    zx, z0 = halves(z)
                    yx, y0 = halves(y)
                    carried = halves(dy)[0] * tf.cast(yx - y0, dy.dtype)
                    rising = tf.cast(yx >= y0, dy.dtype)
                    both = tf.concat([carried * rising, carried * (1 - rising)], axis=0)  # to x's, to x0's maxima
                    if pool_grad is not None:
                        routed = pool_grad(z, y, both)
                    else:
                        with tf.GradientTape() as tape:
                            tape.watch(z)
                            again = bound(z)
                        routed = tape.gradient(again, z, output_gradients=both)
                    routed = sum(tf.cast(half, tf.float32) for half in halves(routed))
                    dz = tf.cast(zx - z0, tf.float32)
                    small = tf.abs(dz) <= EPSILON  # there |y - y0| <= |z - z0| is small too: nothing to carry
                    m = tf.where(small, tf.zeros_like(dz), routed / tf.where(small, tf.ones_like(dz), dz))
                    return tf.concat([tf.cast(m, dy.dtype), tf.zeros_like(z0)], axis=0)

            return y, grad

        return pooled(z)

    return apply


def _max_pool_2d_grad(layer):
    """`(z, y, g) -> gradient` of a channels-last `MaxPooling2D` by TensorFlow's own kernel, else None."""
    if not isinstance(layer, _L.MaxPooling2D) or layer.data_format != "channels_last":
        return None
    ksize = [1, *layer.pool_size, 1]
    strides = [1, *layer.strides, 1]
    padding = layer.padding.upper()
    return lambda z, y, g: tf.raw_ops.MaxPoolGrad(orig_input=z, orig_output=y, grad=g, ksize=ksize, strides=strides,
                                                  padding=padding, data_format="NHWC")


def product(a, b, y):
    """`y = a * b` (broadcast), with the gradients `(b + b0) / 2` to `a` and `(a + a0) / 2` to `b`."""
    with tf.name_scope(RESCALE_SCOPE):
        def mean_of_halves(t):
            tx, t0 = halves(t)
            mean = (tx + t0) / 2
            return tf.stop_gradient(tf.concat([mean, mean], axis=0))

        surrogate = a * mean_of_halves(b) + mean_of_halves(a) * b
        return tf.stop_gradient(y) + (surrogate - tf.stop_gradient(surrogate))


def _batch_tensor(value, rank):
    return tf.is_tensor(value) and value.shape.rank == rank


def _multiply_layer(call, inputs, *args, **kwargs):
    y = call(inputs, *args, **kwargs)
    if isinstance(inputs, (list, tuple)) and len(inputs) == 2:
        return product(inputs[0], inputs[1], y)
    return y


def _multiply_op(call, x1, x2, *args, **kwargs):
    y = call(x1, x2, *args, **kwargs)
    if _batch_tensor(x1, y.shape.rank) and _batch_tensor(x2, y.shape.rank):
        return product(x1, x2, y)
    return y  # a product with a constant or a weight: linear


def add(frame, layer, nonlinearity=None):
    """Adds the Rescale overrides `layer` needs to a `kerasviz.patching.Frame` (none for linear layers).

    `nonlinearity(forward, slope)`, the rule of `layer`'s elementwise
    nonlinearities (fused, or the layer itself) in place of `elementwise`
    (RevealCancel's, `kerasviz.relevance.reveal_cancel`); max pooling and
    products keep theirs.
    """
    rule = elementwise if nonlinearity is None else nonlinearity
    activation = patching.original(layer, "activation")
    if activation in ELEMENTWISE and activation is not keras.activations.linear:
        slope = _ACTIVATION_SLOPES.get(activation)
        frame.add(layer, "activation", lambda fn, x, *args, **kwargs: rule(fn, slope)(x, *args, **kwargs))
    kind = type(layer).__name__
    if isinstance(layer, (_L.ReLU, _L.LeakyReLU)):
        slope = relu_slope(layer.negative_slope, getattr(layer, "max_value", None), getattr(layer, "threshold", 0.0))
        frame.add(layer, "call", lambda call, x, *args, **kwargs: rule(call, slope)(x, *args, **kwargs))
    elif isinstance(layer, _ELEMENTWISE_LAYERS) or (_is_op(layer) and kind in _ELEMENTWISE_OPS):
        frame.add(layer, "call", lambda call, x, *args, **kwargs: rule(call, None)(x, *args, **kwargs))
    elif isinstance(layer, _MAX_POOLING):
        pool_grad = _max_pool_2d_grad(layer)
        frame.add(layer, "call", lambda call, x, *args, **kwargs: max_pool(call, pool_grad)(x, *args, **kwargs))
    elif isinstance(layer, _L.Multiply):
        frame.add(layer, "call", _multiply_layer)
    elif _is_op(layer) and kind == "Multiply":
        frame.add(layer, "call", _multiply_op)


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
            if kind not in _LINEAR_OPS | _ELEMENTWISE_OPS:
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
