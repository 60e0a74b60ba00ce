"""The registry's `several_inputs` fact, checked against every method on a tiny model with two inputs."""

import warnings

import numpy as np
import pytest

import kerasviz
from kerasviz import registry
from tests.helpers.method_settings import TINY_SETTINGS
from tests.helpers.multi_input_models import SIDE, SIZE, image_and_spatial_side


@pytest.fixture(scope="module")
def model():
    return image_and_spatial_side()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return {"image": rng.uniform(0, 1, (2, SIZE, SIZE, 2)).astype(np.float32),
            "side": rng.uniform(-1, 1, (2, SIDE)).astype(np.float32)}


@pytest.mark.parametrize("name", sorted(registry.METHODS))
def test_a_method_takes_several_inputs_exactly_when_its_record_says_so(model, data, name):
    method = registry.METHODS[name]
    call = lambda: method.function(model, data, 1, **TINY_SETTINGS[name])  # noqa: E731
    if not method.several_inputs:
        with pytest.raises(ValueError, match=r"has 2 inputs|several inputs"):
            call()
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a constant map is said; the shape is the point here
        maps = call()
    assert set(maps) == {"image"}
    expected = method.map_shape((SIZE, SIZE, 2), TINY_SETTINGS[name])
    assert maps["image"].shape == (2, *expected) and maps["image"].dtype == np.float32
    assert np.all(np.isfinite(maps["image"]))
    assert name in kerasviz.registry.names_with("several_inputs")
