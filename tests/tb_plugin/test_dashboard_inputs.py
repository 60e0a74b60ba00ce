"""A multi-input model's attribution records in the Attribution view, in a real browser inside a real TensorBoard.

Written by `kerasviz.summary.write_attribution` with one array per input: an
image input (maps of two methods) and a side input of 3 values (signed
attributions, known signs). The grid must show one column group per input,
titled by the input's name: the image group with its input column and a map
per method, the side group with a bar chart per method (a bar per feature,
coloured by sign). Screenshots go to `$KERASVIZ_SCREENSHOTS`.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from kerasviz import summary
from tests.helpers import browser

pytestmark = browser.MARKS

SIZE, N, SIDE = 16, 2, 3
METHODS = ("integrated_gradients", "saliency")  # the order the view shows them: by tag
SIDE_ATTRIBUTIONS = np.array([[0.5, -1.0, 0.25], [-2.0, 0.0, 1.0]], np.float32)


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    root = str(tmp_path_factory.mktemp("inputs_dashboard"))
    rng = np.random.default_rng(0)
    images = {"image": rng.uniform(0, 1, (N, SIZE, SIZE, 3)).astype(np.float32),
              "side": rng.normal(0, 1, (N, SIDE)).astype(np.float32)}
    with tf.summary.create_file_writer(os.path.join(root, "two_inputs")).as_default(step=0):
        for k, method in enumerate(METHODS):
            maps = {"image": rng.uniform(0, 1, (N, SIZE, SIZE)).astype(np.float32),
                    "side": SIDE_ATTRIBUTIONS * (k + 1)}
            assert summary.write_attribution(method, images, maps, labels=[1, 2], predictions=[1, 0],
                                             class_names=["a", "b", "c"])
    return browser.start_tensorboard(root, request, lambda runs: len(runs.get("two_inputs", {}).get("tags", [])) == 4,
                                     "tensorboard_inputs.log")


def group_titles(frame):
    return frame.eval_on_selector_all("#kv-grid th.kv-group", "ths => ths.map(t => [t.textContent, t.colSpan])")


def test_the_grid_shows_one_column_group_per_input(server, screenshots):
    with browser.open_dashboard(server, viewport=(1500, 900)) as (page, frame, events):
        browser.wait_shown(frame, run="two_inputs", step=0)
        assert group_titles(frame) == [["image", 1 + len(METHODS)], ["side", len(METHODS)]]
        heads = frame.eval_on_selector_all("#kv-grid tr.kv-heads th",
                                           "ths => ths.map(t => t.dataset.method || t.textContent)")
        assert heads == ["input", *METHODS, *METHODS]
        painted = "td[data-input='image'] canvas[data-painted]"
        frame.wait_for_function(f"() => document.querySelectorAll(\"{painted}\").length === {N * (1 + len(METHODS))}")
        assert frame.locator("td.kv-input[data-input='image'] canvas").count() == N
        assert frame.locator("td.kv-map[data-input='image'] canvas").count() == N * len(METHODS)
        assert frame.locator("td[data-input='side'] canvas").count() == 0
        assert frame.locator("td.kv-vector[data-input='side'] svg.kv-vector-bars").count() == N * len(METHODS)
        assert frame.locator("td[data-input='side'] svg.kv-vector-bars rect").count() == N * len(METHODS) * SIDE
        bars = frame.eval_on_selector_all(
            "tr.kv-row[data-index='1'] td.kv-vector[data-method='saliency'] rect",
            "rs => rs.map(r => [r.getAttribute('class'), Number(r.getAttribute('width'))])")
        assert [c for c, _ in bars] == ["kv-bar-neg", "kv-bar-pos", "kv-bar-pos"]  # -2, 0, 1
        assert bars[0][1] == pytest.approx(2 * bars[2][1], rel=0.05)  # one scale: |-2| is twice |1|
        methods = frame.eval_on_selector_all("#kv-methods input", "bs => bs.map(b => b.dataset.method)")
        assert methods == list(METHODS)  # one checkbox per method, not per series
        browser.shot(page, screenshots, "attribution_inputs.png")
        frame.click("#kv-methods input[data-method='integrated_gradients']")
        frame.wait_for_function("() => document.querySelectorAll('#kv-grid th.kv-col').length === 2")
        assert group_titles(frame) == [["image", 2], ["side", 1]]
        assert frame.locator("td.kv-vector[data-method='integrated_gradients']").count() == 0
        assert events["errors"] == [] and events["dialogs"] == []
