"""The kerasviz record format: the only thing the writer and the plugin share.

No TensorFlow import here (TensorBoard's own protos and numpy only), so the
plugin loads fast and the writer and reader cannot drift apart.

A record is one step of one time series (tag `kerasviz/<family>/<method>`),
written as a blob sequence of exactly two blobs:

- blob 0: a JSON header (UTF-8): `{"version", "family", "method", ...}` plus
  whatever the family needs (class names, labels, predictions, scores, the
  method's parameters, the layer);
- blob 1: an `.npz` archive (`numpy.savez_compressed`) of named arrays, e.g.
  `images` (uint8 `[N, H, W, C]`, display space) and `maps`. Float arrays are
  stored as float16 after dividing each item (index on axis 0) by its largest
  magnitude, kept as float32 in `<name>__scale`: gradients of 1e-6 keep their
  relative precision, and nothing overflows.

The summary metadata's `plugin_data.content` is a small JSON object
`{"version": SCHEMA_VERSION, "family": ..., "method": ...}` so the plugin can
list series without reading their data.
"""

import io
import json

import numpy as np
from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "kerasviz"
SCHEMA_VERSION = 1
TAG_PREFIX = "kerasviz/"
FAMILIES = ("attribution", "activations", "synthesis")
MAX_HEADER_BYTES = 4 * 1024 * 1024
_SCALE = "__scale"


def tag_for(family, method, suffix=None):
    """`kerasviz/<family>/<method>[/<suffix>]`."""
    if family not in FAMILIES:
        raise ValueError(f"Received an invalid value for `family`: {family!r}. Expected one of {FAMILIES}.")
    return TAG_PREFIX + "/".join(p for p in (family, method, suffix) if p)


def create_summary_metadata(family, method, description=""):
    """`SummaryMetadata` for a kerasviz record series (blob sequence data class)."""
    content = json.dumps(
        {"version": SCHEMA_VERSION, "family": family, "method": method}, sort_keys=True
    ).encode("utf-8")
    return summary_pb2.SummaryMetadata(
        display_name=f"{family}/{method}",
        summary_description=description,
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME, content=content),
        data_class=summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
    )


def parse_plugin_content(content):
    """The dict in `plugin_data.content`; raises ValueError for unknown versions or garbage."""
    try:
        parsed = json.loads(bytes(content).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"Unreadable kerasviz metadata: {error}") from None
    if not isinstance(parsed, dict) or parsed.get("version") != SCHEMA_VERSION:
        raise ValueError(
            f"Unsupported kerasviz record version: {parsed.get('version') if isinstance(parsed, dict) else parsed!r} "
            f"(this plugin reads version {SCHEMA_VERSION})."
        )
    return parsed


def encode_record(header, arrays):
    """`[header JSON bytes, npz bytes]` for one record.

    Args:
        header: a JSON-serializable dict (a `"version"` key is added).
        arrays: `{name: numpy array}`; float arrays are stored as float16.
    """
    header = dict(header, version=SCHEMA_VERSION)
    buffer = io.BytesIO()
    stored = {}
    for name, array in arrays.items():
        array = np.asarray(array)
        if array.dtype.kind == "f" and array.ndim >= 1:
            flat = np.abs(array.reshape(len(array), -1).astype(np.float64))
            flat[~np.isfinite(flat)] = 0.0  # non-finite values stay what they are
            scale = flat.max(axis=1, initial=0.0) if flat.size else np.zeros(len(array))
            scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
            stored[name + _SCALE] = scale
            array = (array / scale.reshape((-1,) + (1,) * (array.ndim - 1))).astype(np.float16)
        stored[name] = array
    np.savez_compressed(buffer, **stored)
    return [json.dumps(header, sort_keys=True).encode("utf-8"), buffer.getvalue()]


def decode_header(blob):
    """The header dict of a record; ValueError when unreadable or of another version."""
    if len(blob) > MAX_HEADER_BYTES:
        raise ValueError("kerasviz record header too large")
    header = parse_plugin_content(blob)
    return header


def decode_arrays(blob):
    """`{name: numpy array}` from a record's npz blob (no pickles); ValueError when damaged."""
    try:
        with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as archive:
            stored = {name: archive[name] for name in archive.files}
    except Exception as error:  # zipfile/numpy raise many kinds on damaged input
        raise ValueError(f"Damaged kerasviz record arrays: {type(error).__name__}: {error}") from None
    arrays = {}
    for name, array in stored.items():
        if name.endswith(_SCALE):
            continue
        scale = stored.get(name + _SCALE)
        if scale is not None:
            if scale.shape != (len(array),):
                raise ValueError(f"Damaged kerasviz record arrays: bad scale for {name!r}")
            array = array.astype(np.float32) * scale.reshape((-1,) + (1,) * (array.ndim - 1))
        arrays[name] = array
    return arrays
