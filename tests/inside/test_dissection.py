"""Network Dissection (Bau et al., 2017) against planted colour detectors, and its streaming quantiles."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasviz import compiled  # noqa: E402
from kerasviz.demo import load_shapes  # noqa: E402
from kerasviz.inside import concepts as concept_masks  # noqa: E402
from kerasviz.inside import dissection, quantiles  # noqa: E402

SIZE = 16
# unit k = relu(w_k . rgb - 0.3): red, green and blue detectors
WEIGHTS = np.array([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]], np.float32)
COLOURS = {"red": (0.9, 0.1, 0.1), "green": (0.1, 0.85, 0.1), "blue": (0.1, 0.1, 0.9), "yellow": (0.95, 0.9, 0.1)}


@pytest.fixture(autouse=True)
def _clear():
    keras.backend.clear_session()


def planted(pool=False):
    """Channel k of layer "colour" is the analytic red/green/blue detector `relu(W_k . rgb - 0.3)`."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(3, 1, activation="relu", name="colour")(inputs)
    if pool:
        x = keras.layers.AveragePooling2D(2, name="pooled")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(x))
    model.get_layer("colour").set_weights([WEIGHTS.T[None, None], np.full(3, -0.3, np.float32)])
    return model


def squares(n=100, per_colour=8, seed=0):
    """Grey images with one 4x4 square (on the 2-pixel grid) in `per_colour` images of each colour.

    With 100 images of 16x16 and 8 squares of 16 pixels, each colour covers
    exactly 0.5% of the positions, the top quantile of Network Dissection.
    """
    rng = np.random.default_rng(seed)
    images = np.repeat(rng.uniform(0.3, 0.7, (n, 1, 1, 1)), 3, axis=-1) * np.ones((1, SIZE, SIZE, 3))
    images = images + rng.uniform(-0.02, 0.02, images.shape)
    ids = np.full((n, SIZE, SIZE), -1, np.int64)
    order = rng.permutation(n)
    for k, colour in enumerate(COLOURS.values()):
        for i in order[k * per_colour:(k + 1) * per_colour]:
            top, left = 2 * rng.integers(0, (SIZE - 4) // 2 + 1, 2)
            images[i, top:top + 4, left:left + 4] = np.asarray(colour) + rng.uniform(-0.03, 0.03, (4, 4, 3))
            ids[i, top:top + 4, left:left + 4] = k
    return np.clip(images, 0, 1).astype(np.float32), ids


def test_planted_colour_units_are_dissected_as_their_colour():
    images, ids = squares()
    result = dissection.dissect(planted(), (images, ids), "colour", list(COLOURS), batch_size=16)
    assert [result.concepts[c] for c in result.best_concept] == ["red", "green", "blue"]
    np.testing.assert_allclose(result.best_iou, 1.0, atol=1e-6)
    others = result.iou.copy()
    others[np.arange(3), result.best_concept] = 0
    assert others.max() < 0.04  # the yellow squares excite the red and green units less than their own colour
    assert result.detector.all() and result.exact and result.positions == 100 * SIZE * SIZE
    assert result.labels()[0] == "unit 0: red (IoU 1)"


def test_bilinear_upsampling_of_a_coarser_layer():
    images, ids = squares(seed=1)
    binary = ids[..., None] == np.arange(len(COLOURS))  # the same concepts as binary masks
    result = dissection.dissect(planted(pool=True), (images, binary), "pooled", list(COLOURS))
    assert [result.concepts[c] for c in result.best_concept] == ["red", "green", "blue"]
    # the upsampled maps spill past the squares' edges where the threshold is low (blue's is 0): IoU < 1
    assert result.best_iou.min() > 0.4
    # by hand: the 8x8 maps upsampled bilinearly, thresholded at the exact quantile, IoU over the dataset
    pooled = tf.nn.avg_pool2d(tf.nn.relu(images @ WEIGHTS.T - 0.3), 2, 2, "VALID").numpy()
    thresholds = np.quantile(pooled.reshape(-1, 3), 0.995, axis=0, method="inverted_cdf")
    np.testing.assert_array_equal(result.thresholds, thresholds.astype(np.float32))
    up = tf.image.resize(pooled, (SIZE, SIZE), "bilinear").numpy() > thresholds
    inter = np.einsum("bhwu,bhwk->uk", up.astype(float), binary.astype(float))
    union = up.sum((0, 1, 2))[:, None] + binary.sum((0, 1, 2))[None] - inter
    np.testing.assert_allclose(result.iou, inter / union, atol=1e-6)


def test_shapes_dataset_colour_concepts():
    data = load_shapes(n=120, size=SIZE * 2, seed=3)
    masks, names = concept_masks.shapes_concepts(data)
    inputs = keras.Input((SIZE * 2, SIZE * 2, 3))
    conv = keras.layers.Conv2D(3, 1, activation="relu", name="colour")
    x = keras.layers.GlobalAveragePooling2D()(conv(inputs))
    model_32 = keras.Model(inputs, keras.layers.Dense(2)(x))
    conv.set_weights([WEIGHTS.T[None, None], np.full(3, -0.3, np.float32)])
    dataset = tf.data.Dataset.from_tensor_slices((data.images, masks)).batch(25)
    result = dissection.dissect(model_32, dataset, "colour", names)
    assert [names[c] for c in result.best_concept] == ["red", "green", "blue"]
    shapes = result.iou[:, :len(data.class_names)]
    assert result.best_iou.min() > 0.3 and shapes.max() < result.best_iou.min() / 2


def test_streamed_thresholds_equal_exact_quantiles():
    images, ids = squares(seed=2)
    values = np.maximum(images @ WEIGHTS.T - 0.3, 0).reshape(-1, 3)
    exact = np.quantile(values, 0.995, axis=0, method="inverted_cdf").astype(np.float32)
    # a sketch of 512 values per unit compacts 50 times over 25,600 positions, yet keeps the top 256 exactly
    result = dissection.dissect(planted(), (images, ids), "colour", list(COLOURS), batch_size=7, capacity=512)
    np.testing.assert_array_equal(result.thresholds, exact)
    assert result.exact
    small = dissection.dissect(planted(), (images, ids), "colour", list(COLOURS), batch_size=7, capacity=64)
    assert not small.exact  # the tail (128 values) no longer fits: said


def test_results_do_not_depend_on_batching_and_trace_once():
    images, ids = squares(seed=4)
    model = planted(pool=True)
    first = dissection.dissect(model, (images, ids), "pooled", list(COLOURS), batch_size=9)
    traces = compiled.tracing_count(model)
    dataset = tf.data.Dataset.from_tensor_slices((images, ids)).batch(13)
    second = dissection.dissect(model, dataset, "pooled", list(COLOURS))
    assert compiled.tracing_count(model) == traces  # a smaller last batch, another batch size: no new trace
    np.testing.assert_array_equal(first.thresholds, second.thresholds)
    np.testing.assert_allclose(first.iou, second.iou, atol=1e-7)
    unbatched = dissection.dissect(model, tf.data.Dataset.from_tensor_slices((images, ids)), "pooled", list(COLOURS))
    np.testing.assert_allclose(first.iou, unbatched.iou, atol=1e-7)


def test_units_taken_in_groups_give_the_same_tally(monkeypatch):
    images, ids = squares(seed=4)
    model = planted(pool=True)
    whole = dissection.dissect(model, (images, ids), "pooled", list(COLOURS), batch_size=8)
    # room for 2 units of 8 upsampled 16x16 maps at a time: groups of 2, the last one padded
    monkeypatch.setattr(dissection, "_MASK_BYTES", 4 * 8 * SIZE * SIZE * 2)
    grouped = dissection.dissect(model, (images, ids), "pooled", list(COLOURS), batch_size=8)
    assert any(key[-1] == 2 for key in compiled.cached_keys(model) if key[0] == "inside_dissection_tally")
    np.testing.assert_allclose(grouped.iou, whole.iou, atol=1e-7)


@pytest.mark.parametrize("capacity", [10 ** 6, 512])
@pytest.mark.parametrize("q", [0.995, 0.9, 0.5])
def test_tail_quantiles_equal_numpy_where_the_tail_fits(q, capacity):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((4, 30000)).astype(np.float32)
    values[1] = np.round(values[1])  # many ties
    sketch = quantiles.TailQuantiles(4, capacity, seed=1)
    for start in range(0, 30000, 1234):
        sketch.update(values[:, start:start + 1234])
    exact = np.quantile(values, q, axis=1, method="inverted_cdf")
    estimate = sketch.quantile(q)
    assert sketch.count == 30000
    assert sketch.is_exact(q) == (capacity > 30000 or (1 - q) * 30000 < capacity // 2)
    if sketch.is_exact(q):
        np.testing.assert_array_equal(estimate, exact)
    else:  # compacted: the rank error stays small (between the ranks below and at the estimate, with ties)
        below, at = (values < estimate[:, None]).mean(axis=1), (values <= estimate[:, None]).mean(axis=1)
        assert np.all(below - 0.02 <= q) and np.all(q <= at + 0.02)
    assert sketch.nbytes() <= 4 * 4 * capacity * (len(sketch.levels))


def test_sketch_memory_is_bounded():
    sketch = quantiles.TailQuantiles(2, 256)
    rng = np.random.default_rng(1)
    for _ in range(200):
        sketch.update(rng.standard_normal((2, 1000)))
    assert sketch.count == 200000 and len(sketch.levels) <= 12
    assert all(level.shape[1] <= 256 for level in sketch.levels)
    top = np.sort(np.concatenate(sketch.levels, axis=1), axis=1)[:, -128:]
    assert top.min() > 3.0  # the highest values survive the compactions


def test_bad_inputs_name_the_argument():
    images, ids = squares(n=20)
    model = planted()
    with pytest.raises(ValueError, match="top_quantile.*1.5"):
        dissection.dissect(model, (images, ids), "colour", list(COLOURS), top_quantile=1.5)
    with pytest.raises(ValueError, match=r"concept ids from -1 to \d.*expected -1 \(no concept\) to 0"):
        dissection.dissect(model, (images, ids), "colour", ["red"])
    with pytest.raises(ValueError, match=r"masks of shape \(20, 16, 16, 2\)"):
        dissection.dissect(model, (images, np.zeros((20, 16, 16, 2), bool)), "colour", list(COLOURS))
    with pytest.raises(TypeError, match="concepts"):
        dissection.dissect(model, (images, ids), "colour", "red")
    with pytest.raises(TypeError, match=r"\(images, masks\)"):
        dissection.dissect(model, images, "colour", list(COLOURS))
    with pytest.raises(ValueError, match="layer"):
        dissection.dissect(model, (images, ids), "nope", list(COLOURS))
    with pytest.raises(ValueError, match="value_range"):
        dissection.dissect(model, (images * 2, ids), "colour", list(COLOURS), value_range=(0, 1))
    with pytest.raises(ValueError, match="capacity"):
        quantiles.TailQuantiles(3, 7)
    empty = tf.data.Dataset.from_tensor_slices((images[:0], ids[:0])).batch(4)
    with pytest.raises(ValueError, match="empty dataset"):
        dissection.dissect(model, empty, "colour", list(COLOURS))
    with pytest.raises(ValueError, match=r"one row per image. Received shapes \[\(20, 16, 16, 3\), \(19, 16, 16\)\]"):
        dissection.dissect(model, (images, ids[:19]), "colour", list(COLOURS), batch_size=32)
