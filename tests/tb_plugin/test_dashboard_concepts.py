"""The Concepts tab (CRAFT) in a real browser, over a real record: a planted model whose class reads red only.

The model's layer "colours" copies the R, G and B channels and its class 0
is the mean of R; the images are black with a red, a green and a blue
square. `inside.craft_concepts` finds the three colours, `concept_importance`
gives the red concept the importance, and `inside.write_concepts` records
them: the tab must rank the red concept first, show its patches (red ones)
and, for the chosen concept, a map that peaks on the image's square of that
colour. Screenshots go to `$KERASVIZ_SCREENSHOTS` (default: a temporary directory).
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz import inside
from tb_plugin import metadata
from tests.helpers import browser
from tests.helpers.browser import image_pixels
from tests.helpers.events import read_events

pytestmark = browser.MARKS

SIZE, SIDE = 24, 6


def planted():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(3, 1, activation="relu", use_bias=False, name="colours")(inputs)
    outputs = keras.layers.Dense(2, use_bias=False, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.get_layer("colours").set_weights([np.eye(3, dtype=np.float32)[None, None]])
    model.layers[-1].set_weights([np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], np.float32)])
    return model


def squares(n=8, seed=0):
    """Black images with a red, a green and a blue square, each in its own quadrant; their top-left corners."""
    rng = np.random.default_rng(seed)
    images, where, half = np.zeros((n, SIZE, SIZE, 3), np.float32), np.zeros((n, 3, 2), int), SIZE // 2
    for i in range(n):
        for colour, quadrant in enumerate(rng.permutation(4)[:3]):
            top = half * (quadrant // 2) + rng.integers(0, half - SIDE + 1)
            left = half * (quadrant % 2) + rng.integers(0, half - SIDE + 1)
            images[i, top:top + SIDE, left:left + SIDE, colour] = 1.0
            where[i, colour] = top, left
    return images, where


@pytest.fixture(scope="module")
def concepts():
    keras.backend.clear_session()
    model = planted()
    images, where = squares()
    bank = inside.craft_concepts(model, images, "colours", 3, patch_size=8, value_range=(0, 1))
    importance = inside.concept_importance(model, images, bank, 0, designs=16, value_range=(0, 1))
    maps = inside.concept_maps(model, images[:3], bank, importance, value_range=(0, 1))
    red = int(np.argmax(bank.bank[:, 0]))
    rng = np.random.default_rng(3)
    reds = np.zeros((12, SIZE, SIZE, 3), np.float32)
    reds[..., 0] = rng.uniform(0.5, 1.0, (12, SIZE, SIZE))  # red everywhere, against random colours
    randoms = [rng.uniform(0, 1, (12, SIZE, SIZE, 3)).astype(np.float32) for _ in range(3)]
    test = inside.tcav_significance(model, images, "colours", reds, randoms, target=0, value_range=(0, 1))
    return images, where, bank, importance, maps, red, test


@pytest.fixture(scope="module")
def server(tmp_path_factory, request, concepts):
    images, _, bank, importance, maps, _, test = concepts
    root = str(tmp_path_factory.mktemp("concepts_dashboard"))
    with tf.summary.create_file_writer(os.path.join(root, "craft")).as_default(step=0):
        assert inside.write_concepts(images, bank, importance, maps, class_names=["<i>red</i>", "other"], patches=3)
        assert inside.write_tcav({("red", 0): test}, layer="colours", class_names=["<i>red</i>", "other"])
    return browser.start_tensorboard(root, request, lambda runs: bool(runs.get("craft", {}).get("tags")),
                                     "tensorboard_concepts.log")


def test_the_record_holds_the_concepts(tmp_path, concepts):
    images, _, bank, importance, maps, red, _ = concepts
    with tf.summary.create_file_writer(str(tmp_path)).as_default(step=1):
        assert inside.write_concepts(images, bank, importance, maps, patches=2)
    [(_, value, _)] = read_events(str(tmp_path))["kerasviz/concepts/class_0"]
    blobs = tf.make_ndarray(value.tensor)
    header, arrays = metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1])
    assert header["target"] == 0 and header["layer"] == "colours" and header["patches_per_concept"] == 2
    np.testing.assert_allclose(arrays["total"], importance.total, atol=1e-3)
    crops = arrays["crops"].reshape(3, 2, 8, 8, 3)
    assert (crops[red][..., 0] > 128).any(axis=(1, 2)).all()  # the red concept's patches hold red
    assert arrays["maps"].shape == (3, 3, SIZE, SIZE) and arrays["images"].shape == (3, SIZE, SIZE, 3)
    with pytest.raises(ValueError, match="maps"):
        inside.write_concepts(images, bank, importance, maps[..., :2])


def test_red_ranks_first_and_a_concept_click_shows_where_it_is(server, screenshots, concepts):
    _, where, _, importance, _, red, test = concepts
    with browser.open_dashboard(server) as (page, frame, events):
        frame.wait_for_function("() => { const g = document.querySelector('.kv-concepts-maps');"
                                " return g && g.dataset.concept && document.querySelectorAll("
                                "'canvas.kv-concepts-map[data-painted]').length === 3; }")
        assert frame.eval_on_selector(".kv-tab[aria-selected='true']", "t => t.textContent") == "Concepts"
        ranked = frame.eval_on_selector_all(".kv-concepts-card", "cs => cs.map(c => Number(c.dataset.concept))")
        assert ranked == np.argsort(-importance.total, kind="stable").tolist() and ranked[0] == red
        assert "0: <i>red</i>" in frame.inner_text(".kv-concepts-record")
        patch = np.array(image_pixels(frame, f".kv-concepts-card[data-concept='{red}'] img")).reshape(8, 8, 4)
        assert (patch[..., 0] > 128).any()
        frame.click(f".kv-concepts-card[data-concept='{ranked[-1]}']")  # another concept, then red again
        frame.wait_for_function("c => document.querySelector('.kv-concepts-maps').dataset.concept === c",
                                arg=str(ranked[-1]))
        frame.click(f".kv-concepts-card[data-concept='{red}']")
        peak = frame.eval_on_selector("canvas.kv-concepts-map[data-image='0']", """c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let best = -1, at = 0;
            for (let i = 0; i < c.width * c.height; i++) { const v = d[4*i] + d[4*i+1] + d[4*i+2];
              if (v > best) { best = v; at = i; } }
            return [Math.floor(at / c.width) * 24 / c.height, (at % c.width) * 24 / c.width]; }""")
        top, left = where[0, 0]  # the red square of image 0 (the maps of unimportant concepts are ~0: not drawn)
        assert top - 2 <= peak[0] <= top + SIDE + 2 and left - 2 <= peak[1] <= left + SIDE + 2, peak
        row = frame.eval_on_selector_all(".kv-tcav tr[data-concept='red'] td", "ds => ds.map(d => d.textContent)")
        assert row[0] == "red" and row[1] == "0: <i>red</i>" and row[5] == ("yes" if test.significant else "no")
        assert abs(float(row[2]) - test.score) < 1e-3 and test.score > 0.9 and test.significant  # the planted concept
        browser.shot(page, screenshots, "concepts_view.png")
        assert events["errors"] == [] and events["dialogs"] == []
        assert frame.locator(".kv-concepts-record i").count() == 0
