"""explain_dataset: shards, resumption after SIGKILL, atomicity, mismatched arguments, the reader and its summary."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy import stats

import kerasviz
from kerasviz.datasets import explain, shards
from tests.helpers import distributed_worker as worker
from tests.helpers.processes import REPO

ENV = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return worker.reference(str(tmp_path_factory.getbasetemp()))


def linear_model(scale=1.0, seed=0):
    """A one-layer linear model on 8x8x3 images: the saliency of class c is max_channels |W[:, c]|."""
    rng = np.random.default_rng(seed)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(4)])
    model.layers[-1].set_weights([(rng.normal(size=(192, 4)) * scale).astype(np.float32), np.zeros(4, np.float32)])
    return model


def images(n=12, seed=1):
    return np.random.default_rng(seed).random((n, 8, 8, 3), dtype=np.float32)


def test_resumed_after_sigkill_equals_the_uninterrupted_run(tmp_path, reference):
    out = str(tmp_path / "killed")
    process = subprocess.Popen([sys.executable, "-m", worker.__name__, "single", out],
                               env=ENV, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not os.path.isdir(os.path.join(out, shards.shard_name(0))):
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no shard written in 240 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    finished = shards.finished_shards(out)
    total = -(-worker.N_IMAGES // worker.SETTINGS["shard_size"])
    assert 1 <= len(finished) < total  # killed in the middle
    for k in finished:  # a shard under its final name is whole
        meta = shards.read_meta(out, k)
        for name in ("index", "images", "maps.saliency", "maps.smoothgrad.scale", "metric.grad_cam.sparseness"):
            assert len(shards.load_array(os.path.join(out, shards.shard_name(k)), name)) == meta["count"]
    assert shards.read_manifest(out)["complete"] is False
    with pytest.raises(ValueError, match="not complete"):
        kerasviz.load_explanations(out)
    os.makedirs(os.path.join(out, ".tmp-w0-shard-000005-leftover"))  # what a kill during a write leaves
    resumed = worker.explain(out)
    assert not [e for e in os.listdir(out) if e.startswith(".tmp-")]
    assert worker.differences(reference, out) == []
    assert len(resumed) == worker.N_IMAGES
    assert json.load(open(os.path.join(out, "manifest.json")))["shards"] == \
        json.load(open(os.path.join(reference, "manifest.json")))["shards"]


def test_a_failed_write_leaves_no_shard(tmp_path):
    arrays = {"index": np.arange(3), "broken": np.array([object(), None, 1], dtype=object)}
    with pytest.raises(ValueError):  # np.save refuses objects (allow_pickle=False), after `index` was written
        shards.write_shard(str(tmp_path), 0, arrays, {"count": 3})
    assert os.listdir(tmp_path) == []


def test_maps_predictions_and_images_match_closed_forms(tmp_path):
    model = linear_model()
    x = images()
    result = kerasviz.explain_dataset(model, x, ["saliency"], out=str(tmp_path / "a"), shard_size=5, batch_size=2,
                                      value_range=(0, 1), verbose=0)
    weights = model.layers[-1].get_weights()[0]
    logits = x.reshape(len(x), -1) @ weights
    classes = logits.argmax(-1)
    expected = np.abs(weights[:, classes].T.reshape(len(x), 8, 8, 3)).max(-1)
    np.testing.assert_allclose(result.maps("saliency"), expected, rtol=1e-3, atol=1e-3 * expected.max())
    np.testing.assert_array_equal(result.classes, classes)
    np.testing.assert_array_equal(result.predicted, classes)
    np.testing.assert_array_equal(result.index, np.arange(len(x)))
    np.testing.assert_array_equal(result.labels, -1)
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(result.probabilities, probabilities / probabilities.sum(-1, keepdims=True), rtol=1e-4,
                               atol=1e-7)
    np.testing.assert_array_equal(result.images(), np.round(x * 255).astype(np.uint8))
    np.testing.assert_array_equal(result.maps("saliency", [11, 0, 6]), result.maps("saliency")[[11, 0, 6]])
    assert len(shards.finished_shards(str(tmp_path / "a"))) == 3
    pieces = list(result.iter_shards())
    assert [len(index) for index, _ in pieces] == [5, 5, 2]
    np.testing.assert_array_equal(np.concatenate([m["saliency"] for _, m in pieces]), result.maps("saliency"))


def test_tiny_maps_keep_their_precision(tmp_path):
    model = linear_model(scale=1e-7)
    x = images(4)
    result = kerasviz.explain_dataset(model, x, ["gradient_x_input"], out=str(tmp_path), verbose=0)
    expected = kerasviz.gradient_x_input(model, x, result.classes)
    assert expected.max() < 1e-6
    np.testing.assert_allclose(result.maps("gradient_x_input"), expected, rtol=0, atol=1e-3 * expected.max())


def test_arrays_files_and_batched_or_unbatched_datasets_give_the_same_shards(tmp_path):
    model = linear_model()
    pixels = np.random.default_rng(2).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    paths = []
    for i, p in enumerate(pixels):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(p).save(paths[-1])
    x = pixels.astype(np.float32) / 255
    common = dict(shard_size=4, batch_size=3, value_range=(0, 1), verbose=0)
    outs = {}
    for name, data in [("array", x), ("files", paths), ("batched", tf.data.Dataset.from_tensor_slices(x).batch(5)),
                       ("unbatched", tf.data.Dataset.from_tensor_slices(x))]:
        outs[name] = str(tmp_path / name)
        kerasviz.explain_dataset(model, data, ["saliency"],
                                 out=outs[name], **common)
    for name in ("files", "batched", "unbatched"):
        assert worker.differences(outs["array"], outs[name]) == [], name
    np.testing.assert_array_equal(kerasviz.load_explanations(outs["files"]).images(), pixels)


def test_seeded_methods_are_seeded_per_batch_and_metrics_match_the_metric_functions(tmp_path):
    model = linear_model()
    x, y = images(10), np.arange(10) % 4
    result = kerasviz.explain_dataset(model, tf.data.Dataset.from_tensor_slices((x, y)),
                                      [("smoothgrad", {"samples": 3})], out=str(tmp_path), target="label",
                                      metrics=["deletion_auc"], shard_size=8, batch_size=4, seed=5, verbose=0)
    np.testing.assert_array_equal(result.classes, y)
    np.testing.assert_array_equal(result.labels, y)
    maps = result.maps("smoothgrad")
    for start in (0, 4, 8):  # batches of 4 within shards of 8: starts 0, 4, 8
        batch = slice(start, min(start + 4, 10))
        expected = kerasviz.smoothgrad(model, x[batch], y[batch], samples=3, seed=explain.batch_seed(5, start))
        np.testing.assert_allclose(maps[batch], expected, rtol=1e-3, atol=1e-3 * expected.max())
        auc = kerasviz.metrics.deletion(model, x[batch], expected, y[batch]).auc
        np.testing.assert_allclose(result.metric("smoothgrad", "deletion_auc")[batch], auc, rtol=1e-4, atol=1e-5)
    assert explain.batch_seed(5, 0) != explain.batch_seed(5, 4)


def test_summary_is_the_mean_and_t_interval_with_best_and_worst(reference):
    result = kerasviz.load_explanations(reference)
    summary = result.summary(k=3)
    for method in result.methods:
        for metric in result.metrics:
            values = result.metric(method, metric).astype(np.float64)
            values = values[np.isfinite(values)]
            low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
            interval = summary.intervals[method][metric]
            np.testing.assert_allclose([interval.mean, interval.low, interval.high], [values.mean(), low, high],
                                       rtol=1e-9)
            assert interval.n == len(values) == worker.N_IMAGES
            sign = 1 if result.higher_is_better[metric] else -1
            ranked = np.sort(sign * result.metric(method, metric))
            np.testing.assert_array_equal(sign * result.metric(method, metric)[summary.best[method][metric]],
                                          ranked[::-1][:3])
            np.testing.assert_array_equal(sign * result.metric(method, metric)[summary.worst[method][metric]],
                                          ranked[:3])
    comparison = summary.comparison
    assert comparison.methods == ["saliency", "smoothgrad", "grad_cam"]
    assert comparison.values[1, 0] == np.float32(summary.intervals["smoothgrad"]["sparseness"].mean)
    assert "smoothgrad" in summary.table() and "95 %" in summary.table()


def test_progress_bar_shows_the_rate(tmp_path, capsys):
    kerasviz.explain_dataset(linear_model(), images(6), ["saliency"], out=str(tmp_path), shard_size=3, verbose=1)
    shown = capsys.readouterr().out
    assert "6/6" in shown and "/image" in shown


def test_other_arguments_or_data_in_an_existing_out_raise_and_overwrite_nothing(tmp_path):
    model, x = linear_model(), images(6)
    out = str(tmp_path / "run")
    kerasviz.explain_dataset(model, x, ["saliency"], out=out, shard_size=3, verbose=0)
    before = {p: open(os.path.join(out, p), "rb").read() for p in ["manifest.json", "shard-000000/maps.saliency.npy"]}
    with pytest.raises(ValueError, match=r"seed: 0 there, 1 now"):
        kerasviz.explain_dataset(model, x, ["saliency"], out=out, shard_size=3, seed=1, verbose=0)
    with pytest.raises(ValueError, match=r"other arguments \(model"):
        kerasviz.explain_dataset(linear_model(seed=1), x, ["saliency"], out=out, shard_size=3, verbose=0)
    changed = x.copy()
    changed[4] += 0.01
    with pytest.raises(ValueError, match=r"items 3..5 differ"):
        kerasviz.explain_dataset(model, changed, ["saliency"], out=out, shard_size=3, verbose=0)
    assert before == {p: open(os.path.join(out, p), "rb").read() for p in before}
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("mine")
    with pytest.raises(ValueError, match="thesis.txt"):
        kerasviz.explain_dataset(model, x, ["saliency"], out=str(foreign), verbose=0)
    assert os.listdir(foreign) == ["thesis.txt"]
    with pytest.raises(ValueError, match="is a file"):
        kerasviz.explain_dataset(model, x, ["saliency"], out=str(foreign / "thesis.txt"), verbose=0)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(methods=[kerasviz.saliency]), TypeError, "by name"),
    (dict(methods="nope"), ValueError, "nope"),
    (dict(samples=3), TypeError, "samples"),
    (dict(methods=[("smoothgrad", {"seed": 1})]), ValueError, "seed"),
    (dict(target="label"), ValueError, "without labels"),
    (dict(target=9), ValueError, "target"),
    (dict(seed=None), TypeError, "seed"),
    (dict(shard_size=0), ValueError, "shard_size"),
    (dict(metrics=["nope"]), ValueError, "metrics"),
    (dict(metrics=["pointing_game"]), ValueError, "masks"),
    (dict(strategy="mirrored"), TypeError, "strategy"),
    (dict(dataset={"x": 1}), TypeError, "dataset"),
    (dict(dataset=np.full((2, 8, 8, 3), 2.0, np.float32), value_range=(0, 1)), ValueError, "outside"),
])
def test_bad_arguments_raise_naming_them(tmp_path, kwargs, error, match):
    arguments = dict(dataset=images(2), methods=["saliency"], verbose=0)
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        kerasviz.explain_dataset(linear_model(), arguments.pop("dataset"), arguments.pop("methods"),
                                 out=str(tmp_path / "out"), **arguments)


def test_load_explanations_refuses_what_is_not_a_complete_run(tmp_path):
    with pytest.raises(ValueError, match="no explain_dataset manifest"):
        kerasviz.load_explanations(str(tmp_path))
    with pytest.raises(TypeError, match="out"):
        kerasviz.load_explanations(3)


def test_cli_explains_a_folder_resumes_and_refuses_unknown_names(tmp_path, capsys):
    from kerasviz import cli

    model = linear_model()
    model.save(str(tmp_path / "model.keras"))
    folder = tmp_path / "images"
    folder.mkdir()
    pixels = np.random.default_rng(3).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    for i, p in enumerate(pixels):
        Image.fromarray(p).save(folder / f"{i}.png")
    (folder / "notes.txt").write_text("not an image")
    argv = ["explain", str(tmp_path / "model.keras"), str(folder), "--methods", "saliency", "--metrics", "sparseness",
            "--shard-size", "2", "--out", str(tmp_path / "out"), "--verbose"]
    assert cli.main(argv) == 0
    first = capsys.readouterr().out
    assert "Wrote 5 images' maps and metrics" in first and "sparseness" in first and "95 %" in first
    result = kerasviz.load_explanations(str(tmp_path / "out"))
    np.testing.assert_array_equal(result.images(), pixels)
    sparseness = kerasviz.metrics.sparseness(result.maps("saliency"))
    np.testing.assert_allclose(result.metric("saliency", "sparseness"), sparseness, rtol=1e-3)
    assert cli.main(argv) == 0  # the same command again: nothing left to compute, the same summary
    assert capsys.readouterr().out.splitlines()[-4:] == first.splitlines()[-4:]
    assert cli.main(argv[:3] + ["--methods", "nope", "--out", str(tmp_path / "other")]) == 2
    assert "--methods: unknown method(s) nope" in capsys.readouterr().err
    assert cli.main(argv[:-1] + ["--seed", "4", "--verbose"]) == 2
    assert "seed: 0 there, 4 now" in capsys.readouterr().err
