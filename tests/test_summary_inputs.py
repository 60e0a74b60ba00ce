"""Multi-input attribution records (`kerasviz.summary.write_attribution` with one array per input).

Read back from the event files, and served by the real plugin over TensorBoard's
Python data provider: one series per input with maps, in the single-input
record format the existing view reads, plus the header keys naming the input.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import summary
from tb_plugin import metadata
from tests.helpers.events import read_events, steps
from tests.helpers.providers import plugin_client, python_provider

SIZE, SIDE, N = 8, 3, 2


def two_inputs():
    """`{"image": [N, 8, 8, 3], "side": [N, 3]}`, known values."""
    rng = np.random.default_rng(0)
    return {"image": rng.uniform(0, 1, (N, SIZE, SIZE, 3)).astype(np.float32),
            "side": rng.normal(0, 1, (N, SIDE)).astype(np.float32)}


def read_record(run_dir, tag, step=0):
    for event_step, value, _ in read_events(run_dir)[tag]:
        if event_step == step:
            blobs = tf.make_ndarray(value.tensor)
            return metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1])
    raise AssertionError(f"no record at step {step} for {tag}")


def test_a_dict_writes_one_series_per_input_with_maps(tmp_path):
    images = two_inputs()
    maps = {"image": np.arange(N * SIZE * SIZE, dtype=np.float32).reshape(N, SIZE, SIZE),
            "side": np.array([[0.5, -1.0, 0.0], [2.0, 0.0, -3.0]], np.float32)}
    with tf.summary.create_file_writer(str(tmp_path)).as_default(step=3):
        assert summary.write_attribution("saliency", images, maps, labels=[1, 0], predictions=[1, 1],
                                         metrics={"deletion_auc": 0.25})
    found = steps(read_events(str(tmp_path)))
    assert found == {"kerasviz/attribution/saliency/input.image": [3],
                     "kerasviz/attribution/saliency/input.image/overlay": [3],
                     "kerasviz/attribution/saliency/input.side": [3],
                     "kerasviz/attribution/saliency/deletion_auc": [3]}
    header, arrays = read_record(str(tmp_path), "kerasviz/attribution/saliency/input.image", 3)
    assert (header["input"], header["input_kind"], header["inputs"]) == ("image", "image", ["image", "side"])
    assert header["labels"] == [1, 0] and header["value_range"] == [0.0, 1.0]
    assert sorted(arrays) == ["images", "maps"]
    np.testing.assert_array_equal(arrays["images"], np.round(images["image"] * 255).astype(np.uint8))
    np.testing.assert_allclose(arrays["maps"], maps["image"], rtol=1e-3)
    header, arrays = read_record(str(tmp_path), "kerasviz/attribution/saliency/input.side", 3)
    assert (header["input"], header["input_kind"], header["value_range"]) == ("side", "vector", None)
    assert sorted(arrays) == ["attributions", "values"]
    np.testing.assert_allclose(arrays["attributions"], maps["side"], rtol=1e-3)
    np.testing.assert_allclose(arrays["values"], images["side"], rtol=1e-3)


def test_an_input_held_fixed_writes_nothing_and_a_list_names_inputs_by_position(tmp_path):
    images = two_inputs()
    with tf.summary.create_file_writer(str(tmp_path)).as_default(step=0):
        summary.write_attribution("saliency", [images["image"], images["side"]],
                                  [np.ones((N, SIZE, SIZE), np.float32), None])
    assert sorted(steps(read_events(str(tmp_path)))) == ["kerasviz/attribution/saliency/input.input_0",
                                                         "kerasviz/attribution/saliency/input.input_0/overlay"]
    header, _ = read_record(str(tmp_path), "kerasviz/attribution/saliency/input.input_0")
    assert header["inputs"] == ["input_0"]


def test_a_single_input_call_writes_what_it_always_wrote(tmp_path):
    images = two_inputs()["image"]
    with tf.summary.create_file_writer(str(tmp_path)).as_default(step=0):
        summary.write_attribution("saliency", list(images), np.ones((N, SIZE, SIZE)))  # a list of images: one batch
    header, arrays = read_record(str(tmp_path), "kerasviz/attribution/saliency")
    assert "input" not in header and sorted(arrays) == ["images", "maps"]


def test_a_real_multi_input_result_is_served_by_the_plugin_as_the_existing_view_reads_it(tmp_path):
    keras.utils.set_random_seed(0)
    image, side = keras.Input((SIZE, SIZE, 3), name="image"), keras.Input((SIDE,), name="side")
    hidden = keras.layers.Concatenate()([keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(image)), side])
    model = keras.Model({"image": image, "side": side}, keras.layers.Dense(3, activation="softmax")(hidden))
    images = two_inputs()
    maps = kerasviz.saliency(model, images, attribute="all")
    assert sorted(maps) == ["image", "side"]
    run = os.path.join(str(tmp_path), "run")
    with tf.summary.create_file_writer(run).as_default(step=1):
        summary.write_attribution("saliency", images, maps, value_range={"image": (0.0, 1.0)})
    client = plugin_client(python_provider(str(tmp_path)), str(tmp_path))
    runs = json.loads(client.get("/data/plugin/kerasviz/runs").get_data())["runs"]
    tags = {t["tag"]: t["method"] for t in runs[0]["tags"]}
    assert tags == {"kerasviz/attribution/saliency/input.image": "saliency",
                    "kerasviz/attribution/saliency/input.side": "saliency"}
    answer = client.get("/data/plugin/kerasviz/record", query_string={
        "run": "run", "tag": "kerasviz/attribution/saliency/input.image", "step": 1})
    record = json.loads(answer.get_data())
    assert record["arrays"]["images"]["encoding"] == "image" and record["arrays"]["maps"]["shape"] == [N, SIZE, SIZE]
    picture = client.get("/data/plugin/kerasviz/image", query_string={
        "run": "run", "tag": "kerasviz/attribution/saliency/input.image", "step": 1, "index": 1})
    assert picture.status_code == 200 and picture.headers["Content-Type"] == "image/png"
    side = json.loads(client.get("/data/plugin/kerasviz/record", query_string={
        "run": "run", "tag": "kerasviz/attribution/saliency/input.side", "step": 1}).get_data())
    assert side["header"]["input_kind"] == "vector" and side["arrays"]["attributions"]["shape"] == [N, SIDE]
    lo, hi = side["arrays"]["attributions"]["lo"][0], side["arrays"]["attributions"]["hi"][0]
    assert lo == pytest.approx(maps["side"].min(), rel=2e-3) and hi == pytest.approx(maps["side"].max(), rel=2e-3)


def test_mismatched_inputs_and_maps_name_the_argument(tmp_path):
    images = two_inputs()
    with tf.summary.create_file_writer(str(tmp_path)).as_default(step=0):
        with pytest.raises(TypeError, match="`maps`"):
            summary.write_attribution("saliency", images, [np.ones((N, SIZE, SIZE)), None])
        with pytest.raises(ValueError, match="'other'"):
            summary.write_attribution("saliency", images, {"other": np.ones((N, SIZE, SIZE))})
        with pytest.raises(ValueError, match=r"\[N, h, w\]"):
            summary.write_attribution("saliency", images, {"image": np.ones((N, SIZE, SIZE, 3))})
        with pytest.raises(ValueError, match="same number of examples"):
            summary.write_attribution("saliency", images, {"image": np.ones((N + 1, SIZE, SIZE))})
        with pytest.raises(ValueError, match="no maps"):
            summary.write_attribution("saliency", images, {})
