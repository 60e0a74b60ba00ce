"""References and invariants on real models of the other kinds, trained on the shapes dataset.

A segmenter (`Region`), a one-box detector (`Detection`), a two-input model
(a dict of inputs) and an area regressor (`OutputUnit`): each runs the method
families that apply, with results independent of `batch_size`, repeatable
with a seed, linear where the method is, and the model left unchanged.
"""

import concurrent.futures

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from tests.helpers import dense_models
from tests.helpers.models import assert_model_unchanged, layer_state, weights_snapshot

GRADIENT_METHODS = {
    "saliency": {},
    "gradient_x_input": {},
    "smoothgrad": {"samples": 3, "noise": 0.1, "seed": 3},
    "integrated_gradients": {"steps": 8},
}


@pytest.fixture(scope="module")
def test_data():
    return dense_models.shapes(n=4, seed=11)


@pytest.fixture(scope="module")
def segmenter():
    return dense_models.segmenter()


@pytest.fixture(scope="module")
def detector():
    return dense_models.box_detector()


@pytest.fixture(scope="module")
def two_inputs():
    return dense_models.two_input_model()


@pytest.fixture(scope="module")
def regressor():
    return dense_models.area_regressor()


def _invariants(method, model, images, target, params):
    """Batch-size independence, repeatability (the same seed) and an unchanged model, for one call."""
    before = weights_snapshot(model), layer_state(model)
    call = getattr(kerasviz, method)
    first = call(model, images, target, batch_size=1, **params)
    second = call(model, images, target, batch_size=64, **params)
    assert_model_unchanged(model, *before)
    pairs = [(first[k], second[k]) for k in first] if isinstance(first, dict) else [(first, second)]
    for a, b in pairs:
        assert np.all(np.isfinite(a)) and np.abs(a).max() > 0
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    return first


def test_the_segmenter_and_the_detector_learned_the_shapes(segmenter, detector):
    held_out = dense_models.shapes(n=200, seed=7)
    assert dense_models.segmenter_accuracy(segmenter, held_out) > 0.35  # 0.2 by chance; 0.47 on 500 images
    iou, accuracy = dense_models.detector_quality(detector, held_out)
    assert iou > 0.33 and accuracy > 0.45  # 0.42 and 0.62 on 500 images


@pytest.mark.parametrize("method", sorted(GRADIENT_METHODS) + ["grad_cam", "occlusion"])
def test_a_segmenters_region(segmenter, test_data, method):
    params = GRADIENT_METHODS.get(method, {"patch": 4, "stride": 4} if method == "occlusion" else {})
    target = kerasviz.Region(test_data.labels + 1, test_data.masks)
    _invariants(method, segmenter, test_data.images, target, params)


def test_a_segmenters_region_map_is_the_sum_of_its_pixels_maps(segmenter, test_data):
    pixels = list(zip(*np.nonzero(test_data.masks[0])))[:5]
    mask = np.zeros(test_data.masks[0].shape, bool)
    for i, j in pixels:
        mask[i, j] = True
    images, cls = test_data.images[:1], int(test_data.labels[0]) + 1
    region = kerasviz.gradient_x_input(segmenter, images, kerasviz.Region(cls, mask), signed=True)
    summed = 0.0
    for i, j in pixels:
        one = np.zeros_like(mask)
        one[i, j] = True
        summed = summed + kerasviz.gradient_x_input(segmenter, images, kerasviz.Region(cls, one), signed=True)
    np.testing.assert_allclose(region, summed, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", sorted(GRADIENT_METHODS) + ["rise", "occlusion"])
def test_a_detectors_box(detector, test_data, method):
    params = {"rise": {"masks": 16, "seed": 0}, "occlusion": {"patch": 4, "stride": 4}}.get(
        method, GRADIENT_METHODS.get(method))
    target = kerasviz.Detection(0, test_data.labels, iou_with=[0.1, 0.1, 0.9, 0.9])  # overlaps every box
    _invariants(method, detector, test_data.images, target, params)


def test_the_detector_is_traced_once_for_any_box_class_and_reference(test_data):
    keras.backend.clear_session()
    model = dense_models.box_detector(seed=1, epochs=1)
    for k in range(3):
        kerasviz.saliency(model, test_data.images, kerasviz.Detection(0, (test_data.labels + k) % 5,
                                                                      iou_with=[0.1 * k, 0.1, 0.5, 0.6]))
    assert kerasviz.compiled.tracing_count(model) == 1


@pytest.mark.parametrize("method", sorted(GRADIENT_METHODS))
def test_a_two_input_model(two_inputs, test_data, method):
    data = {"image": test_data.images, "side": dense_models.side_values(test_data.labels, 11)}
    maps = _invariants(method, two_inputs, data, test_data.labels, {**GRADIENT_METHODS[method], "attribute": "all"})
    listed = getattr(kerasviz, method)(two_inputs, [data["image"], data["side"]], test_data.labels,
                                       attribute="all", **GRADIENT_METHODS[method])
    np.testing.assert_allclose(listed[0], maps["image"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(listed[1], maps["side"], rtol=1e-5, atol=1e-7)


# The other families on several inputs: a map per image input, the side input held at its values.
IMAGE_INPUT_METHODS = {"grad_cam": {}, "grad_cam_plus_plus": {}, "layer_cam": {}, "score_cam": {"max_channels": 4},
                       "guided_grad_cam": {}, "occlusion": {"patch": 4, "stride": 4}, "lrp": {}, "deeplift": {},
                       "rise": {"masks": 16, "seed": 0}}


@pytest.mark.parametrize("method", sorted(IMAGE_INPUT_METHODS))
def test_a_two_input_models_image_by_the_other_families(two_inputs, test_data, method):
    data = {"image": test_data.images, "side": dense_models.side_values(test_data.labels, 11)}
    maps = _invariants(method, two_inputs, data, test_data.labels, IMAGE_INPUT_METHODS[method])
    grid = (6, 6) if method == "occlusion" else test_data.images.shape[1:3]
    assert set(maps) == {"image"} and maps["image"].shape == (len(test_data.images), *grid)
    listed = getattr(kerasviz, method)(two_inputs, [data["image"], data["side"]], test_data.labels,
                                       **IMAGE_INPUT_METHODS[method])
    assert listed[1] is None
    np.testing.assert_allclose(listed[0], maps["image"], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", sorted(GRADIENT_METHODS) + ["occlusion", "rise"])
def test_an_area_regressor(regressor, test_data, method):
    params = {"rise": {"masks": 16, "seed": 0}, "occlusion": {"patch": 4, "stride": 4}}.get(
        method, GRADIENT_METHODS.get(method))
    _invariants(method, regressor, test_data.images, kerasviz.OutputUnit(0), params)


def test_the_area_regressors_attributions_are_linear_and_complete(regressor, test_data):
    images = test_data.images
    unit = kerasviz.integrated_gradients(regressor, images, kerasviz.OutputUnit(0), steps=64, signed=True)
    doubled = kerasviz.integrated_gradients(regressor, images, kerasviz.WeightedUnits([2.0]), steps=64, signed=True)
    np.testing.assert_allclose(doubled, 2 * unit, rtol=1e-5, atol=1e-7)
    change = regressor(images).numpy()[:, 0] - regressor(tf.zeros_like(images)).numpy()[:, 0]
    np.testing.assert_allclose(unit.sum(axis=(1, 2, 3)), change, rtol=0.05, atol=0.02 * np.abs(change).max())


def test_threads_explaining_other_boxes_and_inputs_get_their_own_results(detector, two_inputs, test_data):
    data = {"image": test_data.images, "side": dense_models.side_values(test_data.labels, 11)}
    calls = [(lambda k=k: kerasviz.saliency(detector, test_data.images, kerasviz.Detection(0, k))) for k in range(3)]
    calls += [(lambda k=k: kerasviz.integrated_gradients(two_inputs, data, k, steps=4, attribute="all"))
              for k in range(2)]
    calls += [(lambda k=k, m=m: getattr(kerasviz, m)(two_inputs, data, k, **IMAGE_INPUT_METHODS[m]))
              for k, m in enumerate(["grad_cam", "score_cam", "occlusion", "lrp"])]
    serial = [call() for call in calls]
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        parallel = [f.result() for f in [pool.submit(call) for call in calls for _ in range(2)]]
    for i, result in enumerate(parallel):
        expected = serial[i // 2]
        for key in expected if isinstance(expected, dict) else [None]:
            got, want = (result, expected) if key is None else (result[key], expected[key])
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
