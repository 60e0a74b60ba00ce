"""Invariants every attribution method keeps, driven by one registry (CONVENTIONS.md 13).

Adding a method means adding its record to `kerasviz.registry.METHODS` and one line to
`method_settings.TINY_SETTINGS`; the expected output shape comes from the record (`Method.map_shape`).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import registry
from tests.helpers import method_settings
from tests.helpers.models import MODEL_FORMS, SIZE, assert_model_unchanged, layer_state, weights_snapshot

# method name -> (tiny keyword settings, expected output shape for B images, from the method's record)
TINY_SETTINGS = {
    name: (settings, lambda b, name=name, settings=settings: (
        b, *registry.METHODS[name].map_shape((SIZE, SIZE, 3), settings)))
    for name, settings in method_settings.TINY_SETTINGS.items()}
METHODS = sorted(TINY_SETTINGS)


def _call(name, model, images, **kwargs):
    settings, _ = TINY_SETTINGS[name]
    return registry.ATTRIBUTION_METHODS[name](model, images, **{**settings, **kwargs})


def test_every_registered_method_has_tiny_settings():
    assert sorted(registry.METHODS) == METHODS


class PassCounter(keras.layers.Layer):
    """Identity that counts the images the model is run on (forward passes, also those of a gradient)."""

    def build(self, shape):
        self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="seen")

    def call(self, x):
        self.seen.assign_add(tf.cast(tf.shape(x)[0], self.seen.dtype))
        return x


@pytest.mark.parametrize("name", METHODS)
def test_cost_is_the_passes_the_method_makes(name, images):
    """`registry.cost` (what the CLI's time estimate multiplies) against the images the model really sees."""
    keras.backend.clear_session()
    counter = PassCounter(name="counter")
    init = keras.initializers.GlorotUniform
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)), counter,
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=init(0)),
        keras.layers.Conv2D(6, 3, padding="same", kernel_initializer=init(1)),
        keras.layers.ReLU(), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4, activation="softmax", kernel_initializer=init(2)),
    ])
    settings, _ = TINY_SETTINGS[name]
    cost = registry.cost(name, model, images.shape[1:], settings)
    # The cost counts every position's whole pass (incremental occlusion computes less).
    naive = {"inference": "naive"} if registry.METHODS[name].accepts("inference") else {}
    registry.ATTRIBUTION_METHODS[name](model, images, **settings, **naive)
    assert float(counter.seen.numpy()) == len(images) * (cost.forward + cost.backward)


@pytest.fixture(scope="module")
def model():
    keras.backend.clear_session()
    return MODEL_FORMS["functional"]()


@pytest.mark.parametrize("name", METHODS)
def test_shape_dtype_and_finite(name, model, images):
    result = _call(name, model, images, target=1)
    assert isinstance(result, np.ndarray)
    assert result.dtype == np.float32
    assert result.shape == TINY_SETTINGS[name][1](len(images))
    assert np.all(np.isfinite(result))


@pytest.mark.parametrize("name", METHODS)
def test_numpy_tensor_and_dataset_inputs_agree(name, model, images):
    reference = _call(name, model, images, target=2)
    np.testing.assert_allclose(_call(name, model, tf.constant(images), target=2), reference, rtol=1e-5, atol=1e-6)
    dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(len(images)))).batch(2)
    np.testing.assert_allclose(_call(name, model, dataset, target=2), reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", METHODS)
def test_results_do_not_depend_on_batch_size(name, model, images):
    reference = _call(name, model, images, batch_size=1000)
    for batch_size in (1, 3):
        np.testing.assert_allclose(_call(name, model, images, batch_size=batch_size), reference, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", METHODS)
def test_traced_once_across_calls(name, images):
    keras.backend.clear_session()
    model = MODEL_FORMS["sequential"]()
    _call(name, model, images, target=0, batch_size=2)
    _call(name, model, images, target=None, batch_size=2)  # may add the one forward pass for predictions
    count = kerasviz.compiled.tracing_count(model)
    _call(name, model, images[:3], target=[1, 2, 3], batch_size=1)
    _call(name, model, images, target=None, batch_size=4)
    _call(name, model, images[:2], target=3, batch_size=7)  # two: the reference-drawing methods refuse one image without references
    assert kerasviz.compiled.tracing_count(model) == count


@pytest.mark.parametrize("name", METHODS)
def test_model_unchanged(name, model, images):
    weights, state = weights_snapshot(model), layer_state(model)
    before = np.asarray(model(images))
    _call(name, model, images)
    assert_model_unchanged(model, weights, state)
    np.testing.assert_array_equal(np.asarray(model(images)), before)


class _Tripwire(keras.layers.Layer):
    """Raises while traced by kerasviz once armed: proves patches are undone on failure."""

    armed = False

    def call(self, x):
        if _Tripwire.armed:
            raise RuntimeError("tripwire")
        return x


@pytest.mark.parametrize("name", METHODS)
def test_model_unchanged_after_a_call_that_raises(name, images):
    keras.backend.clear_session()
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = _Tripwire(name="tripwire")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(12, activation="relu", name="fc")(x)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))
    weights, state = weights_snapshot(model), layer_state(model)
    _Tripwire.armed = True
    try:
        with pytest.raises(RuntimeError, match="tripwire"):
            _call(name, model, images, target=1)
    finally:
        _Tripwire.armed = False
    assert_model_unchanged(model, weights, state)
    assert np.allclose(np.asarray(model(images)).sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", METHODS)
def test_the_cache_does_not_keep_models_alive(name, images):
    import gc
    import weakref

    keras.backend.clear_session()
    model = MODEL_FORMS["sequential"]()
    _call(name, model, images, target=None)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None, "a compiled function keeps the model alive"
