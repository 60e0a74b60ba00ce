"""LRP rules: how one linear layer hands the relevance of its outputs down to its inputs.

A rule is a small object (as in zennit, Anders et al. 2021, "Software for
Dataset-wide XAI") with one method, `relevance(x, linear, r, z=None)`: the
layer's input `x`, the layer as a `Linear` (its bias-free linear map, kernel
and bias), the relevance `r` of its outputs, and optionally the outputs `z`
it computed before its activation; it returns the relevance of the inputs.
Each is written with the modified-gradient trick: a forward pass with the
rule's weights gives the denominators `z`, `s = r / z` is pulled back through
the same weights with one vector-Jacobian product `c`, and `R_in = x * c`.

The formulas follow Montavon et al., 2019, "Layer-Wise Relevance
Propagation: An Overview" (section 10.2), with zennit's conventions: the
stabilizer adds `epsilon * sign(z)` (with `sign(0) = 1`), and a denominator that
is exactly 0 hands down 0. All arithmetic is float32.
"""

import typing

import tensorflow as tf

from kerasviz import compiled


class Linear(typing.NamedTuple):
    """A linear layer as the rules see it.

    Attributes:
        apply: `apply(x, kernel) -> z`, the layer's linear map without bias,
            for any kernel of the layer's kernel's shape.
        kernel: float32 tensor (BatchNormalization merged in, where a canonizer did).
        bias: float32 `[outputs]` tensor, or None.
        channel_axis: the axis of `x` that the kernel's next-to-last axis
            sums over (a dense layer's inputs, an ungrouped convolution's
            channels), so that inputs and kernels stacked along it give the
            sum of their terms in one pass; None where they do not (a
            depthwise or grouped convolution).
    """

    apply: typing.Callable
    kernel: tf.Tensor
    bias: typing.Optional[tf.Tensor]
    channel_axis: typing.Optional[int] = None


@compiled.elementwise
def _shares(r, z, bias, epsilon):
    """`r / (z + bias + epsilon sign(z + bias))`, `sign(0) = 1`, and 0 where that is 0."""
    z = z + bias
    return tf.math.divide_no_nan(r, z + tf.where(z >= 0, epsilon, -epsilon))


@compiled.elementwise
def _masked_shares(r, z, bias, epsilon, positive_of):
    return tf.where(positive_of > 0, _shares.python_function(r, z, bias, epsilon), tf.zeros_like(r))


def shares(r, z, bias=None, epsilon=0.0, positive_of=None):
    """`r / (z + bias)` stabilized by `epsilon sign(z + bias)`, 0 where that is 0 (and where `positive_of <= 0`).

    With a stabilizer or a mask it is one XLA kernel
    (`kerasviz.compiled.elementwise`): their four to six elementwise ops
    over the layer's outputs would each read and write them
    (EfficientNet-Lite3's gamma preset: 0.48 -> 0.58 of its passes' limit).
    """
    if not epsilon and positive_of is None:  # one op (two with a bias): a kernel of its own would only add its launch
        return tf.math.divide_no_nan(r, _add_bias(z, bias))
    bias = tf.constant(0.0) if bias is None else bias
    epsilon = tf.constant(float(epsilon))
    if positive_of is None:
        return _shares(r, z, bias, epsilon)
    return _masked_shares(r, z, bias, epsilon, positive_of)


def pull_back(apply, x, kernel, to_s):
    """`c = J^T s` at `x` for `z = apply(x, kernel)` and `s = to_s(z)`: one forward, one backward."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = apply(x, kernel)
    return tape.gradient(z, x, output_gradients=to_s(z))


def _vjp(apply, x, kernel, s):
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = apply(x, kernel)
    return tape.gradient(z, x, output_gradients=s)


def _positive(t):
    return tf.nn.relu(t)


def _negative(t):
    return -tf.nn.relu(-t)


def _add_bias(z, bias):
    return z if bias is None else z + bias


class Rule:
    """The base of the rules: `relevance(x, linear, r, z=None, bounds=None, nonnegative=False) -> R_in`.

    `z` is the layer's own output before its activation where known, `bounds`
    the `(low, high)` of `x` (for the z^B rule), and `nonnegative` says that
    `x >= 0` (a ReLU's output): the rules that split inputs by sign then skip
    the negative part, which is 0 (half the work of z+, gamma, alpha-beta).
    """

    name = "rule"
    needs_bounds = False  # the z^B rule needs the input's lowest and highest values
    # The work the rule adds to a plain gradient at its layer, in forward+backward passes of the layer (a
    # forward alone is half of one): the modified forwards and backwards the rule cannot do without, on
    # non-negative inputs (a ReLU's output) into a layer a ReLU reads; `passes_at` for the others.
    # `kerasviz.relevance.lrp.rule_passes` weighs them by the layers' multiply-adds for
    # `kerasviz.registry.Cost.rule_passes`.
    extra_passes = 0.0

    def passes_at(self, nonnegative, rectified):
        """The work the rule adds at a layer (as `extra_passes`) whose inputs are (not) `nonnegative` and whose
        output only a ReLU reads (`rectified`): inputs of either sign and both output signs cost more."""
        return self.extra_passes

    def relevance(self, x, linear, r, z=None, bounds=None, nonnegative=False):
        raise NotImplementedError

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted((k, repr(v)) for k, v in vars(self).items()))))


def _check_number(value, argname, minimum=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
        raise ValueError(f"Received an invalid value for `{argname}`: {value!r}. Expected a number >= {minimum}.")
    return float(value)


class Epsilon(Rule):
    """LRP-epsilon (LRP-0 with `epsilon=0`): `R_j = sum_k x_j w_jk / (z_k + eps sign z_k) R_k`.

    `z_k = sum_j x_j w_jk + b_k` includes the bias, so the bias absorbs its
    share `b_k / z_k` of `R_k` (Bach et al., 2015, "On Pixel-Wise Explanations
    for Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation",
    eq. 58; Montavon et al., 2019, eq. 5). With `epsilon=0` and no biases it is
    exactly Gradient x Input on a ReLU network.

    Args:
        epsilon: the stabilizer (>= 0); larger values absorb weak or
            contradictory relevance and give sparser maps.
    """

    name = "epsilon"

    def __init__(self, epsilon=1e-6):
        self.epsilon = _check_number(epsilon, "epsilon")

    def relevance(self, x, linear, r, z=None, bounds=None, nonnegative=False):
        def to_s(computed):  # the layer's own pre-activation when given (the recomputation is then pruned)
            if z is None:
                return shares(r, computed, linear.bias, self.epsilon)
            return shares(r, tf.cast(z, tf.float32), epsilon=self.epsilon)

        return x * pull_back(linear.apply, x, linear.kernel, to_s)


def ZeroRule():
    """LRP-0 (Bach et al., 2015): `Epsilon(0)`; a denominator of exactly 0 hands down 0."""
    return Epsilon(0.0)


class Gamma(Rule):
    """LRP-gamma: contributions of the output's sign favoured (Montavon et al., 2019, eq. 4; Andeol et al., 2021).

    On non-negative inputs (ReLU activations) and a positive output, the rule
    of the overview: `R_j = sum_k x_j (w_jk + gamma w_jk+) / z_k R_k` with
    `z_k = sum_j x_j (w_jk + gamma w_jk+) + b_k + gamma b_k+`. Generalized to
    inputs of any sign as zennit does ("Learning Domain Invariant
    Representations by Joint Wasserstein Distance Minimization", Andeol et
    al. 2021): where the layer's output is positive, positive inputs see
    `w + gamma w+` and negative ones `w + gamma w-`; where it is negative, the
    other way round (the bias, `b + gamma b+` or `b + gamma b-`, counts once).
    The denominator then moves away from 0 with gamma, never towards it: the
    rule of the middle layers of a ConvNet, also after a linear residual sum.

    Args:
        gamma: how much the contributions of the output's sign are favoured
            (>= 0; 0 is LRP-epsilon).
        epsilon: the stabilizer of the denominators.
    """

    name = "gamma"
    # The forward with `w + gamma w+`: the one branch of a layer a ReLU reads, on inputs >= 0 (`passes_at`)
    extra_passes = 0.5
    rectified = False  # set on a copy for a layer with a fused ReLU: no relevance where its output is negative

    def __init__(self, gamma=0.25, epsilon=1e-6):
        self.gamma = _check_number(gamma, "gamma")
        self.epsilon = _check_number(epsilon, "epsilon")

    def passes_at(self, nonnegative, rectified):
        """The forward of `|x| |w|` and a second product (both output signs, or inputs of either sign)."""
        return 0.5 if nonnegative and (rectified or self.rectified) else 1.0

    def for_rectified(self):
        """This rule for a layer whose fused ReLU zeroes its negative outputs (and so their relevance)."""
        copy = Gamma(self.gamma, self.epsilon)
        copy.rectified = True
        return copy

    def relevance(self, x, linear, r, z=None, bounds=None, nonnegative=False):
        kernel, bias, g = linear.kernel, linear.bias, self.gamma
        if nonnegative and self.rectified:  # the branch a ReLU reads, on x >= 0: one forward with w + gamma w+
            up, b = kernel + g * _positive(kernel), None if bias is None else bias + g * _positive(bias)
            if z is None:
                z = _add_bias(linear.apply(x, kernel), bias)
            return x * pull_back(linear.apply, x, up, lambda total: shares(r, total, b, self.epsilon,
                                                                           tf.cast(z, tf.float32)))
        # In general the two sums of products by sign, P and N, come from the layer's bias-free output
        # z' = P + N and the sum of magnitudes A = |x| |w| (P = (z' + A) / 2, N = (z' - A) / 2, off by about as
        # much rounding as z' itself), and the relevance is (1 + gamma/2) x J_w^T s + (gamma/2) |x| J_|w|^T
        # (s+ - s-), s+ on the positive outputs and s- on the negative ones: a forward and two products, the
        # branches and signs at once.
        z = _add_bias(linear.apply(x, kernel), bias) if z is None else tf.cast(z, tf.float32)
        magnitude = linear.apply(tf.abs(x), tf.abs(kernel))
        s, signed = tf.unstack(_gamma_shares(r, z, magnitude, tf.zeros(tf.shape(r)[-1:]) if bias is None else bias,
                                             tf.constant(g), tf.constant(self.epsilon), self.rectified))
        return _by_sign(x, _vjp(linear.apply, x, kernel, s), _vjp(linear.apply, tf.abs(x), tf.abs(kernel), signed))


@compiled.elementwise
def _gamma_shares(r, z, magnitude, bias, g, epsilon, rectified):
    """Gamma's `(1 + g/2) s` and `(g/2) (s+ - s-)`, stacked: `s = r / (z + g (P + b+))` where `z > 0`, else with
    N and b-."""
    positive = z > 0
    plain = z - bias
    own = tf.where(positive, (plain + magnitude) / 2 + tf.nn.relu(bias), (plain - magnitude) / 2 - tf.nn.relu(-bias))
    total = z + g * own
    s = tf.math.divide_no_nan(r, total + tf.where(total >= 0, epsilon, -epsilon))
    if rectified:  # a ReLU reads the output: no relevance where it is negative
        s = tf.where(positive, s, tf.zeros_like(s))
    return tf.stack([(1 + g / 2) * s, (g / 2) * tf.where(positive, s, -s)])  # stacked: one loop computes both


@compiled.elementwise
def _by_sign(x, by_kernel, by_magnitude):
    """`x J_w^T a + |x| J_|w|^T b` from the two products: the rules' relevance of inputs of either sign."""
    return x * by_kernel + tf.abs(x) * by_magnitude


class AlphaBeta(Rule):
    """LRP-alpha-beta: positive and negative contributions apart (Bach et al., 2015, eq. 60).

    `R_j = sum_k (alpha (x_j w_jk)+ / z_k+ - beta (x_j w_jk)- / z_k-) R_k` with
    `z_k+ = sum_j (x_j w_jk)+ + b_k+` and `z_k- = sum_j (x_j w_jk)- + b_k-`:
    the products' signs are taken with the inputs' (`(x w)+ = x+ w+ + x- w-`),
    so the rule holds for inputs of any sign. `alpha - beta = 1` keeps the
    relevance's total (up to the biases' share).

    Args:
        alpha: the weight of the positive contributions (`alpha1_beta0`:
            1; `alpha2_beta1`: 2).
        beta: the weight of the negative contributions, `alpha - 1`.
    """

    name = "alpha_beta"

    def __init__(self, alpha=1.0, beta=0.0):
        self.alpha = _check_number(alpha, "alpha", 1.0)
        self.beta = _check_number(beta, "beta")
        if abs(self.alpha - self.beta - 1.0) > 1e-9:
            raise ValueError(f"Received `alpha={alpha!r}, beta={beta!r}`: LRP-alpha-beta needs alpha - beta = 1 "
                             "(Bach et al., 2015), else relevance is created or destroyed at every layer.")

    def _part(self, x, linear, r, sign, with_bias=True, nonnegative=False):
        """The relevance of the positive (`sign=+1`) or negative contributions, normalized by their sum."""
        pos_w, neg_w = _positive(linear.kernel), _negative(linear.kernel)
        first, second = (pos_w, neg_w) if sign > 0 else (neg_w, pos_w)
        bias = None
        if with_bias and linear.bias is not None:
            bias = _positive(linear.bias) if sign > 0 else _negative(linear.bias)
        if nonnegative:
            return x * pull_back(linear.apply, x, first, lambda z: shares(r, z, bias))
        pos_x, neg_x = _positive(x), _negative(x)
        s = shares(r, linear.apply(pos_x, first) + linear.apply(neg_x, second), bias)
        return pos_x * _vjp(linear.apply, pos_x, first, s) + neg_x * _vjp(linear.apply, neg_x, second, s)

    @property
    def extra_passes(self):
        """The forward with `w+` (with beta, a backward through `w-` more: the negative sum is `z - P`)."""
        return 0.5 if not self.beta else 1.0

    def passes_at(self, nonnegative, rectified):
        """Inputs of either sign: the positive sum's two forwards (`x+ w+ + x- w-`, a sum of terms of one sign,
        never a difference) and two products for each part (four with beta), so every sum adds terms of one
        sign."""
        if nonnegative:
            return self.extra_passes
        return 1.5 if not self.beta else 2.5

    def relevance(self, x, linear, r, z=None, bounds=None, nonnegative=False):
        if not self.beta:
            return self.alpha * self._part(x, linear, r, +1, nonnegative=nonnegative)
        # Both parts from one modified forward: P = sum (x w)+ (with w+), and sum (x w)- = z' - P, z' the
        # layer's own bias-free output where given.
        kernel, bias = linear.kernel, linear.bias
        pos_w = _positive(kernel)
        neg_w = kernel - pos_w
        if z is not None and z.dtype == tf.float32:
            plain = z if bias is None else z - bias
        else:
            plain = linear.apply(x, kernel)
        pos_x, neg_x = (x, None) if nonnegative else (_positive(x), _negative(x))
        ups = linear.apply(x, pos_w) if nonnegative else linear.apply(pos_x, pos_w) + linear.apply(neg_x, neg_w)
        s_pos, s_neg = tf.unstack(_alpha_beta_shares(r, ups, plain, tf.zeros(tf.shape(r)[-1:]) if bias is None else
                                                     bias, tf.constant(self.alpha), tf.constant(self.beta)))
        # Four products for inputs of either sign, not two (`x J_w^T (s+ - s-) / 2 + |x| J_|w|^T (s+ + s-) / 2`):
        # each of these sums adds terms of one sign, the two-product form does not, and over EfficientNet-Lite3's
        # 50 layers it moved the map by 2.5e-3 of its largest value (7.7e-5 with another convolution backend)
        result = pos_x * (_vjp(linear.apply, pos_x, pos_w, s_pos) - _vjp(linear.apply, pos_x, neg_w, s_neg))
        if not nonnegative:
            result += neg_x * (_vjp(linear.apply, neg_x, neg_w, s_pos) - _vjp(linear.apply, neg_x, pos_w, s_neg))
        return result


@compiled.elementwise
def _alpha_beta_shares(r, ups, plain, bias, alpha, beta):
    """`alpha r / (P + b+)` and `beta r / (N + b-)` (0 where a denominator is 0), stacked (one loop for both)."""
    s_pos = tf.math.divide_no_nan(alpha * r, ups + tf.nn.relu(bias))
    s_neg = tf.math.divide_no_nan(beta * r, plain - ups - tf.nn.relu(-bias))
    return tf.stack([s_pos, s_neg])


class ZPlus(AlphaBeta):
    """LRP-z+: only the positive contributions, without the biases (Montavon et al., 2019, section 10.2).

    `R_j = sum_k (x_j w_jk)+ / sum_j (x_j w_jk)+ R_k`: alpha1-beta0 with the
    biases left out, so relevance is conserved exactly wherever a unit has a
    positive contribution (on ReLU inputs: the z+ rule of the overview,
    `x_j w_jk+`); a unit with none (a negative output of a linear layer, or
    one a bias alone drives) loses its relevance.
    """

    name = "z_plus"
    alpha, beta = 1.0, 0.0
    extra_passes = 0.5  # the forward with `w+`

    def __init__(self):
        pass

    def relevance(self, x, linear, r, z=None, bounds=None, nonnegative=False):
        return self._part(x, linear, r, +1, with_bias=False, nonnegative=nonnegative)


class ZBox(Rule):
    """The z^B rule for the input layer, whose values lie in a box `[low, high]` (Montavon et al., 2017, eq. 11).

    `R_i = sum_j (x_i w_ij - l_i w_ij+ - h_i w_ij-) / sum_i (x_i w_ij - l_i w_ij+ - h_i w_ij-) R_j`
    ("Explaining nonlinear classification decisions with deep Taylor
    decomposition", Pattern Recognition 65): every term is >= 0 for `l <= x
    <= h`, so the map is positive where the denominator is. The biases are
    left out.

    Args:
        low, high: the bounds of the layer's input, numbers or one per
            channel. None takes them from `lrp`'s `value_range`, mapped
            through the elementwise preprocessing layers (`Rescaling`,
            `Normalization`) that lie between the images and the layer.
        epsilon: the stabilizer of the denominators.
    """

    name = "z_box"
    needs_bounds = True
    extra_passes = 2.0  # the products of `low` with `w+` and of `high` with `w-`: forward and backward each

    def __init__(self, low=None, high=None, epsilon=1e-6):
        if (low is None) != (high is None):
            raise ValueError(f"Give both `low` and `high` of ZBox, or neither. Received low={low!r}, high={high!r}.")
        self.low, self.high = low, high
        self.epsilon = _check_number(epsilon, "epsilon")

    def relevance(self, x, linear, r, z=None, bounds=None, nonnegative=False):
        if self.low is not None:
            low = tf.broadcast_to(tf.constant(self.low, tf.float32), tf.shape(x))
            high = tf.broadcast_to(tf.constant(self.high, tf.float32), tf.shape(x))
        elif bounds is not None:
            low, high = bounds
        else:
            raise ValueError("The z^B rule (ZBox) needs the bounds of its layer's input: give "
                             "`ZBox(low, high)`, or `value_range` to `lrp` for a layer that reads the images.")
        pos_w, neg_w = _positive(linear.kernel), _negative(linear.kernel)
        if z is not None and z.dtype == tf.float32:  # the layer's own output: no forward again
            plain = z if linear.bias is None else z - linear.bias
        else:
            plain = linear.apply(x, linear.kernel)
        axis = linear.channel_axis
        if axis is None:
            s = shares(r, plain - linear.apply(low, pos_w) - linear.apply(high, neg_w), epsilon=self.epsilon)
            return (x * _vjp(linear.apply, x, linear.kernel, s) - low * _vjp(linear.apply, low, pos_w, s)
                    - high * _vjp(linear.apply, high, neg_w, s))
        # the three terms as one layer over the stacked inputs [x, l, h] with the kernel [w; -w+; -w-]:
        # one forward (of the bounds) and one product instead of two and three (an input layer's few
        # channels make each of them cost nearly as much as nine)
        bounds = tf.concat([low, high], axis)
        s = shares(r, plain + linear.apply(bounds, tf.concat([-pos_w, -neg_w], -2)), epsilon=self.epsilon)
        stacked = tf.concat([x, bounds], axis)
        terms = stacked * _vjp(linear.apply, stacked, tf.concat([linear.kernel, -pos_w, -neg_w], -2), s)
        return tf.add_n(tf.split(terms, 3, axis))


class Flat(Rule):
    """The flat rule: relevance spread evenly over each output's receptive field (Lapuschkin et al., 2019).

    `R_i = sum_j 1 / sum_i 1 R_j` ("Unmasking Clever Hans predictors",
    Nature Communications 10): weights and inputs all taken as 1, so the map
    shows where the relevance came from at the resolution of the layer.
    """

    name = "flat"
    extra_passes = 0.5  # the forward of ones through ones (its denominators are not the layer's own)

    def __init__(self):
        pass

    def relevance(self, x, linear, r, z=None, bounds=None, nonnegative=False):
        ones = tf.ones_like(x)
        kernel = tf.ones_like(linear.kernel)
        return pull_back(linear.apply, ones, kernel, lambda z: shares(r, z))


class WSquare(Rule):
    """The w^2 rule: relevance in proportion to the squared weights (Montavon et al., 2017, section 4.1).

    `R_i = sum_j w_ij^2 / sum_i w_ij^2 R_j`, independent of the input: the
    rule of deep Taylor decomposition for an unbounded input domain.
    """

    name = "w_square"
    extra_passes = 0.5  # the forward of ones through `w^2`

    def __init__(self):
        pass

    def relevance(self, x, linear, r, z=None, bounds=None, nonnegative=False):
        ones = tf.ones_like(x)
        kernel = tf.square(linear.kernel)
        return pull_back(linear.apply, ones, kernel, lambda z: shares(r, z))
