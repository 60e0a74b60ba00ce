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


BOXES = [[0.05, 0.05, 0.45, 0.45], [0.5, 0.55, 0.95, 0.95], [0.0, 0.0, 1.0, 1.0]]  # fractions (y0, x0, y1, x1)


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    root = str(tmp_path_factory.mktemp("regions_dashboard"))
    images, maps, masks = regions_record()
    with tf.summary.create_file_writer(os.path.join(root, "segmenter")).as_default(step=0):
        assert summary.write_regions("saliency", images, maps, [1, 2], masks=masks, class_names=NAMES)
    # A detector: three boxes in image 0 (the last around everything), the first alone in image 1 (NaN: none).
    boxes = np.array([BOXES, [BOXES[0], [np.nan] * 4, [np.nan] * 4]], np.float32)
    box_maps = np.concatenate([maps, maps[:, :1]], axis=1)  # box 0: peak of class 1, box 1: class 2, box 2: class 1
    with tf.summary.create_file_writer(os.path.join(root, "detector")).as_default(step=0):
        assert summary.write_regions("integrated_gradients", images, box_maps, [[1, 2, 0], [1, 0, 0]], boxes=boxes,
                                     scores=[[0.9, 0.8, 0.3], [0.7, 0, 0]], class_names=NAMES)
    return browser.start_tensorboard(root, request, lambda runs: bool(
        runs.get("segmenter", {}).get("tags") and runs.get("detector", {}).get("tags")), "tensorboard_regions.log")


def choose_run(frame, run):
    frame.wait_for_selector(f"#kv-run option[value='{run}']", state="attached")
    if frame.eval_on_selector("#kv-run", "s => s.value") != run:
        frame.select_option("#kv-run", run)


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
        choose_run(frame, "segmenter")
        frame.wait_for_function("() => { const s = document.querySelector('.kv-regions-record');"
                                " return s && (s.dataset.shown || '').startsWith('segmenter|'); }")
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


def test_a_click_on_a_box_shows_its_map(server, screenshots):
    with browser.open_dashboard(server) as (page, frame, events):
        choose_run(frame, "detector")
        frame.wait_for_function("() => { const s = document.querySelector('.kv-regions-record');"
                                " return s && (s.dataset.shown || '').startsWith('detector|')"
                                " && document.querySelectorAll('canvas.kv-region-map[data-painted]').length === 2; }")
        card = ".kv-region-card[data-image='0']"
        assert frame.eval_on_selector(card, "c => c.dataset.region") == "0"  # the first box first
        assert frame.locator(f"{card} .kv-region-button").count() == 3
        assert frame.locator(".kv-region-card[data-image='1'] .kv-region-button").count() == 1  # NaN boxes: none
        picture = frame.locator(f"{card} canvas.kv-region-picture")
        box = picture.bounding_box()
        picture.click(position={"x": box["width"] * 0.75, "y": box["height"] * 0.7})  # inside boxes 1 and 2: the smaller
        assert frame.eval_on_selector(card, "c => c.dataset.region") == "1"
        assert frame.eval_on_selector(card, "c => c.dataset.chosen") == "2"
        assert np.allclose(map_peak(frame, 0), PEAKS[2], atol=1.5)
        assert "score 0.80)" in frame.inner_text(f"{card} figcaption")
        picture.click(position={"x": box["width"] * 0.9, "y": box["height"] * 0.2})  # inside box 2 only
        assert frame.eval_on_selector(card, "c => c.dataset.region") == "2"
        browser.shot(page, screenshots, "regions_boxes_view.png")
        assert events["errors"] == [] and events["dialogs"] == []
