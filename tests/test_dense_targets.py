"""Targets on dense outputs: a segmentation model's class summed over a region (`targets.Region`)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import compiled, targets

SIZE, CLASSES = 12, 3


def segmenter(seed=0):
    """Two 3x3 convolutions and a per-position softmax: each output position sees a 5x5 window."""
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", kernel_initializer=init,
                            bias_initializer=keras.initializers.Constant(0.1))(inputs)
    x = keras.layers.Conv2D(CLASSES, 3, padding="same", kernel_initializer=init)(x)
    return keras.Model(inputs, keras.layers.Softmax()(x))


@pytest.fixture(scope="module")
def model():
    return segmenter()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (2, SIZE, SIZE, 3)).astype(np.float32)


def _one_pixel(i, j):
    mask = np.zeros((SIZE, SIZE), bool)
    mask[i, j] = True
    return mask


def test_masks_pack_into_bits_and_back():
    rng = np.random.default_rng(1)
    for shape in [(3, 1, 1), (2, 5, 7), (1, 31, 1), (2, 8, 8), (4, 13, 11)]:
        masks = rng.uniform(size=shape) < 0.5
        words = targets.pack_masks(masks)
        assert words.dtype == np.int32 and (words >= 0).all() and words.shape == (shape[0], -(-shape[1] * shape[2] // 31))
        np.testing.assert_array_equal(targets.unpack_masks(tf.constant(words), *shape[1:]).numpy(), masks)


def test_a_region_map_is_the_sum_of_its_positions_maps(model, images):
    mask = np.zeros((SIZE, SIZE), bool)
    mask[3:6, 4:8] = True
    region = kerasviz.saliency(model, images, targets.Region(1, mask), signed=True)
    summed = sum(kerasviz.saliency(model, images, targets.Region(1, _one_pixel(i, j)), signed=True)
                 for i, j in zip(*np.nonzero(mask)))
    np.testing.assert_allclose(region, summed, rtol=1e-4, atol=1e-6)
    assert np.abs(region).max() > 0


def test_a_position_is_explained_by_its_receptive_field_only(model, images):
    gradient = kerasviz.saliency(model, images, targets.Region(2, _one_pixel(6, 5)), signed=True)
    magnitude = np.abs(gradient).max(axis=(0, 3))
    inside = np.zeros_like(magnitude, bool)
    inside[4:9, 3:8] = True  # the 5x5 window around (6, 5)
    assert magnitude[~inside].max() == 0 and magnitude[inside].max() > 0


def test_the_score_is_the_summed_logit_over_the_mask(model, images):
    mask = np.random.default_rng(2).uniform(size=(2, SIZE, SIZE)) < 0.3
    target = targets.Region([0, 2], mask)
    bound, class_idx = targets.resolve(model, target, images)
    logits = kerasviz.models.run(model, tf.constant(images))[0].numpy()
    expected = [(logits[b, ..., c] * mask[b]).sum() for b, c in enumerate([0, 2])]
    score = bound.score(tf.constant(logits), {}, tf.constant(class_idx)).numpy()
    np.testing.assert_allclose(score, expected, rtol=1e-5)


def test_per_image_masks_need_no_retrace_and_match_one_call_per_image(model, images):
    rng = np.random.default_rng(3)
    first, second = (rng.uniform(size=(2, SIZE, SIZE)) < 0.4 for _ in range(2))
    both = kerasviz.gradient_x_input(model, images, targets.Region(1, first))
    traces = compiled.tracing_count(model)
    again = kerasviz.gradient_x_input(model, images, targets.Region(1, second))
    assert compiled.tracing_count(model) == traces
    for b in range(2):
        alone = kerasviz.gradient_x_input(model, images[b:b + 1], targets.Region(1, second[b]))
        np.testing.assert_allclose(again[b], alone[0], rtol=1e-5, atol=1e-7)
    assert not np.allclose(both, again)


def test_regions_add_like_their_masks(model, images):
    left, right = np.zeros((SIZE, SIZE), bool), np.zeros((SIZE, SIZE), bool)
    left[:, :6], right[:, 6:] = True, True
    summed = kerasviz.saliency(model, images, targets.Region(0, left) + targets.Region(0, right), signed=True)
    whole = kerasviz.saliency(model, images, targets.Region(0), signed=True)
    np.testing.assert_allclose(summed, whole, rtol=1e-4, atol=1e-6)


def test_predicted_regions_and_a_perturbation_method(model, images):
    predicted = targets.predicted_regions(model, images, 1)
    logits = kerasviz.models.run(model, tf.constant(images))[0].numpy()
    np.testing.assert_array_equal(predicted, logits.argmax(-1) == 1)
    heat = kerasviz.occlusion(model, images, targets.Region(1, predicted), patch=4, stride=4)
    assert heat.shape == (2, 3, 3) and np.isfinite(heat).all()


def test_region_refuses_what_it_cannot_mean(model, images):
    classifier = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.GlobalAveragePooling2D(),
                                   keras.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"\[B, h, w, K\]"):
        kerasviz.saliency(classifier, images, targets.Region(0))
    with pytest.raises(ValueError, match="output's resolution"):
        kerasviz.saliency(model, images, targets.Region(0, np.ones((4, 4), bool)))
    with pytest.raises(ValueError, match="index=None"):
        targets.Region(None)
    with pytest.raises(ValueError, match="0/1"):
        targets.Region(0, np.full((SIZE, SIZE), 2))
    with pytest.raises(ValueError, match="3 masks in `mask` but 2 images"):
        kerasviz.saliency(model, images, targets.Region(0, np.ones((3, SIZE, SIZE), bool)))
    with pytest.raises(ValueError, match="invalid class index"):
        kerasviz.saliency(model, images, targets.Region(5))
