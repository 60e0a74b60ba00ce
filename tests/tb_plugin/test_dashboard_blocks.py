"""The Building blocks view in a real browser, inside a real TensorBoard, over a real `building_blocks` record.

The record comes from `kerasviz.inside.building_blocks` on a small model
(a 1x1 convolution "mix" under a linear head, renders of 4 steps): hovering a
position must list that position's semantic dictionary as the record holds
it, a click on a group card must paint that group alone, and the group cards
must show the record's attributions. Screenshots go to
`$KERASVIZ_SCREENSHOTS` (default: a temporary directory).
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz import inside
from tests.helpers import browser

pytestmark = browser.MARKS

SIZE, CHANNELS = 16, 6
NAMES = ["<b>cat</b>", "<b>dog</b>", "<b>fox</b>"]


def small_model(seed=0):
    rng = np.random.default_rng(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    mix = keras.layers.Conv2D(CHANNELS, 1, activation="relu", use_bias=False, name="mix")(inputs)
    logits = keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling2D()(mix))
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    model.get_layer("mix").set_weights([rng.uniform(0, 1, (1, 1, 3, CHANNELS)).astype(np.float32)])
    return model


@pytest.fixture(scope="module")
def blocks():
    keras.backend.clear_session()
    image = np.random.default_rng(1).uniform(0, 1, (SIZE, SIZE, 3)).astype(np.float32)
    return inside.building_blocks_of(small_model(), image, "mix", groups=3, top=3, max_channels=6, steps=4)


@pytest.fixture(scope="module")
def server(tmp_path_factory, request, blocks):
    root = str(tmp_path_factory.mktemp("blocks_dashboard"))
    with tf.summary.create_file_writer(os.path.join(root, "blocks")).as_default(step=0):
        assert blocks.write(class_names=NAMES)
    return browser.start_tensorboard(root, request, lambda runs: bool(runs.get("blocks", {}).get("tags")),
                                     "tensorboard_blocks.log")


def test_hover_shows_the_dictionary_and_a_group_click_paints_it(server, screenshots, blocks):
    with browser.open_dashboard(server) as (page, frame, events):
        frame.wait_for_function("() => { const c = document.querySelector('canvas.kv-blocks-groups-picture');"
                                " return c && c.dataset.painted === '-1'; }")
        assert frame.eval_on_selector(".kv-tab[aria-selected='true']", "t => t.textContent") == "Building blocks"
        values = frame.eval_on_selector_all(".kv-blocks-group .kv-blocks-value", "vs => vs.map(v => v.textContent)")
        assert len(values) == 3
        for j, text in enumerate(values):
            assert text.startswith(f"group {j}: ")
            assert abs(float(text.split(": ")[1]) - blocks.group_attribution[j]) <= 0.01 * np.abs(
                blocks.group_attribution).max() + 1e-3
        canvas = frame.locator("canvas.kv-blocks-groups-picture")
        box = canvas.bounding_box()
        for y, x in [(2, 13), (10, 4)]:
            canvas.hover(position={"x": (x + 0.5) * box["width"] / SIZE, "y": (y + 0.5) * box["height"] / SIZE})
            frame.wait_for_function("p => document.querySelector('.kv-blocks-dictionary').dataset.position === p",
                                    arg=f"{y},{x}")
            listed = frame.eval_on_selector_all(".kv-blocks-entry", "es => es.map(e => Number(e.dataset.channel))")
            assert listed == blocks.top_channels[y, x].tolist()
            assert frame.locator(".kv-blocks-entry img").count() == sum(
                c in blocks.channels for c in blocks.top_channels[y, x])
        frame.click(".kv-blocks-group[data-group='2']")
        assert frame.eval_on_selector("canvas.kv-blocks-groups-picture", "c => c.dataset.painted") == "2"
        assert f"explaining {blocks.target}: {NAMES[blocks.target]}" in frame.inner_text(".kv-blocks-record")
        browser.shot(page, screenshots, "blocks_view.png")
        frame.click(".kv-blocks-group[data-group='2']")
        assert frame.eval_on_selector("canvas.kv-blocks-groups-picture", "c => c.dataset.painted") == "-1"
        assert events["errors"] == [] and events["dialogs"] == []
        assert frame.locator(".kv-blocks-record b").count() == 0  # names stay text
