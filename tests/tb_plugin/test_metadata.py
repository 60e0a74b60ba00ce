"""The record format shared by the writer and the plugin, and what reading it refuses."""

import subprocess
import sys

import numpy as np
import pytest

from tb_plugin import metadata
from tests.helpers import damaged, records
from tests.helpers.processes import REPO


def test_float_maps_keep_relative_precision_at_any_scale():
    maps = np.array([[1e-6, -3e-6, 2e-7], [7e4, 0.0, 1.0], [0.0, 0.0, 0.0]], np.float32)
    decoded = metadata.decode_arrays(metadata.encode_record({"method": "x"}, {"maps": maps})[1])["maps"]
    assert decoded.dtype == np.float32 and np.all(np.isfinite(decoded))
    for row, original in zip(decoded, maps):
        np.testing.assert_allclose(row, original, rtol=1e-3, atol=1e-3 * np.abs(original).max())


def test_integer_arrays_and_header_round_trip():
    images = np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3)
    header_blob, arrays_blob = metadata.encode_record({"labels": [1, 2], "name": "<b>x</b>"}, {"images": images})
    header = metadata.decode_header(header_blob)
    assert header["labels"] == [1, 2] and header["version"] == metadata.SCHEMA_VERSION
    np.testing.assert_array_equal(metadata.decode_arrays(arrays_blob)["images"], images)


@pytest.mark.parametrize("layer", ["conv1", "block/conv2", "model/block 3/conv"])
def test_a_layer_travels_in_its_tag_and_back(layer):
    tag = metadata.tag_for("activations", "filters", metadata.layer_suffix(layer))
    assert tag.count("/") == 3 and metadata.layer_of_tag(tag) == layer


def test_a_tag_without_a_layer_names_none():
    assert metadata.layer_of_tag(metadata.tag_for("attribution", "saliency")) is None
    assert metadata.layer_of_tag("other/activations/filters/conv1") is None


@pytest.mark.parametrize("blob", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_damaged_arrays_raise_value_error(blob):
    with pytest.raises(ValueError, match="Damaged"):
        metadata.decode_arrays(blob)


def test_unknown_versions_are_refused():
    with pytest.raises(ValueError, match="version"):
        metadata.decode_header(b'{"version": 99}')
    with pytest.raises(ValueError):
        metadata.parse_plugin_content(b"\xff\xfe")


# ------------------------------------------------------------------ hostile bytes


@pytest.mark.parametrize("kind,blobs,expected", damaged.hostile_records(),
                         ids=[kind for kind, _, _ in damaged.hostile_records()])
def test_hostile_record_blobs_raise_record_error_and_nothing_else(kind, blobs, expected):
    failures = []
    for decode, blob in ((metadata.decode_header, blobs[0]), (metadata.decode_arrays, blobs[1])):
        try:
            decode(blob)
        except metadata.RecordError as error:
            failures.append(str(error))
    if expected is None:
        assert not failures, failures
    elif expected not in ("3 blob(s)", "does not belong"):  # judged by the plugin, which knows the series
        assert failures and expected in failures[0], failures  # the header is read first


@pytest.mark.parametrize("kind,content,expected", damaged.hostile_metadata(),
                         ids=[kind for kind, _, _ in damaged.hostile_metadata()])
def test_hostile_series_metadata_raises_record_error(kind, content, expected):
    with pytest.raises(metadata.RecordError, match=expected.replace("(", r"\(")):
        metadata.parse_plugin_content(content)


def test_mutated_records_decode_or_raise_record_error_only():
    rng = np.random.default_rng(0)
    header, arrays = records.attribution_record("saliency", 0, n=2, size=8)
    blobs = metadata.encode_record(header, arrays)
    outcomes = {"decoded": 0, "refused": 0}
    for trial in range(600):
        blob = bytearray(blobs[trial % 2])
        for _ in range(rng.integers(1, 4)):
            position = int(rng.integers(0, len(blob) + 1))
            action = rng.integers(0, 3)
            if action == 0 and position < len(blob):
                blob[position] = int(rng.integers(0, 256))
            elif action == 1:
                del blob[max(position, 1):]
            else:
                blob[position:position] = rng.bytes(int(rng.integers(1, 16)))
        try:
            (metadata.decode_header if trial % 2 == 0 else metadata.decode_arrays)(bytes(blob))
            outcomes["decoded"] += 1
        except metadata.RecordError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100 and outcomes["decoded"] + outcomes["refused"] == 600


def test_decoded_bytes_are_bounded_before_inflating():
    limit = metadata.MAX_RECORD_BYTES  # float16 counts as the float32 it may become
    assert metadata.decode_arrays(damaged.zip_bomb(limit // 2))["maps"].shape == (limit // 4,)
    with pytest.raises(metadata.RecordError, match=f"more than {limit} bytes once decoded"):
        metadata.decode_arrays(damaged.zip_bomb(limit // 2 + 1024 * 1024))


def test_non_finite_header_numbers_read_as_null():
    header = metadata.decode_header(b'{"version": 1, "a": NaN, "b": [Infinity, -Infinity, 1e999, 2.5]}')
    assert header == {"version": 1, "a": None, "b": [None, None, None, 2.5]}


def test_header_depth_is_bounded():
    nested = lambda depth: b'{"version": 1, "x": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"  # noqa: E731
    assert metadata.decode_header(nested(metadata.MAX_DEPTH))["version"] == 1
    with pytest.raises(metadata.RecordError, match="nested too deeply"):
        metadata.decode_header(nested(metadata.MAX_DEPTH + 1))


def test_metadata_module_does_not_import_tensorflow():
    code = "import sys, tb_plugin.metadata; print(sorted(m for m in sys.modules if m.startswith('tensorflow')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          check=True).stdout.strip() == "[]"


def test_a_record_the_dashboard_could_not_read_is_refused_when_written():
    limit = metadata.MAX_RECORD_BYTES
    _, arrays = metadata.encode_record({}, {"pictures": np.zeros(limit, np.uint8)})
    assert metadata.decode_arrays(arrays)["pictures"].size == limit  # exactly the limit: written and read back
    with pytest.raises(ValueError, match=r"68.0 MiB once decoded is over the 64 MiB the dashboard reads \(largest arrays: 'maps' 36.0 MiB"):
        # float16 comes back as float32: 9 Mi float16 values are 36 MiB decoded, 68 MiB in all
        metadata.encode_record({}, {"pictures": np.zeros(limit // 2, np.uint8),
                                    "maps": np.zeros((9, 2 ** 20), np.float16)})
