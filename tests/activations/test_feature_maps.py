"""feature_maps: a layer's activations as labelled tiles, every model form."""

import numpy as np
import pytest

from kerasviz import models
from kerasviz.activations.feature_maps import feature_maps
from tests.helpers.models import SIZE, assert_model_unchanged, layer_state, weights_snapshot


def _reference(model, images, path):
    """The layer's output from a plain Keras sub-model (functional forms only)."""
    import keras

    layer = models.get_layer(model, path)[1]
    return keras.Model(model.inputs, layer.output)(images).numpy() if "/" not in path else None


def test_maps_are_the_activations_sorted_by_mean(model_form, images):
    name, model = model_form
    weights, state = weights_snapshot(model), layer_state(model)
    result = feature_maps(model, images, "conv2", max_channels=5, batch_size=2)
    assert result.maps.shape == (5, SIZE, SIZE, 5) and result.maps.dtype == np.float32
    assert result.layer == models.get_layer(model, "conv2")[0]
    assert np.all(np.diff(result.means) <= 0), name  # most active first
    np.testing.assert_allclose(result.maps.mean(axis=(0, 1, 2)), result.means, rtol=1e-3, atol=1e-6)
    full = feature_maps(model, images, "conv2", channels=list(range(8)), order="index")
    np.testing.assert_allclose(full.maps[..., result.channels], result.maps, rtol=1e-5, atol=1e-6)
    assert set(result.channels) <= set(range(8)) and result.means[0] == pytest.approx(full.means.max(), rel=1e-5)
    if name in ("functional", "sequential", "reloaded"):
        np.testing.assert_allclose(full.maps, _reference(model, images, result.layer), rtol=1e-4, atol=1e-5)
    assert result.grids.shape[0] == 5 and 0 <= result.grids.min() <= result.grids.max() <= 1
    assert_model_unchanged(model, weights, state)


def test_default_layer_selection_order_and_errors(images):
    from tests.helpers.models import nested

    model = nested()
    result = feature_maps(model, images[:2])
    assert result.layer == models.default_layers(model, "grad_cam")[0] and "/" in result.layer
    picked = feature_maps(model, images[:2], "backbone/conv1", channels=[4, 1], order="index")
    assert list(picked.channels) == [4, 1] and picked.maps.shape[-1] == 2
    assert picked.grids.shape[1] > SIZE  # titled tiles
    with pytest.raises(ValueError, match="channels"):
        feature_maps(model, images, "backbone/conv1", channels=[6])
    with pytest.raises(ValueError, match="layer"):
        feature_maps(model, images, "fc")
    with pytest.raises(ValueError, match="order"):
        feature_maps(model, images, order="max")
