"""Tests for kerasviz.summary: event files read back, records decoded, the real projector plugin asked."""

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins import base_plugin
from tensorboard.plugins.image.images_plugin import ImagesPlugin
from werkzeug import test as werkzeug_test

from kerasviz import image, summary
from tb_plugin import metadata
from tests.helpers.events import read_events, steps
from tests.helpers.providers import projector_client


def test_write_record_round_trip(tmp_path):
    maps = np.random.default_rng(0).uniform(-2, 2, (2, 5, 6)).astype(np.float32)
    pixels = np.arange(2 * 5 * 6 * 3, dtype=np.uint8).reshape(2, 5, 6, 3)
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default(step=7):
        assert summary.write_record("attribution", "saliency", {"params": {"a": 1}}, {"maps": maps, "images": pixels})
    writer.close()
    events = read_events(str(tmp_path))
    assert steps(events) == {"kerasviz/attribution/saliency": [7]}
    _, value, meta = events["kerasviz/attribution/saliency"][0]
    assert meta.plugin_data.plugin_name == metadata.PLUGIN_NAME
    assert meta.data_class == summary_pb2.DATA_CLASS_BLOB_SEQUENCE
    assert metadata.parse_plugin_content(meta.plugin_data.content) == {
        "version": metadata.SCHEMA_VERSION, "family": "attribution", "method": "saliency"}
    blobs = tf.make_ndarray(value.tensor)
    assert blobs.shape == (2,)
    header, arrays = metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1])
    assert header == {"version": 1, "family": "attribution", "method": "saliency", "params": {"a": 1}}
    np.testing.assert_array_equal(arrays["images"], pixels)
    np.testing.assert_allclose(arrays["maps"], maps, atol=2e-3)


def test_nothing_is_encoded_unless_a_writer_records(tmp_path):
    unencodable = {"oops": object()}  # json.dumps would raise TypeError
    assert summary.write_record("attribution", "saliency", unencodable, {}) is False
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default(step=0), tf.summary.record_if(False):
        assert summary.write_record("attribution", "saliency", unencodable, {}) is False
        assert summary.write_attribution("saliency", np.zeros((1, 4, 4, 3)), np.zeros((1, 4, 4))) is False
    with writer.as_default(step=0), pytest.raises(TypeError):
        summary.write_record("attribution", "saliency", unencodable, {})


def test_write_attribution_writes_image_tab_record_and_scalars(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.uniform(-1, 1, (3, 8, 8, 3)).astype(np.float32)
    maps = rng.uniform(0, 1, (3, 4, 4)).astype(np.float32)  # an occlusion grid: coarser than the images
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step in (2, 5):
            summary.write_attribution(
                "occlusion", images, maps, step=step, params={"patch": 4, "stride": 2}, target="class 1",
                class_names=["a", "b"], labels=[0, 1, 1], predictions=[1, 1, 0],
                true_probability=[0.2, 0.7, 0.4], predicted_probability=[0.8, 0.7, 0.6],
                value_range=(-1, 1), metrics={"deletion_auc": 0.25, "insertion_auc": 0.75}, lower_is_important=True)
    writer.close()
    events = read_events(str(tmp_path))
    prefix = "kerasviz/attribution/occlusion"
    assert steps(events) == {prefix: [2, 5], prefix + "/overlay": [2, 5],
                             prefix + "/deletion_auc": [2, 5], prefix + "/insertion_auc": [2, 5]}
    assert float(tf.make_ndarray(events[prefix + "/insertion_auc"][0][1].tensor)) == 0.75
    # No direction given: the scalars' descriptions say none.
    assert metadata.metric_direction(events[prefix + "/deletion_auc"][0][2].summary_description) is None
    # Image tab: one PNG, the maps overlaid on the images in a row, 2 px apart.
    _, value, meta = events[prefix + "/overlay"][0]
    assert meta.plugin_data.plugin_name == "images"
    width, height, png = tf.make_ndarray(value.tensor)
    tile = np.asarray(Image.open(io.BytesIO(png)))
    assert (int(width), int(height)) == (3 * 8 + 2 * 2, 8) and tile.shape == (8, 28, 3)
    shown = image.to_uint8(image.to_display(images, (-1, 1)))
    expected = image.to_uint8(image.overlay(image.to_display(images, (-1, 1)), image.normalize(-maps)))
    np.testing.assert_array_equal(tile[:, 20:28], expected[2])
    # The record: raw data for the dashboard.
    blobs = tf.make_ndarray(events[prefix][1][1].tensor)
    header, arrays = metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1])
    assert header == {
        "version": 1, "family": "attribution", "method": "occlusion", "params": {"patch": 4, "stride": 2},
        "layer": None, "target": "class 1", "class_names": ["a", "b"], "labels": [0, 1, 1],
        "predictions": [1, 1, 0], "true_probability": [0.2, 0.7, 0.4],
        "predicted_probability": [0.8, 0.7, 0.6], "value_range": [-1.0, 1.0], "lower_is_important": True,
        "grid": None}
    np.testing.assert_array_equal(arrays["images"], shown)
    np.testing.assert_allclose(arrays["maps"], maps, atol=1e-3)


def test_image_tab_served_by_the_real_images_plugin(tmp_path):
    images = np.random.default_rng(3).uniform(0, 1, (2, 6, 5, 3)).astype(np.float32)
    writer = tf.summary.create_file_writer(str(tmp_path / "run"))
    with writer.as_default():
        for step in (0, 1):
            summary.write_attribution("saliency", images, np.ones((2, 6, 5)) * step, step=step)
    writer.close()
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(tmp_path))
    plugin = ImagesPlugin(base_plugin.TBContext(data_provider=provider, logdir=str(tmp_path)))
    client = werkzeug_test.Client(application.TensorBoardWSGI([plugin], data_provider=provider))
    tags = json.loads(client.get("/data/plugin/images/tags").data)
    assert list(tags) == ["run"] and list(tags["run"]) == ["kerasviz/attribution/saliency/overlay"]
    response = client.get("/data/plugin/images/images?run=run&tag=kerasviz/attribution/saliency/overlay&sample=0")
    entries = json.loads(response.data)
    assert [e["step"] for e in entries] == [0, 1]
    png = client.get("/data/plugin/images/individualImage?" + entries[1]["query"])
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert np.asarray(Image.open(io.BytesIO(png.data))).shape == (6, 12, 3)


def test_journal_records_what_tf_summary_would_write(tmp_path):
    images = np.random.default_rng(2).uniform(0, 1, (2, 6, 6, 3)).astype(np.float32)
    maps = np.random.default_rng(3).uniform(0, 1, (2, 6, 6)).astype(np.float32)
    arguments = dict(step=4, params={"a": 1}, metrics={"deletion_auc": 0.25})
    writer = tf.summary.create_file_writer(str(tmp_path / "tf"))
    with writer.as_default():
        summary.write_attribution("saliency", images, maps, **arguments)
    writer.close()
    entries = []
    with summary.journal(entries):
        assert summary.recording()
        summary.write_attribution("saliency", images, maps, **arguments)
    assert not summary.recording()
    expected = read_events(str(tmp_path / "tf"))
    assert [(tag, step) for tag, step, _ in entries] == [(tag, 4) for tag in expected]
    for tag, step, serialized in entries:
        value = event_pb2.Event.FromString(serialized).summary.value[0]
        _, want, want_meta = expected[tag][0]
        assert value.metadata.SerializeToString() == want_meta.SerializeToString()
        np.testing.assert_array_equal(tf.make_ndarray(value.tensor), tf.make_ndarray(want.tensor))


def test_write_embeddings_seen_by_the_projector_plugin(tmp_path):
    rng = np.random.default_rng(2)
    features = rng.normal(size=(5, 3)).astype(np.float32)
    images = rng.uniform(0, 255, (5, 6, 4, 3)).astype(np.float32)
    run = str(tmp_path / "kerasviz")
    summary.write_embeddings(run, features, [0, 1, 2, 0, 1], predictions=[0, 0, 2, 2, 1], images=images,
                             class_names=["tab\tcat", "new\nline", "back\\slash"], step=3, value_range=(0, 255))
    summary.write_embeddings(run, features[:, :2] * 0, ["x"] * 5, name="conv")  # a second embedding, one column
    summary.write_embeddings(run, features * 2, [0, 1, 2, 0, 1], images=images, class_names="abc", step=4,
                             value_range=(0, 255))  # replaces "fc"
    client = projector_client(str(tmp_path))
    fc, conv = "fc/.ATTRIBUTES/VARIABLE_VALUE", "conv/.ATTRIBUTES/VARIABLE_VALUE"
    response = client.get("/data/plugin/projector/runs")
    assert response.status_code == 200 and json.loads(response.data) == ["kerasviz"]
    info = json.loads(client.get("/data/plugin/projector/info?run=kerasviz").data)
    shapes = {e["tensorName"]: e["tensorShape"] for e in info["embeddings"]}
    assert shapes == {fc: [5, 3], conv: [5, 2]}
    assert all(not os.path.isabs(e.get("metadataPath", "")) for e in info["embeddings"])
    response = client.get(f"/data/plugin/projector/tensor?run=kerasviz&name={fc}")
    assert response.status_code == 200
    np.testing.assert_array_equal(np.frombuffer(response.data, np.float32).reshape(5, 3), features * 2)
    response = client.get(f"/data/plugin/projector/metadata?run=kerasviz&name={conv}")
    assert response.status_code == 200 and response.data == b"x\nx\nx\nx\nx\n"
    response = client.get(f"/data/plugin/projector/sprite_image?run=kerasviz&name={fc}")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    grid = np.asarray(Image.open(io.BytesIO(response.data)))
    assert grid.shape == (3 * 6, 3 * 4, 3)  # ceil(sqrt(5)) = 3 thumbnails a side, [w, h] = [4, 6]
    np.testing.assert_array_equal(grid[6:12, 0:4], image.to_uint8(images[3] / 255))
    assert [e["sprite"]["singleImageDim"] for e in info["embeddings"] if e["tensorName"] == fc] == [[4, 6]]


def test_embedding_metadata_escaping_and_header(tmp_path):
    run = str(tmp_path / "run")
    summary.write_embeddings(run, np.ones((3, 2)), [0, 1, 2], predictions=[2, 1, 0],
                             class_names=["tab\tcat", "new\nline", "back\\slash"])
    client = projector_client(str(tmp_path))
    response = client.get("/data/plugin/projector/metadata?run=run&name=fc/.ATTRIBUTES/VARIABLE_VALUE")
    assert response.status_code == 200
    assert response.data.decode().split("\n") == [
        "label\tprediction", "tab\\tcat\tback\\\\slash", "new\\nline\tnew\\nline", "back\\\\slash\ttab\\tcat", ""]


def test_sprite_fits_in_8192_pixels(tmp_path):
    run = str(tmp_path / "run")
    tall = np.zeros((4, 4200, 3, 1), np.float32)  # a 2 x 2 grid of 4200 px tall thumbnails
    summary.write_embeddings(run, np.ones((4, 2)), None, images=tall)
    sprite = Image.open(os.path.join(run, "sprite_fc.png"))
    assert max(sprite.size) <= summary.MAX_SPRITE_SIZE
    config = open(os.path.join(run, summary.PROJECTOR_FILENAME)).read()
    width, height = (sprite.size[0] // 2, sprite.size[1] // 2)
    assert f"single_image_dim: {width}\n    single_image_dim: {height}" in config
    assert not os.path.exists(os.path.join(run, "metadata_fc.tsv"))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(name="a/b"), ValueError, "`name`"),
    (dict(features=np.ones(4)), ValueError, "`features`"),
    (dict(features=np.full((4, 2), np.nan)), ValueError, "`features`"),
    (dict(labels=[0, 1]), ValueError, "`labels`"),
    (dict(labels=[0, 1, 2, 5], class_names="abc"), ValueError, "`labels`"),
    (dict(predictions=[0.5] * 4, class_names="abc"), ValueError, "`predictions`"),
    (dict(images=np.zeros((3, 4, 4, 3))), ValueError, "`images`"),
])
def test_write_embeddings_argument_errors(tmp_path, kwargs, error, match):
    arguments = dict(features=np.ones((4, 2)), labels=[0, 1, 2, 0])
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        summary.write_embeddings(str(tmp_path / "run"), **arguments)
    assert not os.path.exists(tmp_path / "run")


def test_metric_scalars_say_which_way_is_better(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        summary.write_attribution("saliency", np.zeros((1, 4, 4, 3)), np.ones((1, 4, 4)), step=0,
                                  metrics={"deletion_auc": 0.2, "insertion_auc": 0.7},
                                  higher_is_better={"deletion_auc": False, "insertion_auc": True})
    writer.close()
    events = read_events(str(tmp_path))
    prefix = "kerasviz/attribution/saliency"
    described = {name: events[f"{prefix}/{name}"][0][2].summary_description for name in ("deletion_auc", "insertion_auc")}
    assert described == {"deletion_auc": "deletion_auc of saliency: lower is better",
                         "insertion_auc": "insertion_auc of saliency: higher is better"}
    assert [metadata.metric_direction(described[k]) for k in ("deletion_auc", "insertion_auc")] == [False, True]
    assert metadata.metric_direction("a better metric") is None and metadata.metric_direction(None) is None
