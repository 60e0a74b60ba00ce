"""The synthesis view (class visualizations over epochs) in a real browser, inside a real TensorBoard.

Same harness as `test_dashboard.py` (`tests/helpers/browser.py`: its server
script, Chromium flags and helpers) over a logdir of synthesis records written
by `tests/helpers/records.py`'s `write_synthesis_run`. Screenshots go to
`$KERASVIZ_SCREENSHOTS` (default: a temporary directory).
"""

import os

import numpy as np
import pytest

from tests.helpers import browser, records
from tests.helpers.browser import image_pixels

pytestmark = browser.MARKS

STEPS, CLASSES = 3, (0, 2, 3)
TAG = "kerasviz/synthesis/class_visualization"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthesis_dashboard"))
    records.write_synthesis_run(os.path.join(root, "classvis"), steps=STEPS, classes=CLASSES)
    records.write_synthesis_run(os.path.join(root, "plain"), steps=1, classes=(1, 3), snapshots=0,
                                per_image_losses=True)
    return root


@pytest.fixture(scope="module")
def server(logdir, request):
    return browser.start_tensorboard(logdir, request, lambda runs: (
        len(runs) == 2 and runs["classvis"]["tags"] and runs["plain"]["tags"]
        and runs["classvis"]["tags"][0]["max_step"] == STEPS - 1), "tensorboard_synthesis.log")


@pytest.fixture(scope="module")
def dashboard(server, screenshots):
    with browser.open_dashboard(server) as (page, frame, events):
        frame.wait_for_selector(".kv-synth-record")
        yield page, frame, events


def wait_record(frame, run, step):
    """Waits until the record of `run` at `step` is shown with every image loaded."""
    frame.wait_for_function(
        """key => { const s = document.querySelector('.kv-synth-record');
            return s && s.dataset.shown === key
                && Array.from(s.querySelectorAll('img')).every(i => i.complete && i.naturalWidth > 0); }""",
        arg=f"{run}|{TAG}|{step}")


def choose_run(frame, run):
    if frame.eval_on_selector("#kv-run", "s => s.value") != run:
        frame.select_option("#kv-run", run)


def test_renders_images_losses_and_snapshots_and_the_slider_moves_them(dashboard, screenshots):
    page, frame, events = dashboard
    choose_run(frame, "classvis")
    assert frame.eval_on_selector(".kv-tab[aria-selected='true']", "t => t.textContent") == "Synthesis"
    wait_record(frame, "classvis", STEPS - 1)  # the shell follows the latest step
    captions = frame.eval_on_selector_all(".kv-synth-image figcaption", "fs => fs.map(f => f.textContent)")
    assert captions == [f"{c}: {records.CLASS_NAMES[c]}" for c in CLASSES]
    assert frame.locator(".kv-synth-snapshots img").count() == 4
    assert frame.eval_on_selector_all(".kv-synth-snapshots figcaption", "fs => fs.map(f => f.textContent)") == \
        ["step 5", "step 10", "step 15", "step 20"]
    assert frame.locator(".kv-synth-record svg path.kv-line").count() == 1  # the mean loss
    assert frame.locator(".kv-synth-record .kv-legend").count() == 0  # one line, named in its title
    _, expected = records.synthesis_record(STEPS - 1, classes=CLASSES)
    shown = np.array(image_pixels(frame, ".kv-synth-image img")).reshape(16, 16, 4)[..., :3]
    np.testing.assert_array_equal(shown, expected["images"][0])
    browser.shot(page, screenshots, "synthesis_view.png")

    browser.set_range(frame, "#kv-step", 0)
    wait_record(frame, "classvis", 0)
    _, first = records.synthesis_record(0, classes=CLASSES)
    after = np.array(image_pixels(frame, ".kv-synth-image img")).reshape(16, 16, 4)[..., :3]
    np.testing.assert_array_equal(after, first["images"][0])
    assert not np.array_equal(after, shown)
    assert events["errors"] == []


def test_xss_class_name_stays_text(dashboard):
    page, frame, events = dashboard
    choose_run(frame, "classvis")
    wait_record(frame, "classvis", frame.evaluate("() => Number(document.getElementById('kv-step').value)"))
    text = frame.inner_text(".kv-synth-images")
    assert records.XSS in text
    assert events["dialogs"] == [] and page.locator("img[src='x']").count() == 0
    assert frame.locator("img[src='x']").count() == 0


def test_per_image_losses_and_no_snapshots(dashboard, screenshots):
    page, frame, events = dashboard
    choose_run(frame, "plain")
    wait_record(frame, "plain", 0)
    assert frame.locator(".kv-synth-snapshots").count() == 0
    names = frame.eval_on_selector_all(".kv-synth-record path.kv-line", "ps => ps.map(p => p.dataset.name)")
    assert names == [f"1: {records.CLASS_NAMES[1]}", f"3: {records.CLASS_NAMES[3]}"]
    legend = frame.eval_on_selector_all(".kv-synth-record .kv-legend-item", "is => is.map(i => i.textContent)")
    assert legend == names  # one line per image: the legend says which is which
    browser.shot(page, screenshots, "synthesis_plain.png")
    assert events["errors"] == []
