"""The kerasviz dashboard in a real browser, inside a real TensorBoard.

Starts `tensorboard --logdir D --host 127.0.0.1 --port P` with our plugin (the
default Rust data server reads the data), loads `#kerasviz` in headless
Chromium driven by Playwright (the harness of `tests/helpers/browser.py`),
interacts with it and asserts on what is shown.
Screenshots go to `$KERASVIZ_SCREENSHOTS` (default: a temporary directory).
Skipped only when /usr/bin/chromium or the `playwright` package is missing.
"""

import os

import pytest
import tensorflow as tf

from tests.helpers import damaged, records
from tests.helpers.browser import MARKS, open_dashboard, set_range, shot, start_tensorboard, wait_shown

XSS_RUN = "run \u00e9 " + records.XSS
pytestmark = MARKS

TRAIN_STEPS, IMAGES = 30, 10
# A comparison of three methods (one named with markup) as `kerasviz.metrics.compare` returns it: guided
# backprop fails both sanity checks at 0.5, one value is undefined (NaN).
COMPARED = ["saliency", "guided_backprop", records.XSS]
COMPARED_METRICS = ["deletion_auc", "insertion_auc", "random_logit", "randomization"]
COMPARED_VALUES = [[0.30, 0.60, 0.20, 0.10], [0.25, 0.55, 0.80, 0.90], [0.40, 0.70, float("nan"), 0.30]]


def write_comparison(log_dir, run_name, step):
    """The comparison above, written by `Comparison.write` (the writer `kerasviz evaluate --logdir` uses)."""
    import numpy as np

    from kerasviz import metrics

    values = np.array(COMPARED_VALUES, np.float32)
    per_image = {(m, k): np.full(2, values[i, j], np.float32)
                 for i, m in enumerate(COMPARED) for j, k in enumerate(COMPARED_METRICS)}
    result = metrics.Comparison(COMPARED, COMPARED_METRICS, values, per_image,
                                {k: metrics.METRICS[k].higher_is_better for k in COMPARED_METRICS}, {})
    result.write(log_dir, step, run_name=run_name)


def write_metrics_run(log_dir, run_name):
    """A real `AttributionCallback` writing every metric of `kerasviz.metrics.METRICS` for one epoch."""
    import keras
    import numpy as np
    from tests.helpers.models import SIZE, sequential

    from kerasviz import callbacks, metrics

    keras.backend.clear_session()
    model = sequential(seed=1)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 1, (4, SIZE, SIZE, 3)).astype(np.float32)
    y = np.arange(4) % 4
    masks = np.zeros((2, SIZE, SIZE), bool)
    masks[:, 4:12, 4:12] = True
    callback = callbacks.AttributionCallback(log_dir, x[:2], y[:2], methods=("saliency",),
                                             metrics=tuple(metrics.METRICS), masks=masks, run_name=run_name,
                                             on_error="raise")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("dashboard"))
    records.write_run(os.path.join(root, "train"), steps=TRAIN_STEPS, n=IMAGES)
    records.write_run(os.path.join(root, "classes"), steps=2, methods=("gradcam", "saliency"), classes=(0, 2, 3))
    records.write_run(os.path.join(root, XSS_RUN), steps=2, methods=("saliency",))
    damaged.write_other_family(os.path.join(root, "filters"))
    records.write_constant_run(os.path.join(root, "constant"))
    write_comparison(root, "compare", 0)
    write_comparison(root, "classes", 0)  # beside the maps of steps 0 and 1
    write_metrics_run(root, "metrics")
    writer = tf.summary.create_file_writer(os.path.join(root, "compare_bad"))  # a header that is no table
    records.write_record(writer, "attribution", "comparison",
                         {"family": "attribution", "method": "comparison", "kind": "comparison",
                          "methods": [records.XSS], "metrics": {"a": 1}}, {}, 0)
    writer.close()
    return root


@pytest.fixture(scope="module")
def server(logdir, request):
    from kerasviz import metrics

    return start_tensorboard(logdir, request, lambda runs: (
        len(runs) == 8 and max(t["max_step"] for t in runs["train"]["tags"]) == TRAIN_STEPS - 1
        and len(runs["train"]["scalars"]) == 6 and len(runs["classes"]["tags"]) == 3
        and len(runs["metrics"]["scalars"]) == len(metrics.METRICS) and len(runs["compare"]["tags"]) == 1))


@pytest.fixture(scope="module")
def dashboard(server, screenshots):
    with open_dashboard(server) as (page, frame, events):
        wait_shown(frame)
        yield page, frame, events


def choose_run(frame, name):
    if frame.eval_on_selector("#kv-run", "s => s.value") != name:
        frame.select_option("#kv-run", name)
    wait_shown(frame, run=name)


def pixels(frame, selector="#kv-grid td.kv-map canvas"):
    """RGB values of the first canvas matching `selector`, as a flat list."""
    return frame.eval_on_selector(selector, "c => Array.from(c.getContext('2d')"
                                  ".getImageData(0, 0, c.width, c.height).data).filter((_, i) => i % 4 !== 3)")


def test_tab_shows_runs_methods_and_charts(dashboard, screenshots):
    page, frame, events = dashboard
    choose_run(frame, "train")
    options = frame.eval_on_selector_all("#kv-run option", "os => os.map(o => o.textContent)")
    assert sorted(options) == sorted(["train", "classes", "filters", "constant", XSS_RUN, "compare", "metrics",
                                      "compare_bad"])
    heads = frame.eval_on_selector_all("#kv-grid th .kv-col-name", "hs => hs.map(h => h.textContent)")
    assert heads == ["gradcam", "occlusion", "saliency"]
    assert not frame.is_visible("#kv-comparison-panel")  # this run holds no comparison
    assert frame.locator("#kv-grid tbody tr").count() == IMAGES
    assert "occluder 8×8 px, stride 8" in frame.inner_text("#kv-grid th[data-method='occlusion']")
    assert frame.locator("#kv-charts figure").count() == 2
    hints = frame.eval_on_selector_all("#kv-charts figure", "fs => fs.map(f => [f.dataset.metric, f.dataset.direction, "
                                       "f.querySelector('.kv-direction').textContent])")
    assert hints == [["deletion_auc", "lower", "\u2193 lower is better"], ["insertion_auc", "higher", "\u2191 higher is better"]]
    assert frame.locator("#kv-charts path.kv-line").count() == 6
    assert frame.inner_text("#kv-step-label").startswith(f"step {TRAIN_STEPS - 1}")
    shot(page, screenshots, "overview.png")
    assert not events["errors"] and not events["dialogs"]


def test_step_slider_changes_label_and_maps(dashboard, screenshots):
    page, frame, events = dashboard
    choose_run(frame, "train")
    before = pixels(frame)
    set_range(frame, "#kv-step", 3)
    assert frame.inner_text("#kv-step-label").startswith("step 3 ")  # at once, before the data comes
    wait_shown(frame, "train", 3)
    assert pixels(frame) != before
    assert frame.locator("#kv-charts circle").count() == 6  # the current step marked on each line
    shot(page, screenshots, "step3.png")


def test_slider_fetches_one_step_at_a_time(dashboard):
    page, frame, events = dashboard
    choose_run(frame, "train")
    start = len(events["requests"])
    for step in range(TRAIN_STEPS - 1, 11, -1):  # sweeping the slider quickly down to step 12
        set_range(frame, "#kv-step", step)
    wait_shown(frame, "train", 12)
    page.wait_for_timeout(500)
    records = [url for url in events["requests"][start:] if "/data/plugin/kerasviz/record?" in url]
    assert 0 < len(records) <= 2 * 3, records  # the records of step 12 (3 methods), not of all 18 steps


def test_colormap_and_opacity_apply_on_the_client(dashboard, screenshots):
    page, frame, events = dashboard
    choose_run(frame, "train")
    set_range(frame, "#kv-opacity", 1)
    start = len(events["requests"])
    frame.select_option("#kv-colormap", "gray")
    wait_shown(frame, painted="gray|1|")
    gray = pixels(frame)
    assert all(gray[i] == gray[i + 1] == gray[i + 2] for i in range(0, len(gray), 3))
    frame.select_option("#kv-colormap", "jet")
    wait_shown(frame, painted="jet|1|")
    jet = pixels(frame)
    assert jet != gray and any(jet[i] != jet[i + 2] for i in range(0, len(jet), 3))
    shot(page, screenshots, "jet_opaque.png")
    frame.select_option("#kv-colormap", "viridis")
    wait_shown(frame, painted="viridis|1|")
    assert pixels(frame) not in (gray, jet)
    set_range(frame, "#kv-opacity", 0)
    wait_shown(frame, painted="viridis|0|")
    plain = pixels(frame)  # the input image alone
    assert plain == pixels(frame, "#kv-grid td.kv-input canvas")
    assert not [url for url in events["requests"][start:] if "/record?" in url]  # no refetch
    set_range(frame, "#kv-opacity", 0.6)
    frame.select_option("#kv-colormap", "inferno")
    wait_shown(frame, painted="inferno|0.6|")


def test_the_dashboard_colours_a_map_as_kerasviz_image_does(dashboard):
    # One colormap table: the dashboard's (static/colormap_table.js) is generated from `kerasviz.image`'s.
    import numpy as np

    from kerasviz import image

    page, frame, events = dashboard
    choose_run(frame, "train")
    offered = frame.eval_on_selector_all("#kv-colormap option", "os => os.map(o => o.value)")
    assert offered == ["inferno", "viridis", "jet", "gray"] and set(offered) <= set(image.COLORMAPS)
    levels = [0, 1, 37, 64, 128, 200, 254, 255]
    for name in offered:
        drawn = frame.evaluate("""async ([name, levels]) => {
            const { colorize } = await import(new URL("./colormaps.js", document.baseURI).href);
            return Array.from(colorize(Uint8Array.from(levels), 0, levels.length, 1, name).data); }""", [name, levels])
        expected = image.to_uint8(image.colormap(np.array(levels) / 255.0, name))
        assert np.array(drawn).reshape(-1, 4)[:, :3].tolist() == expected.tolist(), name


def test_hover_shows_the_map_value(dashboard):
    page, frame, events = dashboard
    choose_run(frame, "train")
    canvas = frame.locator("#kv-grid td.kv-map[data-method='saliency'] canvas").first
    canvas.hover(position={"x": 60, "y": 70})
    readout = frame.locator("#kv-grid td.kv-map[data-method='saliency'] .kv-readout").first
    assert readout.inner_text().startswith("(")
    text = readout.inner_text()
    assert "=" in text and float(text.split("=")[1]) >= 0


def test_class_chooser_switches_maps_and_names_stay_text(dashboard, screenshots):
    page, frame, events = dashboard
    choose_run(frame, "classes")
    assert frame.is_enabled("#kv-class")
    names = frame.eval_on_selector_all("#kv-class option", "os => os.map(o => o.textContent)")
    assert names == ["0: cat", "2: " + records.XSS, "3: ship \u00e9\u6f22"]
    before = pixels(frame)
    frame.select_option("#kv-class", "1")
    wait_shown(frame, "classes", cls=2)
    assert pixels(frame) != before
    assert records.XSS in frame.inner_text("#kv-grid td.kv-map")
    shot(page, screenshots, "classes.png")


def test_markup_in_names_is_shown_as_text_and_never_runs(dashboard, screenshots):
    page, frame, events = dashboard
    choose_run(frame, XSS_RUN)
    assert frame.eval_on_selector("#kv-run", "s => s.selectedOptions[0].textContent") == XSS_RUN
    labels = frame.eval_on_selector_all(".kv-label", "ls => ls.map(l => l.textContent)")
    assert any(records.XSS in label for label in labels)
    assert frame.locator("img").count() == 0 and page.locator("img[src='x']").count() == 0
    page.wait_for_timeout(300)
    assert events["dialogs"] == [] and events["errors"] == []
    shot(page, screenshots, "xss_as_text.png")


def test_images_load_lazily_and_the_page_fits_a_laptop_screen(dashboard, screenshots):
    page, frame, events = dashboard
    choose_run(frame, "train")
    set_range(frame, "#kv-step", 5)
    wait_shown(frame, "train", 5)
    page.wait_for_timeout(300)
    step5 = [url for url in events["requests"] if "/image?" in url and "step=5" in url]
    assert step5 and not [url for url in step5 if f"index={IMAGES - 1}" in url]  # last row not loaded yet
    width = frame.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width  # no horizontal scrolling at 1366 x 768
    for selector in ("#kv-run", "#kv-step", "#kv-colormap", "#kv-opacity", "#kv-class"):
        box = frame.locator(selector).bounding_box()
        assert box and box["y"] + box["height"] < 768 and box["x"] + box["width"] < 1366, selector
    frame.locator(f"#kv-grid tbody tr[data-index='{IMAGES - 1}']").scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    assert [url for url in events["requests"] if "/image?" in url and "step=5" in url and f"index={IMAGES - 1}" in url]
    shot(page, screenshots, "scrolled.png")


def test_a_family_without_its_own_view_gets_the_generic_one(dashboard, screenshots):
    page, frame, events = dashboard
    frame.select_option("#kv-run", "filters")
    frame.wait_for_function("() => document.querySelectorAll('.kv-record img.kv-thumb').length === 6 && "
                            "Array.from(document.querySelectorAll('img.kv-thumb')).every(i => i.complete && i.naturalWidth === 8)")
    assert frame.eval_on_selector_all(".kv-tab", "ts => ts.map(t => t.textContent)") == ["experimental"]
    text = frame.inner_text(".kv-record")
    assert records.XSS in text and "weights: float32 [3, 4]" in text
    shot(page, screenshots, "generic_view.png")
    assert events["dialogs"] == [] and page.locator("img[src='x']").count() == 0


def test_a_constant_map_is_marked(dashboard, screenshots):
    page, frame, events = dashboard
    choose_run(frame, "constant")
    marks = frame.locator("#kv-grid td.kv-map .kv-constant")
    assert marks.count() == 1  # image 0 only
    row = frame.eval_on_selector("#kv-grid td.kv-map .kv-constant", "m => m.closest('tr').rowIndex")
    assert row == 1  # the first body row (row 0 is the header)
    assert "constant map" in marks.first.inner_text()
    shot(page, screenshots, "constant.png")


def comparison_rows(frame):
    return frame.eval_on_selector_all("#kv-comparison tbody tr", "rs => rs.map(r => r.dataset.method)")


def click_sort(frame, label):
    """Clicks a column's sort button and waits for the table it redraws."""
    before = frame.eval_on_selector("#kv-comparison-box", "b => b.dataset.key")
    frame.click(f"#kv-comparison thead button:text-is('{label}')")
    frame.wait_for_function("k => document.getElementById('kv-comparison-box').dataset.key !== k", arg=before)


def test_comparison_table_sorts_and_marks_best_and_sanity_failures(dashboard, screenshots):
    from kerasviz import metrics

    page, frame, events = dashboard
    frame.select_option("#kv-run", "compare")
    frame.wait_for_function("() => (document.getElementById('kv-comparison-box').dataset.key || '').startsWith('compare|0|')")
    assert not frame.is_visible("#kv-grid-box") and not frame.is_visible("#kv-colormap")  # no maps in this run
    heads = frame.eval_on_selector_all("#kv-comparison thead th.kv-cmp-metric", "hs => hs.map(h => [h.dataset.metric, "
                                       "h.querySelector('.kv-direction').dataset.direction, h.querySelector('.kv-direction').textContent])")
    assert heads == [[k, "higher" if metrics.METRICS[k].higher_is_better else "lower",
                      ("\u2191 higher" if metrics.METRICS[k].higher_is_better else "\u2193 lower")] for k in COMPARED_METRICS]
    assert comparison_rows(frame) == COMPARED  # the record's order; the markup is a name, shown as text
    best = frame.eval_on_selector_all("#kv-comparison td.kv-best", "ts => ts.map(t => [t.closest('tr').dataset.method, t.dataset.metric])")
    expected = []
    for j, metric in enumerate(COMPARED_METRICS):  # the best of each column, by its direction, NaN left out
        column = {m: row[j] for m, row in zip(COMPARED, COMPARED_VALUES) if row[j] == row[j]}
        pick = max if metrics.METRICS[metric].higher_is_better else min
        expected.append([pick(column, key=column.get), metric])
    assert sorted(best) == sorted(expected)
    failed = frame.eval_on_selector_all("#kv-comparison td.kv-fail", "ts => ts.map(t => [t.closest('tr').dataset.method, t.dataset.metric])")
    assert sorted(failed) == [["guided_backprop", "random_logit"], ["guided_backprop", "randomization"]]
    assert "fails random_logit, randomization" in frame.inner_text("#kv-comparison tr[data-method='guided_backprop'] th")
    assert frame.inner_text("#kv-comparison tr:nth-child(3) td[data-metric='random_logit']") == "n/a"
    assert "\u2265 0.5" in frame.inner_text(".kv-cmp-legend")
    click_sort(frame, "deletion auc")  # lower is better: ascending
    assert comparison_rows(frame) == ["guided_backprop", "saliency", records.XSS]
    click_sort(frame, "deletion auc")  # a second click reverses
    assert comparison_rows(frame) == [records.XSS, "saliency", "guided_backprop"]
    click_sort(frame, "insertion auc")  # higher is better: descending, best first again
    assert comparison_rows(frame) == [records.XSS, "saliency", "guided_backprop"]
    assert frame.eval_on_selector("#kv-comparison th[data-metric='insertion_auc']", "h => h.getAttribute('aria-sort')") == "descending"
    click_sort(frame, "random logit")  # the undefined value last, both ways
    assert comparison_rows(frame) == ["saliency", "guided_backprop", records.XSS]
    click_sort(frame, "random logit")
    assert comparison_rows(frame) == ["guided_backprop", "saliency", records.XSS]
    shot(page, screenshots, "comparison.png")
    click_sort(frame, "method")
    assert comparison_rows(frame) == COMPARED
    assert page.locator("img[src='x']").count() == 0 and events["dialogs"] == [] and events["errors"] == []


def test_every_metric_of_the_callback_is_charted_with_its_direction(dashboard, screenshots):
    from kerasviz import metrics

    page, frame, events = dashboard
    choose_run(frame, "metrics")
    frame.wait_for_function(f"() => document.querySelectorAll('#kv-charts figure').length === {len(metrics.METRICS)}")
    charts = frame.eval_on_selector_all("#kv-charts figure", "fs => fs.map(f => [f.dataset.metric, f.dataset.direction])")
    assert sorted(charts) == sorted([k, "higher" if m.higher_is_better else "lower"] for k, m in metrics.METRICS.items())
    # Each metric's value at this epoch is a point; a NaN is not drawn. Of the metrics, only those comparing the
    # probe images with one another (similar maps: `consistency`, `sufficiency`; another predicted class:
    # `focus`) may be undefined on these 2 images.
    points = dict(frame.eval_on_selector_all(
        "#kv-charts figure", "fs => fs.map(f => [f.dataset.metric, f.querySelectorAll('circle').length])"))
    assert set(points.values()) <= {0, 1} and points.keys() == metrics.METRICS.keys()
    assert {k for k, n in points.items() if n == 0} <= {"consistency", "sufficiency", "focus"}, points
    assert not frame.is_visible("#kv-comparison-panel")  # no comparison in this run
    shot(page, screenshots, "metric_charts.png")


def test_a_comparison_beside_the_maps_follows_the_step(dashboard):
    page, frame, events = dashboard
    choose_run(frame, "classes")
    heads = frame.eval_on_selector_all("#kv-grid th .kv-col-name", "hs => hs.map(h => h.textContent)")
    assert heads == ["gradcam", "saliency"]  # the comparison is no column of maps
    frame.wait_for_function("() => (document.getElementById('kv-comparison-box').dataset.key || '').startsWith('classes|0|')")
    assert frame.inner_text("#kv-step-label").startswith("step 1")
    assert frame.is_visible("#kv-comparison") and "from step 0" in frame.inner_text("#kv-comparison-panel")
    assert frame.inner_text("#kv-comparison-panel summary") == "Method comparison at step 0"
    assert comparison_rows(frame) == COMPARED


def test_a_comparison_record_that_is_no_table_says_so(dashboard):
    page, frame, events = dashboard
    frame.select_option("#kv-run", "compare_bad")
    frame.wait_for_selector("#kv-comparison-box .kv-error")
    assert "not a comparison record" in frame.inner_text("#kv-comparison-box")
    assert frame.locator("#kv-comparison").count() == 0 and events["errors"] == [] and events["dialogs"] == []
