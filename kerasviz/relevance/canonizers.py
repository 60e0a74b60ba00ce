"""What each Keras layer is to LRP, and the canonizers that make a network LRP-ready.

A layer's *kind* says how relevance crosses it (`kind_of`):

- `"linear"`: Dense, Conv1D/2D/3D, DepthwiseConv, SeparableConv: the
  composite's rule (a separable convolution is split into its depthwise and
  pointwise parts, each given the rule);
- `"batch_norm"`: merged into the convolution or dense layer it follows
  (`merged_linear`: the canonizer of zennit's `SequentialMergeBatchNorm`,
  applied in our trace only, the user's weights untouched); standing alone
  (DenseNet's and ResNetV2's BatchNorm before the ReLU) it is a per-channel
  affine map given the epsilon rule;
- `"sum"` (Add, Average, Subtract) and `"avg_pool"` (average pooling, global
  or not; bilinear upsampling): parameter-free linear maps, relevance split in
  proportion to each input's contribution (the epsilon rule of the map);
- `"max_pool"`: winner takes all (the relevance goes to the maximum, the
  gradient of the pooling);
- `"route"`: layers that only move values (Flatten, Reshape, Permute,
  padding, cropping, Concatenate, nearest upsampling, dropout and noise at
  inference): their gradient hands each value's relevance to where it came
  from, exactly;
- `"pass"`: rectifiers (ReLU, ReLU6 and clipped ReLUs, LeakyReLU, PReLU,
  `Activation` of a rectifier) and elementwise preprocessing (Rescaling,
  Normalization): relevance passes unchanged (Montavon et al., 2019, section
  10.1);
- `"gate"`: a Multiply of a signal by a broadcast gate (squeeze-and-excitation):
  all relevance to the signal, none to the gate (Arras et al., 2017,
  "Explaining Recurrent Neural Network Predictions in Sentiment Analysis");
- `"refused"`: a Keras layer no rule here handles (a non-rectifier
  activation such as sigmoid or tanh on the relevance path, attention,
  transposed convolutions, normalizations over other axes): an error names it
  when relevance reaches it;
- `"unknown"`: a layer of the user's own: relevance crosses it as its
  gradient, and a warning names it.

Smooth rectifiers (swish/SiLU, GELU, ELU/SELU, hard-swish, mish, softplus)
are passed like ReLU, with a warning that names them: relevance on their
negative inputs is an approximation.
"""

import keras
import tensorflow as tf

from kerasviz import patching
from kerasviz.relevance.rules import Linear

_A = keras.activations
EXACT_RECTIFIERS = frozenset(f for f in (_A.relu, _A.relu6, getattr(_A, "leaky_relu", None)) if f is not None)
SMOOTH_RECTIFIERS = frozenset(f for f in (getattr(_A, n, None) for n in (
    "elu", "selu", "celu", "gelu", "silu", "hard_silu", "mish", "softplus", "squareplus")) if f is not None)
_LINEAR_ACTIVATIONS = frozenset({None, _A.linear})

_L = keras.layers
_LINEAR = (_L.Dense,)
_CONV = tuple(t for t in (_L.Conv1D, _L.Conv2D, _L.Conv3D, _L.DepthwiseConv1D, _L.DepthwiseConv2D,
                           _L.SeparableConv1D, _L.SeparableConv2D))
_TRANSPOSED = tuple(t for t in (getattr(_L, n, None) for n in ("Conv1DTranspose", "Conv2DTranspose",
                                                               "Conv3DTranspose")) if t is not None)
_SUM = (_L.Add, _L.Average, _L.Subtract)
_AVG_POOL = tuple(getattr(_L, n) for n in ("AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
                                           "GlobalAveragePooling1D", "GlobalAveragePooling2D",
                                           "GlobalAveragePooling3D"))
_MAX_POOL = tuple(getattr(_L, n) for n in ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "GlobalMaxPooling1D",
                                           "GlobalMaxPooling2D", "GlobalMaxPooling3D"))
_ROUTE = tuple(t for t in (getattr(_L, n, None) for n in (
    "InputLayer", "Flatten", "Reshape", "Permute", "RepeatVector", "Identity", "ZeroPadding1D", "ZeroPadding2D",
    "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "Concatenate", "Dropout", "SpatialDropout1D",
    "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "ActivityRegularization", "UpSampling1D", "UpSampling3D")) if t is not None)
_PREPROCESS = (_L.Rescaling, _L.Normalization)
_RECTIFIER_LAYERS = (_L.ReLU, _L.LeakyReLU, _L.PReLU)

SUMS = (_L.Add, _L.Average)  # of non-negative inputs, non-negative
CONV_LAYERS = _CONV  # the composites' "convolution" type
DENSE_LAYERS = _LINEAR


def activation_of(layer, bypassed=False):
    """`"linear"`, `"exact"`, `"smooth"` or the name of a non-rectifier activation fused in (or of) `layer`."""
    if bypassed:  # the output layer's softmax, bypassed by `models.patched(logits=True)`
        return "linear"
    fn = patching.original(layer, "activation")
    if fn in _LINEAR_ACTIVATIONS:
        return "linear"
    if fn in EXACT_RECTIFIERS:
        return "exact"
    if fn in SMOOTH_RECTIFIERS:
        return "smooth"
    return getattr(fn, "__name__", repr(fn))


GATE_ACTIVATIONS = ("sigmoid", "hard_sigmoid")  # what makes a layer's output a gate (squeeze-and-excitation)


def is_gate(layer):
    """Whether `layer` ends in a sigmoid: its output, multiplied with a signal, gates it."""
    return activation_of(layer) in GATE_ACTIVATIONS


def kind_of(layer, bypassed=False):
    """`(kind, reason)`: how relevance crosses `layer` (see the module docstring); `reason` says a refusal's why."""
    if isinstance(layer, _TRANSPOSED):
        return "refused", "a transposed convolution (no rule here)"
    if isinstance(layer, _LINEAR + _CONV):
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            return "refused", "channels_first data format"
        return _with_activation("linear", layer, bypassed)
    if isinstance(layer, _L.BatchNormalization):
        axis = layer.axis if isinstance(layer.axis, int) else (layer.axis[0] if len(layer.axis) == 1 else None)
        rank = len(layer.input.shape) if hasattr(layer, "input") and _has_input(layer) else None
        if axis is None or not (axis == -1 or (rank is not None and axis == rank - 1)):
            return "refused", f"BatchNormalization over axis {layer.axis} (only the last axis is merged)"
        return "batch_norm", ""
    if isinstance(layer, _SUM):
        return "sum", ""
    if isinstance(layer, _AVG_POOL):
        return "avg_pool", ""
    if isinstance(layer, _L.UpSampling2D):
        return ("route", "") if layer.interpolation == "nearest" else ("avg_pool", "")
    if isinstance(layer, _MAX_POOL):
        return "max_pool", ""
    if isinstance(layer, _ROUTE):
        return "route", ""
    if isinstance(layer, _PREPROCESS):
        return "pass", ""
    if isinstance(layer, _RECTIFIER_LAYERS):
        return "pass", ""
    if isinstance(layer, _L.ELU):
        return "smooth", ""
    if isinstance(layer, _L.Activation):
        return _with_activation("pass", layer, bypassed)
    if isinstance(layer, _L.Multiply):
        return "gate", ""
    if isinstance(layer, _L.Softmax) and bypassed:
        return "route", ""
    if type(layer).__module__.startswith("keras."):
        what = "layer" if isinstance(layer, _L.Layer) else "op"
        return "refused", f"a {type(layer).__name__} {what} (no LRP rule here)"
    return "unknown", ""


def rectifies(layer):
    """Whether `layer`'s output is >= 0 whatever its input: a ReLU (ReLU6, clipped), fused or a layer of its own."""
    if isinstance(layer, _L.ReLU):
        return float(layer.negative_slope) == 0.0 and float(layer.threshold) >= 0.0
    return patching.original(layer, "activation") in (_A.relu, _A.relu6)


def output_nonnegative(layer, kind, inputs_nonnegative):
    """Whether a call's output is >= 0: a rectifier's, or a route, pooling or sum of inputs that all are."""
    keeps_sign = kind in ("route", "max_pool", "avg_pool") or isinstance(layer, SUMS)
    return rectifies(layer) or keeps_sign and inputs_nonnegative


def merges_batch_norm(kind, layer, reader_kinds):
    """Whether the BatchNormalization that reads a call's output is merged into it: a linear layer with no
    activation of its own, read by that BatchNormalization alone (`reader_kinds`: the kinds of its readers)."""
    return kind == "linear" and activation_of(layer) == "linear" and list(reader_kinds) == ["batch_norm"]


def read_by_rectifiers(readers):
    """Whether every reader `(layer, kind)` of an output is a rectifier of its own (there being one at least)."""
    return bool(readers) and all(rectifies(layer) and kind == "pass" for layer, kind in readers)


def _has_input(layer):
    try:
        layer.input
        return True
    except (AttributeError, ValueError):
        return False


def _with_activation(kind, layer, bypassed):
    activation = activation_of(layer, bypassed)
    if activation in ("linear", "exact"):
        return kind, ""
    if activation == "smooth":
        return ("smooth" if kind == "pass" else kind), "smooth"
    return "refused", f"its activation {activation!r} is not a rectifier"


def _f32(t):
    return tf.cast(t, tf.float32)


def passed_on(tensor, depth=8):
    """`tensor`, then the tensor it is a cast or an identity of, in turn (what Keras puts between two layers:
    autocasting, a nested model's inputs), at most `depth` of them."""
    for _ in range(depth):
        yield tensor
        op = getattr(tensor, "op", None)
        if op is None or op.type not in ("Cast", "Identity") or not op.inputs:
            return
        tensor = op.inputs[0]


def batch_norm_affine(bn):
    """`(scale, shift)` float32 `[C]` of an inference-mode BatchNormalization: `y = scale * x + shift`."""
    inv = tf.math.rsqrt(_f32(bn.moving_variance) + bn.epsilon)
    scale = inv * _f32(bn.gamma) if bn.scale else inv
    shift = (_f32(bn.beta) if bn.center else 0.0) - _f32(bn.moving_mean) * scale
    return scale, shift


def linear_parts(layer, bn=None):
    """The `Linear` stages of a linear layer, first to last, with `bn` (a BatchNormalization) merged into the last.

    One stage for Dense and convolutions, two for a separable convolution
    (depthwise, then pointwise). Merging BatchNormalization `y = a z + c` into
    `z = x W + b` gives `W' = W a` (per output channel) and `b' = a b + c`: the
    same function, one linear layer (zennit's `MergeBatchNorm`).
    """
    if isinstance(layer, (_L.SeparableConv1D, _L.SeparableConv2D)):
        depthwise = Linear(lambda x, k: keras.ops.depthwise_conv(
            x, k, strides=layer.strides, padding=layer.padding, dilation_rate=layer.dilation_rate,
            data_format=layer.data_format), _f32(layer.depthwise_kernel), None)
        ones = (1,) * layer.rank
        pointwise = Linear(lambda x, k: keras.ops.conv(x, k, strides=ones, padding="valid",
                                                       data_format=layer.data_format),
                           _f32(layer.pointwise_kernel), _bias(layer))
        return [depthwise, _merge(pointwise, bn, depthwise=False)]
    if isinstance(layer, (_L.DepthwiseConv1D, _L.DepthwiseConv2D)):
        part = Linear(lambda x, k: keras.ops.depthwise_conv(
            x, k, strides=layer.strides, padding=layer.padding, dilation_rate=layer.dilation_rate,
            data_format=layer.data_format), _f32(layer.kernel), _bias(layer))
        return [_merge(part, bn, depthwise=True)]
    if isinstance(layer, _L.Dense):
        return [_merge(Linear(keras.ops.matmul, _f32(layer.kernel), _bias(layer), -1), bn, depthwise=False)]
    channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
    axis = (-1 if channels_last else 1) if getattr(layer, "groups", 1) == 1 else None
    return [_merge(Linear(layer.convolution_op, _f32(layer.kernel), _bias(layer), axis), bn, depthwise=False)]


def _bias(layer):
    return _f32(layer.bias) if getattr(layer, "use_bias", True) and getattr(layer, "bias", None) is not None else None


def _merge(linear, bn, depthwise):
    if bn is None:
        return linear
    scale, shift = batch_norm_affine(bn)
    kernel = linear.kernel
    if depthwise:  # [..., C, multiplier]: output channel c * multiplier + m
        shape = tf.shape(kernel)
        kernel = kernel * tf.reshape(scale, tf.stack([shape[-2], shape[-1]]))
    else:
        kernel = kernel * scale
    bias = shift if linear.bias is None else linear.bias * scale + shift
    return Linear(linear.apply, kernel, bias, linear.channel_axis)
