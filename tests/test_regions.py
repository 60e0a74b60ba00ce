"""A segmentation model explained region by region (`kerasviz.explain_regions`) and recorded for the dashboard."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import summary
from tb_plugin import metadata
from tests.helpers.events import read_events

SIZE, CLASSES = 12, 3


def segmenter(seed=0):
    """Two 3x3 convolutions then a per-position softmax (its logits also as a model, for the reference)."""
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", kernel_initializer=init,
                            bias_initializer=keras.initializers.Constant(0.1))(inputs)
    logits = keras.layers.Conv2D(CLASSES, 3, padding="same", kernel_initializer=init)(x)
    return keras.Model(inputs, keras.layers.Softmax()(logits)), keras.Model(inputs, logits)


@pytest.fixture(scope="module")
def models():
    return segmenter()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (4, SIZE, SIZE, 3)).astype(np.float32)


def reference_saliency(logits_model, image, index, mask):
    """max over RGB of |d sum_{mask} logit_index / d pixel|, by a plain GradientTape."""
    x = tf.constant(image[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum(logits_model(x)[0, :, :, index] * mask.astype(np.float32))
    return np.abs(tape.gradient(score, x).numpy()[0]).max(axis=-1)


def test_each_predicted_region_is_explained_by_its_own_gradient(models, images):
    model, logits_model = models
    result = kerasviz.explain_regions(model, images, "saliency")
    labels = np.asarray(model(images)).argmax(-1)
    assert result.method == "saliency"
    np.testing.assert_array_equal(result.classes, np.unique(labels))
    assert result.masks.shape == (4, len(result.classes), SIZE, SIZE) and result.maps.shape == result.masks.shape
    for r, index in enumerate(result.classes):
        np.testing.assert_array_equal(result.masks[:, r], labels == index)
        for b in range(len(images)):
            if result.present()[b, r]:
                expected = reference_saliency(logits_model, images[b], index, result.masks[b, r])
                np.testing.assert_allclose(result.maps[b, r], expected, rtol=1e-4, atol=1e-6)
                assert result.maps[b, r].max() > 0
            else:
                assert not result.maps[b, r].any()


def test_classes_background_and_min_pixels(models, images):
    model, _ = models
    labels = np.asarray(model(images)).argmax(-1)
    counts = np.stack([(labels == c).sum(axis=(1, 2)) for c in range(CLASSES)], axis=1)  # [B, K]
    everything = kerasviz.explain_regions(model, images, "gradient_x_input")
    some = kerasviz.explain_regions(model, images, "gradient_x_input", classes=[int(everything.classes[-1])])
    np.testing.assert_array_equal(some.maps[:, 0], everything.maps[:, -1])  # a class alone: the same maps
    background = int(np.bincount(labels.ravel()).argmax())
    assert background not in kerasviz.explain_regions(model, images, "saliency", background=background).classes
    big = int(counts[counts > 0].min()) + 1
    fewer = kerasviz.explain_regions(model, images, "saliency", min_pixels=big)
    for r, index in enumerate(fewer.classes):
        np.testing.assert_array_equal(fewer.present()[:, r], counts[:, index] >= big)


def test_a_grid_method_gives_pixel_maps_larger_is_more_important(models, images):
    model, _ = models
    result = kerasviz.explain_regions(model, images[:2], "occlusion", patch=4, stride=4)
    assert result.maps.shape[2:] == (SIZE, SIZE)
    present = result.present()
    assert (result.maps[present] >= 0).all() and all(m.max() > 0 for m in result.maps[present])


def test_bad_arguments_are_named(models, images):
    model, _ = models
    classifier = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"\[B, h, w, K\]"):
        kerasviz.explain_regions(classifier, images)
    with pytest.raises(ValueError, match="`method`"):
        kerasviz.explain_regions(model, images, "nope")
    with pytest.raises(TypeError, match="`method`"):
        kerasviz.explain_regions(model, images, kerasviz.saliency)
    with pytest.raises(ValueError, match="`classes`"):
        kerasviz.explain_regions(model, images, classes=[0, 0])
    with pytest.raises(ValueError, match="`classes`"):
        kerasviz.explain_regions(model, images, classes=[CLASSES])
    with pytest.raises(ValueError, match="`background`"):
        kerasviz.explain_regions(model, images, background=-1)
    with pytest.raises(ValueError, match="`min_pixels`"):
        kerasviz.explain_regions(model, images, min_pixels=0)


def test_written_for_the_dashboard_and_read_back(tmp_path, models, images):
    model, _ = models
    result = kerasviz.explain_regions(model, images, "saliency")
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default(step=3):
        assert result.write(images, class_names=["sky", "road", "car"])
    writer.close()
    [(step, value, meta)] = read_events(str(tmp_path))["kerasviz/regions/saliency"]
    assert step == 3 and metadata.parse_plugin_content(meta.plugin_data.content)["family"] == "regions"
    blobs = tf.make_ndarray(value.tensor)
    header, arrays = metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1])
    assert header["classes"] == result.classes.tolist() and header["class_names"] == ["sky", "road", "car"]
    np.testing.assert_array_equal(arrays["masks"], result.masks)
    np.testing.assert_allclose(arrays["maps"], result.maps, atol=2e-3 * result.maps.max())
    np.testing.assert_array_equal(arrays["images"], np.round(images * 255).astype(np.uint8))
    with tf.summary.create_file_writer(str(tmp_path / "bad")).as_default(step=4):
        with pytest.raises(ValueError, match="`maps`"):
            summary.write_regions("saliency", images, result.maps[:2], result.classes, masks=result.masks)
        with pytest.raises(ValueError, match="`masks`"):
            summary.write_regions("saliency", images, result.maps, result.classes, masks=result.masks[:2])
        with pytest.raises(ValueError, match="one of them"):
            summary.write_regions("saliency", images, result.maps, result.classes)
        with pytest.raises(ValueError, match="`classes`"):
            summary.write_regions("saliency", images, result.maps, result.classes[None, None], masks=result.masks)


def quadrant_detector():
    """Two fixed boxes (top-left and bottom-right quadrants) whose class-1 score reads only their own quadrant."""
    inputs = keras.Input((SIZE, SIZE, 3))
    half = SIZE // 2
    top_left = keras.layers.Cropping2D(((0, half), (0, half)))(inputs)
    bottom_right = keras.layers.Cropping2D(((half, 0), (half, 0)))(inputs)
    means = [keras.layers.GlobalAveragePooling2D()(q) for q in (top_left, bottom_right)]
    logits = [keras.layers.Dense(2, kernel_initializer=keras.initializers.Constant([[-1.0, 1.0]] * 3))(m) for m in means]
    scores = keras.layers.Softmax(name="scores")(keras.layers.Reshape((2, 2))(keras.layers.Concatenate()(logits)))
    place = keras.layers.Dense(8, kernel_initializer="zeros",
                               bias_initializer=keras.initializers.Constant([0, 0, .5, .5, .5, .5, 1, 1]))
    boxes = keras.layers.Reshape((2, 4), name="boxes")(place(means[0]))
    return keras.Model(inputs, {"boxes": boxes, "scores": scores})


def test_a_detectors_boxes_are_explained_each_by_its_own_pixels(tmp_path, images):
    detector = quadrant_detector()
    found = kerasviz.explain_detections(detector, images, "saliency", top=2)
    half = SIZE // 2
    np.testing.assert_array_equal(found.classes, np.ones((4, 2)))  # class 1 wins everywhere (positive means)
    scores = np.asarray(detector(images)["scores"])[..., 1]
    first = scores.argmax(axis=1)  # the more confident box is explained first
    np.testing.assert_allclose(found.scores[:, 0], scores.max(axis=1), rtol=1e-6)
    for b in range(len(images)):
        for r in range(2):
            box = first[b] if r == 0 else 1 - first[b]
            np.testing.assert_allclose(found.boxes[b, r], [0, 0, .5, .5] if box == 0 else [.5, .5, 1, 1])
            inside = np.zeros((SIZE, SIZE), bool)
            inside[(slice(0, half), slice(0, half)) if box == 0 else (slice(half, None), slice(half, None))] = True
            assert found.maps[b, r][inside].min() > 0 and not found.maps[b, r][~inside].any()
    assert found.present().all() and found.masks is None
    none = kerasviz.explain_detections(detector, images, top=2, min_score=0.99)
    assert not none.present().any() and not none.maps.any() and np.isnan(none.scores).all()
    with tf.summary.create_file_writer(str(tmp_path)).as_default(step=0):
        assert found.write(images)
    [(_, value, _)] = read_events(str(tmp_path))["kerasviz/regions/saliency"]
    arrays = metadata.decode_arrays(tf.make_ndarray(value.tensor)[1])
    np.testing.assert_allclose(arrays["boxes"], found.boxes, atol=1e-6)
    with pytest.raises(ValueError, match="`scores`"):
        kerasviz.explain_detections(detector, images, scores="nope")
    with pytest.raises(ValueError, match="`min_score`"):
        kerasviz.explain_detections(detector, images, min_score=2)
