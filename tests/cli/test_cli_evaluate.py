"""`kerasviz evaluate`: the table, the JSON and the dashboard record of `kerasviz.metrics.compare`, as a user runs it.

The command runs in this process through `kerasviz.cli.main` (the console
script's entry point) on a tiny model saved as `.keras` and PNG files; the
reference is `kerasviz.metrics.compare` called directly on the same images.
"""

import json
import os
import re

import keras
import numpy as np
import pytest
from PIL import Image
from tensorboard import context
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider as multiplexer_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test

from kerasviz import cli, metrics
from kerasviz.cli import evaluate
from tb_plugin import metadata, plugin
from tests.helpers.models import SIZE, sequential
from tests.helpers.processes import REPO

METHODS = ["saliency", "guided_backprop"]
METRICS = ["deletion_auc", "sparseness", "pointing_game", "random_logit"]
BEST, FAILED = "*", "\u2717"


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A saved model, 3 PNG images at its input size (so they load exactly as `png / 255`) and their masks."""
    folder = tmp_path_factory.mktemp("evaluate")
    keras.backend.clear_session()
    model = sequential(seed=3)
    model.save(folder / "model.keras")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    masks = np.zeros((3, SIZE, SIZE), bool)
    for i in range(3):
        Image.fromarray(pixels[i]).save(folder / f"img{i}.png")
        masks[i, 2 + i:9 + i, 3:11] = True
        Image.fromarray(masks[i].astype(np.uint8) * 255).save(folder / f"mask{i}.png")
    np.save(folder / "masks.npy", masks)
    (folder / "notes.txt").write_text("not an image")
    images = pixels.astype(np.float32) / 255.0
    reference = metrics.compare(keras.models.load_model(folder / "model.keras", compile=False), images, METHODS,
                                METRICS, [1, 0, 2], masks=masks)
    return folder, reference


def _main(args, folder, capsys):
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        code = cli.main(args)
    finally:
        os.chdir(cwd)
    out = capsys.readouterr()
    return code, out.out, out.err


def _table(stdout, metric_names):
    """`({method: {metric: (value, marks)}}, direction words per metric)` read back from the printed table."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["method"])
    assert lines[start].split() == ["method", *metric_names]
    directions = re.findall(r"[\u2191\u2193] (higher|lower)", lines[start + 1])
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith(tuple(METHODS)):
            break
        name, *cells = line.split()
        rows[name] = {k: (float(re.match(r"-?[0-9.]+|nan", c).group()), c.lstrip("-0123456789.nan"))
                      for k, c in zip(metric_names, cells)}
    return rows, directions


def test_evaluate_prints_the_table_writes_json_and_a_record(work, capsys):
    folder, reference = work
    expected = reference.as_dict()
    logits = [expected[m]["random_logit"] for m in METHODS]
    threshold = round(float(np.mean(logits)), 4)  # between the two: exactly one method fails
    code, out, err = _main(["evaluate", "model.keras", "img0.png", "img1.png", "img2.png", "--methods", *METHODS,
                            "--metrics", *METRICS, "--labels", "1", "0", "2",
                            "--masks", "mask0.png", "mask1.png", "mask2.png", "--sanity-threshold", str(threshold),
                            "--json", "result.json", "--logdir", "logs", "--run-name", "eval", "--step", "3"],
                           folder, capsys)
    assert code == 0, err
    rows, directions = _table(out, METRICS)
    assert directions == ["higher" if metrics.METRICS[k].higher_is_better else "lower" for k in METRICS]
    for method in METHODS:
        for metric in METRICS:
            value, marks = rows[method][metric]
            assert value == pytest.approx(expected[method][metric], abs=1e-4)
            column = [expected[m][metric] for m in METHODS]
            top = max(column) if metrics.METRICS[metric].higher_is_better else min(column)
            assert (BEST in marks) == (expected[method][metric] == top), (method, metric, marks)
            assert (FAILED in marks) == (metric == "random_logit" and expected[method][metric] >= threshold)
    failing = METHODS[int(np.argmax(logits))]
    assert f"{failing} fails random_logit" in out
    with open(folder / "result.json") as f:
        written = json.load(f)
    assert written.keys() == expected.keys()
    for method in METHODS:
        assert written[method] == pytest.approx(expected[method], abs=1e-6)

    # The record, read back through TensorBoard's data provider and our plugin's routes.
    logdir = str(folder / "logs")
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    provider = multiplexer_provider.MultiplexerDataProvider(multiplexer, logdir)
    loaded = plugin.KerasvizLoader().load(base_plugin.TBContext(data_provider=provider, logdir=logdir))
    client = werkzeug_test.Client(application.TensorBoardWSGI([loaded], data_provider=provider))
    runs = json.loads(client.get("/data/plugin/kerasviz/runs").get_data())["runs"]
    assert [(r["name"], [(t["tag"], t["family"], t["method"], t["max_step"]) for t in r["tags"]]) for r in runs] == [
        ("eval", [("kerasviz/attribution/comparison", "attribution", "comparison", 3)])]
    response = client.get("/data/plugin/kerasviz/record",
                          query_string={"run": "eval", "tag": "kerasviz/attribution/comparison", "step": 3})
    assert response.status_code == 200, response.get_data(as_text=True)
    header = json.loads(response.get_data())["header"]
    assert header["kind"] == "comparison" and header["methods"] == METHODS and header["metrics"] == METRICS
    assert np.allclose(header["values"], reference.values, atol=1e-6)
    assert header["higher_is_better"] == {k: metrics.METRICS[k].higher_is_better for k in METRICS}
    assert header["sanity_checks"] == ["random_logit"] and header["sanity_threshold"] == threshold
    assert header["failures"] == [[failing, "random_logit"]]
    assert header["best"] == {k: v for k, v in reference.best().items()}
    assert header["params"] == {m: {} for m in METHODS}
    ctx = context.RequestContext()
    blobs = provider.read_blob_sequences(ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME,
                                         downsample=10)["eval"]["kerasviz/attribution/comparison"]
    arrays = metadata.decode_arrays(provider.read_blob(ctx, blob_key=blobs[0].values[1].blob_key))
    per_image = np.stack([np.stack([reference.per_image[(m, k)] for k in METRICS]) for m in METHODS])
    assert arrays["per_image"].shape == (2, 4, 3)
    np.testing.assert_allclose(arrays["per_image"], per_image, rtol=2e-3, atol=1e-3)  # float16 per method
    # A second table at the same step would hide one of the two: refused before anything is computed.
    code, out, err = _main(["evaluate", "model.keras", "img0.png", "--logdir", "logs", "--run-name", "eval",
                            "--step", "3"], folder, capsys)
    assert code == 2 and "--step 3: " in err and "already holds a comparison at step 3" in err
    assert "Comparing" not in out


def test_masks_as_one_npy_file_and_the_default_methods(work, capsys):
    folder, reference = work
    code, out, err = _main(["evaluate", "model.keras", "img0.png", "img1.png", "img2.png", "--metrics",
                            "pointing_game", "--labels", "1", "0", "2", "--masks", "masks.npy"], folder, capsys)
    assert code == 0, err
    rows, _ = _table(out, ["pointing_game"])
    assert rows["saliency"]["pointing_game"][0] == pytest.approx(reference.as_dict()["saliency"]["pointing_game"],
                                                                 abs=1e-4)
    assert "grad_cam" in out and "at layer 'relu2'" in out  # the default methods; the default layer said
    from kerasviz.callbacks import attribution

    assert evaluate.DEFAULT_METHODS == attribution.DEFAULT_METHODS
    assert evaluate.SANITY_THRESHOLD == metrics.SANITY_THRESHOLD


@pytest.mark.parametrize("args, named", [
    (["--metrics", "bogus"], "--metrics: unknown name(s) bogus"),
    (["--methods", "magic"], "--methods: unknown name(s) magic"),
    (["--metrics", "pointing_game"], "--metrics: pointing_game need(s) object masks"),
    (["--labels", "1", "2"], "--labels: expected one class or one per image (1)"),
    (["--masks", "mask0.png", "mask1.png"], "--masks: expected one mask file per image (1)"),
    (["--masks", "notes.txt"], "--masks 'notes.txt': cannot be read"),
    (["--masks", "masks.npy"], "--masks 'masks.npy': expected shape (1, 16, 16)"),
    (["--sanity-threshold", "2"], "--sanity-threshold: expected a rank correlation in [-1, 1]"),
    (["--step", "-1"], "--step: expected an integer >= 0"),
    (["--cam-layer", "nope"], "--cam-layer 'nope'"),
    (["--json", "nowhere/out.json"], "--json 'nowhere/out.json': the directory"),
    (["--logdir", "logs", "--run-name", "../up"], "--logdir/--run-name: Received an invalid value for `run_name`"),
])
def test_mistakes_get_one_line_and_exit_code_2(work, capsys, args, named):
    folder, _ = work
    code, out, err = _main(["evaluate", "model.keras", "img0.png", *args], folder, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and named in lines[0], err
    assert lines[0].startswith("kerasviz evaluate: ")


def test_the_readme_tables_list_every_method_and_metric_with_its_direction():
    from kerasviz import registry

    with open(os.path.join(REPO, "README.md")) as f:
        rows = {line.split("|")[1].strip().split()[0].strip("`"): line for line in f if line.startswith("| `")}
    for name in registry.ATTRIBUTION_METHODS:
        assert name in rows and "[B, " in rows[name] and ("≥ 0" in rows[name] or "signed" in rows[name]), name
        assert "forward" in rows[name] or "the method" in rows[name], name
    for name, metric in metrics.METRICS.items():
        cells = [c.strip() for c in rows[name].split("|")]
        assert cells[4].startswith("↑ higher" if metric.higher_is_better else "↓ lower"), (name, cells)
        assert ("sanity check" in cells[1]) == metric.sanity, name
