"""The Microscope: its records served by the plugin through TensorBoard, and its pages in a real browser.

One tiny microscope of the shapes demo model (`tests/helpers/microscope.py`)
is written once for the module. Its records are read through TensorBoard's
own WSGI app over both data providers (the Python multiplexer and the Rust
data server), and compared with what the event files hold. Then TensorBoard
serves it to headless Chromium: a channel page opened by its URL, channels
switched with the keyboard, a reload that restores the page, an input
channel followed by its link, and an atlas cell opened.
"""

import io
import json
import os
import urllib.parse

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import kerasviz  # noqa: E402
from kerasviz.inside import microscope_records  # noqa: E402
from tests.helpers import browser, providers  # noqa: E402
from tests.helpers import microscope as tiny  # noqa: E402

RUN = "microscope"
CONV3 = microscope_records.channel_tag("conv3")
ATLAS3 = microscope_records.atlas_tag("conv3")
SERIES = 2 * len(tiny.LAYERS)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("microscope_dashboard")
    report = tiny.build(kerasviz.demo.demo_model("shapes"), root, run_name=RUN)
    return str(root), tiny.read(report.run_dir)


@pytest.fixture(scope="module", params=["python", "rust"])
def client(request, logdir):
    root, _ = logdir
    provider = (providers.python_provider(root) if request.param == "python"
                else providers.rust_provider(root, request, expected=SERIES))
    return providers.plugin_client(provider, root)


def get(client, route, **params):
    return client.get("/data/plugin/kerasviz/" + route, query_string=params)


def get_json(client, route, **params):
    response = get(client, route, **params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data())


def get_png(client, route, **params):
    response = get(client, route, **params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return np.asarray(Image.open(io.BytesIO(response.get_data())))


def test_runs_list_a_channel_and_an_atlas_series_per_layer(client):
    (run,) = get_json(client, "runs")["runs"]
    assert run["name"] == RUN
    listed = [(t["family"], t["method"], t["layer"]) for t in run["tags"]]
    assert sorted(listed) == sorted(("microscope", m, layer) for layer in tiny.LAYERS for m in ("atlas", "channel"))
    steps = get_json(client, "steps", run=RUN, tag=CONV3)["steps"]
    assert [s["step"] for s in steps] == list(tiny.CHANNELS)  # a step per channel


def test_a_channel_record_and_its_pictures_are_what_was_written(client, logdir):
    _, found = logdir
    header, arrays = found[(CONV3, 1)]
    body = get_json(client, "record", run=RUN, tag=CONV3, step=1)
    assert body["header"]["dissection"] == header["dissection"] and body["header"]["inputs"] == header["inputs"]
    assert body["arrays"]["facets"]["encoding"] == "image" and body["arrays"]["facets"]["shape"] == [3, 64, 64, 3]
    for index in range(3):
        np.testing.assert_array_equal(get_png(client, "image", run=RUN, tag=CONV3, step=1, array="facets",
                                              index=index), arrays["facets"][index])
    np.testing.assert_array_equal(get_png(client, "image", run=RUN, tag=CONV3, step=1, array="patches", index=0),
                                  arrays["patches"][0])
    assert get(client, "record", run=RUN, tag=CONV3, step=7).status_code == 404  # a channel without a page
    assert get(client, "image", run=RUN, tag=CONV3, step=1, array="facets", index=3).status_code == 404


def test_an_atlas_record_serves_its_cells_and_their_source_patches(client, logdir):
    _, found = logdir
    header, arrays = found[(ATLAS3, 0)]
    body = get_json(client, "record", run=RUN, tag=ATLAS3, step=0)
    assert body["header"]["cells"] == header["cells"]
    assert body["arrays"]["counts"]["data"] == arrays["counts"].ravel().tolist()
    assert body["arrays"]["sources"]["encoding"] == "sprite"
    np.testing.assert_array_equal(get_png(client, "image", run=RUN, tag=ATLAS3, step=0, array="renders", index=0),
                                  arrays["renders"][0])
    sheet = get_png(client, "sprite", run=RUN, tag=ATLAS3, step=0, array="sources", index=0, columns=2)
    np.testing.assert_array_equal(sheet, np.concatenate(list(arrays["sources"][0]), axis=1))


def _fragment(layer, channel, mode="channel"):
    state = {"family": "microscope", "run": RUN, "layer": layer, "channel": channel, "mode": mode}
    return "kerasviz&kv=" + urllib.parse.quote(json.dumps(state))


def _frame(page):
    for _ in range(300):
        frame = next((f for f in page.frames if "plugin_entry.html?name=kerasviz" in f.url), None)
        if frame is not None:
            return frame
        page.wait_for_timeout(100)
    raise AssertionError("TensorBoard did not open the kerasviz iframe after the reload")


def _shown(frame, layer, channel):
    frame.wait_for_function("(key) => { const p = document.getElementById('kv-ms-page');"
                            " return p && p.dataset.shown === key && !p.dataset.loading; }",
                            arg=f"{RUN}|{layer}|{channel}", timeout=20000)


@pytest.mark.browser
@pytest.mark.skipif(bool(browser.MISSING), reason=f"browser tests need it: {browser.MISSING}")
def test_a_channel_page_by_url_the_keyboard_the_links_and_an_atlas_cell(logdir, request):
    root, found = logdir
    server = browser.start_tensorboard(root, request, lambda runs: len(runs.get(RUN, {}).get("tags", [])) == SERIES,
                                       log_name="microscope_tensorboard.log")
    with browser.open_dashboard(server, viewport=(1366, 900), fragment=_fragment("conv3", 1)) as (page, frame, events):
        _shown(frame, "conv3", 1)
        dissection = found[(CONV3, 1)][0]["dissection"]
        assert frame.inner_text("#kv-ms-dissection").startswith(dissection["concept"] if dissection["detector"]
                                                                  else "no concept")
        frame.wait_for_function("() => { const imgs = [...document.querySelectorAll('#kv-ms-facets img')];"
                                " return imgs.length === 3 && imgs.every(i => i.complete && i.naturalWidth === 64); }")
        frame.click("#kv-ms-title")  # the keyboard goes to the dashboard's frame
        page.keyboard.press("ArrowRight")
        _shown(frame, "conv3", 2)
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        _shown(frame, "conv3", 0)
        assert json.loads(urllib.parse.unquote(page.url.split("kv=")[1]))["channel"] == 0
        page.reload()
        frame = _frame(page)
        _shown(frame, "conv3", 0)  # the URL restores the page
        inputs = found[(CONV3, 0)][0]["inputs"]
        linked = [c for c in inputs["channels"] if c in tiny.CHANNELS]
        links = frame.eval_on_selector_all("#kv-ms-inputs a.kv-ms-link", "as => as.map(a => Number(a.dataset.channel))")
        assert links == linked  # channels with a page are links, in weight order
        if links:
            frame.click(f"#kv-ms-inputs a[data-channel='{links[0]}']")
            _shown(frame, "conv2", links[0])
        frame.click("#kv-ms-mode-atlas")
        frame.wait_for_selector("#kv-ms-atlas[data-shown] img.kv-ms-cell", timeout=20000)
        header, arrays = found[(microscope_records.atlas_tag(frame.eval_on_selector(
            "#kv-ms-title", "t => t.textContent.replace('atlas of ', '')")), 0)]
        row, col = header["cells"][-1]
        frame.click(f"img.kv-ms-cell[data-row='{row}'][data-col='{col}']")
        frame.wait_for_function("(c) => document.getElementById('kv-ms-cell-panel').dataset.cell === c",
                                arg=f"{row},{col}")
        assert frame.inner_text("#kv-ms-cell-info").startswith(f"{arrays['counts'][row, col]} positions")
        frame.wait_for_function("() => { const i = document.getElementById('kv-ms-sources');"
                                " return i.complete && i.naturalWidth > 0; }")
        frame.click("#kv-ms-zoom-in")
        assert frame.eval_on_selector("#kv-ms-plane", "p => p.dataset.zoom") == "1.5"
        assert not events["errors"] and not events["dialogs"]
