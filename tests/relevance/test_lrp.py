"""Layer-wise Relevance Propagation: each rule against its matrix form, conservation, canonizers, refusals.

The matrix forms are the rules' formulas written literally in numpy (the
products `x_i w_ij` as a matrix, as zennit's `tests/unit/test_rules.py`
does); a convolution is unrolled into its dense matrix. Everything else goes
through `kerasviz.lrp` on tiny seeded models.
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz.relevance import AlphaBeta, Composite, Epsilon, Flat, Gamma, WSquare, ZBox, ZeroRule, ZPlus, canonizers

RNG = np.random.default_rng(0)


def _init(seed):
    return keras.initializers.GlorotUniform(seed=seed)


# ---------------------------------------------------------------- the matrix forms


def _stab(z, eps):
    return z + eps * np.where(z >= 0, 1.0, -1.0)


def _div(a, b):
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def _share(p, z, r):
    """`R_i = sum_j p_ij / z_j R_j`."""
    return (p * _div(r, z)[None, :]).sum(axis=1)


def reference(rule, x, m, b, mask, r, low=None, high=None):
    """The relevance of `x` [n] under `rule`, for the dense map `m` [n, k] (+ `b` [k]) and upper relevance `r` [k]."""
    pos, neg = np.maximum(m, 0), np.minimum(m, 0)
    products = x[:, None] * m
    if isinstance(rule, ZPlus):
        p = np.maximum(products, 0)
        return _share(p, p.sum(0), r)
    if isinstance(rule, AlphaBeta):
        p, n = np.maximum(products, 0), np.minimum(products, 0)
        return (rule.alpha * _share(p, p.sum(0) + np.maximum(b, 0), r)
                - rule.beta * _share(n, n.sum(0) + np.minimum(b, 0), r))
    if isinstance(rule, Gamma):  # generalized to signed inputs: the output's sign favoured
        g, z, result = rule.gamma, products.sum(0) + b, 0.0
        up, down = m + g * pos, m + g * neg
        for mask, for_pos, for_neg, bias in ((z > 0, up, down, b + g * np.maximum(b, 0)),
                                             (z <= 0, down, up, b + g * np.minimum(b, 0))):
            p = np.where(x[:, None] >= 0, x[:, None] * for_pos, x[:, None] * for_neg)
            result = result + _share(p, _stab(p.sum(0) + bias, rule.epsilon), np.where(mask, r, 0.0))
        return result
    if isinstance(rule, Epsilon):
        return _share(products, _stab(products.sum(0) + b, rule.epsilon), r)
    if isinstance(rule, ZBox):
        p = products - low[:, None] * pos - high[:, None] * neg
        return _share(p, _stab(p.sum(0), rule.epsilon), r)
    if isinstance(rule, Flat):
        return _share(mask, mask.sum(0), r)
    if isinstance(rule, WSquare):
        return _share(m ** 2, (m ** 2).sum(0), r)
    raise AssertionError(rule)


def conv_matrix(kernel, height, width, stride):
    """The dense matrix `[H*W*C, OH*OW*F]` of a 'valid' convolution, and its connectivity mask."""
    kh, kw, c, f = kernel.shape
    oh, ow = (height - kh) // stride + 1, (width - kw) // stride + 1
    m = np.zeros((height, width, c, oh, ow, f))
    mask = np.zeros_like(m)
    for i in range(oh):
        for j in range(ow):
            m[i * stride:i * stride + kh, j * stride:j * stride + kw, :, i, j, :] = kernel
            mask[i * stride:i * stride + kh, j * stride:j * stride + kw, :, i, j, :] = 1
    return m.reshape(height * width * c, -1), mask.reshape(height * width * c, -1)


RULES = [ZeroRule(), Epsilon(0.1), Gamma(0.25), AlphaBeta(1, 0), AlphaBeta(2, 1), ZPlus(), ZBox(-1.0, 1.0), Flat(),
         WSquare()]


def _layer(kind):
    keras.backend.clear_session()
    if kind == "dense":
        layer = keras.layers.Dense(5, kernel_initializer=_init(1), bias_initializer=keras.initializers.RandomNormal(
            stddev=0.3, seed=2))
        layer.build((None, 7))
        x = RNG.uniform(-1, 1, (2, 7)).astype(np.float32)
        return layer, x, np.asarray(layer.kernel), np.ones_like(np.asarray(layer.kernel))
    layer = keras.layers.Conv2D(3, 3, strides=2, kernel_initializer=_init(3),
                                bias_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=4))
    layer.build((None, 7, 7, 2))
    x = RNG.uniform(-1, 1, (2, 7, 7, 2)).astype(np.float32)
    m, mask = conv_matrix(np.asarray(layer.kernel, np.float64), 7, 7, 2)
    return layer, x, m, mask


@pytest.mark.parametrize("kind", ["dense", "conv"])
@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_each_rule_is_its_matrix_form(rule, kind):
    layer, x, m, mask = _layer(kind)
    (linear,) = canonizers.linear_parts(layer)
    out = np.asarray(layer(x))
    r = RNG.uniform(-1, 1, out.shape).astype(np.float32)
    computed = np.asarray(rule.relevance(tf.constant(x), linear, tf.constant(r)))
    bias = np.asarray(layer.bias, np.float64)
    bias = np.tile(bias, m.shape[1] // bias.size)
    for i in range(len(x)):
        expected = reference(rule, x[i].astype(np.float64).ravel(), m, bias, mask, r[i].astype(np.float64).ravel(),
                             np.full(x[i].size, -1.0), np.full(x[i].size, 1.0))
        np.testing.assert_allclose(computed[i].ravel(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_z_box_without_stacking_is_its_matrix_form(kind):
    """A depthwise or grouped layer (no `channel_axis`) takes z^B's three products apart: the same relevance."""
    layer, x, m, mask = _layer(kind)
    (linear,) = canonizers.linear_parts(layer)
    assert linear.channel_axis == -1
    r = RNG.uniform(-1, 1, np.asarray(layer(x)).shape).astype(np.float32)
    computed = np.asarray(ZBox(-1.0, 1.0).relevance(tf.constant(x), linear._replace(channel_axis=None),
                                                    tf.constant(r)))
    for i in range(len(x)):
        expected = reference(ZBox(-1.0, 1.0), x[i].astype(np.float64).ravel(), m, None, mask,
                             r[i].astype(np.float64).ravel(), np.full(x[i].size, -1.0), np.full(x[i].size, 1.0))
        np.testing.assert_allclose(computed[i].ravel(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rule", [Gamma(0.25), AlphaBeta(1, 0), AlphaBeta(2, 1), ZPlus()], ids=repr)
def test_the_shortcut_for_non_negative_inputs_is_the_rule(rule):
    layer, x, _, _ = _layer("conv")
    (linear,) = canonizers.linear_parts(layer)
    x = tf.constant(np.maximum(x, 0))
    r = tf.constant(RNG.uniform(-1, 1, layer(x).shape).astype(np.float32))
    np.testing.assert_allclose(np.asarray(rule.relevance(x, linear, r, nonnegative=True)),
                               np.asarray(rule.relevance(x, linear, r)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("nonnegative", [False, True])
def test_gamma_with_the_layers_own_output_and_rectified_is_the_rule(nonnegative):
    """Given the layer's output `z` the rule reuses it; rectified, it is the rule with no relevance where z <= 0."""
    layer, x, _, _ = _layer("conv")
    (linear,) = canonizers.linear_parts(layer)
    x = tf.constant(np.maximum(x, 0) if nonnegative else x)
    z = layer(x)
    r = tf.constant(RNG.uniform(-1, 1, z.shape).astype(np.float32))
    rule = Gamma(0.25)
    expected = np.asarray(rule.relevance(x, linear, r))
    np.testing.assert_allclose(np.asarray(rule.relevance(x, linear, r, z=z, nonnegative=nonnegative)), expected,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(rule.for_rectified().relevance(x, linear, r, nonnegative=nonnegative)),
                               np.asarray(rule.relevance(x, linear, tf.where(z > 0, r, 0.0))), rtol=1e-5, atol=1e-6)


def test_alpha_beta_must_conserve():
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        AlphaBeta(2, 0)


# ---------------------------------------------------------------- conservation


def bias_free_relu_net():
    """Conv, average pooling, a residual Add, a Concatenate, max pooling, dense: no biases, ReLU."""
    keras.backend.clear_session()
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", use_bias=False,
                            kernel_initializer=_init(0))(inputs)
    x = keras.layers.AveragePooling2D(2)(x)
    y = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, kernel_initializer=_init(1))(x)
    y = keras.layers.ReLU()(y)
    x = keras.layers.Add()([x, y])
    z = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, activation="relu",
                                     depthwise_initializer=_init(2))(x)
    x = keras.layers.Concatenate()([x, z])
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, activation="relu", use_bias=False, kernel_initializer=_init(3))(x)
    outputs = keras.layers.Dense(3, use_bias=False, kernel_initializer=_init(4), activation="softmax")(x)
    return keras.Model(inputs, outputs)


def _logits(model, images, target):
    return np.asarray(kerasviz.models.run(model, tf.constant(images))[0])[:, target]


def test_lrp_0_is_gradient_x_input_and_conserves_on_a_bias_free_relu_net():
    model = bias_free_relu_net()
    images = RNG.uniform(0, 1, (3, 12, 12, 3)).astype(np.float32)
    relevance = kerasviz.lrp(model, images, target=1, composite="lrp_0", signed=True)
    np.testing.assert_allclose(relevance, kerasviz.gradient_x_input(model, images, target=1, signed=True),
                               rtol=1e-5, atol=1e-7)
    # float32 sums of a few hundred terms of both signs: 1e-4
    np.testing.assert_allclose(relevance.sum(axis=(1, 2, 3)), _logits(model, images, 1), rtol=1e-4)


@pytest.mark.parametrize("composite", ["epsilon_plus", "z_plus", "alpha1_beta0",
                                       Composite(Epsilon(1e-9), name="epsilon_to_0")], ids=str)
def test_conserving_rules_sum_to_the_logit_on_a_bias_free_relu_net(composite):
    model = bias_free_relu_net()
    images = np.random.default_rng(1).uniform(0, 25, (3, 12, 12, 3)).astype(np.float32)
    logits = np.asarray(kerasviz.models.run(model, tf.constant(images))[0]).max(axis=1)  # the predicted classes'
    assert np.all(np.abs(logits) > 0.05)
    maps = kerasviz.lrp(model, images, composite=composite)
    # The dense layers' epsilon (1e-6 in the presets) absorbs about epsilon / |logit|.
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), logits, rtol=1e-4)


def test_biases_absorb_their_share():
    """One dense layer: LRP-0 gives each input `x_i w_i` (Bach et al. 2015, eq. 58): the logit less the bias."""
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Flatten(),
                              keras.layers.Dense(3, kernel_initializer=_init(0), bias_initializer="ones")])
    model.layers[-1].bias.assign([0.5, -0.25, 2.0])
    images = RNG.uniform(0, 1, (2, 4, 4, 2)).astype(np.float32)
    relevance = kerasviz.lrp(model, images, target=2, composite="lrp_0", signed=True)
    w = np.asarray(model.layers[-1].kernel)[:, 2].reshape(4, 4, 2)
    np.testing.assert_allclose(relevance, images * w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(relevance.sum(axis=(1, 2, 3)), _logits(model, images, 2) - 2.0, rtol=1e-5)


def test_a_linear_model_gets_its_deep_taylor_decomposition():
    """z^B on `f(x) = w.x + b`, `f(x0) = 0` at the box's root `x0` (low where w > 0, else high): `(x - x0) w`."""
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((3, 3, 2)), keras.layers.Flatten(),
                              keras.layers.Dense(2, kernel_initializer=_init(5))])
    w = np.asarray(model.layers[-1].kernel)[:, 0]
    root = np.where(w > 0, 0.0, 255.0)
    model.layers[-1].bias.assign([-(root * w).sum(), 0.0])
    images = RNG.uniform(0, 255, (2, 3, 3, 2)).astype(np.float32)
    relevance = kerasviz.lrp(model, images, target=0, composite=Composite(ZBox(), name="box"),
                             value_range=(0, 255), signed=True)
    np.testing.assert_allclose(relevance, (images - root.reshape(3, 3, 2)) * w.reshape(3, 3, 2), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(relevance.sum(axis=(1, 2, 3)), _logits(model, images, 0), rtol=1e-4)


# ---------------------------------------------------------------- canonizers


def _set_statistics(bn, seed):
    rng = np.random.default_rng(seed)
    c = bn.gamma.shape[0]
    bn.gamma.assign(rng.uniform(0.5, 1.5, c))
    bn.beta.assign(rng.normal(0, 0.2, c))
    bn.moving_mean.assign(rng.normal(0, 0.2, c))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, c))


def batch_norm_net():
    """Conv, depthwise and separable convolutions, each followed by BatchNormalization and a ReLU."""
    keras.backend.clear_session()
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", kernel_initializer=_init(0), name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, depthwise_initializer=_init(1),
                                     name="depthwise")(x)
    x = keras.layers.BatchNormalization(name="depthwise_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.SeparableConv2D(5, 3, padding="same", depthwise_initializer=_init(2),
                                     pointwise_initializer=_init(3), name="separable")(x)
    x = keras.layers.BatchNormalization(name="separable_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, kernel_initializer=_init(4), name="fc")(x))
    for i, name in enumerate(["conv_bn", "depthwise_bn", "separable_bn"]):
        _set_statistics(model.get_layer(name), i)
    return model


def merged_by_hand(model):
    """The same network with each BatchNormalization folded into its layer's weights, written out in numpy."""
    def affine(bn):
        a = np.asarray(bn.gamma) / np.sqrt(np.asarray(bn.moving_variance) + bn.epsilon)
        return a, np.asarray(bn.beta) - np.asarray(bn.moving_mean) * a

    inputs = keras.Input((10, 10, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same")
    depthwise = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)
    separable = keras.layers.SeparableConv2D(5, 3, padding="same")
    x = keras.layers.ReLU(6.0)(conv(inputs))
    x = keras.layers.ReLU()(depthwise(x))
    x = keras.layers.ReLU()(separable(x))
    fc = keras.layers.Dense(3)
    merged = keras.Model(inputs, fc(keras.layers.GlobalAveragePooling2D()(x)))
    a, c = affine(model.get_layer("conv_bn"))
    conv.set_weights([np.asarray(model.get_layer("conv").kernel) * a, np.asarray(model.get_layer("conv").bias) * a + c])
    a, c = affine(model.get_layer("depthwise_bn"))
    kernel = np.asarray(model.get_layer("depthwise").kernel)
    depthwise.set_weights([kernel * a.reshape(kernel.shape[2:]), c])
    a, c = affine(model.get_layer("separable_bn"))
    original = model.get_layer("separable")
    separable.set_weights([np.asarray(original.depthwise_kernel), np.asarray(original.pointwise_kernel) * a,
                           np.asarray(original.bias) * a + c])
    fc.set_weights(model.get_layer("fc").get_weights())
    return merged


def test_merged_batch_norm_is_the_same_function():
    model = batch_norm_net()
    images = RNG.uniform(0, 1, (2, 10, 10, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(merged_by_hand(model)(images)), np.asarray(model(images)),
                               rtol=1e-5, atol=1e-5)
    conv, bn = model.get_layer("conv"), model.get_layer("conv_bn")
    (linear,) = canonizers.linear_parts(conv, bn)
    merged = linear.apply(tf.constant(images), linear.kernel) + linear.bias
    np.testing.assert_allclose(np.asarray(merged), np.asarray(bn(conv(images), training=False)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("composite", ["epsilon_plus", "epsilon_gamma_box"])
def test_relevance_through_batch_norm_is_that_of_the_merged_net(composite):
    model = batch_norm_net()
    images = RNG.uniform(0, 1, (2, 10, 10, 3)).astype(np.float32)
    weights = [np.array(w) for w in model.get_weights()]
    merged = merged_by_hand(model)
    found = kerasviz.lrp(model, images, target=1, composite=composite, value_range=(0, 1), signed=True)
    expected = kerasviz.lrp(merged, images, target=1, composite=composite, value_range=(0, 1), signed=True)
    np.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_a_squeeze_and_excitation_gate_gets_no_relevance():
    """The gate's sigmoid is off the relevance path (Arras et al. 2017): no error; the signal takes it all."""
    keras.backend.clear_session()
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", use_bias=False, kernel_initializer=_init(0))(inputs)
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = keras.layers.Conv2D(4, 1, activation="sigmoid", kernel_initializer=_init(1), name="se_expand")(gate)
    x = keras.layers.Multiply(name="se_excite")([x, gate])
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, use_bias=False, kernel_initializer=_init(2))(x))
    images = RNG.uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maps = kerasviz.lrp(model, images, target=0, composite="epsilon_plus")
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), _logits(model, images, 0), rtol=1e-4)


# ---------------------------------------------------------------- refusals and warnings


def _head(layer):
    keras.backend.clear_session()
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", kernel_initializer=_init(0), name="conv")(inputs)
    x = layer(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, kernel_initializer=_init(1))(x))


IMAGES = RNG.uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)


def test_a_non_rectifier_on_the_relevance_path_is_an_error_naming_the_layer():
    model = _head(keras.layers.Conv2D(4, 1, activation="tanh", name="squash"))
    with pytest.raises(ValueError, match=r"squash \(its activation 'tanh' is not a rectifier\)"):
        kerasviz.lrp(model, IMAGES)


def test_a_smooth_rectifier_is_named_in_a_warning():
    model = _head(keras.layers.Activation("swish", name="swishy"))
    with pytest.warns(UserWarning, match="smooth rectifiers.*swishy"):
        kerasviz.lrp(model, IMAGES)


class Doubler(keras.layers.Layer):
    def call(self, x):
        return 2.0 * x


def test_a_layer_of_the_users_own_is_named_in_a_warning():
    model = _head(Doubler(name="doubler"))
    with pytest.warns(UserWarning, match="not Keras layers that an LRP rule knows.*doubler"):
        kerasviz.lrp(model, IMAGES)


def test_the_box_rule_needs_the_value_range():
    model = _head(keras.layers.ReLU())
    with pytest.raises(ValueError, match="value_range"):
        kerasviz.lrp(model, IMAGES, composite="epsilon_gamma_box")
    with pytest.raises(ValueError, match="outside `value_range"):
        kerasviz.lrp(model, IMAGES * 2, composite="epsilon_gamma_box", value_range=(0, 1))


def test_bad_composites_are_named():
    model = _head(keras.layers.ReLU())
    with pytest.raises(ValueError, match="`composite`.*'epsilon_pluss'"):
        kerasviz.lrp(model, IMAGES, composite="epsilon_pluss")
    with pytest.raises(ValueError, match="not linear layers.*'nope'"):
        kerasviz.lrp(model, IMAGES, composite=Composite(by_name={"nope": Epsilon()}))
    with pytest.raises(TypeError, match="rules"):
        Composite(by_type=[(keras.layers.Dense, "epsilon")])


def test_composites_choose_by_name_position_and_type():
    model = _head(keras.layers.Conv2D(4, 1, name="conv2"))
    images = IMAGES
    by_type = kerasviz.lrp(model, images, composite=Composite(Epsilon(), by_type=[(keras.layers.Conv2D, ZPlus())]))
    by_name = kerasviz.lrp(model, images, composite=Composite(Epsilon(), by_name={"conv": ZPlus(), "conv2": ZPlus()}))
    by_position = kerasviz.lrp(model, images, composite=Composite(Epsilon(), by_position={0: ZPlus(), 1: ZPlus()}))
    everywhere_but_last = kerasviz.lrp(model, images, composite=Composite(ZPlus(), by_position={-1: Epsilon()}))
    for other in (by_name, by_position, everywhere_but_last):
        np.testing.assert_allclose(other, by_type, rtol=1e-6)
    assert not np.allclose(by_type, kerasviz.lrp(model, images, composite="epsilon"))


# ---------------------------------------------------------------- the keras.applications zoo (weights=None, 32 px)

ZOO = {
    "resnet50": lambda: keras.applications.ResNet50(input_shape=(32, 32, 3), weights=None, classes=5),
    "mobilenetv2": lambda: keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None,
                                                          classes=5),
    "efficientnetb0": lambda: keras.applications.EfficientNetB0(input_shape=(32, 32, 3), weights=None, classes=5),
    "densenet121": lambda: keras.applications.DenseNet121(input_shape=(32, 32, 3), weights=None, classes=5),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_the_zoo_runs_and_conserves(name):
    """The presets run; LRP-0 conserves (biases are 0 at weights=None).

    z+ is not asserted to conserve: a linear layer's output with only negative
    contributions (MobileNetV2's linear bottlenecks) has no positive part to
    take its relevance, which is lost (13 % on one random MobileNetV2).
    """
    keras.backend.clear_session()
    model = ZOO[name]()
    images = np.random.default_rng(7).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert np.isfinite(kerasviz.lrp(model, images, target=1, composite="epsilon_plus")).all()
        maps = kerasviz.lrp(model, images, target=1, composite="lrp_0", signed=True)
    logit = _logits(model, images, 1)
    assert np.isfinite(maps).all()
    smooth = [str(w.message) for w in caught if "smooth rectifiers" in str(w.message)]
    if name == "efficientnetb0":  # swish passes relevance as a ReLU would: named, and not conserving
        assert smooth and "block1a_activation" in smooth[0]
        return
    assert not smooth
    # Random networks' logits are small sums of terms of both signs: float32 sums are good to 1e-3 of sum |R|.
    np.testing.assert_allclose(maps.sum(axis=(1, 2, 3)), logit, rtol=1e-3, atol=1e-3 * np.abs(maps).sum())


def test_mobilenetv3s_hard_swish_is_a_named_error():
    keras.backend.clear_session()
    model = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=5,
                                                include_preprocessing=False)
    with pytest.raises(ValueError, match="no LRP rule handles .* Multiply"):
        kerasviz.lrp(model, RNG.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32))


# ---------------------------------------------------------------- through the registry's consumers


def test_lrp_runs_in_the_callback_compare_and_explain_dataset(tmp_path):
    model = _head(keras.layers.ReLU())
    images = IMAGES
    params = {"composite": "epsilon_gamma_box", "value_range": (0, 1)}
    callback = kerasviz.callbacks.AttributionCallback(str(tmp_path / "logs"), images, methods=[("lrp", params)],
                                                      on_error="raise")
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, np.array([0, 1]), epochs=1, verbose=0, callbacks=[callback])
    comparison = kerasviz.metrics.compare(model, images, methods=[("lrp", params)], metrics=["sparseness"])
    assert np.isfinite(comparison.values).all()
    kerasviz.explain_dataset(model, tf.data.Dataset.from_tensor_slices(images).batch(2), ["lrp"],
                             out=str(tmp_path / "explained"), verbose=0)
    explained = kerasviz.load_explanations(str(tmp_path / "explained"))
    expected = kerasviz.lrp(model, images)
    np.testing.assert_allclose(explained.maps("lrp"), expected, atol=1e-3 * np.abs(expected).max())  # float16 shards
