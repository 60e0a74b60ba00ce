"""The microscope's precompute on the shapes demo model: complete records, resumable, wiring and atlas references.

One tiny microscope (`tests/helpers/microscope.py`: conv2 and conv3, three
channels each, a few steps) is built once for the module; the references are
computed independently: the wiring from the kernels with numpy, the atlas
cells from the stored layout by the binning formula, the dissection by
`inside.dissect` itself on the same data.
"""

import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import kerasviz  # noqa: E402
from kerasviz import inside  # noqa: E402
from kerasviz.inside import microscope_records  # noqa: E402
from tests.helpers import microscope as tiny  # noqa: E402

RECORDS = len(tiny.LAYERS) * (1 + len(tiny.CHANNELS))


@pytest.fixture(scope="module")
def model():
    return kerasviz.demo.demo_model("shapes")


@pytest.fixture(scope="module")
def built(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("microscope")
    report = tiny.build(model, root)
    return root, report, tiny.read(report.run_dir)


def _norms(kernel):
    return np.sqrt((np.asarray(kernel, np.float64) ** 2).sum(axis=(0, 1)))


def test_every_page_and_every_atlas_is_written(built):
    _, report, found = built
    expected = {(microscope_records.channel_tag(layer), c) for layer in tiny.LAYERS for c in tiny.CHANNELS}
    expected |= {(microscope_records.atlas_tag(layer), 0) for layer in tiny.LAYERS}
    assert set(found) == expected == set(report.written)
    assert report.skipped == 0 and report.layers == {layer: list(tiny.CHANNELS) for layer in tiny.LAYERS}
    for (tag, step), (header, arrays) in found.items():
        assert header["fingerprint"] == report.fingerprint
        if "/channel/" not in tag:
            continue
        assert header["channel"] == step
        assert arrays["facets"].dtype == np.uint8 and arrays["facets"].shape == (1 + 2, 64, 64, 3)
        assert arrays["facets"].std() > 0  # pictures, not blanks
        scores = header["patches"]["scores"]
        assert arrays["patches"].shape[0] == len(scores) == 3 and scores == sorted(scores, reverse=True)
        assert np.isfinite(header["objective"])


def test_dissection_labels_are_those_of_dissect(built, model):
    _, _, found = built
    (images, masks), names, _ = tiny.data()
    for layer in tiny.LAYERS:
        reference = inside.dissect(model, (images, masks), layer, names)
        for c in tiny.CHANNELS:
            label = found[(microscope_records.channel_tag(layer), c)][0]["dissection"]
            assert label["concept"] == names[reference.best_concept[c]]
            assert label["iou"] == pytest.approx(float(reference.best_iou[c]), abs=1e-6)
            assert label["detector"] == bool(reference.detector[c])


def test_strongest_inputs_and_outputs_are_the_kernel_norms(built, model):
    _, _, found = built
    k1, k2, k3 = (_norms(model.get_layer(name).kernel.numpy()) for name in ("conv1", "conv2", "conv3"))
    del k1
    for c in tiny.CHANNELS:
        header = found[(microscope_records.channel_tag("conv2"), c)][0]
        order = np.lexsort((np.arange(16), -k2[:, c]))[:4]
        assert header["inputs"]["layer"] == "conv1" and header["inputs"]["channels"] == order.tolist()
        np.testing.assert_allclose(header["inputs"]["weights"], k2[order, c], rtol=1e-5)
        (out,) = header["outputs"]
        order = np.lexsort((np.arange(64), -k3[c]))[:4]
        assert out["layer"] == "conv3" and out["channels"] == order.tolist()
        np.testing.assert_allclose(out["weights"], k3[c, order], rtol=1e-5)
        last = found[(microscope_records.channel_tag("conv3"), c)][0]
        assert last["inputs"]["layer"] == "conv2" and last["outputs"] == []  # global pooling, then dense layers


def test_wiring_walks_through_normalization_and_a_depthwise_convolution():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="r1")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.ReLU(name="r2")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(5, 1, name="c2")(x)
    x = keras.layers.ReLU(name="r3")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    c1, dw, c2 = (model.get_layer(n).kernel.numpy() for n in ("c1", "dw", "c2"))
    wiring = inside.channel_wiring(model, "r2")
    assert wiring.source is None  # c1 reads the image
    wiring = inside.channel_wiring(model, "r3")
    assert wiring.source == "r2" and wiring.targets == ()
    np.testing.assert_allclose(wiring.inputs, _norms(c2), rtol=1e-5)
    wiring = inside.channel_wiring(model, "r1")
    ((target, weights),) = wiring.targets  # through dw (a diagonal) and the pooling to c2, shown as r3
    assert target == "r3"
    np.testing.assert_allclose(weights, _norms(dw)[:, 0][:, None] * _norms(c2), rtol=1e-5)


def test_atlas_cells_and_channel_positions_are_consistent(built):
    _, _, found = built
    for layer in tiny.LAYERS:
        header, arrays = found[(microscope_records.atlas_tag(layer), 0)]
        n = header["grid"]
        counts, layout, cell = arrays["counts"], arrays["layout"], arrays["cell"]
        assert counts.sum() == header["samples"] == tiny.SETTINGS["samples"] == len(layout)
        reference = np.minimum(np.floor(layout[:, ::-1].astype(np.float64) * n).astype(int), n - 1)
        np.testing.assert_array_equal(cell, reference)  # `bin_layout`'s formula on the stored layout
        np.testing.assert_array_equal(counts, np.bincount(cell[:, 0] * n + cell[:, 1], minlength=n * n).reshape(n, n))
        cells = np.asarray(header["cells"])
        np.testing.assert_array_equal(cells, np.argwhere(counts > 0))
        assert arrays["renders"].shape[0] == len(cells) and arrays["sources"].shape[:2] == (len(cells), 2)
        for m, (row, col) in enumerate(cells):
            ids = arrays["source_ids"][m]
            assert (ids >= 0).sum() == min(2, counts[row, col])
            for i in ids[ids >= 0]:
                assert tuple(cell[i]) == (row, col)  # a cell's sources lie in it
        assert set(arrays["top_class"][counts > 0].tolist()) <= set(range(5))
        assert (arrays["top_class"][counts == 0] == -1).all()
        means = arrays["means"]
        for c in tiny.CHANNELS:
            where = found[(microscope_records.channel_tag(layer), c)][0]["atlas"]
            row, col = where["cell"]
            assert counts[row, col] > 0 and where["grid"] == n
            best = means[..., c][counts > 0].max()
            assert means[row, col, c] >= best - 1e-2 * max(abs(best), 1e-6)  # float16 storage
            assert all(0 <= v <= 1 for v in where["centroid"])


def test_a_second_run_writes_nothing(built, model):
    root, report, _ = built
    sizes = {f: os.path.getsize(os.path.join(report.run_dir, f)) for f in os.listdir(report.run_dir)}
    again = tiny.build(model, root)
    assert again.written == [] and again.skipped == RECORDS and again.fingerprint == report.fingerprint
    assert {f: os.path.getsize(os.path.join(report.run_dir, f)) for f in os.listdir(report.run_dir)} == sizes


def _record_ends(path):
    """Byte offsets after each whole TFRecord of an event file (length, CRC, data, CRC)."""
    data, ends, at = open(path, "rb").read(), [], 0
    while at + 12 <= len(data):
        length = int.from_bytes(data[at:at + 8], "little")
        at += 12 + length + 4
        ends.append(at)
    return ends


def test_an_interrupted_run_finishes_what_is_missing(built, model, tmp_path):
    root, report, found = built
    shutil.copytree(report.run_dir, tmp_path / "microscope")
    (name,) = [f for f in os.listdir(tmp_path / "microscope") if "tfevents" in f]
    path = tmp_path / "microscope" / name
    ends = _record_ends(path)
    os.truncate(path, ends[-3])  # killed after the first 2 pages of conv3 (its atlas and channel 0)
    assert len(tiny.read(tmp_path / "microscope")) == RECORDS - 2
    resumed = tiny.build(model, tmp_path)
    tag = microscope_records.channel_tag("conv3")
    assert resumed.written == [(tag, 1), (tag, 2)] and resumed.skipped == RECORDS - 2
    again = tiny.read(tmp_path / "microscope")
    assert set(again) == set(found)
    for key in resumed.written:
        for field in ("patches", "inputs", "outputs", "atlas", "dissection"):
            assert again[key][0][field] == found[key][0][field], field


def test_other_settings_in_the_same_run_are_refused_before_any_work(built, model):
    root, _, _ = built
    with pytest.raises(ValueError, match="another model or other settings"):
        tiny.build(model, root, steps=5)


@pytest.mark.parametrize("overrides, match", [
    ({"layers": ["fc"]}, "layers"),
    ({"channels": [99]}, "channels"),
    ({"value_range": None}, "value_range"),
    ({"layout": "umap"}, "layout"),
    ({"facets": -1}, "facets"),
])
def test_bad_arguments_name_themselves(model, tmp_path, overrides, match):
    (images, masks), names, _ = tiny.data()
    arguments = dict(layers=["conv2"], channels=[0], concepts=names, **tiny.SETTINGS)
    arguments.update(overrides)
    with pytest.raises((ValueError, TypeError), match=match):
        inside.build_microscope(model, (images, masks), str(tmp_path), **arguments)


def test_atlas_sources_are_receptive_field_thumbnails(model, tmp_path, monkeypatch):
    # A deep layer's receptive field can pass the image (EfficientNet-Lite3's at 280 px): the sources are
    # thumbnails of at most SOURCE_SIDE a side, so that a full atlas stays within the dashboard's record size.
    from kerasviz.activations.receptive_field import receptive_field
    from kerasviz.inside import microscope_parts

    assert microscope_parts.thumbnail_size((400, 300)) == (128, 96)
    assert microscope_parts.thumbnail_size((40, 30)) == (40, 30)
    monkeypatch.setattr(microscope_parts, "SOURCE_SIDE", 7)
    report = tiny.build(model, tmp_path)
    (images, _), _, _ = tiny.data()
    header, arrays = tiny.read(report.run_dir)[(microscope_records.atlas_tag("conv3"), 0)]
    rf = receptive_field(model, "conv3", input_shape=images.shape[1:])
    side = microscope_parts.thumbnail_size(tuple(rf.size))
    assert max(rf.size) > 7 and max(side) == 7
    assert arrays["sources"].shape[2:] == side + (3,)
    m, s = np.argwhere(arrays["source_ids"] >= 0)[0]
    sample = arrays["source_ids"][m, s]
    row, col = arrays["positions"][sample]
    patch = microscope_parts.crop(images[arrays["image_index"][sample]], rf, int(row), int(col))
    thumbnail = np.moveaxis(kerasviz.image.resize_maps(np.moveaxis(patch, -1, 0), side), 0, -1)
    expected = microscope_parts.display(thumbnail[None], (0.0, 1.0))[0]
    assert np.abs(arrays["sources"][m, s].astype(int) - expected.astype(int)).max() <= 1
