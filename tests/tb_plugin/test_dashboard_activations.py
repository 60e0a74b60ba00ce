"""The activations views (filters, embeddings, top patches) in a real browser, inside a real TensorBoard.

Same harness as `test_dashboard.py` (`tests/helpers/browser.py`: its server
script, Chromium flags and helpers): `tensorboard` with our plugin over a logdir
of activations records written by `tests/helpers/records.py` (and damaged by
`tests/helpers/damaged.py`), headless Chromium driven by Playwright.
Screenshots go to `$KERASVIZ_SCREENSHOTS` (default: a temporary directory).
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import browser, damaged, records
from tests.helpers.browser import image_pixels, shot

pytestmark = browser.MARKS

STEPS, N, K = 4, 48, 5
BIG_N = 10000  # over the plugin's 2,048 points per tile
XSS_N, XSS_K = 12, 3
FILTERS = records.activations_tag("filters", "conv1")
FILTERS2 = records.activations_tag("filters", "block/conv2")
EMB = records.activations_tag("embeddings", "fc")
PATCHES = records.activations_tag("top_patches", "conv2")


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("activations_dashboard"))
    records.write_activations_run(os.path.join(root, "acts"), steps=STEPS, n=N, k=K)
    records.write_activations_run(os.path.join(root, "xss"), steps=1, filter_layers=("conv1",), patches=False,
                                  class_names=records.CLASS_NAMES, n=XSS_N, k=XSS_K)
    damaged.write_damaged_activations(os.path.join(root, "damaged"))
    write_big_embeddings(os.path.join(root, "big"))
    return root


def big_record():
    """BIG_N points in 4 clusters: more than one tile holds at the first levels (the view must zoom for all)."""
    rng = np.random.default_rng(5)
    labels = np.arange(BIG_N) % 4
    coords = (rng.normal(size=(BIG_N, 2)) + 4 * np.stack([labels % 2, labels // 2], 1)).astype(np.float32)
    header = {"family": "activations", "method": "embeddings", "layer": "fc", "projection": "tsne",
              "class_names": records.SHAPE_NAMES, "labels": labels.tolist(), "predictions": labels.tolist(),
              "projector_run": None}
    arrays = {"coords": coords, "neighbors": rng.integers(0, BIG_N, (BIG_N, K)).astype(np.int32),
              "thumbnails": records.shape_images(labels, 8, seed=1)}
    return header, arrays


def write_big_embeddings(run_dir):
    writer = tf.summary.create_file_writer(run_dir)
    records.write_record(writer, "activations", "embeddings", *big_record(), 0, "fc")
    writer.close()


@pytest.fixture(scope="module")
def server(logdir, request):
    return browser.start_tensorboard(logdir, request, lambda runs: (
        len(runs) == 4 and len(runs["acts"]["tags"]) == 4 and len(runs["big"]["tags"]) == 1 and len(runs["damaged"]["tags"]) == 3
        and all(t["max_step"] == STEPS - 1 for t in runs["acts"]["tags"])
        and {t["max_step"] for t in runs["damaged"]["tags"]} == {0, 1, 2}))


@pytest.fixture(scope="module")
def dashboard(server, screenshots):
    with browser.open_dashboard(server) as (page, frame, events):
        frame.wait_for_selector("#kv-act-methods .kv-subtab")
        yield page, frame, events


def open_method(frame, run, method):
    """Shows `method` of `run` in the activations tab."""
    if frame.eval_on_selector("#kv-run", "s => s.value") != run:
        frame.select_option("#kv-run", run)
    frame.wait_for_function("run => document.getElementById('kv-run').value === run && "
                            "document.querySelector('.kv-tab[aria-selected=\"true\"]')", arg=run)
    frame.click(f".kv-subtab[data-method='{method}']")
    frame.wait_for_selector(f".kv-act-view[data-method='{method}']")


def wait_filters(frame, run, tag, step):
    frame.wait_for_function(
        "key => { const i = document.getElementById('kv-filters-img');"
        " return i && !i.hidden && i.dataset.shown === key && i.complete && i.naturalWidth > 0; }",
        arg=f"{run}|{tag}|{step}")


def wait_plot(frame, run, step, tag=EMB):
    frame.wait_for_function("key => { const p = document.getElementById('kv-emb-plot');"
                            " return p && p.dataset.shown === key; }", arg=f"{run}|{tag}|{step}")


def plot_xy(frame, i):
    """Where point i is drawn on the canvas (CSS pixels from its top left), or None."""
    return frame.eval_on_selector("#kv-emb-plot", "(p, i) => p.kv.plotXY(i)", i)


def drawn(frame):
    return frame.eval_on_selector("#kv-emb-plot", "p => p.kv.drawnIndices()")


def isolated_point(frame, among=None, gap=30):
    """A point drawn inside the canvas (from `among` if given) with no other drawn point within `gap` pixels."""
    found = frame.eval_on_selector("#kv-emb-plot", """(p, [among, gap]) => {
        const ids = p.kv.drawnIndices(), xy = ids.map(i => p.kv.plotXY(i));
        for (let a = 0; a < ids.length; a++) {
          if (among && !among.includes(ids[a])) continue;
          const [x, y] = xy[a];
          if (x < 4 || y < 4 || x > p.clientWidth - 4 || y > p.clientHeight - 4) continue;  // drawn beyond the edge
          if (xy.every((q, b) => b === a || Math.hypot(q[0] - xy[a][0], q[1] - xy[a][1]) > gap)) return ids[a];
        }
        return null; }""", [among, gap])
    assert found is not None, "no isolated point"
    return found


def at_point(frame, i, action="click"):
    x, y = plot_xy(frame, i)
    getattr(frame, action)("#kv-emb-plot", position={"x": x, "y": y})


def pixel(frame, x, y):
    return frame.eval_on_selector("#kv-emb-plot", """(p, [x, y]) => { const r = window.devicePixelRatio || 1;
        return Array.from(p.getContext('2d').getImageData(Math.round(x * r), Math.round(y * r), 1, 1).data); }""",
                                  [x, y])


def neighbours_shown(frame):
    return frame.eval_on_selector_all("#kv-emb-neighbors .kv-nb-item", "is => is.map(i => Number(i.dataset.index))")


def wait_neighbours(frame, i):
    frame.wait_for_function("i => { const p = document.getElementById('kv-emb-plot').kv.chosen();"
                            " return p && p.index === i && document.getElementById('kv-emb-neighbors'); }", arg=i)



def test_filters_view_shows_the_grid_pixelated_and_follows_the_slider(dashboard, screenshots):
    page, frame, events = dashboard
    open_method(frame, "acts", "filters")
    assert frame.eval_on_selector_all(".kv-tab", "ts => ts.map(t => t.textContent)") == ["Activations"]
    subtabs = frame.eval_on_selector_all(".kv-subtab", "ts => ts.map(t => t.textContent)")
    assert subtabs == ["Filters", "Embeddings", "Top patches"]
    layers = frame.eval_on_selector_all("#kv-filters-layer option", "os => os.map(o => o.textContent)")
    assert layers == ["block/conv2", "conv1"] and frame.is_visible("#kv-filters-layer")
    frame.select_option("#kv-filters-layer", FILTERS)
    wait_filters(frame, "acts", FILTERS, STEPS - 1)
    assert frame.inner_text("#kv-filters-description") == "16 filters of 3x3x3, RGB: grey is 0"
    assert "kernel 3×3, 3 → 16 channels" in frame.inner_text("#kv-filters-info")
    style = frame.eval_on_selector("#kv-filters-img", "i => [getComputedStyle(i).imageRendering, i.naturalWidth,"
                                   " i.clientWidth, Number(i.dataset.zoom)]")
    assert style[0] == "pixelated" and style[1] == 17 and style[2] == 17 * style[3] and style[3] >= 8, style
    last = image_pixels(frame, "#kv-filters-img")
    shot(page, screenshots, "activations_filters.png")

    browser.set_range(frame, "#kv-step", 0)
    wait_filters(frame, "acts", FILTERS, 0)
    first = image_pixels(frame, "#kv-filters-img")
    assert len(first) == len(last) == 17 * 17 * 4 and first != last
    frame.select_option("#kv-filters-layer", FILTERS2)  # a grey grid [H, W, 1] of another layer
    wait_filters(frame, "acts", FILTERS2, 0)
    grey = image_pixels(frame, "#kv-filters-img")
    assert all(grey[i] == grey[i + 1] == grey[i + 2] for i in range(0, len(grey), 4))
    frame.select_option("#kv-filters-zoom", "2")
    assert frame.eval_on_selector("#kv-filters-img", "i => i.clientWidth") == 2 * 17
    frame.select_option("#kv-filters-zoom", "fit")
    browser.set_range(frame, "#kv-step", STEPS - 1)
    wait_filters(frame, "acts", FILTERS2, STEPS - 1)
    assert not events["errors"] and not events["dialogs"]


def test_embeddings_hover_shows_classes_and_click_shows_neighbours(dashboard, screenshots):
    page, frame, events = dashboard
    open_method(frame, "acts", "embeddings")
    wait_plot(frame, "acts", STEPS - 1)
    assert sorted(drawn(frame)) == list(range(N))  # few points: every one, from one tile
    legend = frame.eval_on_selector_all("#kv-emb-legend .kv-emb-name", "ns => ns.map(n => n.textContent)")
    assert legend == [f"{k}: {name}" for k, name in enumerate(records.SHAPE_NAMES)]
    header, arrays = records.embeddings_record(STEPS - 1, STEPS, n=N, k=K)

    i = isolated_point(frame)
    at_point(frame, i, "hover")
    frame.wait_for_selector("#kv-emb-tip:not([hidden])")
    tip = frame.inner_text("#kv-emb-tip")
    label, prediction = header["labels"][i], header["predictions"][i]
    assert f"#{i}" in tip and f"true  {label}: {records.SHAPE_NAMES[label]}" in tip
    assert f"pred  {prediction}: {records.SHAPE_NAMES[prediction]} · {100 * header['probabilities'][i]:.1f}%" in tip

    at_point(frame, i)
    wait_neighbours(frame, i)
    shown = neighbours_shown(frame)
    assert shown == arrays["neighbors"][i].tolist() and len(shown) == K
    assert frame.eval_on_selector("#kv-emb-plot", "p => p.kv.chosen().neighbors") == shown  # ringed and linked
    frame.wait_for_function("() => Array.from(document.querySelectorAll('#kv-emb-panel canvas'))"
                            ".every(c => c.dataset.painted === '1')")
    link = frame.eval_on_selector("#kv-emb-projector", "a => [a.getAttribute('href'), a.target, a.textContent]")
    assert link[0].endswith("#projector") and link[1] == "_top" and "projector" in link[2]
    shot(page, screenshots, "activations_embeddings.png")

    before = plot_xy(frame, i)
    browser.set_range(frame, "#kv-step", 0)  # the points move over training; the selection stays
    wait_plot(frame, "acts", 0)
    wait_neighbours(frame, i)
    assert plot_xy(frame, i) != before
    _, arrays0 = records.embeddings_record(0, STEPS, n=N, k=K)
    assert neighbours_shown(frame) == arrays0["neighbors"][i].tolist()
    frame.click("#kv-emb-neighbors .kv-nb-item >> nth=0")  # a neighbour becomes the chosen point
    wait_neighbours(frame, int(arrays0["neighbors"][i][0]))
    assert frame.eval_on_selector("#kv-emb-plot", "p => p.dataset.selected") == str(arrays0["neighbors"][i][0])
    frame.evaluate("() => document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
    assert frame.eval_on_selector("#kv-emb-plot", "p => p.dataset.selected") == ""
    browser.set_range(frame, "#kv-step", 1)  # half-way through training, some points misclassified
    wait_plot(frame, "acts", 1)
    header1, _ = records.embeddings_record(1, STEPS, n=N, k=K)
    wrong = [j for j, (a, b) in enumerate(zip(header1["labels"], header1["predictions"])) if a != b]
    j = isolated_point(frame, among=wrong)
    at_point(frame, j)
    at_point(frame, j, "hover")
    wait_neighbours(frame, j)
    frame.wait_for_function("() => Array.from(document.querySelectorAll('#kv-emb-panel canvas'))"
                            ".every(c => c.dataset.painted === '1')")
    assert "misclassified" in frame.inner_text("#kv-emb-tip")
    shot(page, screenshots, "activations_embeddings_step1.png")
    browser.set_range(frame, "#kv-step", STEPS - 1)
    wait_plot(frame, "acts", STEPS - 1)
    frame.evaluate("() => document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
    assert not events["errors"] and not events["dialogs"]


def hex_rgb(color):
    return [int(color[k:k + 2], 16) for k in (1, 3, 5)]


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]


def test_embeddings_thumbnails_colour_and_legend_focus(dashboard, screenshots):
    page, frame, events = dashboard
    open_method(frame, "acts", "embeddings")
    wait_plot(frame, "acts", STEPS - 1)
    frame.wait_for_function("() => { const p = document.getElementById('kv-emb-plot');"
                            " return p.dataset.thumbs === '1' && p.dataset.thumbsWaiting === '0'"
                            " && document.getElementById('kv-emb-thumbs').checked; }")  # few points: thumbnails on
    assert [u for u in events["requests"] if "/embedding_thumbs?" in u]
    header, arrays = records.embeddings_record(STEPS - 1, STEPS, n=N, k=K)
    i = isolated_point(frame, gap=40)
    x, y = plot_xy(frame, i)
    centre = arrays["thumbnails"][i][12, 12].tolist()  # the thumbnail's centre pixel, drawn at the point
    assert max(abs(a - b) for a, b in zip(pixel(frame, x, y)[:3], centre)) < 40
    frame.uncheck("#kv-emb-thumbs")
    frame.wait_for_function("() => document.getElementById('kv-emb-plot').dataset.thumbs === '0'")
    for j in (i, isolated_point(frame, among=[k for k in range(N) if header["labels"][k] != header["labels"][i]])):
        assert pixel(frame, *plot_xy(frame, j))[:3] == hex_rgb(PALETTE[header["labels"][j]])
    frame.select_option("#kv-emb-color", "prediction")
    assert frame.inner_text("#kv-emb-legend .kv-field") == "Predicted class"
    frame.click("#kv-emb-legend button[data-cls='2']")
    frame.wait_for_timeout(100)
    shot(page, screenshots, "activations_embeddings_points.png")
    alone = [isolated_point(frame, among=[k for k in range(N) if (header["predictions"][k] == 2) == focus], gap=8)
             for focus in (True, False)]
    opaque = [pixel(frame, *plot_xy(frame, j))[3] for j in alone]
    assert opaque[0] == 255 and opaque[1] < 80  # the class in focus, the others faded
    frame.click("#kv-emb-legend button[data-cls='2']")
    frame.wait_for_timeout(100)
    assert pixel(frame, *plot_xy(frame, alone[1]))[3] == 255
    frame.select_option("#kv-emb-color", "label")
    frame.check("#kv-emb-thumbs")


def test_embeddings_of_many_points_come_in_tiles_and_zoom_fetches_finer_ones(dashboard, screenshots):
    page, frame, events = dashboard
    open_method(frame, "big", "embeddings")
    wait_plot(frame, "big", 0)
    first = drawn(frame)
    level = int(frame.eval_on_selector("#kv-emb-plot", "p => p.dataset.level"))
    tiles = [u for u in events["requests"] if "/embedding_tile?" in u and "run=big" in u]
    assert tiles and all(f"level={level}" in u for u in tiles)
    assert 1000 < len(first) < BIG_N  # a sample: at most 2,048 points per tile
    assert not [u for u in events["requests"] if "/record?" in u and "run=big" in u]  # never the whole record
    for _ in range(3):
        frame.click("#kv-emb-zoom-in")
    frame.wait_for_function("l => Number(document.getElementById('kv-emb-plot').dataset.level) >= l + 2", arg=level)
    deeper = int(frame.eval_on_selector("#kv-emb-plot", "p => p.dataset.level"))
    wait_plot(frame, "big", 0)
    finer = {int(u.split("level=")[1].split("&")[0]) for u in events["requests"] if "/embedding_tile?" in u
             and "run=big" in u}
    assert max(finer) > level and max(finer) <= deeper  # finer tiles, until one holds all of its points
    zoomed = set(drawn(frame))
    assert len(zoomed) > 50
    view = frame.eval_on_selector("#kv-emb-plot", "p => p.kv.view()")
    _, arrays = big_record()
    xy = arrays["coords"]
    half_w, half_h = 0.45 * view["width"] / view["scale"], 0.45 * view["height"] / view["scale"]
    inside = [i for i in first if abs(xy[i, 0] - view["cx"]) < half_w and abs(xy[i, 1] - view["cy"]) < half_h]
    assert inside and set(inside) <= zoomed  # zooming in adds points and keeps those shown before
    i = isolated_point(frame, gap=6)
    at_point(frame, i)
    wait_neighbours(frame, i)
    assert neighbours_shown(frame) == [int(j) for j in arrays["neighbors"][i] if j != i]
    shot(page, screenshots, "activations_embeddings_big.png")
    frame.click("#kv-emb-zoom-fit")
    frame.evaluate("() => document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
    assert not events["errors"] and not events["dialogs"]


def test_top_patches_rows_scores_and_channel_chooser(dashboard, screenshots):
    page, frame, events = dashboard
    open_method(frame, "acts", "top_patches")
    frame.wait_for_function("key => document.getElementById('kv-patches-rows').dataset.shown === key",
                            arg=f"acts|{PATCHES}|{STEPS - 1}|all")
    header, arrays = records.patches_record(STEPS - 1)
    assert frame.inner_text("#kv-patches-field") == "receptive field 11×11 px, stride 2×2"
    rows = frame.eval_on_selector_all(".kv-patch-row", "rs => rs.map(r => r.dataset.channel)")
    assert rows == [str(c) for c in header["channels"]]
    assert frame.locator(".kv-patch-row >> nth=0").locator("figure.kv-patch").count() == 6
    captions = [float(t) for t in frame.eval_on_selector_all(".kv-patch-row >> nth=0", "rs => Array.from("
                "rs[0].querySelectorAll('figcaption')).map(f => f.textContent)")]
    assert captions == pytest.approx(arrays["scores"][0].tolist(), abs=0.02 * float(arrays["scores"].max()))
    frame.wait_for_function(
        "() => Array.from(document.querySelectorAll('.kv-patch canvas')).every(c => c.dataset.painted)")
    crop = frame.eval_on_selector(".kv-patch-row[data-channel='3'] canvas", "c => Array.from(c.getContext('2d')"
                                  ".getImageData(0, 0, c.width, c.height).data).filter((_, i) => i % 4 !== 3)")
    assert crop == arrays["patches"][1, 0].ravel().tolist()  # the exact crop, from the sprite
    title = frame.get_attribute(".kv-patch-row[data-channel='3'] figure.kv-patch", "title")
    assert f"image {arrays['image_index'][1, 0]}" in title
    shot(page, screenshots, "activations_patches.png")
    frame.select_option("#kv-patches-channel", "5")
    assert frame.eval_on_selector_all(".kv-patch-row", "rs => rs.map(r => r.dataset.channel)") == ["5"]
    browser.set_range(frame, "#kv-step", 1)  # the chosen channel stays chosen over steps
    frame.wait_for_function("key => document.getElementById('kv-patches-rows').dataset.shown === key",
                            arg=f"acts|{PATCHES}|1|5")
    frame.select_option("#kv-patches-channel", "all")
    browser.set_range(frame, "#kv-step", STEPS - 1)
    assert [u for u in events["requests"] if "/sprite?" in u and "array=patches" in u]


def test_markup_in_class_names_is_text_and_never_runs(dashboard, screenshots):
    page, frame, events = dashboard
    open_method(frame, "xss", "embeddings")
    wait_plot(frame, "xss", 0)
    legend = frame.eval_on_selector_all("#kv-emb-legend .kv-emb-name", "ns => ns.map(n => n.textContent)")
    assert "2: " + records.XSS in legend
    header, _ = records.embeddings_record(0, 1, n=XSS_N, k=XSS_K, class_names=records.CLASS_NAMES)
    i = isolated_point(frame, among=[j for j, label in enumerate(header["labels"]) if label == 2])  # the markup
    at_point(frame, i, "hover")
    frame.wait_for_selector("#kv-emb-tip:not([hidden])")
    assert records.XSS in frame.inner_text("#kv-emb-tip")
    at_point(frame, i)
    wait_neighbours(frame, i)
    assert frame.locator("#kv-emb-neighbors .kv-nb-item").count() == XSS_K
    page.wait_for_timeout(300)
    assert page.locator("img[src='x']").count() == 0 and frame.locator("img[src='x']").count() == 0
    assert events["dialogs"] == [] and events["errors"] == []
    shot(page, screenshots, "activations_xss_as_text.png")


def test_damaged_records_show_a_message_not_a_broken_page(dashboard, screenshots):
    page, frame, events = dashboard
    open_method(frame, "damaged", "filters")
    browser.set_range(frame, "#kv-step", 0)
    wait_filters(frame, "damaged", FILTERS, 0)
    browser.set_range(frame, "#kv-step", 1)  # a float grid: shown as stored, by the generic view
    frame.wait_for_selector(".kv-act-view .kv-record")
    assert "holds no `grid` image" in frame.inner_text("#kv-filters-info")
    assert "grid: float32 [17, 17, 3]" in frame.inner_text(".kv-record")
    browser.set_range(frame, "#kv-step", 2)  # garbage arrays: the server's 404 text
    frame.wait_for_selector(".kv-act-view .kv-error")
    assert "Damaged kerasviz record arrays" in frame.inner_text(".kv-act-view .kv-error")
    frame.click(".kv-subtab[data-method='embeddings']")
    browser.set_range(frame, "#kv-step", 1)
    frame.wait_for_function("() => { const e = document.getElementById('kv-emb-info');"  # drawn, with a note
                            " return e && e.textContent.includes('`labels` does not hold one entry per point'); }")
    wait_plot(frame, "damaged", 1)
    frame.click(".kv-subtab[data-method='top_patches']")
    frame.wait_for_function("() => { const e = document.querySelector('.kv-act-view .kv-error');"
                            " return e && e.textContent.includes('not uint8 crops'); }")
    shot(page, screenshots, "activations_damaged.png")
    assert events["errors"] == [] and events["dialogs"] == []

