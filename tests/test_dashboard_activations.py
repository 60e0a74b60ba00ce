"""The activations views (filters, embeddings, top patches) in a real browser, inside a real TensorBoard.

Same harness as `test_dashboard.py` (whose server script, Chromium flags and
helpers are reused): `tensorboard` with our plugin over a logdir of
activations records written by `tb_helpers`, headless Chromium driven by
Playwright. Screenshots go to `$KERASVIZ_SCREENSHOTS` (default: a temporary
directory).
"""

import os

import pytest
import tb_helpers
import test_dashboard as base

pytestmark = base.pytestmark

STEPS, N, K = 4, 48, 5
XSS_N, XSS_K = 12, 3
FILTERS = tb_helpers.activations_tag("filters", "conv1")
FILTERS2 = tb_helpers.activations_tag("filters", "block/conv2")
EMB = tb_helpers.activations_tag("embeddings", "fc")
PATCHES = tb_helpers.activations_tag("top_patches", "conv2")


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("activations_dashboard"))
    tb_helpers.write_activations_run(os.path.join(root, "acts"), steps=STEPS, n=N, k=K)
    tb_helpers.write_activations_run(os.path.join(root, "xss"), steps=1, filter_layers=("conv1",), patches=False,
                                     class_names=tb_helpers.CLASS_NAMES, n=XSS_N, k=XSS_K)
    tb_helpers.write_damaged_activations(os.path.join(root, "damaged"))
    return root


@pytest.fixture(scope="module")
def server(logdir, request):
    return base.start_tensorboard(logdir, request, lambda runs: (
        len(runs) == 3 and len(runs["acts"]["tags"]) == 4 and len(runs["damaged"]["tags"]) == 3
        and all(t["max_step"] == STEPS - 1 for t in runs["acts"]["tags"])
        and {t["max_step"] for t in runs["damaged"]["tags"]} == {0, 1, 2}))


@pytest.fixture(scope="module")
def dashboard(server, screenshots):
    with base.open_dashboard(server) as (page, frame, events):
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


def image_pixels(frame, selector):
    """RGBA values of an <img> at its natural size."""
    return frame.eval_on_selector(selector, """img => { const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight; const x = c.getContext('2d');
        x.drawImage(img, 0, 0); return Array.from(x.getImageData(0, 0, c.width, c.height).data); }""")


def wait_plot(frame, run, step):
    frame.wait_for_function("key => { const p = document.getElementById('kv-emb-plot');"
                            " return p && p.dataset.shown === key; }", arg=f"{run}|{EMB}|{step}")


def exposed_point(frame, among=None):
    """A point whose hit area's centre no other point covers (thumbnails overlap), from `among` if given."""
    exposed = frame.evaluate("""() => Array.from(document.querySelectorAll('#kv-emb-plot .kv-pt')).filter(g => {
        const r = g.querySelector('.kv-emb-hit').getBoundingClientRect();
        const e = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
        return e && e.closest('.kv-pt') === g; }).map(g => Number(g.dataset.index))""")
    exposed = [i for i in exposed if among is None or i in among]
    assert exposed, "every point is covered by another"
    return exposed[0]


def point(i):
    return f"#kv-emb-plot .kv-pt[data-index='{i}'] .kv-emb-hit"


shot = base.shot


def transforms(frame):
    return frame.eval_on_selector_all("#kv-emb-plot .kv-pt", "gs => gs.map(g => g.style.transform)")


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

    base.set_range(frame, "#kv-step", 0)
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
    base.set_range(frame, "#kv-step", STEPS - 1)
    wait_filters(frame, "acts", FILTERS2, STEPS - 1)
    assert not events["errors"] and not events["dialogs"]


def test_embeddings_hover_shows_classes_and_click_shows_neighbours(dashboard, screenshots):
    page, frame, events = dashboard
    open_method(frame, "acts", "embeddings")
    wait_plot(frame, "acts", STEPS - 1)
    assert frame.locator("#kv-emb-plot .kv-pt").count() == N
    legend = frame.eval_on_selector_all("#kv-emb-legend .kv-emb-name", "ns => ns.map(n => n.textContent)")
    assert legend == [f"{k}: {name}" for k, name in enumerate(tb_helpers.SHAPE_NAMES)]
    header, arrays = tb_helpers.embeddings_record(STEPS - 1, STEPS, n=N, k=K)

    i = exposed_point(frame)
    frame.hover(point(i))
    frame.wait_for_selector("#kv-emb-tip:not([hidden])")
    tip = frame.inner_text("#kv-emb-tip")
    label, prediction = header["labels"][i], header["predictions"][i]
    assert f"#{i}" in tip and f"true  {label}: {tb_helpers.SHAPE_NAMES[label]}" in tip
    assert f"pred  {prediction}: {tb_helpers.SHAPE_NAMES[prediction]} · {100 * header['probabilities'][i]:.1f}%" in tip

    frame.click(point(i))
    shown = frame.eval_on_selector_all("#kv-emb-neighbors .kv-nb-item", "is => is.map(i => Number(i.dataset.index))")
    assert shown == arrays["neighbors"][i].tolist() and len(shown) == K
    ringed = frame.eval_on_selector_all("#kv-emb-plot .kv-pt.kv-neighbor", "gs => gs.map(g => Number(g.dataset.index))")
    assert sorted(ringed) == sorted(shown) and frame.locator("#kv-emb-plot line.kv-emb-link").count() == K
    frame.wait_for_function("() => Array.from(document.querySelectorAll('#kv-emb-panel canvas'))"
                            ".every(c => c.dataset.painted === '1')")
    link = frame.eval_on_selector("#kv-emb-projector", "a => [a.getAttribute('href'), a.target, a.textContent]")
    assert link[0].endswith("#projector") and link[1] == "_top" and "projector" in link[2]
    shot(page, screenshots, "activations_embeddings.png")

    before = transforms(frame)
    base.set_range(frame, "#kv-step", 0)  # the points move over training; the selection stays
    wait_plot(frame, "acts", 0)
    assert transforms(frame) != before
    _, arrays0 = tb_helpers.embeddings_record(0, STEPS, n=N, k=K)
    shown = frame.eval_on_selector_all("#kv-emb-neighbors .kv-nb-item", "is => is.map(i => Number(i.dataset.index))")
    assert shown == arrays0["neighbors"][i].tolist()
    frame.click("#kv-emb-neighbors .kv-nb-item >> nth=0")  # a neighbour becomes the chosen point
    assert frame.eval_on_selector("#kv-emb-plot .kv-pt.kv-selected", "g => Number(g.dataset.index)") == shown[0]
    frame.evaluate("() => document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
    assert frame.locator("#kv-emb-plot .kv-pt.kv-selected").count() == 0
    base.set_range(frame, "#kv-step", 1)  # half-way through training, some points misclassified
    wait_plot(frame, "acts", 1)
    header1, _ = tb_helpers.embeddings_record(1, STEPS, n=N, k=K)
    wrong = [j for j, (a, b) in enumerate(zip(header1["labels"], header1["predictions"])) if a != b]
    assert wrong and frame.eval_on_selector_all("#kv-emb-plot .kv-pt.kv-wrong", "gs => gs.length") == len(wrong)
    frame.wait_for_timeout(400)  # the points have glided
    j = exposed_point(frame, among=wrong)
    frame.click(point(j))
    frame.hover(point(j))
    frame.wait_for_function("() => Array.from(document.querySelectorAll('#kv-emb-panel canvas'))"
                            ".every(c => c.dataset.painted === '1')")
    assert "misclassified" in frame.inner_text("#kv-emb-tip")
    shot(page, screenshots, "activations_embeddings_step1.png")
    base.set_range(frame, "#kv-step", STEPS - 1)
    wait_plot(frame, "acts", STEPS - 1)
    assert not events["errors"] and not events["dialogs"]


def test_embeddings_thumbnails_colour_and_legend_focus(dashboard, screenshots):
    page, frame, events = dashboard
    open_method(frame, "acts", "embeddings")
    wait_plot(frame, "acts", STEPS - 1)
    assert frame.is_checked("#kv-emb-thumbs")  # few points: thumbnails on
    sprites = [u for u in events["requests"] if "/sprite?" in u and "array=thumbnails" in u]
    assert sprites and "columns=7" in sprites[-1]
    frame.wait_for_function("() => { const i = document.querySelector('#kv-emb-plot .kv-pt image');"
                            " return i && i.getBBox().width === 7 * 24; }")
    frame.uncheck("#kv-emb-thumbs")
    assert frame.eval_on_selector("#kv-emb-plot", "p => p.classList.contains('kv-thumbs')") is False
    assert frame.is_visible("#kv-emb-plot .kv-pt circle >> nth=0")
    by_label = frame.eval_on_selector_all("#kv-emb-plot .kv-pt circle", "cs => cs.map(c => c.getAttribute('fill'))")
    assert len(set(by_label)) == 4
    frame.select_option("#kv-emb-color", "prediction")
    assert frame.inner_text("#kv-emb-legend .kv-field") == "Predicted class"
    frame.click("#kv-emb-legend button[data-cls='2']")
    shot(page, screenshots, "activations_embeddings_points.png")
    focused = frame.eval_on_selector_all("#kv-emb-plot .kv-pt.kv-in-focus",
                                         "gs => gs.map(g => Number(g.dataset.index))")
    header, _ = tb_helpers.embeddings_record(STEPS - 1, STEPS, n=N, k=K)
    assert focused == [i for i, p in enumerate(header["predictions"]) if p == 2]
    frame.click("#kv-emb-legend button[data-cls='2']")
    assert frame.locator("#kv-emb-plot .kv-pt.kv-in-focus").count() == 0
    frame.select_option("#kv-emb-color", "label")
    frame.check("#kv-emb-thumbs")


def test_top_patches_rows_scores_and_channel_chooser(dashboard, screenshots):
    page, frame, events = dashboard
    open_method(frame, "acts", "top_patches")
    frame.wait_for_function("key => document.getElementById('kv-patches-rows').dataset.shown === key",
                            arg=f"acts|{PATCHES}|{STEPS - 1}|all")
    header, arrays = tb_helpers.patches_record(STEPS - 1)
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
    base.set_range(frame, "#kv-step", 1)  # the chosen channel stays chosen over steps
    frame.wait_for_function("key => document.getElementById('kv-patches-rows').dataset.shown === key",
                            arg=f"acts|{PATCHES}|1|5")
    frame.select_option("#kv-patches-channel", "all")
    base.set_range(frame, "#kv-step", STEPS - 1)
    assert [u for u in events["requests"] if "/sprite?" in u and "array=patches" in u]


def test_markup_in_class_names_is_text_and_never_runs(dashboard, screenshots):
    page, frame, events = dashboard
    open_method(frame, "xss", "embeddings")
    wait_plot(frame, "xss", 0)
    legend = frame.eval_on_selector_all("#kv-emb-legend .kv-emb-name", "ns => ns.map(n => n.textContent)")
    assert "2: " + tb_helpers.XSS in legend
    header, _ = tb_helpers.embeddings_record(0, 1, n=XSS_N, k=XSS_K, class_names=tb_helpers.CLASS_NAMES)
    i = exposed_point(frame, among=[j for j, label in enumerate(header["labels"]) if label == 2])  # the markup
    frame.hover(point(i))
    frame.wait_for_selector("#kv-emb-tip:not([hidden])")
    assert tb_helpers.XSS in frame.inner_text("#kv-emb-tip")
    frame.click(point(i))
    assert frame.locator("#kv-emb-neighbors .kv-nb-item").count() == XSS_K
    page.wait_for_timeout(300)
    assert page.locator("img[src='x']").count() == 0 and frame.locator("img[src='x']").count() == 0
    assert events["dialogs"] == [] and events["errors"] == []
    shot(page, screenshots, "activations_xss_as_text.png")


def test_damaged_records_show_a_message_not_a_broken_page(dashboard, screenshots):
    page, frame, events = dashboard
    open_method(frame, "damaged", "filters")
    base.set_range(frame, "#kv-step", 0)
    wait_filters(frame, "damaged", FILTERS, 0)
    base.set_range(frame, "#kv-step", 1)  # a float grid: shown as stored, by the generic view
    frame.wait_for_selector(".kv-act-view .kv-record")
    assert "holds no `grid` image" in frame.inner_text("#kv-filters-info")
    assert "grid: float32 [17, 17, 3]" in frame.inner_text(".kv-record")
    base.set_range(frame, "#kv-step", 2)  # garbage arrays: the server's 404 text
    frame.wait_for_selector(".kv-act-view .kv-error")
    assert "Damaged kerasviz record arrays" in frame.inner_text(".kv-act-view .kv-error")
    frame.click(".kv-subtab[data-method='embeddings']")
    base.set_range(frame, "#kv-step", 1)
    frame.wait_for_function("() => { const e = document.querySelector('.kv-act-view .kv-error');"
                            " return e && e.textContent.includes('5 entries for 12 points'); }")
    frame.click(".kv-subtab[data-method='top_patches']")
    frame.wait_for_function("() => { const e = document.querySelector('.kv-act-view .kv-error');"
                            " return e && e.textContent.includes('not uint8 crops'); }")
    shot(page, screenshots, "activations_damaged.png")
    assert events["errors"] == [] and events["dialogs"] == []

