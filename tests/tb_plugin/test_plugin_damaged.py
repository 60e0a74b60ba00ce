"""The plugin survives any logdir: damaged and hostile records, series metadata and event files.

Real event files (`tests/helpers/damaged.py`'s `write_hostile`: the library's records
damaged byte by byte, and event files damaged on disk) beside good runs, read
through both data servers (the Rust data server and `--load_fast=false`'s
`MultiplexerDataProvider`) by TensorBoard's own WSGI app. A damaged record
answers 404 naming what is wrong, a damaged series is listed in `/runs` with
its `error`, nothing answers 500, and every answer says `nosniff`.

`pytest tests/tb_plugin/test_plugin_damaged.py -q -s -k tally` prints how many damaged
requests of each kind were answered, per data server, and how many with 500.
"""

import collections
import json
import os
import tracemalloc

import pytest
from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test

from tb_plugin import plugin
from tests.helpers import damaged, providers, records

SAL = damaged.SALIENCY
RECORDS = damaged.hostile_records()
METADATA = damaged.hostile_metadata()
DAMAGED = [(step, kind, expected) for step, (kind, _, expected) in enumerate(RECORDS) if expected]
STEP = {kind: step for step, (kind, _, _) in enumerate(RECORDS)}
RECORD_ROUTES = ("record", "image", "picture", "sprite")


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("hostile"))
    records.write_run(os.path.join(root, "train"), steps=2, methods=("saliency",))
    series = damaged.write_hostile(root)
    return root, series + 1 + 2  # + the good run's series and its two metrics (what the Rust server lists)


@pytest.fixture(scope="module", params=["python", "rust"])
def client(request, logdir):
    root, expected = logdir
    provider = providers.python_provider(root) if request.param == "python" else providers.rust_provider(
        root, request, expected=expected)
    return providers.plugin_client(provider, root)


def get(client, route, **params):
    response = client.get("/data/plugin/kerasviz/" + route, query_string=params)
    assert response.headers.get("X-Content-Type-Options") == "nosniff", (route, params, response.status_code)
    return response


def strict_json(response):
    """The body as JSON, refusing the NaN / Infinity tokens that JSON.parse rejects."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"

    def refuse(token):
        raise AssertionError(f"bare {token} in the JSON answer")

    return json.loads(response.get_data(), parse_constant=refuse)


def record_params(route, run, tag, step):
    params = {"run": run, "tag": tag, "step": step}
    if route == "image":
        params["index"] = 0
    if route in ("picture", "sprite"):
        params["array"] = "images"
    return params


def assert_not_found(response, expected):
    text = response.get_data(as_text=True)
    assert response.status_code == 404 and expected in text, (response.status_code, text[:300])
    assert response.headers["Content-Type"].startswith("text/plain")


# ------------------------------------------------------------------ damaged series metadata


def test_runs_lists_every_series_and_says_which_are_damaged(client):
    runs = {run["name"]: run for run in strict_json(get(client, "runs"))["runs"]}
    assert {"train", damaged.HOSTILE_RUN, damaged.BADMETA_RUN, damaged.UNICODE_RUN, "corrupt"} <= set(runs)
    assert not {"noise", "empty"} & set(runs)  # event files without a readable event hold no series
    tags = {entry["tag"]: entry for entry in runs[damaged.BADMETA_RUN]["tags"]}
    assert len(tags) == 1 + len(METADATA)
    assert (tags[SAL]["family"], tags[SAL]["method"]) == ("attribution", "saliency") and "error" not in tags[SAL]
    for index, (kind, _, expected) in enumerate(METADATA):
        entry = tags[damaged.badmeta_tag(index)]
        assert expected in entry["error"] and "family" not in entry, (kind, entry)
        assert len(entry["error"]) < 1000, kind  # the error names the damage, it does not echo the bytes
    assert [t["tag"] for t in runs["train"]["tags"]] == [SAL] and len(runs["train"]["scalars"]) == 2


@pytest.mark.parametrize("index", range(len(METADATA)), ids=[kind for kind, _, _ in METADATA])
def test_damaged_series_answer_404_and_hide_nothing_else(client, index):
    _, _, expected = METADATA[index]
    for route in ("steps",) + RECORD_ROUTES:
        params = record_params(route, damaged.BADMETA_RUN, damaged.badmeta_tag(index), 0)
        assert_not_found(get(client, route, **params), expected)
    assert strict_json(get(client, "record", run=damaged.BADMETA_RUN, tag=SAL, step=0))["step"] == 0


# ------------------------------------------------------------------ damaged records


def test_steps_list_every_record_damaged_or_not(client):
    steps = strict_json(get(client, "steps", run=damaged.HOSTILE_RUN, tag=SAL))["steps"]
    assert [s["step"] for s in steps] == list(range(len(RECORDS)))


@pytest.mark.parametrize("step,kind,expected", DAMAGED, ids=[kind for _, kind, _ in DAMAGED])
def test_damaged_records_answer_404_naming_the_damage(client, step, kind, expected):
    for route in RECORD_ROUTES:
        assert_not_found(get(client, route, **record_params(route, damaged.HOSTILE_RUN, SAL, step)), expected)
    good = strict_json(get(client, "record", run=damaged.HOSTILE_RUN, tag=SAL, step=STEP["good"]))
    assert good["arrays"]["maps"]["shape"] == [2, 8, 8]


def test_zip_bomb_is_refused_without_inflating_it(client):
    get(client, "runs")  # warm up the route once
    tracemalloc.start()
    try:
        response = get(client, "record", run=damaged.HOSTILE_RUN, tag=SAL, step=STEP["zip bomb (128 MiB inflated)"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_not_found(response, "bytes")
    assert peak < 16 * 1024 * 1024, f"{peak / 2**20:.0f} MiB allocated to refuse a {damaged.BOMB_BYTES >> 20} MiB bomb"


def test_non_finite_header_values_become_null(client):
    step = STEP["NaN and infinities in the header"]
    header = strict_json(get(client, "record", run=damaged.HOSTILE_RUN, tag=SAL, step=step))["header"]
    assert header["score"] is None and header["limits"] == [None, None, None]
    assert header["class_names"] == records.CLASS_NAMES


def test_non_finite_and_extreme_array_values_are_sent_as_valid_json(client):
    step = STEP["NaN, infinities and extremes in arrays"]
    arrays = strict_json(get(client, "record", run=damaged.HOSTILE_RUN, tag=SAL, step=step))["arrays"]
    maps = arrays["maps"]  # float32 [2, 4]: nan, inf, -inf, 3e38 / -3e38, 0, 1, 2 (one 2-D slice)
    assert maps["nonfinite"] == 3 and maps["lo"] == [pytest.approx(-3e38)] and maps["hi"] == [pytest.approx(3e38)]
    assert maps["data"] == [0, 0, 0, 255, 0, 128, 128, 128]  # 0, 1 and 2 are mid-range next to 3e38
    assert arrays["ints"]["encoding"] == "raw" and arrays["ints"]["data"] == [-2**62 + i for i in range(4)]
    scaled = arrays["scaled"]  # ones [3, 2] times the scales [inf, 0, nan]
    assert scaled["nonfinite"] == 4 and scaled["lo"] == scaled["hi"] == [0.0]


def test_images_without_pixels_are_described_not_drawn(client):
    params = {"run": damaged.HOSTILE_RUN, "tag": SAL, "step": STEP["images with no pixels"]}
    body = strict_json(get(client, "record", **params))
    assert body["arrays"]["images"]["shape"] == [2, 0, 4, 3]
    assert_not_found(get(client, "image", index=0, **params), "no pixels")
    assert_not_found(get(client, "sprite", array="images", **params), "no pixels")


# ------------------------------------------------------------------ odd logdirs


def test_unicode_run_names_are_served(client):
    names = [run["name"] for run in strict_json(get(client, "runs"))["runs"]]
    assert damaged.UNICODE_RUN in names
    steps = strict_json(get(client, "steps", run=damaged.UNICODE_RUN, tag=SAL))
    assert steps["run"] == damaged.UNICODE_RUN and [s["step"] for s in steps["steps"]] == [0]
    assert strict_json(get(client, "record", run=damaged.UNICODE_RUN, tag=SAL, step=0))["run"] == damaged.UNICODE_RUN
    assert get(client, "image", run=damaged.UNICODE_RUN, tag=SAL, step=0, index=1).status_code == 200


def test_a_run_directory_named_in_bytes_that_are_not_utf8(tmp_path, request):
    # Only the Rust data server reads such a logdir: the Python multiplexer's
    # `AddRunsFromDirectory` raises UnicodeDecodeError itself, before any plugin runs.
    records.write_run(str(tmp_path / "good"), steps=1, methods=("saliency",))
    records.write_run(str(tmp_path / "written"), steps=1, methods=("saliency",))
    os.rename(bytes(tmp_path / "written"), bytes(tmp_path) + b"/bad\xff\xfename")
    client = providers.plugin_client(providers.rust_provider(str(tmp_path), request, expected=2 * 3), str(tmp_path))
    names = [run["name"] for run in strict_json(get(client, "runs"))["runs"]]
    assert names == ["bad\ufffd\ufffdname", "good"]
    for name in names:
        assert strict_json(get(client, "record", run=name, tag=SAL, step=0))["run"] == name


def test_a_corrupt_event_file_serves_what_is_readable(client):
    steps = [s["step"] for s in strict_json(get(client, "steps", run="corrupt", tag=SAL))["steps"]]
    assert steps[0] == 0 and set(steps) <= {0, 1, 2}
    assert strict_json(get(client, "record", run="corrupt", tag=SAL, step=0))["arrays"]["maps"]["shape"] == [2, 8, 8]
    for step in steps:
        assert get(client, "record", run="corrupt", tag=SAL, step=step).status_code in (200, 404)
    assert_not_found(get(client, "steps", run="noise", tag=SAL), "no kerasviz series")


# ------------------------------------------------------------------ the plugin's own limits


def _plugin_client(provider, root):
    loaded = plugin.KerasvizPlugin(base_plugin.TBContext(data_provider=provider, logdir=root))
    return loaded, werkzeug_test.Client(application.TensorBoardWSGI([loaded], data_provider=provider))


def test_record_cache_is_bounded_by_bytes(logdir, monkeypatch):
    root, _ = logdir
    record_bytes = 4 * 32 * 32 * 3 + 4 * 32 * 32 * 4  # a `train` record decoded: uint8 images, float32 maps
    monkeypatch.setattr(plugin, "_CACHE_BYTES", record_bytes + record_bytes // 2)
    loaded, client = _plugin_client(providers.python_provider(root), root)
    for step in (0, 1, 0, 1):
        assert strict_json(get(client, "record", run="train", tag=SAL, step=step))["step"] == step
        assert loaded._cache.nbytes == record_bytes  # one record fits, two do not
    monkeypatch.setattr(plugin, "_CACHE_BYTES", record_bytes - 1)
    loaded, client = _plugin_client(providers.python_provider(root), root)
    assert strict_json(get(client, "record", run="train", tag=SAL, step=0))["step"] == 0
    assert loaded._cache.nbytes == 0  # a record larger than the whole cache is served, not kept


def test_an_unexpected_error_answers_500_with_nosniff(logdir):
    root, _ = logdir
    provider = providers.python_provider(root)
    broken = plugin.KerasvizPlugin(base_plugin.TBContext(data_provider=None, logdir=root))  # no data provider
    client = werkzeug_test.Client(application.TensorBoardWSGI([broken], data_provider=provider))
    response = get(client, "runs")
    assert response.status_code == 500 and response.headers["Content-Type"].startswith("text/plain")
    assert "Traceback" not in response.get_data(as_text=True)


def test_static_files_and_errors_say_nosniff(client):
    assert get(client, "index.js").status_code == 200
    assert get(client, "steps", run="train").status_code == 400
    assert get(client, "steps", run="nope", tag=SAL).status_code == 404
    assert get(client, "image", run="train", tag=SAL, step=0, index=0).headers["Content-Type"] == "image/png"


# ------------------------------------------------------------------ the count


def test_tally_no_damaged_request_answers_500(client, request):
    """Every damaged-record and damaged-series request, answered: counts by kind and status."""
    answers = collections.Counter()
    for step, (kind, _, expected) in enumerate(RECORDS):
        for route in RECORD_ROUTES:
            status = get(client, route, **record_params(route, damaged.HOSTILE_RUN, SAL, step)).status_code
            answers[("record: " + kind, status)] += 1
    for index, (kind, _, _) in enumerate(METADATA):
        for route in ("steps",) + RECORD_ROUTES:
            params = record_params(route, damaged.BADMETA_RUN, damaged.badmeta_tag(index), 0)
            answers[("series metadata: " + kind, get(client, route, **params).status_code)] += 1
    for run in ("corrupt", "noise", "empty", damaged.UNICODE_RUN):
        for step in range(3):
            answers[("event file: " + run, get(client, "record", run=run, tag=SAL, step=step).status_code)] += 1
    answers[("runs listing", get(client, "runs").status_code)] += 1
    server = request.node.callspec.params["client"]
    total = sum(answers.values())
    print(f"\n[{server}] {total} requests on damaged or odd data, "
          f"{sum(n for (_, s), n in answers.items() if s == 500)} answered 500:")
    for (kind, status), count in sorted(answers.items()):
        print(f"  {status}  x{count:<3} {kind}")
    assert not [key for key in answers if key[1] == 500]
