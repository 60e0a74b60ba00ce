"""DeepLIFT's RevealCancel rule, as overrides of `kerasviz.models.run` (`deeplift(rule="reveal_cancel")`).

The model runs on the references, forward only, then on the inputs under
the tape, as for the Rescale rule (`kerasviz.relevance.rescale.ReferenceRun`:
each overridden layer records its inputs and output in the first run and
reads them in the second). RevealCancel treats the
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
KERNEL_LAYERS = tuple(t for t in (getattr(_L, n, None) for n in (
    "Dense", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
    "SeparableConv2D")) if t is not None)
# Parameter-free linear layers with non-negative coefficients: their own call maps spreads.
CARRYING = tuple(t for t in (getattr(_L, n, None) for n in (
    "Add", "Average", "Concatenate", "Flatten", "Reshape", "Permute", "RepeatVector", "Identity", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D",
    "UpSampling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "GaussianDropout", "GaussianNoise", "AlphaDropout", "ActivityRegularization"))
    if t is not None)
_UNSPLIT = tuple(t for t in (getattr(_L, n, None) for n in (
    "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "EinsumDense")) if t is not None)
RELATIVE_EMPTY = 1e-5  # a side smaller than this share of the spread (float32 rounding of sums) is empty


def unsplit_layers(layers):
    """`[(path, what)]` of `layers` (`models.iter_layers` pairs) whose terms RevealCancel cannot split."""
    found = []
    for path, layer in layers:
        if isinstance(layer, _UNSPLIT):
            found.append((path, type(layer).__name__))
        elif isinstance(layer, _L.BatchNormalization) and not over_last_axis(layer):
            found.append((path, f"BatchNormalization over axis {layer.axis}"))
    return found


def over_last_axis(bn):
    axis = bn.axis if isinstance(bn.axis, int) else (bn.axis[0] if len(bn.axis) == 1 else None)
    if axis == -1:
        return True
    try:
        return axis == len(bn.input.shape) - 1
    except (AttributeError, ValueError):
        return False


def _f32(t):
    return tf.cast(t, tf.float32)


class Spreads:
    """RevealCancel's overrides for the two runs of a `kerasviz.relevance.rescale.ReferenceRun` (see the module).

    In the references' run every layer these overrides touch records its
    inputs and output; in the inputs' run each linear layer computes the
    spread of its output from its inputs' (a spread it recorded, else
    `|x - x0|` against its recorded input), and each elementwise
    nonlinearity returns RevealCancel's multipliers as its gradients. Max
    pooling and products take the Rescale rule (`rescale.add`).

    Args:
        model: the model (its layers, nested models' included).
        run: the `rescale.ReferenceRun` of the trace.
    """

    def __init__(self, model, run):
        self.layers = [(p, l) for p, l in models.iter_layers(model) if not isinstance(l, keras.Model)]
        self.run = run
        self.spreads = {}  # the ref of a linear layer's output -> its spread, float32 [n, ...]
        self.pending = {}  # id(layer) -> the spread of its pre-activation, read by its fused activation

    def add_overrides(self, frame):
        """`models.run`'s `overrides` for both runs: the nonlinearities' rules, spreads through linear layers."""
        for _, layer in self.layers:
            rescale.add(frame, layer, self.run, nonlinearity=self._nonlinearity(layer))
            carry = self._carry(layer)
            if carry is not None:
                frame.add(layer, "call", carry)

    def spread_of(self, tensor, reference):
        """The spread of `tensor`: recorded by the linear layer that made it, else `|x - x0|` against `reference`."""
        for t in canonizers.passed_on(tensor):
            found = self.spreads.get(t.ref())
            if found is not None:
                return found
        return tf.abs(_f32(tensor) - _f32(reference))

    def _nonlinearity(self, layer):
        def rule(shared):
            def apply(call, tensors, references, reference_output):
                (z,), (z0,) = tensors, references
                spread = self.pending.pop(id(layer), None)
                if spread is None:
                    spread = self.spread_of(z, z0)
                return revealed(call, shared)(z, spread, z0, reference_output)

            return apply

        return rule

    def _carry(self, layer):
        """The override of `layer`'s call that records the spread of its output, or None."""
        if isinstance(layer, KERNEL_LAYERS):
            return self._kernel_layer(layer)
        if isinstance(layer, _L.BatchNormalization) and over_last_axis(layer):
            def scaled(call, spreads, *args, **kwargs):
                return spreads * tf.abs(canonizers.batch_norm_affine(layer)[0])

            return self._mapped(layer, scaled)
        if isinstance(layer, _L.Subtract):
            return self._mapped(layer, lambda call, spreads, *args, **kwargs: spreads[0] + spreads[1])
        if isinstance(layer, CARRYING):
            return self._mapped(layer, lambda call, spreads, *args, **kwargs: call(spreads, *args, **kwargs))
        return None

    def _mapped(self, layer, to_spread):
        """An override recording `to_spread(call, spreads of the inputs, *rest)` as its output's spread."""
        key = (id(layer), "spread")

        def override(call, *args, **kwargs):
            inputs = args[0] if args else kwargs.pop("inputs")
            rest, flat = args[1:], tf.nest.flatten(inputs)

            def forward(*tensors):
                return call(tf.nest.pack_sequence_as(inputs, list(tensors)), *rest, **kwargs)

            def rule(forward, tensors, references, reference_output):
                output = forward(*tensors)
                spreads = [self.spread_of(t, r) if tf.is_tensor(t) else t for t, r in zip(tensors, references)]
                self.spreads[output.ref()] = to_spread(call, tf.nest.pack_sequence_as(inputs, spreads), *rest,
                                                       **kwargs)
                return output

            return self.run.through(key, forward, rule, *flat)

        return override

    def _kernel_layer(self, layer):
        key = (id(layer), "spread")
        activation = patching.original(layer, "activation")
        fused = activation in rescale.ELEMENTWISE and activation is not keras.activations.linear

        def override(call, *args, **kwargs):
            x = args[0] if args else kwargs.pop("inputs")
            rest = args[1:]

            def rule(forward, tensors, references, reference_output):
                spread = self.spread_of(tensors[0], references[0])
                for part in canonizers.linear_parts(layer):
                    spread = part.apply(spread, tf.abs(part.kernel))
                if fused:
                    self.pending[id(layer)] = spread
                output = forward(*tensors)
                self.pending.pop(id(layer), None)
                if not fused:
                    self.spreads[output.ref()] = spread
                return output

            return self.run.through(key, lambda t: call(t, *rest, **kwargs), rule, x)

        return override


def _kernel(forward, slope):
    """RevealCancel's backward of an elementwise `forward`: the gradients of `z` and of its spread, stacked."""
    def multipliers(dy, z, y, z0, y0, spread):
        zx, yx, z0f, y0f = _f32(z), _f32(y), _f32(z0), _f32(y0)
        dz = zx - z0f
        up, down = (dz + spread) / 2, (dz - spread) / 2

        def f(t):
            return _f32(forward(tf.cast(t, z.dtype)))

        at_up, at_down = f(z0f + up), f(z0f + down)
        rise = (at_up - y0f + yx - at_down) / 2
        fall = (at_down - y0f + yx - at_up) / 2
        derivative = rescale.derivative(forward, z) if slope is None else slope(zx)
        # a side within float32 rounding of the spread carries nothing (a ratio of two roundings would be
        # unbounded): the other side takes the whole difference, so that the two sides still sum to `y - y0`
        # exactly (f re-evaluated at `z0 + dz` is not `y` to the last bit)
        empty = rescale.EPSILON + RELATIVE_EMPTY * spread
        up_empty, down_empty = tf.abs(up) <= empty, tf.abs(down) <= empty
        rise = tf.where(down_empty, yx - y0f, rise)
        fall = tf.where(up_empty, yx - y0f, fall)
        m_up = tf.where(up_empty, derivative, tf.math.divide_no_nan(rise, up))
        m_down = tf.where(down_empty, derivative, tf.math.divide_no_nan(fall, down))
        # an output that does not change takes no multiplier (the linear rule's indicators of `w dy > 0` and
        # `w dy < 0` are both 0), whatever its sides
        upstream = tf.where(yx == y0f, tf.zeros_like(yx), _f32(dy))
        # one output: XLA then computes both in one loop (two outputs took two loops that each computed the
        # multipliers, twice the time)
        return tf.stack([upstream * (m_up + m_down) / 2, upstream * (m_up - m_down) / 2])

    return multipliers


def revealed(call, shared=None):
    """`call` (elementwise) of `(z, spread, z0, y0)`, with RevealCancel's multipliers as the gradients of `z`
    and `spread`.

    `z0` and `y0 = call(z0)` are the reference's values (no gradient).
    `shared`, the nonlinearity as a function of its input alone
    (`rescale.kernel_of`: a `rescale.Rectifier` has its derivative in closed
    form), or None. The derivative is the multiplier of a side whose
    difference is within `rescale.EPSILON` plus `RELATIVE_EMPTY` of the
    spread of 0 (a side that carries no difference but rounding, whatever
    its multiplier).
    """
    multipliers = rescale.kernel_of(_kernel, call, shared)

    def apply(z, spread, z0, y0):
        @tf.custom_gradient
        def nonlinearity(z, spread):
            with tf.name_scope(rescale.RESCALE_SCOPE):
                y = call(z)

            def grad(dy, variables=None):
                with tf.name_scope(rescale.RESCALE_SCOPE):
                    both = multipliers(dy, z, y, z0, y0, spread)
                    to_difference, to_spread = tf.cast(both[0], dy.dtype), both[1]
                if variables:  # PReLU's slopes: not explained, no gradient
                    return (to_difference, to_spread), [tf.zeros_like(v) for v in variables]
                return to_difference, to_spread

            return y, grad

        return nonlinearity(z, spread)

    return apply
