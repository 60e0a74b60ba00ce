"""Top patches against a brute-force search over every activation of a small set."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz import compiled, models
from kerasviz.activations.patches import TopPatches, patches_grid, top_patches
from kerasviz.activations.receptive_field import ReceptiveField
from tests.helpers.models import SIZE, assert_model_unchanged, functional, layer_state, weights_snapshot

L = keras.layers


def strided(seed=0):
    """16 x 16 -> 3x3 s2 'same' (16 -> 8, total pad 1, 0 before: size 3, stride 2, start 0)
    -> 3x3 'same' (size 3 + 2 * 2 = 7, start 0 - 2 = -2, offset 1)."""
    init = keras.initializers.GlorotUniform
    return keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        L.Conv2D(6, 3, strides=2, padding="same", activation="relu", kernel_initializer=init(seed)),
        L.Conv2D(5, 3, padding="same", activation="relu", kernel_initializer=init(seed + 1), name="top"),
        L.GlobalAveragePooling2D(),
        L.Dense(3, kernel_initializer=init(seed + 2)),
    ], name="strided")


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    images = rng.uniform(0, 1, (50, SIZE, SIZE, 3)).astype(np.float32)
    images[40:] = images[:10]  # exact duplicates: ties must go to the lower stream index
    return images


def brute_force(model, layer, images, channels, k):
    """Every activation at once, sorted by (-value, image, row, col) in plain numpy."""
    path, found = models.get_layer(model, layer)
    owner = models.get_layer(model, path.rsplit("/", 1)[0])[1] if "/" in path else model  # nested backbone
    activations = keras.Model(owner.inputs, found.output).predict(images, verbose=0)
    _, h, w, _ = activations.shape
    out = []
    for c in channels:
        values = activations[..., c].reshape(-1)
        order = np.lexsort((np.arange(values.size), -values.astype(np.float64)))[:k]
        rows, cols = (order % (h * w)) // w, order % w
        out.append((values[order], order // (h * w), np.stack([rows, cols], -1)))
    return out


def assert_matches(result, expected):
    for c, (scores, index, positions) in enumerate(expected):
        np.testing.assert_array_equal(result.scores[c], scores)
        np.testing.assert_array_equal(result.image_index[c], index)
        np.testing.assert_array_equal(result.positions[c], positions)


@pytest.mark.parametrize("channels", [2, [0, 4, 1], (3,)])
def test_equals_brute_force(data, channels):
    keras.backend.clear_session()
    model = strided()
    weights, state = weights_snapshot(model), layer_state(model)
    wanted = [channels] if isinstance(channels, int) else list(channels)
    result = top_patches(model, data, "top", channels, k=12, batch_size=8)
    assert isinstance(result, TopPatches)
    assert result.channels.tolist() == wanted and result.channels.dtype == np.int64
    assert result.scores.shape == (len(wanted), 12) and result.scores.dtype == np.float32
    assert result.image_index.dtype == np.int64 and result.positions.shape == (len(wanted), 12, 2)
    assert_matches(result, brute_force(model, "top", data, wanted, 12))
    assert result.receptive_field == ReceptiveField((7, 7), (2, 2), (1.0, 1.0), "analytic")
    assert_model_unchanged(model, weights, state)


def test_ties_go_to_the_lower_stream_index(data):
    keras.backend.clear_session()
    model = strided()
    result = top_patches(model, data, "top", [0, 1, 2], k=40, batch_size=7)
    ties = 0
    for c in range(3):
        assert np.all(np.diff(result.scores[c]) <= 0)
        same = result.scores[c][:-1] == result.scores[c][1:]
        keys = result.image_index[c] * 64 + result.positions[c][:, 0] * 8 + result.positions[c][:, 1]
        assert np.all(keys[1:][same] > keys[:-1][same])
        ties += same.sum()
    assert ties > 0
    assert np.any(result.image_index >= 40)  # duplicates do win, after their originals


def test_independent_of_batch_size_and_of_the_data_form(data):
    keras.backend.clear_session()
    model = strided()
    reference = top_patches(model, data, "top", [0, 3], k=9, batch_size=50)
    labels = np.arange(50)
    forms = {
        "batch 1": (data, 1),
        "batch 7": (data, 7),
        "tensor": (tf.constant(data), 16),
        "dataset (images, labels)": (tf.data.Dataset.from_tensor_slices((data, labels)).batch(13), 5),
        "unbatched dataset": (tf.data.Dataset.from_tensor_slices(data), 6),
        "dataset of images": (tf.data.Dataset.from_tensor_slices(data).batch(64), None),
    }
    count = compiled.tracing_count(model)
    for name, (source, batch_size) in forms.items():
        result = top_patches(model, source, "top", [0, 3], k=9, batch_size=batch_size)
        for got, want in zip(result[:5], reference[:5]):
            np.testing.assert_array_equal(got, want, err_msg=name)
        for got, want in zip(result.patches, reference.patches):
            np.testing.assert_array_equal(got, want, err_msg=name)
    assert compiled.tracing_count(model) == count  # one trace for every batch size


def test_crops_are_the_pixels_inside_the_box(data):
    keras.backend.clear_session()
    model = strided()
    pixels = np.round(data * 255).astype(np.uint8)
    result = top_patches(model, pixels, "top", [1, 2], k=20, batch_size=9)
    clipped = 0
    for c in range(2):
        assert result.patches[c].shape == (20, 7, 7, 3) and result.patches[c].dtype == np.uint8
        for j in range(20):
            row, col = result.positions[c, j]
            start_r, start_c = 2 * row - 2, 2 * col - 2  # offset 1, size 7: start = 1 - 3 + 2 i
            box = (max(start_r, 0), max(start_c, 0), min(start_r + 7, SIZE), min(start_c + 7, SIZE))
            assert tuple(result.boxes[c, j]) == box
            top, left, bottom, right = box
            crop = result.patches[c][j]
            inside = crop[top - start_r:bottom - start_r, left - start_c:right - start_c]
            np.testing.assert_array_equal(inside, pixels[result.image_index[c, j], top:bottom, left:right])
            assert crop.sum(dtype=np.int64) == inside.sum(dtype=np.int64)  # zero outside the image
            clipped += (bottom - top, right - left) != (7, 7)
    assert clipped  # some fields do leave the image


def test_one_pass_over_the_data_for_many_channels(data):
    keras.backend.clear_session()
    model = strided()
    reads = []

    def generate():
        for image in data:
            reads.append(1)
            yield image

    spec = tf.TensorSpec((SIZE, SIZE, 3), tf.float32)
    dataset = tf.data.Dataset.from_generator(generate, output_signature=spec)
    result = top_patches(model, dataset, "top", [0, 1, 2, 3, 4], k=5, batch_size=16)
    assert len(reads) == len(data)
    assert_matches(result, brute_force(model, "top", data, range(5), 5))


def test_model_forms_and_default_layer(model_form, images):
    name, model = model_form
    weights, state = weights_snapshot(model), layer_state(model)
    result = top_patches(model, images, channels=[0, 7], k=4, batch_size=2)  # default: relu2, 8 channels
    assert result.scores.shape == (2, 4) and np.all(np.diff(result.scores, axis=1) <= 0)
    assert result.receptive_field.size == (5, 5)
    if name != "subclassed":  # no symbolic inputs for the reference
        assert_matches(result, brute_force(model, "relu2", images, [0, 7], 4))
    assert_model_unchanged(model, weights, state)


def test_fewer_positions_than_k(data):
    keras.backend.clear_session()
    result = top_patches(strided(), data[:1], "top", 0, k=100)
    assert result.scores.shape == (1, 64) and len(result.patches[0]) == 64


def test_patches_grid(data):
    keras.backend.clear_session()
    result = top_patches(strided(), data, "top", [0, 1, 2], k=4, batch_size=16)
    grid = patches_grid(result, value_range=(0, 1), pad=2)
    assert grid.shape == (3 * 9 - 2, 4 * 9 - 2, 3) and grid.dtype == np.float32
    for c in range(3):
        for j in range(4):
            cell = grid[c * 9:c * 9 + 7, j * 9:j * 9 + 7]
            top, left, bottom, right = result.boxes[c, j]
            start_r, start_c = result.receptive_field.start(*result.positions[c, j])
            inside = cell[top - start_r:bottom - start_r, left - start_c:right - start_c]
            np.testing.assert_allclose(inside, data[result.image_index[c, j], top:bottom, left:right])
            assert np.isclose(cell.sum(), inside.sum() + 0.5 * (cell.size - inside.size), rtol=1e-5)
    with pytest.raises(TypeError, match="`result`"):
        patches_grid(result[:5])
    with pytest.raises(ValueError, match="`value_range`"):
        patches_grid(result, value_range=(1, 0))


def test_bad_arguments_name_themselves(images):
    keras.backend.clear_session()
    model = functional()
    cases = [
        (dict(layer="fc"), ValueError, "`layer`"),
        (dict(layer="nope"), ValueError, "`layer`"),
        (dict(layer="conv2", channels=8), ValueError, "`channels`"),
        (dict(channels=[]), ValueError, "`channels`"),
        (dict(channels=-1), ValueError, "`channels`"),
        (dict(channels="a"), TypeError, "`channels`"),
        (dict(k=0), ValueError, "`k`"),
        (dict(batch_size=0), ValueError, "`batch_size`"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            top_patches(model, images, **kwargs)
    for data in (images[:0], tf.data.Dataset.from_tensor_slices(images).take(0).batch(2)):
        with pytest.raises(ValueError, match="`data`"):
            top_patches(model, data)
    with pytest.raises(ValueError, match="`data`"):
        top_patches(model, images[:, :8])
    with pytest.raises(ValueError, match="`data`"):
        top_patches(model, images[0])
    with pytest.raises(TypeError, match="`data`"):
        top_patches(model, np.array([["a"]]))
    from tests.helpers.models import subclassed
    with pytest.raises(ValueError, match="`channels`"):
        top_patches(subclassed(), images, channels=8)  # found once the first batch ran
