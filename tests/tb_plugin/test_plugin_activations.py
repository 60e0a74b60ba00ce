"""The plugin's routes on activations records (filters, embeddings, top patches).

Real event files written by `tests/helpers/records.py` and `damaged.py` (tags
`kerasviz/activations/<method>/<layer>`), served by TensorBoard's own WSGI app over both data providers (the Python
multiplexer and the Rust data server) and queried with a werkzeug client:
`/record` describes each array, `/picture` draws a filter grid, `/sprite` tiles
thumbnails and crops. Damaged records answer 404, never 500.
"""

import io
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tb_plugin import plugin
from tests.helpers import damaged, providers, records

STEPS, N, K = 3, 48, 5
FILTERS = records.activations_tag("filters", "conv1")
FILTERS2 = records.activations_tag("filters", "block/conv2")
EMB = records.activations_tag("embeddings", "fc")
PATCHES = records.activations_tag("top_patches", "conv2")
SERIES = 4 + 3 + 1  # acts, damaged, big


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("activations"))
    records.write_activations_run(os.path.join(root, "acts"), steps=STEPS, n=N, k=K)
    damaged.write_damaged_activations(os.path.join(root, "damaged"))
    # 400 thumbnails: a sprite of 1 column would be too tall
    writer = tf.summary.create_file_writer(os.path.join(root, "big"))
    header, arrays = records.embeddings_record(0, n=400, k=2)
    records.write_record(writer, "activations", "embeddings", header, arrays, 0, "fc")
    writer.close()
    return root


@pytest.fixture(scope="module", params=["python", "rust"])
def client(request, logdir):
    if request.param == "python":
        provider = providers.python_provider(logdir)
    else:
        provider = providers.rust_provider(logdir, request, expected=SERIES)
    return providers.plugin_client(provider, logdir)


def get(client, route, **params):
    return client.get("/data/plugin/kerasviz/" + route, query_string=params)


def get_json(client, route, **params):
    response = get(client, route, **params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data())


def get_png(client, route, **params):
    response = get(client, route, **params)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.get_data())))


def dequantize(encoded):
    shape = encoded["shape"]
    q = np.asarray(encoded["data"], np.float64).reshape((-1,) + tuple(shape[-2:]))
    lo, hi = np.asarray(encoded["lo"])[:, None, None], np.asarray(encoded["hi"])[:, None, None]
    step = (np.asarray(encoded["hi"]) - np.asarray(encoded["lo"])).max() / 510
    return (lo + q / 255 * (hi - lo)).reshape(shape), step


def tile(items, columns):
    rows = -(-len(items) // columns)
    h, w = items.shape[1:3]
    sheet = np.zeros((rows * h, columns * w) + items.shape[3:], np.uint8)
    for i, item in enumerate(items):
        sheet[i // columns * h:(i // columns + 1) * h, i % columns * w:(i % columns + 1) * w] = item
    return sheet


def test_runs_list_one_series_per_method_and_layer(client):
    runs = {run["name"]: run for run in get_json(client, "runs")["runs"]}
    assert [(t["tag"], t["family"], t["method"], t["max_step"]) for t in runs["acts"]["tags"]] == [
        (EMB, "activations", "embeddings", STEPS - 1), (FILTERS2, "activations", "filters", STEPS - 1),
        (FILTERS, "activations", "filters", STEPS - 1), (PATCHES, "activations", "top_patches", STEPS - 1)]
    assert FILTERS2.endswith("/filters/block__conv2")
    assert [t["layer"] for t in runs["acts"]["tags"]] == ["fc", "block/conv2", "conv1", "conv2"]  # "__" read back as "/"
    assert [s["step"] for s in get_json(client, "steps", run="acts", tag=EMB)["steps"]] == list(range(STEPS))


@pytest.mark.parametrize("tag,layer,channels", [(FILTERS, "conv1", 3), (FILTERS2, "block/conv2", 8)])
def test_filter_grid_record_and_picture(client, tag, layer, channels):
    header, arrays = records.filters_record(1, STEPS, layer, filters=16 if channels == 3 else 12, channels=channels)
    body = get_json(client, "record", run="acts", tag=tag, step=1)
    assert body["header"]["kernel_shape"] == header["kernel_shape"] and body["header"]["layer"] == layer
    assert body["header"]["description"] == header["description"]
    grid = arrays["grid"]
    assert body["arrays"]["grid"] == {"shape": list(grid.shape), "dtype": "uint8", "encoding": "image"}
    picture = get_png(client, "picture", run="acts", tag=tag, step=1, array="grid")
    np.testing.assert_array_equal(picture, grid if grid.shape[-1] == 3 else grid[..., 0])
    other = get_png(client, "picture", run="acts", tag=tag, step=0, array="grid")
    assert other.shape == picture.shape and not np.array_equal(other, picture)  # the filters change over steps


def test_embeddings_record_coords_neighbours_and_thumbnail_sprite(client):
    header, arrays = records.embeddings_record(2, STEPS, n=N, k=K)
    body = get_json(client, "record", run="acts", tag=EMB, step=2)
    for key in ("labels", "predictions", "class_names", "projection", "projector_run", "layer"):
        assert body["header"][key] == header[key]
    assert body["header"]["probabilities"] == pytest.approx(header["probabilities"])
    coords, tolerance = dequantize(body["arrays"]["coords"])
    assert coords.shape == (N, 2)
    np.testing.assert_allclose(coords, arrays["coords"], atol=tolerance + 2e-3 * np.abs(arrays["coords"]).max())
    neighbors = body["arrays"]["neighbors"]
    assert neighbors["encoding"] == "raw" and neighbors["shape"] == [N, K]
    assert np.array_equal(np.reshape(neighbors["data"], (N, K)), arrays["neighbors"])
    assert body["arrays"]["thumbnails"] == {"shape": [N, 24, 24, 3], "dtype": "uint8", "encoding": "image"}

    columns = math.ceil(math.sqrt(N))
    sprite = get_png(client, "sprite", run="acts", tag=EMB, step=2, array="thumbnails")
    np.testing.assert_array_equal(sprite, tile(arrays["thumbnails"], columns))
    assert sprite.shape == (7 * 24, 7 * 24, 3)
    wide = get_png(client, "sprite", run="acts", tag=EMB, step=2, array="thumbnails", columns=10)
    np.testing.assert_array_equal(wide, tile(arrays["thumbnails"], 10))
    one = get_png(client, "sprite", run="acts", tag=EMB, step=2, array="thumbnails", index=5)
    np.testing.assert_array_equal(one, arrays["thumbnails"][5])


def test_top_patches_record_and_crop_sprites(client):
    header, arrays = records.patches_record(1)
    body = get_json(client, "record", run="acts", tag=PATCHES, step=1)
    assert body["header"]["channels"] == header["channels"]
    assert body["header"]["receptive_field"] == {"size": [11, 11], "stride": [2, 2]}
    patches = arrays["patches"]
    assert body["arrays"]["patches"] == {"shape": list(patches.shape), "dtype": "uint8", "encoding": "sprite"}
    scores, tolerance = dequantize(body["arrays"]["scores"])
    np.testing.assert_allclose(scores, arrays["scores"], atol=tolerance + 2e-3 * arrays["scores"].max())
    for name in ("boxes", "image_index"):
        assert np.array_equal(np.reshape(body["arrays"][name]["data"], arrays[name].shape), arrays[name])
    C, k, h, w, _ = patches.shape
    sheet = get_png(client, "sprite", run="acts", tag=PATCHES, step=1, array="patches", columns=k)
    assert sheet.shape == (C * h, k * w, 3)
    np.testing.assert_array_equal(sheet, tile(patches.reshape(C * k, h, w, 3), k))  # row c = channel c
    row = get_png(client, "sprite", run="acts", tag=PATCHES, step=1, array="patches", columns=k, index=2)
    np.testing.assert_array_equal(row, np.concatenate(list(patches[2]), axis=1))


@pytest.mark.parametrize("route,params", [
    ("picture", {"run": "acts", "tag": FILTERS, "step": "0"}),
    ("picture", {"run": "acts", "tag": FILTERS, "step": "0", "array": "../grid"}),
    ("sprite", {"run": "acts", "tag": EMB, "step": "0", "array": "thumbnails", "columns": "0"}),
    ("sprite", {"run": "acts", "tag": EMB, "step": "0", "array": "thumbnails", "columns": "1.5"}),
    ("sprite", {"run": "acts", "tag": EMB, "step": "0", "array": "thumbnails", "index": "-1"}),
    ("sprite", {"run": "acts/../..", "tag": EMB, "step": "0", "array": "thumbnails"}),
    ("sprite", {"run": "big", "tag": EMB, "step": "0", "array": "thumbnails", "columns": "1"}),  # 9600 px tall
])
def test_bad_arguments_answer_400(client, route, params):
    response = get(client, route, **params)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("route,params,message", [
    ("picture", {"run": "acts", "tag": EMB, "step": "0", "array": "thumbnails"}, "is not one image"),
    ("picture", {"run": "acts", "tag": EMB, "step": "0", "array": "coords"}, "no uint8 array"),
    ("sprite", {"run": "acts", "tag": EMB, "step": "0", "array": "nope"}, "no uint8 array"),
    ("sprite", {"run": "acts", "tag": EMB, "step": "0", "array": "thumbnails", "index": str(N)}, "out of range"),
    ("sprite", {"run": "acts", "tag": EMB, "step": "9", "array": "thumbnails"}, "no record at step 9"),
    ("picture", {"run": "damaged", "tag": FILTERS, "step": "1", "array": "grid"}, "no uint8 array"),  # a float grid
    ("picture", {"run": "damaged", "tag": FILTERS, "step": "2", "array": "grid"}, "Damaged kerasviz record arrays"),
    ("sprite", {"run": "damaged", "tag": FILTERS, "step": "2", "array": "grid"}, "Damaged kerasviz record arrays"),
])
def test_missing_or_damaged_data_answers_404_never_500(client, route, params, message):
    response = get(client, route, **params)
    assert response.status_code == 404 and message in response.get_data(as_text=True), response.get_data(as_text=True)


def test_damaged_records_are_still_described(client):
    # The plugin does not judge a record's meaning; the views check shapes and say what is wrong.
    body = get_json(client, "record", run="damaged", tag=EMB, step=1)
    assert len(body["header"]["labels"]) == 5 and body["arrays"]["coords"]["shape"] == [12, 2]
    patches = get_json(client, "record", run="damaged", tag=PATCHES, step=0)["arrays"]["patches"]
    assert patches["shape"] == [4, 6, 11] and patches["encoding"] == "image"  # rank 3: not crops [C, k, h, w, ch]
    assert get(client, "record", run="damaged", tag=FILTERS, step=2).status_code == 404


@pytest.mark.parametrize(
    "name", ["activations", "toolkit", "filters", "embeddings", "embeddings_parts", "embeddings_plot", "embeddings_tiles",
             "embeddings_panel", "patches"])
def test_view_modules_are_served_as_javascript(client, name):
    response = get(client, f"views/{name}.js")
    assert response.status_code == 200 and response.headers["Content-Type"].split(";")[0] == "text/javascript"
    with open(os.path.join(os.path.dirname(plugin.__file__), "static", "views", f"{name}.js"), "rb") as handle:
        assert response.get_data() == handle.read()
