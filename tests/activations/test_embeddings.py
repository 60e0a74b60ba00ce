"""Features, neighbours, projections and embedding grids against plain Keras, numpy and scipy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import compiled
from kerasviz.activations.embeddings import (
    EXACT_ASSIGNMENT_MAX, embedding_grid, features, nearest_neighbors, neighbors_figure, project)
from tests.helpers.models import SIZE, assert_model_unchanged, functional, layer_state, nested, weights_snapshot


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(0, 1, (13, SIZE, SIZE, 3)).astype(np.float32)


# --- features ---------------------------------------------------------------------------------


def test_features_equal_the_layer_output(images):
    model = functional()
    before = weights_snapshot(model), layer_state(model)
    reference = keras.Model(model.inputs, model.get_layer("fc").output)(images).numpy()
    codes = features(model, images)
    assert codes.dtype == np.float32 and codes.shape == (13, 12)
    np.testing.assert_allclose(codes, reference, rtol=1e-5, atol=1e-6)
    assert (codes >= 0).all()  # after the fused ReLU
    spatial = keras.Model(model.inputs, model.get_layer("conv2").output)(images).numpy()  # before relu2
    np.testing.assert_allclose(features(model, images, "conv2"), spatial.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(features(model, images, "conv2", pool="max"), spatial.max(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(features(model, images, "conv2", pool=None), spatial.reshape(13, -1), rtol=1e-5, atol=1e-6)
    probs = features(model, images, "probabilities")  # the layer's own output, not logits
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert_model_unchanged(model, *before)


def test_input_kinds_and_batch_size_agree_and_trace_once(images):
    model = functional()
    labels = np.arange(13)
    expected = features(model, images)
    traces = compiled.tracing_count(model)
    variants = [
        features(model, tf.constant(images)),
        features(model, tf.data.Dataset.from_tensor_slices(images).batch(4)),
        features(model, tf.data.Dataset.from_tensor_slices((images, labels)).batch(5)),
        features(model, images.astype(np.float64), batch_size=1),
        features(model, images, batch_size=3),
        features(model, tf.data.Dataset.from_tensor_slices(images).batch(13), batch_size=2),
    ]
    for codes in variants:
        np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)
    assert compiled.tracing_count(model) == traces  # one trace, whatever the batch


def test_nested_model(images):
    model = nested()
    backbone = model.get_layer("backbone")
    spatial = keras.Model(backbone.inputs, backbone.get_layer("conv2").output)(images).numpy()
    np.testing.assert_allclose(features(model, images, "backbone/conv2"), spatial.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    x = backbone(images)
    for name in ("pool", "fc"):
        x = model.get_layer(name)(x)
    np.testing.assert_allclose(features(model, images), x.numpy(), rtol=1e-5, atol=1e-6)


def test_every_model_form(model_form, images):
    form, model = model_form
    before = weights_snapshot(model), layer_state(model)
    codes = features(model, images, batch_size=4)
    assert codes.shape == (13, 12) and codes.dtype == np.float32 and np.isfinite(codes).all()
    reference = model.get_layer("fc") if form != "subclassed" else model.stack[4]
    assert reference.units == 12
    assert_model_unchanged(model, *before)


def test_streams_a_lazy_dataset():
    model = keras.Sequential([
        keras.Input((64, 64, 3)),
        keras.layers.Conv2D(4, 8, strides=8, activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(6, activation="relu", name="fc"),
        keras.layers.Dense(2, name="out"),
    ])

    def make(i):
        return tf.random.stateless_uniform([64, 64, 3], seed=tf.stack([i, i]))

    dataset = tf.data.Dataset.range(2000).map(make).batch(100)
    codes = features(model, dataset, batch_size=100)
    assert codes.shape == (2000, 6) and np.isfinite(codes).all()


def test_feature_errors(images):
    model = functional()
    with pytest.raises(ValueError, match=r"batch 0 of the dataset.*dataset.batch"):
        features(model, tf.data.Dataset.from_tensor_slices(images))  # not batched
    bad = images.copy()
    bad[9, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*batch 2 of the dataset"):
        features(model, tf.data.Dataset.from_tensor_slices(bad).batch(4))
    with pytest.raises(ValueError, match="NaN"):
        features(model, bad)
    with pytest.raises(ValueError, match="empty dataset"):
        features(model, tf.data.Dataset.from_tensor_slices(images).batch(4).take(0))
    with pytest.raises(ValueError, match="width"):
        features(model, images[:, :, :8])
    with pytest.raises(ValueError, match="`pool`"):
        features(model, images, "conv2", pool="mean")
    with pytest.raises(ValueError, match="`batch_size`"):
        features(model, images, batch_size=0)
    with pytest.raises(ValueError, match="no layer named 'fc7'"):
        features(model, images, "fc7")
    with pytest.raises(TypeError, match="`data`"):
        features(model, ["a", "b"])


# --- nearest neighbours -------------------------------------------------------------------------


def brute_force(points, queries, k, metric):
    if metric == "cosine":
        a = points / np.linalg.norm(points, axis=1, keepdims=True)
        b = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        distances = 1 - b @ a.T
    else:
        distances = np.sqrt(((queries[:, None] - points[None]) ** 2).sum(-1))
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(distances, order, axis=1)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_neighbors_against_brute_force(metric):
    rng = np.random.default_rng(1)
    points, queries = rng.normal(size=(60, 7)), rng.normal(size=(9, 7))
    indices, distances = nearest_neighbors(points, queries, 4, metric=metric)
    expected_idx, expected_dist = brute_force(points, queries, 4, metric)
    assert indices.dtype == np.int64 and distances.dtype == np.float32 and indices.shape == (9, 4)
    np.testing.assert_array_equal(indices, expected_idx)
    np.testing.assert_allclose(distances, expected_dist, rtol=1e-5, atol=1e-6)


def test_exclude_self_with_index_queries():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(30, 5))
    points[7] = points[3]  # a duplicate: self may not come first
    indices, distances = nearest_neighbors(points, None, 3, exclude_self=True)
    assert indices.shape == (30, 3)
    assert not (indices == np.arange(30)[:, None]).any()
    assert indices[3, 0] == 7 and indices[7, 0] == 3 and distances[3, 0] == 0
    some, _ = nearest_neighbors(points, np.array([3, 10]), 3, exclude_self=True)
    np.testing.assert_array_equal(some, indices[[3, 10]])
    with_self, _ = nearest_neighbors(points, np.array([10]), 3)
    assert with_self[0, 0] == 10


def test_neighbor_errors():
    points = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="`k`.*10 points"):
        nearest_neighbors(points, None, 11)
    with pytest.raises(ValueError, match="`k`.*excludes itself"):
        nearest_neighbors(points, None, 10, exclude_self=True)
    with pytest.raises(ValueError, match="`metric`"):
        nearest_neighbors(points, None, metric="manhattan")
    with pytest.raises(ValueError, match="feature sizes differ"):
        nearest_neighbors(points, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="exclude_self"):
        nearest_neighbors(points, points[:2], exclude_self=True)
    with pytest.raises(ValueError, match="indices"):
        nearest_neighbors(points, np.array([10]))
    with pytest.raises(ValueError, match="NaN"):
        nearest_neighbors(np.full((3, 2), np.nan), None, 1)


def shifted(images, seed):
    rng = np.random.default_rng(seed)
    padded = np.pad(images, ((0, 0), (3, 3), (3, 3), (0, 0)))
    side = images.shape[1]
    return np.stack([padded[i, dy:dy + side, dx:dx + side]
                     for i, (dy, dx) in enumerate(rng.integers(0, 7, (len(images), 2)))])


def test_fc_neighbors_share_labels_more_than_pixel_neighbors():
    model = kerasviz.demo.demo_model("digits")
    train, test = kerasviz.demo.demo_data("digits")

    def agreement(database, queries):
        indices, _ = nearest_neighbors(database, queries, 5)
        return float((train.labels[indices] == test.labels[:, None]).mean())

    def pixels(x):
        return x.reshape(len(x), -1)

    database = features(model, train.images)
    moved = shifted(test.images, seed=1)
    fc, pixel = agreement(database, features(model, test.images)), agreement(pixels(train.images), pixels(test.images))
    fc_moved, pixel_moved = agreement(database, features(model, moved)), agreement(pixels(train.images), pixels(moved))
    print(f"\nlabel agreement of 5 neighbours: fc {fc:.3f} vs pixels {pixel:.3f}; "
          f"test digits shifted by up to 3 px: fc {fc_moved:.3f} vs pixels {pixel_moved:.3f}")
    assert fc >= 0.95 and fc > pixel + 0.02
    assert fc_moved >= 0.85 and fc_moved > pixel_moved + 0.1


def test_neighbors_figure():
    rng = np.random.default_rng(0)
    pictures, queries = rng.uniform(size=(20, 5, 6, 3)), rng.uniform(size=(2, 5, 6, 3))
    indices = np.array([[4, 0, 19], [7, 7, 1]])
    figure = neighbors_figure(pictures, indices, query_images=queries, pad=2)
    assert figure.shape == (2 * 7 - 2, 4 * 8 - 2, 3) and figure.dtype == np.float32
    np.testing.assert_allclose(figure[7:12, 0:6], queries[1], rtol=1e-6)
    np.testing.assert_allclose(figure[0:5, 8 * 3:8 * 3 + 6], pictures[19], rtol=1e-6)
    assert (figure[5:7] == 1).all()
    assert neighbors_figure(pictures[..., 0], indices).shape == (12, 3 * 8 - 2)
    with pytest.raises(ValueError, match="`indices`"):
        neighbors_figure(pictures, np.array([[20]]))
    with pytest.raises(ValueError, match="`query_images`"):
        neighbors_figure(pictures, indices, query_images=queries[:1])


# --- projections --------------------------------------------------------------------------------


def test_pca_matches_numpy_svd():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 20)) * np.linspace(5, 0.1, 20) @ np.linalg.qr(rng.normal(size=(20, 20)))[0]
    centred = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    for dims in (2, 3):
        coords = project(x, "pca", dims=dims)
        assert coords.shape == (200, dims) and coords.dtype == np.float32
        expected = u[:, :dims] * s[:dims]
        signs = np.sign((coords * expected).sum(axis=0))
        np.testing.assert_allclose(coords * signs, expected, rtol=1e-4, atol=1e-4)


def test_tsne_is_seeded_and_separates_blobs():
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(0, 1, (40, 60)), rng.normal(8, 1, (40, 60))])
    first, again = project(blobs, "tsne", perplexity=10), project(blobs, "tsne", perplexity=10)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (80, 2) and first.dtype == np.float32
    a, b = first[:40], first[40:]
    gap = np.linalg.norm(a.mean(0) - b.mean(0))
    spread = max(np.linalg.norm(a - a.mean(0), axis=1).max(), np.linalg.norm(b - b.mean(0), axis=1).max())
    assert gap > 2 * spread
    assert project(blobs[:, :10], "tsne", dims=3, perplexity=5).shape == (80, 3)


def test_projection_errors():
    x = np.random.default_rng(0).normal(size=(20, 8))
    with pytest.raises(ValueError, match=r"`features`.*20 samples.*perplexity=30.0.*90"):
        project(x, "tsne")
    with pytest.raises(ValueError, match="at least 5"):
        project(x[:4], "tsne", perplexity=1)
    with pytest.raises(ValueError, match="`dims`"):
        project(x, dims=4)
    with pytest.raises(ValueError, match="`method`"):
        project(x, "umap")
    with pytest.raises(ValueError, match="`seed`"):
        project(x, seed=-1)
    with pytest.raises(ValueError, match="`perplexity`"):
        project(x, "tsne", perplexity=0)
    with pytest.raises(ValueError, match="`features`"):
        project(x[0])
    with pytest.raises(ValueError, match="NaN"):
        project(np.full((10, 3), np.inf))


# --- embedding grid -----------------------------------------------------------------------------


def test_each_image_in_exactly_one_cell():
    rng = np.random.default_rng(0)
    pictures = rng.uniform(size=(30, 4, 5, 3))
    result = embedding_grid(pictures, rng.normal(size=(30, 2)))
    assert result.image.shape == (6 * 4, 6 * 5, 3) and result.image.dtype == np.float32
    assert result.cells.shape == (30, 2) and len({tuple(c) for c in result.cells}) == 30
    assert (result.cells >= 0).all() and (result.cells < 6).all()
    for i, (r, c) in enumerate(result.cells):
        np.testing.assert_allclose(result.image[r * 4:r * 4 + 4, c * 5:c * 5 + 5], pictures[i], rtol=1e-6)
    occupied = np.zeros((6, 6), bool)
    occupied[tuple(result.cells.T)] = True
    empty = np.argwhere(~occupied)
    assert len(empty) == 6
    for r, c in empty:
        assert (result.image[r * 4:r * 4 + 4, c * 5:c * 5 + 5] == 1).all()


@pytest.mark.parametrize("rows, cols", [(5, 7), (46, 46)])
def test_regular_grid_coords_give_the_identity_layout(rows, cols):
    n = rows * cols
    assert (n > EXACT_ASSIGNMENT_MAX) == (rows == 46)  # the greedy assignment too
    order = np.random.default_rng(0).permutation(n)
    r, c = np.divmod(order, cols)
    coords = np.stack([c * 0.3 - 2.0, (rows - 1 - r) * 1.7], axis=1)  # x right, y up
    pictures = np.broadcast_to(order[:, None, None] / n, (n, 2, 2))
    result = embedding_grid(pictures, coords, grid=(rows, cols))
    np.testing.assert_array_equal(result.cells, np.stack([r, c], axis=1))
    assert result.image.shape == (rows * 2, cols * 2)


def test_cell_resize_and_errors():
    rng = np.random.default_rng(0)
    pictures, coords = rng.uniform(size=(5, 8, 8, 1)), rng.normal(size=(5, 2))
    assert embedding_grid(pictures, coords, cell=4).image.shape == (12, 12, 1)
    assert embedding_grid(pictures, coords, grid=(1, 5), cell=(2, 3)).image.shape == (2, 15, 1)
    with pytest.raises(ValueError, match="`coords`"):
        embedding_grid(pictures, coords[:4])
    with pytest.raises(ValueError, match="`grid`.*4 cells cannot hold 5"):
        embedding_grid(pictures, coords, grid=2)
    with pytest.raises(ValueError, match="`cell`"):
        embedding_grid(pictures, coords, cell=0)
    with pytest.raises(ValueError, match="`images`"):
        embedding_grid(pictures[0, ..., 0], coords)
