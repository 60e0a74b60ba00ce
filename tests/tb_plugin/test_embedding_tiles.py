"""The level-of-detail routes of the embeddings view, against plain numpy.

`tb_plugin.embedding_tiles.TileIndex` checked by brute force (every tile holds
exactly the points whose coordinates fall in it, the lowest-priority ones,
and a tile's points are shown by its children too); then the routes
`/embedding_info`, `/embedding_tile`, `/embedding_point` and
`/embedding_thumbs` served by TensorBoard's own WSGI app over both data
providers, on a 6,000-point record written with real event files.
"""

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tb_plugin import embedding_tiles, metadata
from tests.helpers import providers, records

N, K, THUMB = 6000, 4, 6
EMB = records.activations_tag("embeddings", "fc")
FILTERS = records.activations_tag("filters", "conv1")


def big_record(n=N, k=K, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    coords = (rng.normal(size=(n, 2)) * [3.0, 1.0] + labels[:, None] * 2).astype(np.float32)
    coords[7] = [np.nan, 0.0]  # one point that cannot be drawn
    neighbors = rng.integers(0, n, (n, k)).astype(np.int32)
    neighbors[3, 0] = n + 5  # out of range: left out and counted
    predictions = np.where(rng.random(n) < 0.1, (labels + 1) % 4, labels)
    header = {"family": "activations", "method": "embeddings", "layer": "fc", "projection": "tsne",
              "class_names": records.SHAPE_NAMES, "labels": labels.tolist(), "predictions": predictions.tolist(),
              "probabilities": np.round(rng.random(n), 3).tolist(), "projector_run": None}
    thumbs = rng.integers(0, 256, (n, THUMB, THUMB, 3), dtype=np.uint8)
    return header, {"coords": coords, "neighbors": neighbors, "thumbnails": thumbs}


def in_tile(coords, level, tx, ty):
    """Brute force: which finite points fall in tile (level, tx, ty) of the finite points' bounding box."""
    finite = np.isfinite(coords).all(axis=1)
    lo, hi = coords[finite].min(axis=0).astype(np.float64), coords[finite].max(axis=0).astype(np.float64)
    side = 2**level
    cell = np.minimum(np.floor((coords.astype(np.float64) - lo) / (hi - lo) * side), side - 1)
    return finite & (cell[:, 0] == tx) & (cell[:, 1] == ty)


def test_tiles_partition_the_points_and_keep_the_lowest_priorities():
    coords = big_record()[1]["coords"]
    index = embedding_tiles.TileIndex(coords)
    priority = np.random.default_rng(0).permutation(N)  # the documented priority: one seeded permutation
    assert index.nonfinite == 1
    for level in (0, 1, 3):
        seen = np.zeros(N, int)
        for ty in range(2**level):
            for tx in range(2**level):
                chosen, total = index.tile(level, tx, ty, limit=300)
                members = np.flatnonzero(in_tile(coords, level, tx, ty))
                assert total == len(members)
                expected = members[np.argsort(priority[members])][:300]
                np.testing.assert_array_equal(chosen, expected)
                seen[members] += 1
                if level < 3 and total:  # zooming in only adds points: the children show these too
                    shown_below = np.concatenate([index.tile(level + 1, 2 * tx + a, 2 * ty + b, limit=300)[0]
                                                  for a in (0, 1) for b in (0, 1)])
                    assert set(chosen.tolist()) <= set(shown_below.tolist())
        assert seen[7] == 0 and (np.delete(seen, 7) == 1).all()


def test_a_constant_map_and_an_all_nan_map_do_not_break_the_index():
    same = embedding_tiles.TileIndex(np.ones((10, 2), np.float32))
    assert same.tile(0, 0, 0)[1] == 10 and same.tile(2, 0, 0)[1] == 10
    empty = embedding_tiles.TileIndex(np.full((4, 2), np.nan))
    assert empty.nonfinite == 4 and empty.tile(0, 0, 0)[1] == 0


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("embedding_tiles"))
    writer = tf.summary.create_file_writer(os.path.join(root, "big"))
    header, arrays = big_record()
    records.write_record(writer, "activations", "embeddings", header, arrays, 0, "fc")
    header, arrays = records.filters_record(0)
    records.write_record(writer, "activations", "filters", header, arrays, 0, "conv1")
    header, arrays = big_record(n=50)
    records.write_record(writer, "activations", "embeddings", header, dict(arrays, coords=arrays["coords"][:, :1]), 1,
                         "fc")
    bare = {k: v for k, v in header.items() if k not in ("labels", "predictions", "probabilities")}
    records.write_record(writer, "activations", "embeddings", bare, arrays, 2, "fc")
    writer.close()
    return root


@pytest.fixture(scope="module", params=["python", "rust"])
def client(request, logdir):
    if request.param == "python":
        provider = providers.python_provider(logdir)
    else:
        provider = providers.rust_provider(logdir, request, expected=2)
    return providers.plugin_client(provider, logdir)


def get(client, route, **params):
    return client.get("/data/plugin/kerasviz/" + route, query_string=params)


def get_json(client, route, **params):
    response = get(client, route, **params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data())


def test_info_tile_point_and_thumbs_match_the_record(client):
    header, arrays = big_record()
    stored = metadata.decode_arrays(metadata.encode_record(header, arrays)[1])  # floats travel as float16 x scale
    coords, labels = stored["coords"], np.asarray(header["labels"])
    assert np.abs(coords - arrays["coords"])[np.isfinite(coords)].max() < 1e-2
    where = dict(run="big", tag=EMB, step=0)
    info = get_json(client, "embedding_info", **where)
    finite = np.isfinite(coords).all(axis=1)
    np.testing.assert_allclose(info["bounds"], [*coords[finite].min(0), *coords[finite].max(0)], rtol=1e-6)
    assert info["n"] == N and "labels" not in info["header"] and info["thumbnail"] == [THUMB, THUMB]
    assert info["counts"]["label"] == {str(k): int(c) for k, c in enumerate(np.bincount(labels))}
    assert any("1 points with non-finite" in note for note in info["notes"])

    top = get_json(client, "embedding_tile", **where, level=0, tx=0, ty=0)
    assert top["total"] == N - 1 and not top["complete"] and len(top["index"]) == embedding_tiles.TILE_POINTS
    i = np.asarray(top["index"])
    np.testing.assert_allclose(top["x"], coords[i, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(top["y"], coords[i, 1], rtol=1e-5, atol=1e-5)
    assert top["label"] == labels[i].tolist() and top["prediction"] == np.asarray(header["predictions"])[i].tolist()

    level = 5  # a deep tile: complete, and its thumbnails come as one sheet in its point order
    tx, ty = [int(v) for v in np.floor((coords[0] - coords[finite].min(0)) / np.ptp(coords[finite], 0) * 2**level)]
    deep = get_json(client, "embedding_tile", **where, level=level, tx=tx, ty=ty)
    members = np.flatnonzero(in_tile(coords, level, tx, ty))
    assert deep["complete"] and sorted(deep["index"]) == members.tolist() and 0 in deep["index"]
    response = get(client, "embedding_thumbs", **where, level=level, tx=tx, ty=ty)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    sheet = np.asarray(Image.open(io.BytesIO(response.get_data())))
    columns = int(np.ceil(np.sqrt(len(deep["index"]))))
    for k, j in enumerate(deep["index"]):
        r, c = divmod(k, columns)
        np.testing.assert_array_equal(sheet[r * THUMB:(r + 1) * THUMB, c * THUMB:(c + 1) * THUMB],
                                      arrays["thumbnails"][j])
    assert get(client, "embedding_thumbs", **where, level=0, tx=0, ty=0).status_code == 404  # too many: zoom in

    point = get_json(client, "embedding_point", **where, index=3)
    assert point["index"] == 3 and point["label"] == labels[3]
    assert point["neighbors"]["index"] == [int(j) for j in arrays["neighbors"][3] if j < N and j != 3]
    assert point["neighbors_dropped"] == 1
    bare = get_json(client, "embedding_point", run="big", tag=EMB, step=2, index=1)  # no per-point lists
    assert bare["label"] is None and bare["probability"] is None and bare["neighbors"]["label"] is None


@pytest.mark.parametrize("params, code", [
    (dict(level=-1, tx=0, ty=0), 400), (dict(level=13, tx=0, ty=0), 400), (dict(level=2, tx=4, ty=0), 400),
    (dict(level=2, tx=0, ty="1.5"), 400), (dict(level=2, tx=0), 400), (dict(level=1, tx=0, ty=0, step=9), 404),
    (dict(level=0, tx=0, ty=0, tag=FILTERS), 404), (dict(level=0, tx=0, ty=0, step=1), 404),
    (dict(level=0, tx=0, ty=0, run="../big"), 400),
])
def test_bad_tile_arguments_answer_400_and_missing_data_404(client, params, code):
    query = dict(dict(run="big", tag=EMB, step=0), **params)
    query = {k: v for k, v in query.items() if v is not None}
    response = get(client, "embedding_tile", **query)
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain")


def test_point_out_of_range_is_404(client):
    assert get(client, "embedding_point", run="big", tag=EMB, step=0, index=N).status_code == 404
    assert get(client, "embedding_point", run="big", tag=EMB, step=0, index=-1).status_code == 400
