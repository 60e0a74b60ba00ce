"""The activations family's callbacks: filters, embeddings (with the projector) and top patches."""

import os

import numpy as np
import pytest
import tensorflow as tf

from kerasviz import callbacks
from kerasviz.activations import filters
from tb_plugin import metadata
from tests.helpers.events import read_events, steps
from tests.helpers.models import CLASSES, SIZE, compiled_model, functional

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 1, (24, SIZE, SIZE, 3)).astype(np.float32)
Y = RNG.integers(0, CLASSES, 24)


def _fit(model, cbs, epochs=2):
    model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0, callbacks=cbs)


def test_three_callbacks_write_their_records_every_epoch(tmp_path):
    model = compiled_model(functional)
    cbs = [
        callbacks.FilterCallback(tmp_path, on_error="raise"),
        callbacks.EmbeddingCallback(tmp_path, X, Y, k=3, class_names=["a", "b", "c", "d"], on_error="raise"),
        callbacks.PatchesCallback(tmp_path, X, channels=[0, 2], k=4, on_error="raise"),
    ]
    _fit(model, cbs, epochs=3)
    events = read_events(os.path.join(tmp_path, "kerasviz"))
    assert steps(events) == {
        "kerasviz/activations/filters/conv1": [0, 1, 2],
        "kerasviz/activations/filters/conv1/grid": [0, 1, 2],
        "kerasviz/activations/embeddings/fc": [0, 1, 2],
        "kerasviz/activations/top_patches/relu2": [0, 1, 2],
        "kerasviz/activations/top_patches/relu2/grid": [0, 1, 2],
    }

    _, value, meta = events["kerasviz/activations/embeddings/fc"][-1]
    blobs = [bytes(b) for b in tf.make_ndarray(value.tensor)]
    header, arrays = metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1])
    assert header["layer"] == "fc" and header["labels"] == Y.tolist() and len(header["predictions"]) == 24
    assert arrays["coords"].shape == (24, 2) and arrays["neighbors"].shape == (24, 3)
    assert not (arrays["neighbors"] == np.arange(24)[:, None]).any()  # never its own neighbour

    _, value, _ = events["kerasviz/activations/filters/conv1"][-1]
    blobs = [bytes(b) for b in tf.make_ndarray(value.tensor)]
    grid = metadata.decode_arrays(blobs[1])["grid"]
    expected_grid = filters.filter_grid(model, "conv1").image  # the trained (live) weights
    np.testing.assert_allclose(grid / 255.0, expected_grid, atol=1 / 255 + 1e-6)

    _, value, _ = events["kerasviz/activations/top_patches/relu2"][-1]
    blobs = [bytes(b) for b in tf.make_ndarray(value.tensor)]
    arrays = metadata.decode_arrays(blobs[1])
    assert arrays["scores"].shape == (2, 4) and arrays["patches"].shape[:2] == (2, 4)
    run_files = os.listdir(os.path.join(tmp_path, "kerasviz"))
    assert "projector_config.pbtxt" in run_files and "metadata_fc.tsv" in run_files


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: callbacks.FilterCallback(d, layers=["fc"]), "layer"),
        (lambda d: callbacks.EmbeddingCallback(d, X, Y, k=24), "`k`"),
        (lambda d: callbacks.EmbeddingCallback(d, X, Y, projection="umap"), "`projection`"),
        (lambda d: callbacks.EmbeddingCallback(d, X, Y, class_names=["a"]), "class_names"),
        (lambda d: callbacks.PatchesCallback(d, X, channels=[99]), "channels"),
        (lambda d: callbacks.PatchesCallback(d, X, layer="fc"), "layer"),
    ],
)
def test_misconfiguration_fails_before_the_first_step(tmp_path, make, match):
    model = compiled_model(functional)
    with pytest.raises((ValueError, TypeError), match=match):
        _fit(model, [make(tmp_path)], epochs=1)
    assert not os.path.exists(os.path.join(tmp_path, "kerasviz")) or not any(
        f.startswith("events") and os.path.getsize(os.path.join(tmp_path, "kerasviz", f)) > 100
        for f in os.listdir(os.path.join(tmp_path, "kerasviz"))
    )
