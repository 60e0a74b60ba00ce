"""The dashboard's layout at 1000 px and 1400 px, in a real browser inside a real TensorBoard.

Seven attribution methods on ten images: the grid scrolls in its own box that ends at the
window's bottom (its sideways scrollbar on screen), its headers stick while it scrolls, the
AUC charts stay beside or above it; a run opens on Attribution; the column headers show every
parameter; embeddings without true labels are coloured by prediction; a loss chart with one
line per image has a legend. Same harness as `test_dashboard.py` (`tests/helpers/browser.py`); screenshots go to
`$KERASVIZ_SCREENSHOTS` (default: a temporary directory).
"""

import os

import pytest

from tests.helpers import browser, records

pytestmark = browser.MARKS

WINDOWS = {1000: 720, 1400: 900}  # width: height
METHODS = ("saliency", "guided_backprop", "smoothgrad", "integrated_gradients", "gradcam", "guided_gradcam",
           "occlusion")
PARAMS = {"samples": 8, "noise": 0.15, "seed": 0, "signed": False, "magnitude": "square", "batch_size": 16,
          "value_range": [0, 255]}
IMAGES, STEPS = 10, 3


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    import tensorflow as tf

    root = str(tmp_path_factory.mktemp("layout_dashboard"))
    seven = os.path.join(root, "all_methods")
    records.write_run(seven, steps=STEPS, methods=METHODS, n=IMAGES, params=PARAMS)
    records.write_activations_run(seven, steps=1, filter_layers=("conv1",), patches=False)  # a second file
    header, arrays = records.embeddings_record(0, steps=1)
    del header["labels"]  # predictions only, as for unlabelled probe images
    writer = tf.summary.create_file_writer(os.path.join(root, "unlabelled"))
    records.write_record(writer, "activations", "embeddings", header, arrays, 0, "fc")
    writer.close()
    records.write_synthesis_run(os.path.join(root, "per_image"), steps=1, classes=(1, 3), snapshots=0,
                                per_image_losses=True)
    return root


@pytest.fixture(scope="module")
def server(logdir, request):
    return browser.start_tensorboard(logdir, request, lambda runs: (
        {"all_methods", "unlabelled", "per_image"} <= set(runs)
        and {t["family"] for t in runs["all_methods"]["tags"]} == {"attribution", "activations"}
        and max(t["max_step"] for t in runs["all_methods"]["tags"]) == STEPS - 1
        and len(runs["all_methods"]["scalars"]) == 2 * len(METHODS)), "tensorboard_layout.log")


@pytest.fixture(scope="module", params=sorted(WINDOWS), ids=lambda width: f"{width}px")
def dashboard(request, server, screenshots):
    width = request.param
    with browser.open_dashboard(server, (width, WINDOWS[width])) as (page, frame, events):
        browser.wait_shown(frame, run="all_methods")
        yield width, page, frame, events


def box_of(frame, selector):
    """The element's box in the page's coordinates (the iframe's offset included)."""
    box = frame.locator(selector).first.bounding_box()
    assert box, selector
    return box


def inside(box, width, height):
    return box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= width + 0.5 \
        and box["y"] + box["height"] <= height + 0.5


def test_opens_on_attribution(dashboard):
    width, page, frame, events = dashboard
    assert frame.eval_on_selector("#kv-run", "s => s.value") == "all_methods"
    assert frame.eval_on_selector(".kv-tab[aria-selected='true']", "t => t.textContent") == "Attribution"


def test_the_grid_fits_the_window_and_scrolls_sideways_on_screen(dashboard, screenshots):
    width, page, frame, events = dashboard
    height = WINDOWS[width]
    heads = frame.eval_on_selector_all("#kv-grid th .kv-col-name", "hs => hs.map(h => h.textContent)")
    assert sorted(heads) == sorted(METHODS)
    grid = box_of(frame, "#kv-grid-box")
    assert inside(grid, width, height), grid  # bottom edge, and the scrollbar on it, on screen
    assert grid["height"] > 240
    sizes = frame.eval_on_selector("#kv-grid-box", "b => ({scroll: b.scrollWidth, client: b.clientWidth, "
                                   "rows: b.scrollHeight, seen: b.clientHeight, x: getComputedStyle(b).overflowX})")
    # Eight columns do not fit: the box itself scrolls sideways, so its scrollbar is on its bottom edge, on
    # screen (Playwright's headless Chromium hides scrollbars, so their pixels cannot be seen).
    assert sizes["scroll"] > sizes["client"] and sizes["x"] == "auto"
    assert sizes["rows"] > sizes["seen"]  # and down
    assert frame.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")  # the page does not
    path = browser.shot(page, screenshots, f"layout_{width}.png")
    assert os.path.getsize(path) > 30_000


def test_headers_stick_while_the_grid_scrolls(dashboard, screenshots):
    width, page, frame, events = dashboard
    height = WINDOWS[width]
    frame.eval_on_selector("#kv-grid-box", "b => { b.scrollTop = 420; b.scrollLeft = b.scrollWidth; }")
    page.wait_for_timeout(200)
    state = frame.eval_on_selector("#kv-grid-box", """b => {
        const box = b.getBoundingClientRect();
        const last = b.querySelector('th.kv-col:last-child').getBoundingClientRect();
        const corner = b.querySelector('thead th:first-child').getBoundingClientRect();
        const hit = document.elementFromPoint(last.left + last.width / 2, last.top + 6);
        return {scrolled: b.scrollTop, top: box.top, left: box.left, right: box.right,
                last: [last.top, last.right], corner: [corner.top, corner.left],
                onTop: b.querySelector('th.kv-col:last-child').contains(hit)};
    }""")
    assert state["scrolled"] >= 400
    assert abs(state["last"][0] - state["top"]) <= 2 and state["onTop"]  # the header, not a cell, at the top
    assert state["last"][1] <= state["right"] + 1  # the last column reached
    assert abs(state["corner"][0] - state["top"]) <= 2 and abs(state["corner"][1] - state["left"]) <= 2
    last = box_of(frame, "#kv-grid th.kv-col:last-child")
    assert inside(last, width, height)
    browser.shot(page, screenshots, f"layout_{width}_scrolled.png")
    frame.eval_on_selector("#kv-grid-box", "b => { b.scrollTop = 0; b.scrollLeft = 0; }")


def test_the_charts_are_on_screen_beside_or_above_the_grid_and_fold_away(dashboard, screenshots):
    width, page, frame, events = dashboard
    height = WINDOWS[width]
    assert frame.locator("#kv-charts figure").count() == 2
    grid = box_of(frame, "#kv-grid-box")
    for k in range(2):
        chart = frame.locator("#kv-charts figure").nth(k).bounding_box()
        assert inside(chart, width, height), chart
        beside = chart["x"] >= grid["x"] + grid["width"]
        above = chart["y"] + chart["height"] <= grid["y"]
        assert beside if width >= 1280 else above, (chart, grid)
    assert frame.locator("#kv-charts path.kv-line").count() == 2 * len(METHODS)
    frame.click("#kv-charts-panel summary")
    frame.wait_for_function("() => !document.getElementById('kv-charts-panel').open")
    page.wait_for_timeout(200)
    folded = box_of(frame, "#kv-grid-box")
    assert not frame.locator("#kv-charts figure").first.is_visible()
    if width < 1280:  # the grid takes the charts' place, and still ends on screen
        assert folded["y"] < grid["y"] and folded["height"] > grid["height"] and inside(folded, width, height)
    frame.click("#kv-charts-panel summary")
    frame.wait_for_function("() => document.getElementById('kv-charts-panel').open")


def test_column_headers_show_every_parameter_value_range_first(dashboard):
    width, page, frame, events = dashboard
    text = frame.inner_text("#kv-grid th[data-method='smoothgrad']")
    assert "value_range=[0,255], batch_size=16, magnitude=square, noise=0.15, samples=8, seed=0, signed=false" \
        in " ".join(text.split())
    occlusion = " ".join(frame.inner_text("#kv-grid th[data-method='occlusion']").split())
    assert "occluder 8×8 px, stride 8" in occlusion and "value_range=[0,1]" in occlusion  # from the header
    assert "patch=" not in occlusion


def test_embeddings_without_labels_are_coloured_by_prediction(dashboard, screenshots):
    width, page, frame, events = dashboard
    frame.select_option("#kv-run", "unlabelled")
    frame.wait_for_function("() => { const p = document.getElementById('kv-emb-plot');"
                            " return p && (p.dataset.shown || '').startsWith('unlabelled|'); }")
    assert frame.eval_on_selector(".kv-tab[aria-selected='true']", "t => t.textContent") == "Activations"
    assert frame.eval_on_selector("#kv-emb-color", "s => s.value") == "prediction"
    disabled = frame.eval_on_selector_all("#kv-emb-color option", "os => os.map(o => [o.value, o.disabled])")
    assert disabled == [["label", True], ["prediction", False]]
    legend = frame.inner_text("#kv-emb-legend")
    assert legend.startswith("Predicted class") and "holds no classes" not in legend
    if frame.is_checked("#kv-emb-thumbs"):
        frame.uncheck("#kv-emb-thumbs")  # dots, not thumbnails, carry the colours
    frame.wait_for_function("() => document.getElementById('kv-emb-plot').dataset.thumbs === '0'")
    # The colour at the centre of each point drawn apart from the others (the canvas's own pixels).
    fills = set(frame.eval_on_selector("#kv-emb-plot", """p => {
        const r = window.devicePixelRatio || 1, ctx = p.getContext('2d');
        const ids = p.kv.drawnIndices(), xy = ids.map(i => p.kv.plotXY(i));
        return ids.filter((_, a) => xy.every((q, b) => b === a || Math.hypot(q[0] - xy[a][0], q[1] - xy[a][1]) > 10))
          .map(i => { const [x, y] = p.kv.plotXY(i);
                      return Array.from(ctx.getImageData(Math.round(x * r), Math.round(y * r), 1, 1).data).join(); });
        }"""))
    assert len(fills) == len(records.SHAPE_NAMES), fills
    browser.shot(page, screenshots, f"embeddings_unlabelled_{width}.png")
    assert events["errors"] == []


def test_a_loss_chart_of_one_line_per_image_has_a_legend(dashboard):
    width, page, frame, events = dashboard
    frame.select_option("#kv-run", "per_image")
    frame.wait_for_selector(".kv-synth-record[data-shown] .kv-legend")
    names = frame.eval_on_selector_all(".kv-synth-record .kv-legend-item", "is => is.map(i => i.textContent)")
    assert names == [f"1: {records.CLASS_NAMES[1]}", f"3: {records.CLASS_NAMES[3]}"]
    colours = frame.eval_on_selector_all(".kv-synth-record .kv-legend-item .kv-swatch",
                                         "ss => ss.map(s => getComputedStyle(s).backgroundColor)")
    strokes = frame.eval_on_selector_all(".kv-synth-record path.kv-line", "ps => ps.map(p => p.getAttribute('stroke'))")
    rgb = ["rgb({}, {}, {})".format(*(int(s[k:k + 2], 16) for k in (1, 3, 5))) for s in strokes]
    assert colours == rgb and len(set(rgb)) == 2
