"""Activation atlas (Carter et al., 2019): streamed seeded sampling, deterministic binning, logit effects, renders."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasviz.inside import atlas as atlas_module  # noqa: E402

SIZE, CLASSES = 12, 4


@pytest.fixture(autouse=True)
def _clear():
    keras.backend.clear_session()


def small_model(seed=0):
    """conv (ReLU) -> conv -> "relu2" -> global average pooling -> linear logits -> softmax."""
    init = keras.initializers.GlorotUniform
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", kernel_initializer=init(seed))(inputs)
    x = keras.layers.Conv2D(5, 3, strides=2, padding="same", kernel_initializer=init(seed + 1))(x)
    x = keras.layers.ReLU(name="relu2")(x)
    logits = keras.layers.Dense(CLASSES, kernel_initializer=init(seed + 2), bias_initializer="ones",
                                name="logits")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, keras.layers.Softmax()(logits))


def images(n=30, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, (n, SIZE, SIZE, 3)).astype(np.float32)


def test_sample_is_the_bottom_k_of_seeded_keys_whatever_the_batching():
    model, x = small_model(), images()
    sample = atlas_module.sample_activations(model, x, "relu2", 50, seed=3, batch_size=4)
    again = atlas_module.sample_activations(model, tf.data.Dataset.from_tensor_slices(x).batch(7), "relu2", 50,
                                            seed=3, batch_size=5)
    for a, b in zip(sample[:3], again[:3]):
        np.testing.assert_array_equal(a, b)
    assert sample.seen == 30 * 6 * 6 and sample.vectors.shape == (50, 5)
    # by hand: every vector in memory, each with its key from (seed, image index), the 50 smallest kept
    full = keras.Model(model.inputs, model.get_layer("relu2").output)(x).numpy()
    keys = np.concatenate([np.random.default_rng([3, i]).random(36) for i in range(30)])
    chosen = np.sort(np.argsort(keys)[:50])
    np.testing.assert_allclose(sample.vectors, full.reshape(-1, 5)[chosen], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(sample.image_index, chosen // 36)
    np.testing.assert_array_equal(sample.positions, np.stack(np.divmod(chosen % 36, 6), 1))
    other = atlas_module.sample_activations(model, x, "relu2", 50, seed=4)
    assert not np.array_equal(other.image_index, sample.image_index)


def test_binning_is_deterministic_and_matches_a_loop():
    rng = np.random.default_rng(0)
    layout, vectors = rng.normal(size=(200, 2)), rng.normal(size=(200, 3))
    first = atlas_module.bin_layout(layout, vectors, 5)
    second = atlas_module.bin_layout(layout.copy(), vectors.copy(), 5)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    unit, cell, counts, means = first
    assert counts.sum() == 200 and unit.min() == 0 and unit.max() == 1
    expected_counts, expected_sums = np.zeros((5, 5)), np.zeros((5, 5, 3))
    for (u, v), vector in zip(unit, vectors):
        row, col = min(int(v * 5), 4), min(int(u * 5), 4)
        expected_counts[row, col] += 1
        expected_sums[row, col] += vector
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_allclose(means, expected_sums / np.maximum(expected_counts, 1)[..., None], rtol=1e-5, atol=1e-6)


def test_cell_effects_are_the_linear_head():
    model, x = small_model(), images()
    atlas = atlas_module.activation_atlas(model, x, "relu2", grid=4, samples=120, effect_images=5, seed=1)
    kernel = model.get_layer("logits").get_weights()[0]  # [5, 4]: relu2 -> pooling -> dense is linear
    expected = np.where(atlas.counts[..., None] > 0, atlas.means @ kernel, 0)
    np.testing.assert_allclose(atlas.effects, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(atlas.classes, np.arange(CLASSES))
    assert atlas.counts.sum() == 120 and atlas.layout.shape == (120, 2)
    none = atlas_module.activation_atlas(model, x, "relu2", grid=4, samples=120, classes=(), seed=1)
    assert none.effects is None
    np.testing.assert_array_equal(none.counts, atlas.counts)  # same seed, same sample, same layout


def test_render_cells_raises_their_direction():
    model, x = small_model(), images(10)
    atlas = atlas_module.activation_atlas(model, x, "relu2", grid=2, samples=60, classes=[1], seed=0)
    cells = np.argwhere(atlas.counts > 0)[:2]
    rendered, used = atlas_module.render_atlas_cells(model, atlas, cells, steps=24, seed=0)
    assert rendered.shape == (len(cells), SIZE, SIZE, 3) and rendered.min() >= 0 and rendered.max() <= 1
    np.testing.assert_array_equal(used, cells)
    layer = keras.Model(model.inputs, model.get_layer("relu2").output)
    vectors = atlas.means[cells[:, 0], cells[:, 1]]
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    grey = np.full_like(rendered, 0.5)
    before = np.einsum("byxc,bc->b", layer(grey).numpy(), vectors)
    after = np.einsum("byxc,bc->b", layer(rendered).numpy(), vectors)
    assert np.all(after > before)


def test_bad_inputs_name_the_argument():
    model, x = small_model(), images(4)
    with pytest.raises(ValueError, match="samples"):
        atlas_module.sample_activations(model, x, "relu2", 0)
    with pytest.raises(ValueError, match="layer"):
        atlas_module.sample_activations(model, x, "logits", 5)
    with pytest.raises(ValueError, match="grid"):
        atlas_module.bin_layout(np.zeros((3, 2)), np.zeros((3, 1)), 0)
    with pytest.raises(ValueError, match="layout"):
        atlas_module.bin_layout(np.zeros((3, 3)), np.zeros((3, 1)), 2)
    with pytest.raises(ValueError, match="classes"):
        atlas_module.activation_atlas(model, x, "relu2", grid=2, samples=10, classes=[7])
    atlas = atlas_module.activation_atlas(model, x, "relu2", grid=2, samples=10, classes=(), seed=0)
    with pytest.raises(ValueError, match="cells"):
        atlas_module.render_atlas_cells(model, atlas, [(5, 5)])
    with pytest.raises(TypeError, match="atlas"):
        atlas_module.render_atlas_cells(model, atlas.means)


def test_a_list_of_images_and_a_labelled_dataset_are_images():
    model, x = small_model(), images(6)
    reference = atlas_module.sample_activations(model, x, "relu2", 20, seed=2)
    as_list = atlas_module.sample_activations(model, list(x), "relu2", 20, seed=2)
    labelled = tf.data.Dataset.from_tensor_slices((x, np.arange(6))).batch(4)
    with_labels = atlas_module.sample_activations(model, labelled, "relu2", 20, seed=2)
    for other in (as_list, with_labels):
        np.testing.assert_array_equal(other.image_index, reference.image_index)
        np.testing.assert_allclose(other.vectors, reference.vectors, rtol=1e-6)
