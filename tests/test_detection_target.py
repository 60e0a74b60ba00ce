"""A detector's target (`kerasviz.Detection`): a box's class score, times its IoU with a given box."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import compiled, detection_target, targets

SIZE, BOXES, CLASSES = 12, 3, 4
REGION = (slice(2, 7), slice(5, 11))  # the only pixels the synthetic detector sees


def region_mask():
    mask = np.zeros((SIZE, SIZE), bool)
    mask[REGION] = True
    return mask


def synthetic_detector(seed=0):
    """Boxes `[B, 3, 4]` (fractions, valid) and scores `[B, 3, 4]` (softmax) computed from `REGION` alone.

    The first layer's kernel is zero for every pixel outside the region, so
    nothing outside it can move any box or score.
    """
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((SIZE, SIZE, 1), name="image")
    first = keras.layers.Dense(16, activation="tanh", kernel_initializer=init, name="sees_region")
    hidden = first(keras.layers.Flatten()(inputs))
    hidden = keras.layers.Dense(16, activation="relu", kernel_initializer=init, bias_initializer="ones")(hidden)
    boxes = keras.layers.Reshape((BOXES, 4))(keras.layers.Dense(BOXES * 4, kernel_initializer=init)(hidden))
    corners = keras.layers.Activation("sigmoid")(boxes)  # (y0, x0) in [0, 0.5], (y1, x1) in [0.5, 1]
    boxes = keras.layers.Rescaling(0.5, offset=[0.0, 0.0, 0.5, 0.5], name="boxes")(corners)
    scores = keras.layers.Reshape((BOXES, CLASSES))(keras.layers.Dense(BOXES * CLASSES, kernel_initializer=init)(hidden))
    scores = keras.layers.Softmax(name="scores")(scores)
    model = keras.Model(inputs, {"boxes": boxes, "scores": scores}, name="detector")
    kernel = first.kernel.numpy() * region_mask().reshape(-1, 1)
    first.kernel.assign(kernel * 4.0)
    return model


@pytest.fixture(scope="module")
def model():
    return synthetic_detector()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (3, SIZE, SIZE, 1)).astype(np.float32)


def _numpy_iou(a, b):
    height = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    width = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    area = lambda x: np.clip(x[:, 2] - x[:, 0], 0, None) * np.clip(x[:, 3] - x[:, 1], 0, None)  # noqa: E731
    return height * width / (area(a) + area(b) - height * width)


REFERENCE = np.array([[0.1, 0.2, 0.6, 0.7], [0.3, 0.3, 0.9, 0.8], [0.0, 0.0, 0.5, 0.5]])


def test_the_score_is_the_boxs_class_logit_times_its_iou(model, images):
    target = kerasviz.Detection(box=[0, 2, 1], index=[3, 1, 0], iou_with=REFERENCE)
    bound, class_idx = targets.resolve(model, target, images)
    outputs, _ = kerasviz.models.run(model, tf.constant(images))
    boxes, logits = (o.numpy() for o in outputs)
    rows, chosen, classes = np.arange(3), np.array([0, 2, 1]), np.array([3, 1, 0])
    expected = logits[rows, chosen, classes] * _numpy_iou(boxes[rows, chosen], REFERENCE)
    np.testing.assert_allclose(bound.score(outputs, {}, tf.constant(class_idx)).numpy(), expected, rtol=1e-5)
    plain, plain_idx = targets.resolve(model, kerasviz.Detection(2, 1), images)
    np.testing.assert_allclose(plain.score(outputs, {}, tf.constant(plain_idx)).numpy(), logits[:, 2, 1], rtol=1e-6)
    assert 0 < _numpy_iou(boxes[rows, chosen], REFERENCE).min()  # the IoU term is really exercised


def test_iou_is_that_of_numpy_and_has_a_gradient():
    rng = np.random.default_rng(1)
    corners = np.sort(rng.uniform(0, 1, (2, 50, 2, 2)), axis=2)  # y0 < y1, x0 < x1
    a, b = (np.stack([c[:, 0, 0], c[:, 0, 1], c[:, 1, 0], c[:, 1, 1]], axis=1) for c in corners)
    boxes = tf.Variable(a, dtype=tf.float32)
    with tf.GradientTape() as tape:
        iou = detection_target.box_iou(boxes, tf.constant(b, tf.float32))
    np.testing.assert_allclose(iou.numpy(), _numpy_iou(a, b), rtol=1e-5, atol=1e-7)
    overlapping = _numpy_iou(a, b) > 0
    assert np.abs(tape.gradient(iou, boxes).numpy()[overlapping]).sum(axis=1).min() > 0


@pytest.mark.parametrize("method, params", [
    ("saliency", {}),
    ("gradient_x_input", {}),
    ("integrated_gradients", {"steps": 8}),
    ("smoothgrad", {"samples": 4, "noise": 0.1}),
])
def test_a_box_that_sees_one_region_is_explained_inside_it(model, images, method, params):
    target = kerasviz.Detection(box=1, index=2, iou_with=REFERENCE[0])
    maps = getattr(kerasviz, method)(model, images, target, **params)
    masks = np.broadcast_to(region_mask(), maps.shape)
    assert maps[~masks].max() == 0.0 and maps[masks].max() > 0
    np.testing.assert_array_equal(kerasviz.metrics.pointing_game(maps, masks), 1.0)
    np.testing.assert_allclose(kerasviz.metrics.relevance_mass_accuracy(maps, masks), 1.0, rtol=1e-6)


def test_occluding_outside_the_region_leaves_the_boxs_probability_as_it_is(model, images):
    heat = kerasviz.occlusion(model, images, kerasviz.Detection(box=0, index=1), patch=2, stride=2, value=0.0,
                              inference="naive")
    clean = model(images)["scores"].numpy()[:, 0, 1]  # perturbation methods read the probability
    touches = region_mask().reshape(6, 2, 6, 2).any(axis=(1, 3))
    np.testing.assert_allclose(heat[:, ~touches], np.broadcast_to(clean[:, None], heat[:, ~touches].shape),
                               rtol=1e-6)
    assert np.abs(heat[:, touches] - clean[:, None]).max() > 1e-4


def test_other_boxes_classes_and_references_need_no_retrace(images):
    keras.backend.clear_session()
    model = synthetic_detector(1)
    for box in range(BOXES):
        kerasviz.saliency(model, images, kerasviz.Detection(box, box + 1, iou_with=REFERENCE[box]))
    assert compiled.tracing_count(model) == 1


def test_bad_detection_targets_name_the_argument(model, images):
    with pytest.raises(ValueError, match=r"`box`: 3\. Expected 0 to 2"):
        kerasviz.saliency(model, images, kerasviz.Detection(3, 0))
    with pytest.raises(ValueError, match=r"`index`: 4\. Expected 0 to 3"):
        kerasviz.saliency(model, images, kerasviz.Detection(0, 4))
    with pytest.raises(ValueError, match=r"`iou_with`.*fractions in \[0, 1\]"):
        kerasviz.Detection(0, 0, iou_with=[0, 0, 20, 30])
    with pytest.raises(ValueError, match=r"`scores`: 'classes'"):
        kerasviz.saliency(model, images, kerasviz.Detection(0, 0, scores="classes"))
    with pytest.raises(ValueError, match=r"has one output"):
        kerasviz.saliency(keras.Sequential([keras.Input((SIZE, SIZE, 1)), keras.layers.Flatten(),
                                            keras.layers.Dense(2)]), images, kerasviz.Detection(0, 0))
    with pytest.raises(TypeError, match=r"`box`"):
        kerasviz.Detection("first", 0)
