"""DeepLIFT's RevealCancel rule, as overrides of `kerasviz.models.patched` (`deeplift(rule="reveal_cancel")`).

The model runs on a batch laid out `[inputs; references]`, as for the
Rescale rule (`kerasviz.relevance.rescale`). RevealCancel treats the
positive and the negative contributions to a nonlinearity's input apart
(Shrikumar et al., 2017, "Learning Important Features Through Propagating
Activation Differences", sections 3.5.1 and 3.5.3). For `y = f(z)` with
`z = sum_i w_i x_i + b`, the terms `w_i dx_i` of its difference split by sign
into `dz+` and `dz-` (linear rule), and

    dy+ = 1/2 (f(z0 + dz+) - f(z0)) + 1/2 (f(z0 + dz- + dz+) - f(z0 + dz-))
    dy- = 1/2 (f(z0 + dz-) - f(z0)) + 1/2 (f(z0 + dz+ + dz-) - f(z0 + dz+))

with the multipliers `m+ = dy+ / dz+` and `m- = dy- / dz-`; through the
linear layer each input takes the multiplier of the side its term is on.

Each tensor a linear layer computes carries its *spread* `S`, the sum of
the absolute values of its terms, so `dz+ = (dz + S) / 2` and
`dz- = (dz - S) / 2`. The spread of an input of a linear layer that
follows a nonlinearity (or of the images) is `|dx|`; a linear layer maps
spreads by its weights' absolute values, without bias: `S(Wx) = |W| S(x)`.
BatchNormalization scales them by `|gamma / sigma|`, so a convolution
followed by BatchNormalization is split as the merged layer (a negative
scale flips the sides, as it should); sums, averages, concatenations,
padding and reshaping carry them (the terms of each branch stay terms).
Backward, the multipliers `m+`, `m-` of `z` become the gradients
`(m+ + m-) / 2` of `dz` and `(m+ - m-) / 2` of `S`; `|W|` carries the second
back, and `|dx|` turns it into `sign(dx)` times it (an output that does not
change, `dy = 0`, takes the multiplier 0: no term of it is on either side). Every step is
homogeneous in the differences, so the contributions `dx * m` sum to
`f(x) - f(x0)` exactly, as the Rescale rule's do. Max pooling and products
of two tensors keep the Rescale rule's multipliers; a linear layer whose
terms cannot be split here (a transposed convolution, `EinsumDense`,
BatchNormalization over another axis) is refused by name
(`unsplit_layers`).
"""

import keras
import tensorflow as tf

from kerasviz import models, patching
from kerasviz.relevance import canonizers, rescale

_L = keras.layers
_KERNEL_LAYERS = tuple(t for t in (getattr(_L, n, None) for n in (
    "Dense", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
    "SeparableConv2D")) if t is not None)
# Parameter-free linear layers with non-negative coefficients: their own call maps spreads.
_CARRYING = tuple(t for t in (getattr(_L, n, None) for n in (
    "Add", "Average", "Concatenate", "Flatten", "Reshape", "Permute", "RepeatVector", "Identity", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D",
    "UpSampling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "GaussianDropout", "GaussianNoise", "AlphaDropout", "ActivityRegularization"))
    if t is not None)
_UNSPLIT = tuple(t for t in (getattr(_L, n, None) for n in (
    "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "EinsumDense")) if t is not None)
_THROUGH = ("Cast", "Identity")
RELATIVE_EMPTY = 1e-5  # a side smaller than this share of the spread (float32 rounding of sums) is empty


def unsplit_layers(layers):
    """`[(path, what)]` of `layers` (`models.iter_layers` pairs) whose terms RevealCancel cannot split."""
    found = []
    for path, layer in layers:
        if isinstance(layer, _UNSPLIT):
            found.append((path, type(layer).__name__))
        elif isinstance(layer, _L.BatchNormalization) and not _last_axis(layer):
            found.append((path, f"BatchNormalization over axis {layer.axis}"))
    return found


def _last_axis(bn):
    axis = bn.axis if isinstance(bn.axis, int) else (bn.axis[0] if len(bn.axis) == 1 else None)
    if axis == -1:
        return True
    try:
        return axis == len(bn.input.shape) - 1
    except (AttributeError, ValueError):
        return False


def _f32(t):
    return tf.cast(t, tf.float32)


def difference(t):
    """`x - x0` of a `[inputs; references]` batch, float32."""
    x, x0 = rescale.halves(t)
    return _f32(x) - _f32(x0)


class Spreads:
    """The spreads of one trace (see the module), and the overrides that compute them and use them."""

    def __init__(self, model):
        self.layers = [(p, l) for p, l in models.iter_layers(model) if not isinstance(l, keras.Model)]
        self.spreads = {}  # the ref of a linear layer's output -> its spread, float32 [n, ...]
        self.pending = {}  # id(layer) -> the spread of its pre-activation, read by its fused activation

    def add_overrides(self, frame):
        """`models.patched`'s `overrides`: RevealCancel's nonlinearities, spreads through linear layers."""
        for _, layer in self.layers:
            rescale.add(frame, layer, None, nonlinearity=self._nonlinearity(layer))
            carry = self._carry(layer)
            if carry is not None:
                frame.add(layer, "call", carry)

    def spread_of(self, tensor):
        """The spread of `tensor`: recorded by the linear layer that made it, else `|x - x0|`."""
        t = tensor
        for _ in range(8):
            found = self.spreads.get(t.ref())
            if found is not None:
                return found
            op = getattr(t, "op", None)
            if op is None or op.type not in _THROUGH or not op.inputs:
                break
            t = op.inputs[0]
        return tf.abs(difference(tensor))

    def _nonlinearity(self, layer):
        def rule(forward, slope):
            def apply(z, *args, **kwargs):
                spread = self.pending.pop(id(layer), None)
                if spread is None:
                    spread = self.spread_of(z)
                return revealed(lambda x: forward(x, *args, **kwargs), slope)(z, spread)

            return apply

        return rule

    def _carry(self, layer):
        """The override of `layer`'s call that records the spread of its output, or None."""
        if isinstance(layer, _KERNEL_LAYERS):
            return self._kernel_layer(layer)
        if isinstance(layer, _L.BatchNormalization) and _last_axis(layer):
            def scaled(spread):
                return spread * tf.abs(canonizers.batch_norm_affine(layer)[0])

            return self._mapped(lambda call, spreads, *args, **kwargs: scaled(spreads))
        if isinstance(layer, _L.Subtract):
            return self._mapped(lambda call, spreads, *args, **kwargs: spreads[0] + spreads[1])
        if isinstance(layer, _CARRYING):
            return self._mapped(lambda call, spreads, *args, **kwargs: call(spreads, *args, **kwargs))
        return None

    def _mapped(self, to_spread):
        """An override recording `to_spread(call, spreads of the inputs, *rest)` as its output's spread."""
        def override(call, *args, **kwargs):
            output = call(*args, **kwargs)
            inputs = args[0] if args else kwargs.pop("inputs")
            spreads = tf.nest.map_structure(lambda t: self.spread_of(t) if tf.is_tensor(t) else t, inputs)
            self.spreads[output.ref()] = to_spread(call, spreads, *args[1:], **kwargs)
            return output

        return override

    def _kernel_layer(self, layer):
        def override(call, *args, **kwargs):
            spread = self.spread_of(args[0] if args else kwargs["inputs"])
            for part in canonizers.linear_parts(layer):
                spread = part.apply(spread, tf.abs(part.kernel))
            activation = patching.original(layer, "activation")
            fused = activation in rescale.ELEMENTWISE and activation is not keras.activations.linear
            if fused:
                self.pending[id(layer)] = spread
            output = call(*args, **kwargs)
            self.pending.pop(id(layer), None)
            if not fused:
                self.spreads[output.ref()] = spread
            return output

        return override


def revealed(forward, slope=None):
    """`forward` (elementwise) of `(z, spread)`, with RevealCancel's multipliers as the gradients of `z` and `spread`.

    `slope(z)`, the derivative in closed form where known; it is the
    multiplier of a side whose difference is within `rescale.EPSILON` plus
    `RELATIVE_EMPTY` of the spread of 0 (a side that carries no difference
    but rounding, whatever its multiplier).
    """
    def apply(z, spread):
        @tf.custom_gradient
        def nonlinearity(z, spread):
            with tf.name_scope(rescale.RESCALE_SCOPE):
                y = forward(z)

            def grad(dy, variables=None):
                with tf.name_scope(rescale.RESCALE_SCOPE):
                    zx, z0 = (_f32(h) for h in rescale.halves(z))
                    yx, y0 = (_f32(h) for h in rescale.halves(y))
                    dz = zx - z0
                    up, down = (dz + spread) / 2, (dz - spread) / 2

                    def f(t):
                        return _f32(forward(tf.cast(t, z.dtype)))

                    at_up, at_down = f(z0 + up), f(z0 + down)
                    rise = (at_up - y0 + yx - at_down) / 2
                    fall = (at_down - y0 + yx - at_up) / 2
                    derivative = rescale.derivative(forward, rescale.halves(z)[0]) if slope is None else slope(zx)
                    # a side within float32 rounding of the spread carries nothing (a ratio of two roundings
                    # would be unbounded): the other side takes the whole difference, so that the two sides
                    # still sum to `y - y0` exactly (f re-evaluated at `z0 + dz` is not `y` to the last bit)
                    empty = rescale.EPSILON + RELATIVE_EMPTY * spread
                    up_empty, down_empty = tf.abs(up) <= empty, tf.abs(down) <= empty
                    rise = tf.where(down_empty, yx - y0, rise)
                    fall = tf.where(up_empty, yx - y0, fall)
                    m_up = tf.where(up_empty, derivative, tf.math.divide_no_nan(rise, up))
                    m_down = tf.where(down_empty, derivative, tf.math.divide_no_nan(fall, down))
                    # an output that does not change takes no multiplier (the linear rule's indicators of
                    # `w dy > 0` and `w dy < 0` are both 0), whatever its sides
                    upstream = tf.where(yx == y0, tf.zeros_like(yx), _f32(rescale.halves(dy)[0]))
                    to_difference = upstream * (m_up + m_down) / 2
                    to_spread = upstream * (m_up - m_down) / 2
                    dz_batch = tf.cast(tf.concat([to_difference, tf.zeros_like(to_difference)], axis=0), dy.dtype)
                if variables:  # PReLU's slopes: not explained, no gradient
                    return (dz_batch, to_spread), [tf.zeros_like(v) for v in variables]
                return dz_batch, to_spread

            return y, grad

        return nonlinearity(z, spread)

    return apply
