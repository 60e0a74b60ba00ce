"""The kerasviz TensorBoard plugin's routes, served by TensorBoard's own WSGI app.

Real event files (written by `tests/helpers/records.py` through
`kerasviz.summary`), read through both data providers: the Python
`MultiplexerDataProvider` (`--load_fast=false`) and the Rust data server
TensorBoard starts by default (`GrpcDataProvider`), queried with a werkzeug
test client. Damaged logdirs and hostile query strings must never
make a route answer 500.
"""

import configparser
import importlib
import importlib.metadata
import io
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorboard import default, program
from tensorboard.backend.event_processing import data_ingester
from tensorboard.plugins import base_plugin

from tb_plugin import metadata, plugin
from tests.helpers import damaged, records
from tests.helpers.processes import REPO
from tests.helpers.providers import plugin_client, python_provider, rust_provider

SAL, OCC, CAM = (f"kerasviz/attribution/{m}" for m in ("saliency", "occlusion", "gradcam"))
XSS_RUN = "run \u00e9 " + records.XSS
LONG_STEPS = 50


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("logdir"))
    records.write_run(os.path.join(root, "train"), steps=3)
    records.write_run(os.path.join(root, "classes"), steps=2, methods=("gradcam",), classes=(0, 2, 3))
    records.write_run(os.path.join(root, XSS_RUN), steps=1, methods=("saliency",))
    records.write_run(os.path.join(root, "long"), steps=LONG_STEPS, methods=("saliency",), n=1, size=8)
    damaged.write_damaged(root)
    header, arrays = records.attribution_record("saliency", 0, n=2, size=8)
    arrays["maps"][0] = np.nan  # a map of NaN, and one with an infinity
    arrays["maps"][1, 0, 0] = np.inf
    writer = tf.summary.create_file_writer(os.path.join(root, "nonfinite"))
    records.write_record(writer, "attribution", "saliency", header, arrays, 0)
    writer.close()
    return root


@pytest.fixture(scope="module", params=["python", "rust"])
def client(request, logdir):
    provider = python_provider(logdir) if request.param == "python" else rust_provider(
        logdir, request, expected=10 + 12)  # 10 record series, 12 metrics
    return plugin_client(provider, logdir)


def get(client, route, **params):
    return client.get("/data/plugin/kerasviz/" + route, query_string=params)


def get_json(client, route, **params):
    response = get(client, route, **params)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    return json.loads(response.get_data())


def dequantize(encoded):
    shape = encoded["shape"]
    q = np.asarray(encoded["data"], np.float64).reshape((-1,) + tuple(shape[-2:]))
    lo, hi = np.asarray(encoded["lo"])[:, None, None], np.asarray(encoded["hi"])[:, None, None]
    return (lo + q / 255 * (hi - lo)).reshape(shape)


# ------------------------------------------------------------------ routes on good data


def test_runs_lists_series_families_methods_and_metrics(client):
    runs = {run["name"]: run for run in get_json(client, "runs")["runs"]}
    assert set(runs) == {"train", "classes", XSS_RUN, "long", "future", "garbage", "truncated", "nonfinite"}
    train = runs["train"]
    assert [(t["tag"], t["family"], t["method"], t["max_step"]) for t in train["tags"]] == [
        (CAM, "attribution", "gradcam", 2), (OCC, "attribution", "occlusion", 2), (SAL, "attribution", "saliency", 2)]
    metrics = {(s["method"], s["metric"]) for s in train["scalars"]}
    assert metrics == {(m, k) for m in ("gradcam", "occlusion", "saliency") for k in ("deletion_auc", "insertion_auc")}
    assert "Unsupported kerasviz record version: 99" in runs["future"]["tags"][0]["error"]


def test_steps_lists_every_step(client):
    body = get_json(client, "steps", run="train", tag=SAL)
    assert (body["family"], body["method"]) == ("attribution", "saliency")
    assert [s["step"] for s in body["steps"]] == [0, 1, 2]
    assert [s["step"] for s in get_json(client, "steps", run="long", tag=SAL)["steps"]] == list(range(LONG_STEPS))


@pytest.mark.parametrize("tag,occlusion", [(SAL, False), (OCC, True)])
def test_record_returns_header_and_maps_within_quantization(client, tag, occlusion):
    body = get_json(client, "record", run="train", tag=tag, step=1)
    header, expected = records.attribution_record(tag.split("/")[-1], 1, occlusion=occlusion)
    assert body["step"] == 1 and body["header"]["version"] == metadata.SCHEMA_VERSION
    for key in ("class_names", "labels", "predictions", "params", "target"):
        assert body["header"][key] == header[key]
    assert body["header"]["predicted_probability"] == pytest.approx(header["predicted_probability"])
    maps = body["arrays"]["maps"]
    assert maps["shape"] == ([4, 4, 4] if occlusion else [4, 32, 32]) and maps["encoding"] == "uint8-linear"
    reference = expected["maps"].astype(np.float16).astype(np.float64)
    step = (np.asarray(maps["hi"]) - np.asarray(maps["lo"]))[:, None, None] / 255
    assert np.all(np.abs(dequantize(maps) - reference) <= step / 2 + 1e-3)
    assert body["arrays"]["images"] == {"shape": [4, 32, 32, 3], "dtype": "uint8", "encoding": "image"}


def test_record_with_maps_for_several_classes(client):
    body = get_json(client, "record", run="classes", tag=CAM, step=0)
    assert body["header"]["map_classes"] == [0, 2, 3]
    assert body["arrays"]["maps"]["shape"] == [4, 3, 32, 32]
    assert len(body["arrays"]["maps"]["lo"]) == 12  # one range per 2-D map


def test_non_finite_maps_are_counted_not_sent(client):
    maps = get_json(client, "record", run="nonfinite", tag=SAL, step=0)["arrays"]["maps"]
    assert maps["nonfinite"] == 64 + 1 and maps["lo"][0] == maps["hi"][0] == 0
    assert all(0 <= q <= 255 for q in maps["data"]) and maps["data"][64] == 0


def test_image_is_the_recorded_image_as_png(client):
    response = get(client, "image", run="train", tag=OCC, step=2, index=3)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    decoded = np.asarray(Image.open(io.BytesIO(response.get_data())))
    np.testing.assert_array_equal(decoded, records.images(4, 32)[3])


def test_scalars_returns_the_metric_over_steps(client):
    body = get_json(client, "scalars", run="train", tag=OCC + "/insertion_auc")
    assert [p["step"] for p in body["points"]] == [0, 1, 2]
    assert [p["value"] for p in body["points"]] == pytest.approx([0.34, 0.39, 0.44])


def test_scalars_carry_the_direction_kerasviz_metrics_declares(client):
    from kerasviz import metrics

    for metric in ("deletion_auc", "insertion_auc"):
        body = get_json(client, "scalars", run="train", tag=f"{SAL}/{metric}")
        assert body["higher_is_better"] is metrics.METRICS[metric].higher_is_better


def test_unicode_and_markup_names_travel_as_json_text(client):
    body = get_json(client, "record", run=XSS_RUN, tag=SAL, step=0)
    assert body["run"] == XSS_RUN and records.XSS in body["header"]["class_names"]
    response = get(client, "record", run=XSS_RUN, tag=SAL, step=0)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert XSS_RUN in [run["name"] for run in get_json(client, "runs")["runs"]]


# ------------------------------------------------------------------ static files


@pytest.mark.parametrize("route,mime", [
    ("index.js", "text/javascript"), ("common.js", "text/javascript"), ("colormaps.js", "text/javascript"),
    ("colormap_table.js", "text/javascript"),
    ("views/attribution.js", "text/javascript"), ("views/generic.js", "text/javascript"), ("style.css", "text/css"),
])
def test_static_files_are_served_with_their_mime_type(client, route, mime):
    response = get(client, route)
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == mime
    with open(os.path.join(os.path.dirname(plugin.__file__), "static", route), "rb") as handle:
        assert response.get_data() == handle.read()


def test_the_dashboards_colormap_table_is_generated_from_kerasviz_image():
    # `python -m tb_plugin.colormap_table` rewrites it after a change to `kerasviz.image`'s colormaps.
    from tb_plugin import colormap_table

    with open(colormap_table.PATH, encoding="utf-8") as handle:
        assert handle.read() == colormap_table.source()


@pytest.mark.parametrize("path", [
    "plugin.py", "metadata.py", "static/index.js", "index.html", "views/", "views/../index.js",
    "views/..%2f..%2fplugin.py", "..%2fplugin.py", "%2e%2e/%2e%2e/etc/passwd", "../../../../etc/passwd", "style.css.map",
])
def test_only_allow_listed_files_are_served(client, path):
    response = client.get("/data/plugin/kerasviz/" + path)
    assert response.status_code == 404


def test_index_module_exports_render_and_uses_no_html_sinks():
    static = os.path.join(os.path.dirname(plugin.__file__), "static")
    sources = {}
    for folder, _, names in os.walk(static):
        for name in names:
            if name.endswith(".js"):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    sources[name] = handle.read()
    assert re.search(r"^export (async )?function render\(", sources["index.js"], re.M)
    for name, source in sources.items():
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", source), name
        assert not re.search(r"https?://", source.replace("http://www.w3.org/2000/svg", "")), name


# ------------------------------------------------------------------ bad arguments and missing data


@pytest.mark.parametrize("route,params", [
    ("steps", {}),
    ("steps", {"run": "train"}),
    ("steps", {"run": "../../etc/passwd", "tag": SAL}),
    ("steps", {"run": "..\\..\\windows", "tag": SAL}),
    ("steps", {"run": "train/../../x", "tag": SAL}),
    ("steps", {"run": "", "tag": SAL}),
    ("steps", {"run": "tr\x00ain", "tag": SAL}),
    ("steps", {"run": "train", "tag": SAL + "\n"}),
    ("steps", {"run": "x" * 5000, "tag": SAL}),
    ("record", {"run": "train", "tag": SAL}),
    ("record", {"run": "train", "tag": SAL, "step": "1e3"}),
    ("record", {"run": "train", "tag": SAL, "step": "1.5"}),
    ("record", {"run": "train", "tag": SAL, "step": "99999999999999999999"}),
    ("record", {"run": "train", "tag": SAL, "step": "<script>"}),
    ("image", {"run": "train", "tag": SAL, "step": "0"}),
    ("image", {"run": "train", "tag": SAL, "step": "0", "index": "-1"}),
    ("image", {"run": "train", "tag": SAL, "step": "0", "index": "x"}),
    ("image", {"run": "train", "tag": SAL, "step": "0", "index": "0", "array": "../images"}),
    ("scalars", {"run": "../../etc/passwd", "tag": SAL + "/deletion_auc"}),
])
def test_bad_arguments_answer_400_text(client, route, params):
    response = get(client, route, **params)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain")


def test_repeated_arguments_answer_400(client):
    response = client.get(f"/data/plugin/kerasviz/steps?run=train&run=classes&tag={SAL}")
    assert response.status_code == 400 and b"run" in response.get_data()


@pytest.mark.parametrize("route,params", [
    ("steps", {"run": "nope", "tag": SAL}),
    ("steps", {"run": "train", "tag": "kerasviz/attribution/nope"}),
    ("steps", {"run": "etc/passwd", "tag": SAL}),
    ("record", {"run": "train", "tag": SAL, "step": "7"}),
    ("record", {"run": "train", "tag": "kerasviz/attribution/saliency/deletion_auc", "step": "0"}),
    ("image", {"run": "train", "tag": SAL, "step": "0", "index": "4"}),
    ("image", {"run": "train", "tag": SAL, "step": "0", "index": "0", "array": "maps"}),
    ("scalars", {"run": "train", "tag": "loss"}),
    ("scalars", {"run": "train", "tag": "kerasviz/attribution/nope/deletion_auc"}),
])
def test_missing_data_answers_404(client, route, params):
    response = get(client, route, **params)
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("run,step,message", [
    ("future", 0, "version: 99"),  # unknown version in the series metadata
    ("garbage", 0, "version: 99"),  # unknown version in the record header
    ("garbage", 1, "Damaged kerasviz record arrays"),  # npz blob is garbage
    ("garbage", 2, "1 blob(s)"),  # a record of one blob
    ("garbage", 3, "Unreadable kerasviz record header"),  # header blob is not JSON
])
def test_damaged_records_answer_404_never_500(client, run, step, message):
    for route in ("record", "image"):
        response = get(client, route, run=run, tag=SAL, step=step, index=0)
        assert response.status_code == 404 and message in response.get_data(as_text=True)


def test_truncated_event_file_serves_what_was_written(client):
    assert [s["step"] for s in get_json(client, "steps", run="truncated", tag=SAL)["steps"]] == [0, 1]
    assert get_json(client, "record", run="truncated", tag=SAL, step=1)["arrays"]["maps"]["shape"] == [4, 32, 32]
    assert get(client, "record", run="truncated", tag=SAL, step=2).status_code == 404


# ------------------------------------------------------------------ plugin, loader and sampling


def test_plugin_metadata():
    assert re.match(r"^[A-Za-z0-9_-]+$", plugin.KerasvizPlugin.plugin_name)
    loaded = plugin.KerasvizLoader().load(base_plugin.TBContext())
    assert loaded.is_active() is False
    frontend = loaded.frontend_metadata()
    assert (frontend.es_module_path, frontend.tab_name) == ("/index.js", "kerasviz")


def _configured_flags(*argv):
    plugins = [p for p in default.get_static_plugins()] + [plugin.KerasvizLoader]
    tensorboard = program.TensorBoard(plugins=plugins)
    tensorboard.configure(["tensorboard", "--logdir", "unused", *argv])
    return tensorboard.flags


def test_loader_raises_the_default_sampling_and_keeps_the_users():
    assert _configured_flags().samples_per_plugin[metadata.PLUGIN_NAME] == plugin.DEFAULT_SAMPLES
    flags = _configured_flags("--samples_per_plugin", "kerasviz=7,images=3")
    assert flags.samples_per_plugin == {"kerasviz": 7, "images": 3}


def test_every_epoch_of_a_long_run_is_shown_with_the_loaders_flags(logdir):
    def steps_seen(flags):
        flags.logdir = logdir
        ingester = data_ingester.LocalDataIngester(flags)  # what `--load_fast=false` builds
        ingester.deprecated_multiplexer.AddRunsFromDirectory(logdir)
        ingester.deprecated_multiplexer.Reload()
        client = plugin_client(ingester.data_provider, logdir, sampling_hints=flags.samples_per_plugin)
        return len(get_json(client, "steps", run="long", tag=SAL)["steps"])

    tensorboard = program.TensorBoard(plugins=default.get_static_plugins())
    tensorboard.configure(["tensorboard", "--logdir", logdir])
    assert steps_seen(tensorboard.flags) == 10  # TensorBoard's own default drops epochs
    assert steps_seen(_configured_flags()) == LONG_STEPS
    assert steps_seen(_configured_flags("--samples_per_plugin", "kerasviz=0")) == LONG_STEPS


def test_zero_samples_hint_means_no_limit(logdir):
    client = plugin_client(python_provider(logdir), logdir, sampling_hints={"kerasviz": 0, "scalars": 0})
    assert len(get_json(client, "steps", run="long", tag=SAL)["steps"]) == LONG_STEPS
    assert len(get_json(client, "scalars", run="long", tag=SAL + "/deletion_auc")["points"]) == LONG_STEPS


def test_setup_cfg_registers_the_loader_as_a_tensorboard_plugin():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(REPO, "setup.cfg"))
    lines = [line.strip() for line in parser["options.entry_points"]["tensorboard_plugins"].splitlines() if line.strip()]
    assert lines == ["kerasviz = tb_plugin.plugin:KerasvizLoader"]
    module, name = lines[0].split("=")[1].strip().split(":")
    assert getattr(importlib.import_module(module), name) is plugin.KerasvizLoader


def test_entry_point_names_the_loader():
    try:
        importlib.metadata.distribution("kerasviz")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("kerasviz is not installed (pip install -e .): its entry points are not registered")
    (entry,) = [e for e in importlib.metadata.entry_points(group="tensorboard_plugins") if e.name == "kerasviz"]
    assert entry.load() is plugin.KerasvizLoader


def test_logdir_written_by_the_attribution_callback(tmp_path):
    callbacks = pytest.importorskip("kerasviz.callbacks")
    if not hasattr(callbacks, "AttributionCallback"):
        pytest.skip("kerasviz.callbacks.AttributionCallback is not written yet")
    import keras
    from tests.helpers.models import CLASSES, SIZE, sequential

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (8, SIZE, SIZE, 3)).astype(np.float32)
    y = rng.integers(0, CLASSES, 8)
    keras.backend.clear_session()
    model = sequential()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    callback = callbacks.AttributionCallback(
        str(tmp_path), x[:3], y[:3], methods=("saliency", ("occlusion", {"patch": 4, "stride": 4})),
        class_names=["a", "b", records.XSS, "d"],
        metrics=True, on_error="raise")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[callback])

    client = plugin_client(python_provider(str(tmp_path)), str(tmp_path))
    (run,) = get_json(client, "runs")["runs"]
    assert [t["tag"] for t in run["tags"]] == [OCC, SAL]
    assert {(s["method"], s["metric"]) for s in run["scalars"]} == {
        (m, k) for m in ("occlusion", "saliency") for k in ("deletion_auc", "insertion_auc")}
    assert [s["step"] for s in get_json(client, "steps", run=run["name"], tag=SAL)["steps"]] == [0, 1]
    body = get_json(client, "record", run=run["name"], tag=SAL, step=1)
    assert body["arrays"]["maps"]["shape"] == [3, SIZE, SIZE]
    assert body["header"]["labels"] == y[:3].tolist() and records.XSS in body["header"]["class_names"]
    occlusion = get_json(client, "record", run=run["name"], tag=OCC, step=1)
    assert occlusion["arrays"]["maps"]["shape"] == [3, SIZE // 4, SIZE // 4]
    assert occlusion["header"]["params"]["patch"] == 4 and occlusion["header"]["lower_is_important"] is True
    png = get(client, "image", run=run["name"], tag=SAL, step=1, index=2)
    assert Image.open(io.BytesIO(png.get_data())).size == (SIZE, SIZE)
    assert len(get_json(client, "scalars", run=run["name"], tag=SAL + "/deletion_auc")["points"]) == 2
