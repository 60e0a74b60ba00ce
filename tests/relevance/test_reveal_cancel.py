"""DeepLIFT's RevealCancel rule: summation-to-delta, its matrix form in numpy, the paper's min example, the sign
of BatchNormalization's scale, and named refusals."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tests.helpers.models import MODEL_FORMS, SIZE, rich_model
from tests.helpers.models import initializer as _init

import kerasviz
from kerasviz import models, patching

L = keras.layers


def _images(n=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, SIZE, SIZE, 3)).astype(np.float32)


def _logit(model, images, cls):
    return np.asarray(models.run(model, tf.constant(images))[0], np.float64)[:, cls]


def _assert_sums_to(attributions, expected, tolerance=1e-4):
    total = attributions.reshape(len(attributions), -1).astype(np.float64).sum(axis=1)
    np.testing.assert_allclose(total, expected, rtol=0, atol=tolerance * max(1e-3, float(np.abs(expected).max())))


@pytest.mark.parametrize("form", sorted(MODEL_FORMS))
def test_reveal_cancel_sums_to_delta_on_every_model_form(form):
    keras.backend.clear_session()
    model = MODEL_FORMS[form]()
    x, x0 = _images(3, 0), _images(3, 1)
    attributions = kerasviz.deeplift(model, x, target=2, baseline=x0, rule="reveal_cancel", signed=True)
    delta = _logit(model, x, 2) - _logit(model, x0, 2)
    _assert_sums_to(attributions, delta, 0.03 if form == "mixed_float16" else 1e-4)
    rescale = kerasviz.deeplift(model, x, target=2, baseline=x0, signed=True)
    assert np.abs(attributions - rescale).max() > 1e-4 * np.abs(rescale).max()  # a rule of its own
    assert patching.installed_count() == 0


def test_reveal_cancel_sums_to_delta_through_max_pooling_products_batch_norm_and_smooth_activations():
    keras.backend.clear_session()
    model = rich_model()
    x, x0 = _images(4, 0), _images(4, 1)
    attributions = kerasviz.deeplift(model, x, target=1, baseline=x0, rule="reveal_cancel", signed=True,
                                     batch_size=3)
    delta = _logit(model, x, 1) - _logit(model, x0, 1)
    assert np.abs(delta).min() > 1e-4
    _assert_sums_to(attributions, delta)
    again = kerasviz.deeplift(model, x, target=1, baseline=x0, rule="reveal_cancel", signed=True, batch_size=8)
    np.testing.assert_allclose(again, attributions, rtol=1e-5, atol=1e-7)


def test_deeplift_shap_with_reveal_cancel_sums_to_the_mean_over_references():
    keras.backend.clear_session()
    model = rich_model()
    x, references = _images(2, 0), _images(3, 5)
    shap = kerasviz.deeplift_shap(model, x, target=0, references=references, samples=None, rule="reveal_cancel",
                                  signed=True)
    _assert_sums_to(shap, _logit(model, x, 0) - _logit(model, references, 0).mean())


def _reveal_cancel_numpy(weights, x, x0, cls):
    """RevealCancel on a dense ReLU net (ReLU after every layer but the last), from the paper's equations.

    Forward: each layer's terms `w_ij dx_i` split by sign into dz+ and dz-, the ReLU's dy+ and dy- (section
    3.5.3). Backward: m+ = dy+/dz+, m- = dy-/dz- times the multiplier of the ReLU's output; an input of a
    layer takes m+ of an output where its term is positive, m- where negative, neither where it is 0 (linear
    rule, section 3.5.1).
    """
    relu = lambda t: np.maximum(t, 0.0)  # noqa: E731
    acts, acts0, sides = [x], [x0], []
    for w, b in weights[:-1]:
        a, a0 = acts[-1], acts0[-1]
        terms = w[None, :, :] * (a - a0)[:, :, None]  # [batch, inputs, outputs]
        up, down = np.where(terms > 0, terms, 0).sum(1), np.where(terms < 0, terms, 0).sum(1)
        z0 = a0 @ w + b
        rise = 0.5 * (relu(z0 + up) - relu(z0)) + 0.5 * (relu(z0 + down + up) - relu(z0 + down))
        fall = 0.5 * (relu(z0 + down) - relu(z0)) + 0.5 * (relu(z0 + up + down) - relu(z0 + up))
        sides.append((terms, rise / up, fall / down))
        acts.append(relu(a @ w + b))
        acts0.append(relu(z0))
    # the logit is linear: its multiplier of the last ReLU's outputs is the weight of every nonzero term, 0 where
    # the output does not change (no term on either side)
    m = np.where((acts[-1] - acts0[-1]) != 0, weights[-1][0][:, cls][None, :], 0.0)
    for (w, _), (terms, m_up, m_down) in zip(reversed(weights[:-1]), reversed(sides)):
        up_side, down_side = m * m_up, m * m_down
        m = (np.where(terms > 0, w[None], 0) * up_side[:, None, :]).sum(2) + \
            (np.where(terms < 0, w[None], 0) * down_side[:, None, :]).sum(2)
    return (x - x0) * m


def test_reveal_cancel_is_its_matrix_form_on_a_dense_relu_net():
    keras.backend.clear_session()
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((3, 3, 2)), L.Flatten(),
                              L.Dense(7, activation="relu", kernel_initializer=_init(0), bias_initializer="ones"),
                              L.Dense(5, activation="relu", kernel_initializer=_init(1)),
                              L.Dense(3, kernel_initializer=_init(2))])
    model.layers[2].set_weights([model.layers[2].get_weights()[0], rng.normal(size=5).astype(np.float32)])
    x, x0 = rng.normal(size=(4, 3, 3, 2)).astype(np.float32), rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    w = [np.asarray(v, np.float64) for v in model.get_weights()]
    weights = [(w[0], w[1]), (w[2], w[3]), (w[4], w[5])]
    expected = _reveal_cancel_numpy(weights, x.reshape(4, -1).astype(np.float64),
                                    x0.reshape(4, -1).astype(np.float64), 1)
    got = kerasviz.deeplift(model, x, target=1, baseline=x0, rule="reveal_cancel", signed=True, batch_size=2)
    np.testing.assert_allclose(got.reshape(4, -1), expected, rtol=1e-4, atol=1e-5)


def _min_model():
    """`min(x1, x2) = x1 - relu(x1 - x2)` (Shrikumar et al., 2017, section 3.6), on a 1x1 image of 2 channels."""
    inputs = keras.Input((1, 1, 2))
    flat = L.Flatten()(inputs)
    h = L.Dense(1, use_bias=False, activation="relu", name="h")(flat)
    out = L.Dense(1, use_bias=False, name="out")(L.Concatenate()([flat, h]))
    model = keras.Model(inputs, out)
    model.get_layer("h").set_weights([np.array([[1.0], [-1.0]], np.float32)])
    model.get_layer("out").set_weights([np.array([[1.0], [0.0], [-1.0]], np.float32)])
    return model


def test_reveal_cancel_gives_both_inputs_of_min_credit_where_rescale_gives_one_none():
    keras.backend.clear_session()
    model = _min_model()
    x = np.array([3.0, 1.0], np.float32).reshape(1, 1, 1, 2)
    rescale = kerasviz.deeplift(model, x, target=0, signed=True).ravel()
    revealed = kerasviz.deeplift(model, x, target=0, rule="reveal_cancel", signed=True).ravel()
    # relu(3 - 1) from relu(0): Rescale's multiplier 1 cancels x1 exactly; RevealCancel: dz+ = 3, dz- = -1,
    # dy+ = (relu(3) + relu(2) - relu(-1)) / 2 = 2.5, dy- = (relu(-1) + relu(2) - relu(3)) / 2 = -0.5.
    np.testing.assert_allclose(rescale, [0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(revealed, [3.0 - 2.5, 0.5], atol=1e-6)


def test_a_negative_batch_norm_scale_flips_the_sides_as_the_merged_convolution():
    """conv -> BatchNormalization (some gammas negative) -> ReLU equals the conv with BN merged into it."""
    keras.backend.clear_session()
    rng = np.random.default_rng(3)

    def net(with_bn):
        inputs = keras.Input((SIZE, SIZE, 3))
        x = L.Conv2D(4, 3, kernel_initializer=_init(0), name="conv")(inputs)
        if with_bn:
            x = L.BatchNormalization(name="bn")(x)
        x = L.ReLU()(x)
        x = L.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, L.Dense(2, kernel_initializer=_init(1), name="head")(x))

    with_bn, merged = net(True), net(False)
    gamma, beta = np.array([1.5, -2.0, 0.5, -0.7], np.float32), rng.normal(size=4).astype(np.float32)
    mean, var = rng.normal(size=4).astype(np.float32), rng.uniform(0.5, 2, 4).astype(np.float32)
    with_bn.get_layer("bn").set_weights([gamma, beta, mean, var])
    kernel, bias = with_bn.get_layer("conv").get_weights()
    scale = gamma / np.sqrt(var + with_bn.get_layer("bn").epsilon)
    merged.get_layer("conv").set_weights([kernel * scale, bias * scale + beta - mean * scale])
    merged.get_layer("head").set_weights(with_bn.get_layer("head").get_weights())
    x, x0 = _images(2, 0), _images(2, 1)
    np.testing.assert_allclose(_logit(with_bn, x, 0), _logit(merged, x, 0), rtol=1e-5, atol=1e-5)
    got = kerasviz.deeplift(with_bn, x, target=0, baseline=x0, rule="reveal_cancel", signed=True)
    expected = kerasviz.deeplift(merged, x, target=0, baseline=x0, rule="reveal_cancel", signed=True)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_a_layer_whose_terms_cannot_be_split_is_refused_by_name():
    keras.backend.clear_session()
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.Conv2DTranspose(4, 3, kernel_initializer=_init(0), name="upconv")(inputs)
    x = L.ReLU()(x)
    model = keras.Model(inputs, L.Dense(2)(L.GlobalAveragePooling2D()(x)))
    x = _images(1)
    kerasviz.deeplift(model, x, target=0, signed=True)  # the Rescale rule takes it
    with pytest.raises(ValueError, match="reveal_cancel.*upconv.*Conv2DTranspose"):
        kerasviz.deeplift(model, x, target=0, rule="reveal_cancel")


@pytest.mark.parametrize("rule", ["revealcancel", None, 1])
def test_an_unknown_rule_is_refused_naming_the_argument(rule):
    keras.backend.clear_session()
    with pytest.raises(ValueError, match="`rule`"):
        kerasviz.deeplift(MODEL_FORMS["sequential"](), _images(1), rule=rule)
