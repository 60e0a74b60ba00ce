"""`Explanations.write` and the dashboard's Dataset tab: a whole-dataset explanation, read back and looked at.

A tiny seeded model explains 64 16x16 images with two methods and two
metrics (`explain_dataset`); the record is read back through TensorBoard's
data provider and our plugin's routes and compared with `summary()` and with
histograms and rankings computed here in numpy; headless Chromium shows the
table, the histograms and the best/worst strip of the chosen method.
"""

import json
import os

import numpy as np
import pytest
from tensorboard import context as tb_context
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider as multiplexer_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test

import kerasviz
from tb_plugin import metadata, plugin
from tests.helpers import browser
from tests.helpers.models import sequential

METHODS, METRICS, N, K = ["saliency", "grad_cam"], ["sparseness", "deletion_auc"], 64, 4
TAG = "kerasviz/dataset/explanations"


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    import keras

    keras.backend.clear_session()
    x = np.random.default_rng(0).uniform(0, 1, (N, 16, 16, 3)).astype(np.float32)
    out = str(tmp_path_factory.mktemp("explained"))
    kerasviz.explain_dataset(sequential(seed=0), x, METHODS, out=out, metrics=METRICS, shard_size=24, verbose=0)
    return kerasviz.load_explanations(out)


@pytest.fixture(scope="module")
def logdir(explained, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("dataset_logs"))
    assert explained.write(root, k=K) == (os.path.join(root, "kerasviz"), 0)
    return root


def provider_of(logdir):
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    return multiplexer_provider.MultiplexerDataProvider(multiplexer, logdir)


def read_record(logdir):
    """`(step, header, arrays)` of the one dataset record, straight from the data provider."""
    provider, ctx = provider_of(logdir), tb_context.RequestContext()
    listing = provider.list_blob_sequences(ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME)
    assert list(listing) == ["kerasviz"] and list(listing["kerasviz"]) == [TAG]
    data = provider.read_blob_sequences(ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME,
                                        downsample=10, run_tag_filter=None)["kerasviz"][TAG]
    assert len(data) == 1
    header = metadata.decode_header(provider.read_blob(ctx, blob_key=data[0].values[0].blob_key))
    arrays = metadata.decode_arrays(provider.read_blob(ctx, blob_key=data[0].values[1].blob_key))
    return data[0].step, header, arrays


def test_record_equals_the_summary(explained, logdir):
    step, header, arrays = read_record(logdir)
    summary = explained.summary(K)
    assert step == 0 and header["kind"] == "dataset" and header["n_items"] == N
    assert header["methods"] == METHODS and header["metrics"] == METRICS
    assert header["higher_is_better"] == {k: kerasviz.metrics.METRICS[k].higher_is_better for k in METRICS}
    assert header["ranked_by"] == METRICS[0]
    for m in METHODS:
        for metric in METRICS:
            values = explained.metric(m, metric).astype(np.float64)
            iv = summary.intervals[m][metric]
            assert header["intervals"][m][metric] == {"mean": iv.mean, "low": iv.low, "high": iv.high, "n": iv.n}
            assert header["intervals"][m][metric]["mean"] == pytest.approx(np.nanmean(values), rel=1e-9)
            both = np.concatenate([explained.metric(n, metric) for n in METHODS]).astype(np.float64)
            counts, edges = np.histogram(values, bins=20, range=(np.nanmin(both), np.nanmax(both)))
            hist = header["histograms"][m][metric]
            assert hist["counts"] == counts.tolist() and hist["nan"] == int(np.isnan(values).sum())
            np.testing.assert_allclose(hist["edges"], edges)
            assert sum(hist["counts"]) + hist["nan"] == N
        maps = arrays[header["map_arrays"][m]]  # decode_arrays undoes the per-item scale
        for end, expected in (("best", summary.best[m][METRICS[0]]), ("worst", summary.worst[m][METRICS[0]])):
            strip = header["strips"][m][end]
            assert strip["index"] == expected.tolist() and len(expected) == K
            # the ranking itself, by numpy: best of a lower-is-better metric is the smallest
            signed = explained.metric(m, METRICS[0]) * (1 if header["higher_is_better"][METRICS[0]] else -1)
            order = np.argsort(-signed, kind="stable")
            assert strip["index"] == (order[:K] if end == "best" else order[::-1][:K]).tolist()
            assert strip["value"] == pytest.approx(explained.metric(m, METRICS[0])[expected].tolist())
            np.testing.assert_array_equal(arrays["images"][strip["rows"]], explained.images(expected))
            reference = explained.maps(m, expected)
            np.testing.assert_allclose(maps[strip["map_rows"]], reference,
                                       atol=1e-3 * np.abs(reference).max(), rtol=0)


def test_plugin_serves_the_record_and_a_second_write_takes_the_next_step(explained, logdir, tmp_path):
    provider = provider_of(logdir)
    context = base_plugin.TBContext(data_provider=provider, logdir=logdir)
    client = werkzeug_test.Client(application.TensorBoardWSGI([plugin.KerasvizLoader().load(context)],
                                                              data_provider=provider))
    response = client.get("/data/plugin/kerasviz/record", query_string={"run": "kerasviz", "tag": TAG, "step": 0})
    assert response.status_code == 200
    body = json.loads(response.get_data())
    assert body["header"]["strips"]["grad_cam"]["best"]["index"] == \
        explained.summary(K).best["grad_cam"][METRICS[0]].tolist()
    assert body["arrays"]["images"]["encoding"] == "image" and body["arrays"]["images"]["shape"][0] == 4 * K
    root = str(tmp_path)
    assert explained.write(root, k=1)[1] == 0 and explained.write(root, k=1)[1] == 1
    with pytest.raises(ValueError, match="step"):
        explained.write(root, step=1, k=1)
    with pytest.raises(ValueError, match="`k`"):
        explained.write(root, k=0)


def test_thumbnails_are_box_averages_and_oversized_records_are_refused():
    from kerasviz.datasets import report

    rng = np.random.default_rng(5)
    picture = rng.integers(0, 256, (192, 144, 3), dtype=np.uint8)  # shrunk by 2 to 96 x 72
    blocks = picture.reshape(96, 2, 72, 2, 3).astype(np.float64).mean(axis=(1, 3))
    small = report._thumbnail(picture, "L")
    assert small.shape == (96, 72, 3) and small.dtype == np.uint8 and np.abs(small - blocks).max() <= 1
    one = rng.normal(size=(192, 192)).astype(np.float32)
    np.testing.assert_allclose(report._thumbnail(one, "F"), one.reshape(96, 2, 96, 2).mean(axis=(1, 3)), atol=1e-5)
    assert report._thumbnail(picture[:20, :30], "L").shape == (20, 30, 3)  # small images stay as they are
    with pytest.raises(ValueError, match="k=9999"):
        report.check_size(np.zeros((2, 96, 96, 3), np.uint8), {"a": np.zeros((20_000, 96, 96), np.float32)}, 9999)
    with pytest.raises(ValueError, match="methods"):
        report.check_size(np.zeros((1, 2, 2, 3), np.uint8), {str(i): np.zeros((1, 2, 2)) for i in range(40)}, 1)


def test_without_metrics_ranks_by_the_predicted_probability(tmp_path):
    import keras

    keras.backend.clear_session()
    model = sequential(seed=3)
    x = np.random.default_rng(1).uniform(0, 1, (12, 16, 16, 3)).astype(np.float32)
    run = kerasviz.explain_dataset(model, x, ["saliency"], out=str(tmp_path / "out"), verbose=0)
    run.write(str(tmp_path / "logs"), k=3)
    _, header, _ = read_record(str(tmp_path / "logs"))
    probability = np.asarray(model(x)).max(axis=1)  # the model's own confidence, computed here
    assert header["ranked_by"] == "predicted_probability" and header["intervals"] == {}
    assert header["strips"]["saliency"]["best"]["index"] == np.argsort(-probability)[:3].tolist()
    assert header["strips"]["saliency"]["worst"]["index"] == np.argsort(probability)[:3].tolist()
    np.testing.assert_allclose(header["strips"]["saliency"]["best"]["value"], np.sort(probability)[::-1][:3],
                               rtol=1e-5)


def test_cli_explain_writes_the_record_with_logdir(tmp_path):
    import keras
    from PIL import Image

    keras.backend.clear_session()
    model_path = str(tmp_path / "m.keras")
    sequential(seed=2).save(model_path)
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(4)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    from kerasviz.cli import main

    code = main(["explain", model_path, str(folder), "--methods", "saliency", "--metrics", "sparseness",
                 "--out", str(tmp_path / "out"), "--logdir", str(tmp_path / "logs"), "--k", "2"])
    assert code in (0, None)
    _, header, arrays = read_record(str(tmp_path / "logs"))
    summary = kerasviz.load_explanations(str(tmp_path / "out")).summary(2)
    assert header["intervals"]["saliency"]["sparseness"]["mean"] == summary.intervals["saliency"]["sparseness"].mean
    assert arrays["images"].shape == (4, 16, 16, 3)


# ------------------------------------------------------------------ the browser

def wait_shown(frame, method):
    frame.wait_for_function("m => { const v = document.getElementById('kv-view');"
                            " return !!v && (v.dataset.shown || '').endsWith('|' + m); }", arg=method)


@pytest.mark.browser
def test_view_shows_table_histograms_and_a_strip_per_method(explained, logdir, request, screenshots):
    if browser.MISSING:
        pytest.fail(f"the browser test needs {browser.MISSING}")
    server = browser.start_tensorboard(logdir, request, lambda runs: "kerasviz" in runs,
                                       log_name="tensorboard_dataset.log")
    summary = explained.summary(K)
    with browser.open_dashboard(server) as (page, frame, events):
        wait_shown(frame, "saliency")
        rows = frame.eval_on_selector_all("#kv-ds-table tbody tr", "rs => rs.map(r => r.dataset.method)")
        assert rows == METHODS
        cells = frame.eval_on_selector_all("#kv-ds-table tbody td", "ts => ts.map(t => t.textContent)")
        for text, (m, metric) in zip(cells, [(m, k) for m in METHODS for k in METRICS]):
            iv = summary.intervals[m][metric]
            mean, half = (float(part) for part in text.split(" ± "))
            assert mean == pytest.approx(iv.mean, abs=6e-5) and half == pytest.approx((iv.high - iv.low) / 2, abs=6e-5)
        arrows = frame.eval_on_selector_all("#kv-ds-table thead .kv-direction", "s => s.map(x => x.dataset.direction)")
        assert arrows == ["higher", "lower"]  # sparseness ↑, deletion AUC ↓
        _, header, _ = read_record(logdir)
        for m in METHODS:
            for metric in METRICS:
                bars = frame.eval_on_selector_all(
                    f"figure.kv-ds-hist-cell[data-method='{m}'][data-metric='{metric}'] rect",
                    "rs => rs.map(r => Number(r.dataset.count))")
                assert bars == header["histograms"][m][metric]["counts"]

        def strip():
            return {end: frame.eval_on_selector_all(f".kv-ds-strip-row[data-end='{end}'] figure",
                                                    "fs => fs.map(f => Number(f.dataset.index))")
                    for end in ("best", "worst")}

        assert strip() == {"best": summary.best["saliency"][METRICS[0]].tolist(),
                           "worst": summary.worst["saliency"][METRICS[0]].tolist()}
        painted = frame.eval_on_selector_all("#kv-ds-strip canvas", "cs => cs.map(c => c.dataset.painted)")
        assert painted == ["overlay"] * (2 * K)
        pixels = frame.eval_on_selector("#kv-ds-strip canvas", "c => Array.from(c.getContext('2d')"
                                        ".getImageData(0, 0, c.width, c.height).data)")
        assert len(pixels) == 16 * 16 * 4 and len(set(pixels)) > 10
        browser.shot(page, screenshots, "dataset_saliency.png")
        frame.select_option("#kv-ds-method", "grad_cam")
        wait_shown(frame, "grad_cam")
        assert strip() == {"best": summary.best["grad_cam"][METRICS[0]].tolist(),
                           "worst": summary.worst["grad_cam"][METRICS[0]].tolist()}
        assert summary.best["grad_cam"][METRICS[0]].tolist() != summary.best["saliency"][METRICS[0]].tolist()
        assert not events["errors"] and not events["dialogs"]
