"""The regions view (a segmenter explained region by region) in a real browser, inside a real TensorBoard.

A record written by `kerasviz.summary.write_regions` with hand-made regions and
maps whose peaks are known: image 0 is class 1 on its left 20 columns and
class 2 on the rest, image 1 has one square of class 2. A click on a region
must show that region's map (its peak where it was put); the class names
stay text. Screenshots go to `$KERASVIZ_SCREENSHOTS` (default: a temporary
directory).
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from kerasviz import summary
from tests.helpers import browser

pytestmark = browser.MARKS

SIZE = 32
NAMES = ["background", "<img src=x onerror=alert(1)>", "car"]
PEAKS = {1: (6, 6), 2: (24, 26)}  # (row, column) of each class's map peak


def regions_record():
    images = np.random.default_rng(0).uniform(0.2, 0.8, (2, SIZE, SIZE, 3)).astype(np.float32)
    masks = np.zeros((2, 2, SIZE, SIZE), bool)
    masks[0, 0, :, :20], masks[0, 1, :, 20:] = True, True
    masks[1, 1, 8:24, 8:24] = True
    rows, cols = np.mgrid[:SIZE, :SIZE]
    maps = np.zeros((2, 2, SIZE, SIZE), np.float32)
    for r, index in enumerate((1, 2)):
        row, col = PEAKS[index]
        maps[:, r] = np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / 8.0)
    maps[1, 0] = 0  # image 1 has no region of class 1
    return images, maps, masks


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    root = str(tmp_path_factory.mktemp("regions_dashboard"))
    images, maps, masks = regions_record()
    with tf.summary.create_file_writer(os.path.join(root, "segmenter")).as_default(step=0):
        assert summary.write_regions("saliency", images, maps, masks, [1, 2], class_names=NAMES)
    return browser.start_tensorboard(root, request, lambda runs: bool(runs.get("segmenter", {}).get("tags")),
                                     "tensorboard_regions.log")


def chosen(frame, card):
    return frame.eval_on_selector(f".kv-region-card[data-image='{card}']", "c => c.dataset.chosen")


def map_peak(frame, card):
    """(row, column) of the brightest pixel of a card's map canvas, in the record's 32 x 32 pixels."""
    return tuple(frame.eval_on_selector(f".kv-region-card[data-image='{card}'] canvas.kv-region-map", """c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let best = -1, at = 0;
        for (let i = 0; i < c.width * c.height; i++) {
            const v = d[4 * i] + d[4 * i + 1] + d[4 * i + 2]; if (v > best) { best = v; at = i; } }
        return [Math.floor(at / c.width) * 32 / c.height, (at % c.width) * 32 / c.width]; }"""))


def test_a_click_on_a_region_shows_its_map(server, screenshots):
    with browser.open_dashboard(server) as (page, frame, events):
        frame.wait_for_function("() => { const s = document.querySelector('.kv-regions-record');"
                                " return s && s.dataset.shown; }")
        assert frame.eval_on_selector(".kv-tab[aria-selected='true']", "t => t.textContent") == "Regions"
        frame.wait_for_function("() => document.querySelectorAll('canvas.kv-region-map[data-painted]').length === 2")
        assert chosen(frame, 0) == "1"  # the largest region first (20 of 32 columns)
        assert np.allclose(map_peak(frame, 0), PEAKS[1], atol=1.5)
        buttons = frame.eval_on_selector_all(".kv-region-card[data-image='0'] .kv-region-button",
                                             "bs => bs.map(b => b.textContent)")
        assert buttons == [f"1: {NAMES[1]}", f"2: {NAMES[2]}"]  # the name is text, not markup
        box = frame.locator(".kv-region-card[data-image='0'] canvas.kv-region-picture").bounding_box()
        frame.locator(".kv-region-card[data-image='0'] canvas.kv-region-picture").click(
            position={"x": box["width"] * 0.9, "y": box["height"] * 0.5})
        assert chosen(frame, 0) == "2"
        assert np.allclose(map_peak(frame, 0), PEAKS[2], atol=1.5)
        assert "why 2: car here" in frame.inner_text(".kv-region-card[data-image='0'] figcaption")
        frame.click(".kv-region-card[data-image='0'] .kv-region-button[data-region='0']")
        assert chosen(frame, 0) == "1"
        assert chosen(frame, 1) == "2"  # image 1 has class 2 only
        assert frame.locator(".kv-region-card[data-image='1'] .kv-region-button").count() == 1
        browser.shot(page, screenshots, "regions_view.png")
        assert events["errors"] == [] and events["dialogs"] == []
        assert frame.locator("img[src='x']").count() == 0
