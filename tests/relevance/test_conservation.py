"""`kerasviz.relevance.conservation`: the score, the relevance a map holds, and the share biases absorbed."""

import warnings

import keras
import numpy as np
import pytest
from tests.helpers.models import MODEL_FORMS, SIZE
from tests.helpers.models import initializer as _init

import kerasviz
from kerasviz.relevance import conservation

L = keras.layers


def _bias_free_relu_net():
    inputs = keras.Input((10, 10, 3))
    x = L.Conv2D(4, 3, padding="same", activation="relu", use_bias=False, kernel_initializer=_init(0))(inputs)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(5, 3, use_bias=False, kernel_initializer=_init(1))(x)
    x = L.ReLU()(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(3, use_bias=False, activation="softmax", kernel_initializer=_init(2))(x))


def test_nothing_is_absorbed_on_a_bias_free_relu_net_under_lrp_0():
    keras.backend.clear_session()
    model = _bias_free_relu_net()
    images = np.random.default_rng(0).uniform(0, 1, (3, 10, 10, 3)).astype(np.float32)
    maps = kerasviz.lrp(model, images, composite="lrp_0")
    result = conservation(model, images, maps)
    logits = np.asarray(kerasviz.models.run(model, images)[0], np.float64)
    np.testing.assert_allclose(result["score"], logits.max(axis=1), rtol=1e-6)  # the predicted class's logit
    np.testing.assert_allclose(result["relevance_sum"], maps.reshape(3, -1).sum(axis=1), rtol=1e-6)
    np.testing.assert_allclose(result["absorbed_share"], 0.0, atol=1e-5)
    assert all(value.shape == (3,) and value.dtype == np.float64 for value in result.values())


def test_the_absorbed_share_of_one_dense_layer_is_its_bias_over_the_logit():
    """`z = w.x + b`: LRP-0 gives the inputs `w.x`, the bias keeps `b`: absorbed `b / z` (Bach et al., eq. 58)."""
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((2, 2, 2)), L.Flatten(), L.Dense(2, kernel_initializer=_init(0))])
    model.layers[-1].bias.assign([0.75, -1.5])
    images = np.random.default_rng(1).uniform(0, 1, (2, 2, 2, 2)).astype(np.float32)
    w, b = np.asarray(model.layers[-1].kernel, np.float64), np.array([0.75, -1.5])
    logit = images.reshape(2, -1).astype(np.float64) @ w[:, 1] + b[1]
    maps = kerasviz.lrp(model, images, target=1, composite="lrp_0", signed=True)
    result = conservation(model, images, maps, target=1)
    np.testing.assert_allclose(result["score"], logit, rtol=1e-6)
    np.testing.assert_allclose(result["relevance_sum"], logit - b[1], rtol=1e-5)
    np.testing.assert_allclose(result["absorbed_share"], b[1] / logit, rtol=1e-5)


def test_bad_maps_are_named():
    keras.backend.clear_session()
    model = MODEL_FORMS["sequential"]()
    images = np.zeros((2, SIZE, SIZE, 3), np.float32)
    with pytest.raises(ValueError, match="`maps` of shape"):
        conservation(model, images, np.zeros((3, SIZE, SIZE)))
    with pytest.raises(ValueError, match="`maps` with NaN"):
        conservation(model, images, np.full((2, SIZE, SIZE), np.nan))


def test_a_zero_score_is_said():
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((2, 2, 1)), L.Flatten(), L.Dense(1, use_bias=False)])
    images = np.zeros((1, 2, 2, 1), np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = conservation(model, images, np.zeros((1, 2, 2)), target=0)
    assert np.isnan(result["absorbed_share"][0])
    assert any("score is 0" in str(w.message) for w in caught)
