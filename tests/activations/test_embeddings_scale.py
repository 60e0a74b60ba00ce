"""Embeddings at scale: streamed features, the large-N code paths (incremental PCA, openTSNE, HNSW), projector limits.

The large-N switches are module constants; the tests lower them so that the
code paths run on a few hundred points, and check them against the small-N
paths, numpy and the real projector plugin.
"""

import io
import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasviz import summary
from kerasviz.activations import features as features_module
from kerasviz.activations import neighbours, projections
from kerasviz.activations.embeddings import features, nearest_neighbors, project
from tests.helpers.models import SIZE, functional
from tests.helpers.providers import projector_client


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(0, 1, (37, SIZE, SIZE, 3)).astype(np.float32)


def test_features_streamed_to_a_file_equal_the_in_memory_ones(tmp_path, images):
    model = functional()
    expected = features(model, images, batch_size=8)
    path = str(tmp_path / "codes.npy")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(10)
    codes = features(model, dataset, out=path, batch_size=4)
    assert isinstance(codes, np.memmap) and not codes.flags.writeable
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.load(path), codes)  # a plain .npy file, readable later
    assert os.listdir(tmp_path) == ["codes.npy"]
    temporary = features(model, images, out=True)
    np.testing.assert_allclose(temporary, expected, rtol=1e-5, atol=1e-6)
    assert not os.path.exists(temporary.filename)  # unlinked: its space goes with the map


def test_a_failing_stream_leaves_no_file_and_keeps_an_existing_one(tmp_path, images):
    model = functional()
    path = tmp_path / "codes.npy"
    path.write_bytes(b"keep me")
    bad = images.copy()
    bad[25] = np.nan
    with pytest.raises(ValueError, match=r"batch 2 of the dataset"):
        features(model, tf.data.Dataset.from_tensor_slices(bad).batch(10), out=str(path))
    assert path.read_bytes() == b"keep me" and sorted(os.listdir(tmp_path)) == ["codes.npy"]
    with pytest.raises(ValueError, match="`out`.*folder does not exist"):
        features(model, images, out=str(tmp_path / "missing" / "codes.npy"))
    with pytest.raises(TypeError, match="`out`"):
        features(model, images, out=3)


def test_npy_header_is_what_numpy_writes_for_any_row_count():
    for rows in (0, 1, 123456789012):
        header = features_module._npy_header(rows, 7)
        assert len(header) % 64 == 0 and header.endswith(b"\n")
        stream = io.BytesIO(header)
        assert np.lib.format.read_magic(stream) == (1, 0)
        assert np.lib.format.read_array_header_1_0(stream) == ((rows, 7), False, np.dtype("<f4"))


def test_incremental_pca_matches_the_exact_one(monkeypatch, tmp_path):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(3000, 12)) * np.linspace(4, 0.2, 12)).astype(np.float32)
    exact = project(x, "pca", dims=3)
    monkeypatch.setattr(projections, "STREAMED_PCA_MIN", 1000)
    monkeypatch.setattr(projections, "_PCA_CHUNK_VALUES", 5000)  # 416 rows per chunk: 8 chunks
    np.save(tmp_path / "x.npy", x)
    streamed = project(np.load(tmp_path / "x.npy", mmap_mode="r"), "pca", dims=3)
    signs = np.sign((streamed * exact).sum(axis=0))
    np.testing.assert_allclose(streamed * signs, exact, rtol=1e-3, atol=2e-3)


def test_opentsne_path_is_seeded_and_separates_blobs(monkeypatch, caplog):
    monkeypatch.setattr(projections, "OPENTSNE_MIN", 50)
    monkeypatch.setattr(projections, "_OPENTSNE_ITERATIONS", (50, 100))  # openTSNE's 250 + 500: too slow for a test
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(0, 1, (40, 60)), rng.normal(6, 1, (40, 60))]).astype(np.float32)
    with caplog.at_level(logging.INFO, logger="kerasviz"):
        first = project(blobs, "tsne", perplexity=5)
    assert "openTSNE" in caplog.text
    np.testing.assert_array_equal(first, project(blobs, "tsne", perplexity=5))
    assert first.shape == (80, 2) and first.dtype == np.float32
    a, b = first[:40], first[40:]
    gap = np.linalg.norm(a.mean(0) - b.mean(0))
    spread = max(np.linalg.norm(a - a.mean(0), axis=1).max(), np.linalg.norm(b - b.mean(0), axis=1).max())
    assert gap > 1.5 * spread


def test_hnsw_neighbours_agree_with_the_exact_ones(monkeypatch, caplog):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2000, 16)).astype(np.float32)
    exact, exact_d = nearest_neighbors(x, None, 5, exclude_self=True, index="exact")
    approx, approx_d = nearest_neighbors(x, None, 5, exclude_self=True, index="hnsw")
    recall = np.mean([len(set(a) & set(e)) / 5 for a, e in zip(approx, exact)])
    assert recall > 0.95 and not (approx == np.arange(2000)[:, None]).any()
    same = approx == exact
    np.testing.assert_allclose(approx_d[same], exact_d[same], rtol=1e-4)
    cos_exact, _ = nearest_neighbors(x, x[:50], 3, metric="cosine", index="exact")
    cos_approx, _ = nearest_neighbors(x, x[:50], 3, metric="cosine", index="hnsw")
    assert np.mean(cos_exact == cos_approx) > 0.9
    monkeypatch.setattr(neighbours, "EXACT_NEIGHBORS_MAX", 1000)
    with caplog.at_level(logging.INFO, logger="kerasviz"):
        nearest_neighbors(x, np.arange(10), 3)
    assert "approximate (HNSW)" in caplog.text
    with pytest.raises(ValueError, match="`index`"):
        nearest_neighbors(x, None, 3, index="faiss")


def test_projector_gets_a_sample_above_its_limits(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(summary, "PROJECTOR_MAX_POINTS", 40)
    rng = np.random.default_rng(4)
    n = 130
    vectors = rng.normal(size=(n, 3)).astype(np.float32)
    labels = rng.integers(0, 3, n)
    thumbs = rng.uniform(0, 1, (n, 4, 4, 3)).astype(np.float32)
    run = str(tmp_path / "run")
    with caplog.at_level(logging.WARNING, logger="kerasviz"):
        summary.write_embeddings(run, vectors, labels, images=thumbs, class_names="abc")
    assert "sample of 40 of the 130 points" in caplog.text
    client = projector_client(str(tmp_path))
    name = "fc/.ATTRIBUTES/VARIABLE_VALUE"
    served = np.frombuffer(client.get(f"/data/plugin/projector/tensor?run=run&name={name}").data, np.float32)
    rows = client.get(f"/data/plugin/projector/metadata?run=run&name={name}").data.decode().splitlines()
    assert rows[0] == "label\tindex" and len(rows) == 41
    kept = np.array([int(r.split("\t")[1]) for r in rows[1:]])
    assert len(set(kept)) == 40 and (np.diff(kept) > 0).all()
    np.testing.assert_array_equal(served.reshape(40, 3), vectors[kept])
    assert [r.split("\t")[0] for r in rows[1:]] == ["abc"[k] for k in labels[kept]]
    sprite = np.asarray(Image.open(os.path.join(run, "sprite_fc.png")))
    assert sprite.shape[:2] == (7 * 4, 7 * 4)  # ceil(sqrt(40)) = 7 a side
    np.testing.assert_array_equal(sprite[4:8, 0:4], np.rint(thumbs[kept[7]] * 255).astype(np.uint8))
    monkeypatch.setattr(summary, "PROJECTOR_MAX_VALUES", 60)  # 60 values of 3-D vectors: 20 rows
    summary.write_embeddings(run, vectors, None)
    client = projector_client(str(tmp_path))  # the projector caches what it read
    served = np.frombuffer(client.get(f"/data/plugin/projector/tensor?run=run&name={name}").data, np.float32)
    assert served.size == 60
