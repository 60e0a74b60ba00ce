"""The features view (feature visualizations and feature maps) in a real browser, inside a real TensorBoard.

Same harness as `test_dashboard.py` (`tests/helpers/browser.py`: server script, Chromium flags, helpers).
Records are written by `kerasviz.summary.write_record` (the callbacks' writer)
with images and maps made here, whose pixels the page must show exactly.
Screenshots go to `$KERASVIZ_SCREENSHOTS` (default: a temporary directory).
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from kerasviz import summary
from tests.helpers import browser, records
from tests.helpers.browser import image_pixels

pytestmark = browser.MARKS

STEPS, CHANNELS, MAP_CHANNELS, PROBES = 3, (2, 5, 7), (3, 0, 6, 1), 3
FV = "kerasviz/features/feature_visualization/block__conv"
FM = "kerasviz/features/feature_maps/conv2"
SIZE, H = 12, 6
LAYER = "conv2 " + records.XSS


def fv_images(step):
    """uint8 [3, SIZE, SIZE, 3]: image i at `step` is flat colour (step, i)-specific, a bright corner."""
    images = np.zeros((len(CHANNELS), SIZE, SIZE, 3), np.uint8)
    for i in range(len(CHANNELS)):
        images[i] = [30 + 70 * step, 20 + 80 * i, 200 - 50 * step]
        images[i, :3, :3] = 255
    return images


def objective(step, i):
    return 0.25 * (step + 1) + i


def fm_maps(step):
    """float [PROBES, 4, H, H]: distinct ramps per image, channel and step."""
    yy, xx = np.mgrid[:H, :H].astype(np.float32)
    return np.stack([[(k + 1) * (xx + b * yy) / 10 + step for k in range(len(MAP_CHANNELS))]
                     for b in range(PROBES)]).astype(np.float32)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("features_dashboard"))
    writer = tf.summary.create_file_writer(os.path.join(root, "feat"))
    probes = records.images(PROBES, 16)
    with writer.as_default():
        for step in range(STEPS):
            header = {"layer": "block/conv", "channels": list(CHANNELS), "steps": 8, "seed": 0,
                      "objectives": [objective(step, i) for i in range(len(CHANNELS))], "value_range": [0.0, 1.0]}
            summary.write_record("features", "feature_visualization", header,
                                 {"images": fv_images(step), "losses": np.linspace(0, 1, 8)[None]}, step=step,
                                 suffix="block__conv")
            maps = fm_maps(step)
            header = {"layer": LAYER, "channels": list(MAP_CHANNELS), "means": maps.mean(axis=(0, 2, 3)).tolist(),
                      "chosen": "the 4 most active over the probe images at the first write"}
            summary.write_record("features", "feature_maps", header, {"images": probes, "maps": maps}, step=step,
                                 suffix="conv2")
    writer.close()
    return root


@pytest.fixture(scope="module")
def dashboard(logdir, request):
    server = browser.start_tensorboard(logdir, request, lambda runs: (
        "feat" in runs and len(runs["feat"]["tags"]) == 2
        and all(t["max_step"] == STEPS - 1 for t in runs["feat"]["tags"])), "tensorboard_features.log")
    with browser.open_dashboard(server) as (page, frame, events):
        frame.wait_for_selector(".kv-feat-view")
        yield page, frame, events


def wait_shown(frame, method, key):
    """Waits until the method's view shows `key` with every image loaded."""
    frame.wait_for_function(
        """([method, key]) => { const v = document.querySelector(`.kv-feat-view[data-method="${method}"]`);
            return v && v.dataset.shown === key
                && Array.from(v.querySelectorAll('img')).every(i => i.complete && i.naturalWidth > 0); }""",
        arg=[method, key])


def texts(frame, selector):
    return frame.eval_on_selector_all(selector, "es => es.map(e => e.textContent)")


def pixels(frame, selector, size=SIZE):
    return np.array(image_pixels(frame, selector)).reshape(size, size, 4)[..., :3]


def test_feature_visualization_channel_chooser_and_step_slider(dashboard, screenshots):
    page, frame, events = dashboard
    assert frame.eval_on_selector(".kv-tab[aria-selected='true']", "t => t.textContent") == "Features"
    last = STEPS - 1
    wait_shown(frame, "feature_visualization", f"feat|{FV}|{last}|{CHANNELS[0]}")
    assert texts(frame, "#kv-feat-gallery figcaption") == [
        f"channel {c} · {objective(last, i):g}" for i, c in enumerate(CHANNELS)]
    assert frame.eval_on_selector("#kv-feat-info", "e => e.textContent").startswith("layer block/conv")
    # The chosen channel over training: one image per step, its own image at each, the current step marked.
    assert texts(frame, "#kv-feat-timeline figcaption") == [f"step {s} · {objective(s, 0):g}" for s in range(STEPS)]
    for s in range(STEPS):
        np.testing.assert_array_equal(pixels(frame, f"#kv-feat-timeline figure[data-step='{s}'] img"), fv_images(s)[0])
    assert texts(frame, "#kv-feat-timeline .kv-feat-current figcaption") == [f"step {last} · {objective(last, 0):g}"]
    browser.shot(page, screenshots, "features_visualization.png")

    frame.select_option("#kv-feat-channel", str(CHANNELS[1]))
    wait_shown(frame, "feature_visualization", f"feat|{FV}|{last}|{CHANNELS[1]}")
    assert texts(frame, "#kv-feat-timeline figcaption") == [f"step {s} · {objective(s, 1):g}" for s in range(STEPS)]
    for s in range(STEPS):
        np.testing.assert_array_equal(pixels(frame, f"#kv-feat-timeline figure[data-step='{s}'] img"), fv_images(s)[1])
    assert texts(frame, "#kv-feat-gallery .kv-feat-chosen figcaption") == [f"channel {CHANNELS[1]} · {objective(last, 1):g}"]

    browser.set_range(frame, "#kv-step", 0)
    wait_shown(frame, "feature_visualization", f"feat|{FV}|0|{CHANNELS[1]}")  # the channel stays chosen
    np.testing.assert_array_equal(pixels(frame, "#kv-feat-gallery figure:first-child img"), fv_images(0)[0])
    assert texts(frame, "#kv-feat-timeline .kv-feat-current figcaption") == [f"step 0 · {objective(0, 1):g}"]

    frame.click(f"#kv-feat-gallery figure[data-channel='{CHANNELS[2]}']")  # clicking an image follows its channel
    wait_shown(frame, "feature_visualization", f"feat|{FV}|0|{CHANNELS[2]}")
    assert frame.eval_on_selector("#kv-feat-channel", "s => s.value") == str(CHANNELS[2])
    assert events["errors"] == []


def test_feature_maps_grid_per_probe_image_with_channel_labels(dashboard, screenshots):
    page, frame, events = dashboard
    browser.set_range(frame, "#kv-step", 1)
    frame.click(".kv-subtab[data-method='feature_maps']")
    wait_shown(frame, "feature_maps", f"feat|{FM}|1|inferno")
    assert frame.locator(".kv-fmaps-row").count() == PROBES
    maps = fm_maps(1)
    for b in range(PROBES):
        labels = texts(frame, f".kv-fmaps-row[data-image='{b}'] .kv-fmaps-cell figcaption")
        means = maps[b].mean(axis=(1, 2))
        assert [label.split(" · ")[0] for label in labels] == [f"ch {c}" for c in MAP_CHANNELS]
        np.testing.assert_allclose([float(label.split(" · ")[1]) for label in labels], means, rtol=0.02, atol=0.02)
    np.testing.assert_array_equal(pixels(frame, ".kv-fmaps-row[data-image='2'] .kv-fmaps-input img", 16),
                                  records.images(PROBES, 16)[2])
    browser.shot(page, screenshots, "features_maps.png")

    frame.select_option("#kv-fmaps-colormap", "gray")
    wait_shown(frame, "feature_maps", f"feat|{FM}|1|gray")
    b = 1  # each image's maps scaled together: gray level = 255 * (v - min) / (max - min) over its 4 maps
    expected = np.round(255 * (maps[b] - maps[b].min()) / (maps[b].max() - maps[b].min()))
    for k in range(len(MAP_CHANNELS)):
        drawn = frame.eval_on_selector(
            f".kv-fmaps-row[data-image='{b}'] canvas[data-channel='{MAP_CHANNELS[k]}']",
            "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)")
        drawn = np.array(drawn).reshape(H, H, 4)
        np.testing.assert_allclose(drawn[..., 0], expected[k], atol=3)  # 8-bit transport, then 8-bit levels
        assert (drawn[..., 0] == drawn[..., 1]).all()
    # The slider moves the maps too, and the layer name stays text.
    browser.set_range(frame, "#kv-step", 2)
    wait_shown(frame, "feature_maps", f"feat|{FM}|2|gray")
    assert records.XSS in frame.inner_text("#kv-fmaps-info")
    assert events["dialogs"] == [] and frame.locator("img[src='x']").count() == 0
    assert events["errors"] == []
