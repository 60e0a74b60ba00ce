"""The record format shared by the writer and the plugin."""

import numpy as np
import pytest

from tb_plugin import metadata


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


@pytest.mark.parametrize("blob", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_damaged_arrays_raise_value_error(blob):
    with pytest.raises(ValueError, match="Damaged"):
        metadata.decode_arrays(blob)


def test_unknown_versions_are_refused():
    with pytest.raises(ValueError, match="version"):
        metadata.decode_header(b'{"version": 99}')
    with pytest.raises(ValueError):
        metadata.parse_plugin_content(b"\xff\xfe")
