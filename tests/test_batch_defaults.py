"""The default batch size (sized to the model, memory bounded) and the perturbation methods' progress bars."""

import keras
import numpy as np
import pytest

import kerasviz
from kerasviz import model_cost
from kerasviz.gradients import core
from tests.helpers.models import MODEL_FORMS, SIZE, functional, subclassed


def _tiny(size=8, filters=4, classes=2):
    """Input [size, size, 3] (None: free) -> Conv2D(filters, same) -> GlobalAveragePooling2D -> Dense(classes)."""
    x = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer=keras.initializers.GlorotUniform(0))(x)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, keras.layers.Dense(classes, kernel_initializer=keras.initializers.GlorotUniform(1))(h))


def test_the_cost_of_an_image_is_counted_by_hand():
    keras.backend.clear_session()
    model = _tiny()
    by_hand = 4 * (8 * 8 * 4 + 4 + 2)  # float32 conv output, pooled vector, logits (the input is not an activation)
    cost = model_cost.image_cost(model, (8, 8, 3))
    assert cost.activation_bytes in (by_hand, by_hand + 4 * 8 * 8 * 3)  # with or without the InputLayer's output
    assert cost.multiply_adds == 8 * 8 * (3 * 3 * 3 * 4) + 4 * 2  # conv kernel at 64 positions, Dense kernel once
    # A free-size model is traced for the images' size: four times the conv's cost at twice the side.
    free = _tiny(size=None)
    small, large = model_cost.image_cost(free, (8, 8, 3)), model_cost.image_cost(free, (16, 16, 3))
    assert small.multiply_adds == cost.multiply_adds
    assert large.multiply_adds == 16 * 16 * (3 * 3 * 3 * 4) + 4 * 2
    assert small.activation_bytes >= by_hand and 3.5 < large.activation_bytes / small.activation_bytes <= 4.0


def test_passes_are_timed_per_image_and_a_method_estimated_from_its_cost():
    from kerasviz import registry

    keras.backend.clear_session()
    model = _tiny()
    images = np.random.default_rng(0).random((3, 8, 8, 3)).astype(np.float32)
    times = model_cost.time_passes(model, images, forward=False)
    assert times.forward == times.trace_forward == 0.0  # not asked for
    assert times.backward > 0 and times.trace_backward >= 0
    times = model_cost.PassTimes(forward=0.01, backward=0.03, trace_forward=0.5, trace_backward=1.0)
    # 3 images x (1 forward x 0.01 + 25 gradients x 0.03) + one compilation of a gradient function
    smoothgrad = registry.cost("smoothgrad", model, (8, 8, 3))
    assert times.seconds(smoothgrad, 3) == pytest.approx(3 * (0.01 + 25 * 0.03) + 1.0)
    assert times.seconds(registry.Cost(forward=10), 2) == pytest.approx(2 * 10 * 0.01 + 0.5)


def test_a_subclassed_model_is_sized_from_its_traced_graph():
    keras.backend.clear_session()
    sub, func = subclassed(), functional()
    traced, symbolic = model_cost.image_cost(sub, (SIZE, SIZE, 3)), model_cost.image_cost(func, (SIZE, SIZE, 3))
    # The same network: the same multiply-adds; the traced graph holds at least the layer outputs.
    assert traced.multiply_adds == symbolic.multiply_adds == SIZE * SIZE * 9 * (3 * 6 + 6 * 8) + 8 * 12 + 12 * 4
    convs = 4 * SIZE * SIZE * (6 + 8)
    assert symbolic.activation_bytes >= convs and convs <= traced.activation_bytes <= 4 * symbolic.activation_bytes


def test_the_default_is_the_largest_power_of_two_in_the_budgets(monkeypatch):
    keras.backend.clear_session()
    model = _tiny()
    per_image = model_cost.image_cost(model, (8, 8, 3))
    monkeypatch.setattr(model_cost, "MAX_DEFAULT_BATCH", 256)
    monkeypatch.setattr(model_cost, "ACTIVATION_BUDGET", 13 * 2 * per_image.activation_bytes)
    assert model_cost.default_batch_size(model, (8, 8, 3)) == 8  # 13 images fit a forward and backward pass
    assert model_cost.default_batch_size(model, (8, 8, 3), cost="forward") == 16  # 26 fit a forward pass
    monkeypatch.setattr(model_cost, "ACTIVATION_BUDGET", per_image.activation_bytes // 3)
    assert model_cost.default_batch_size(model, (8, 8, 3)) == 1  # never 0
    monkeypatch.setattr(model_cost, "ACTIVATION_BUDGET", 10**15)
    assert model_cost.default_batch_size(model, (8, 8, 3)) == 256
    with pytest.raises(ValueError, match="`cost`: 'sideways'"):
        model_cost.default_batch_size(model, (8, 8, 3), cost="sideways")


def test_methods_use_the_default_and_their_results_do_not_depend_on_it(monkeypatch):
    keras.backend.clear_session()
    model = MODEL_FORMS["functional"]()
    images = np.random.default_rng(0).random((3, SIZE, SIZE, 3)).astype(np.float32)
    assert core.Prepared(model, images, None, None).batch_size == model_cost.default_batch_size(model, (SIZE, SIZE, 3))
    assert core.Prepared(model, images, None, 5).batch_size == 5
    per_image = model_cost.image_cost(model, (SIZE, SIZE, 3)).activation_bytes
    large = kerasviz.smoothgrad(model, images, samples=4)  # one chunk: the default is 64 for a tiny model
    monkeypatch.setattr(model_cost, "ACTIVATION_BUDGET", 2 * 2 * per_image)  # a default of 2: six chunks
    assert core.Prepared(model, images, None, None).batch_size == 2
    np.testing.assert_allclose(kerasviz.smoothgrad(model, images, samples=4), large, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name, settings, total", [
    ("rise", {"masks": 6, "grid": 3}, 12),
    ("lime", {"samples": 8}, 16),
    ("kernel_shap", {"samples": 6}, 16),
    ("xrai", {"steps": 3, "scales": (50, 200)}, 6),
])
def test_perturbation_methods_show_a_bar_on_request(name, settings, total, capsys):
    keras.backend.clear_session()
    model = MODEL_FORMS["functional"]()
    images = np.random.default_rng(1).random((2, SIZE, SIZE, 3)).astype(np.float32)
    method = getattr(kerasviz, name)
    quiet = method(model, images, 0, batch_size=5, **settings)
    assert capsys.readouterr().out == ""
    loud = method(model, images, 0, batch_size=5, verbose=1, **settings)
    assert f"{total}/{total}" in capsys.readouterr().out
    np.testing.assert_array_equal(quiet, loud)
    with pytest.raises(ValueError, match="`verbose`: 3"):
        method(model, images, 0, verbose=3, **settings)
