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

Reading trusts nothing: `parse_plugin_content`, `decode_header` and
`decode_arrays` bound what they decode (size, nesting, arrays, dtypes,
decoded bytes: the `MAX_*` constants) and raise `RecordError`, and only
that, for any bytes they cannot read.
"""

import contextlib
import io
import json
import math
import re
import zipfile

import numpy as np
from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "kerasviz"
SCHEMA_VERSION = 1
TAG_PREFIX = "kerasviz/"
FAMILIES = ("attribution", "activations", "synthesis", "features", "dataset", "regions", "blocks", "microscope",
            "concepts")
MAX_HEADER_BYTES = 4 * 1024 * 1024  # a header or a series' metadata, as stored
MAX_DEPTH = 32  # nesting of JSON objects and lists in a header or a series' metadata
MAX_ARRAYS = 64  # arrays (npz members) in one record
MAX_RANK = 8
MAX_RECORD_BYTES = 64 * 1024 * 1024  # one record's arrays once decoded (float16 counted as float32)
_ARRAY_KINDS = "biuf"  # bool, signed and unsigned integers, floats: nothing else is read
_SCALE = "__scale"
_CENTRAL_DIRECTORY_ENTRY = b"PK\x01\x02"  # starts every entry zipfile parses: counting them bounds its work


def tag_for(family, method, suffix=None):
    """`kerasviz/<family>/<method>[/<suffix>]`."""
    if family not in FAMILIES:
        raise ValueError(f"Received an invalid value for `family`: {family!r}. Expected one of {FAMILIES}.")
    return TAG_PREFIX + "/".join(p for p in (family, method, suffix) if p)


def layer_suffix(layer):
    """A layer's name or path as the last component of its series' tag: every "/" written "__".

    `tag_for(family, method, layer_suffix(layer))` names the series of a method
    that writes one series per layer; `layer_of_tag` reads the layer back.
    """
    return str(layer).replace("/", "__")


def layer_of_tag(tag):
    """The layer a series `kerasviz/<family>/<method>/<layer suffix>` shows; None for a tag without the suffix."""
    parts = str(tag).split("/")
    if parts[0] + "/" != TAG_PREFIX or len(parts) < 4:
        return None
    return "/".join(parts[3:]).replace("__", "/")


_DIRECTION = re.compile(r"\b(higher|lower) is better\b")


def metric_description(metric, method, higher_is_better):
    """A metric scalar's description: what it is, and which way is better (`metric_direction` reads it)."""
    return f"{metric} of {method}: {'higher' if higher_is_better else 'lower'} is better"


def metric_direction(description):
    """True (higher is better), False (lower) or None (not said) from a scalar's description."""
    found = _DIRECTION.search(description or "")
    return None if found is None else found.group(1) == "higher"


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


class RecordError(ValueError):
    """A kerasviz record or series that cannot be read: damaged, hostile, too large or of another version."""


@contextlib.contextmanager
def _reading(what):
    """Turns any exception raised while reading untrusted bytes into a `RecordError` naming `what`."""
    try:
        yield
    except RecursionError:
        raise RecordError(f"{what}: nested too deeply (at most {MAX_DEPTH} levels)") from None
    except RecordError as error:
        raise RecordError(f"{what}: {error}") from None
    except Exception as error:  # zipfile, numpy and json raise many kinds on hostile input
        raise RecordError(f"{what}: {type(error).__name__}: {error}") from None


def _finite_or_none(text):
    """`parse_float` hook: a JSON number as a float, `None` where it overflows (`1e999`)."""
    value = float(text)
    return value if math.isfinite(value) else None


def _check_depth(value):
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise RecordError(f"nested too deeply (at most {MAX_DEPTH} levels)")
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))


def _decode_object(blob, what):
    """The JSON object in `blob`, bounded in size and depth; `NaN`, `Infinity` and overflowing numbers become None."""
    with _reading(f"Unreadable kerasviz {what}"):
        if not isinstance(blob, bytes):
            raise RecordError(f"{type(blob).__name__}, not bytes")
        if len(blob) > MAX_HEADER_BYTES:
            raise RecordError(f"too large: {len(blob)} bytes (at most {MAX_HEADER_BYTES})")
        value = json.loads(blob.decode("utf-8"), parse_constant=lambda _: None, parse_float=_finite_or_none)
        if not isinstance(value, dict):
            raise RecordError(f"a JSON {type(value).__name__}, not a JSON object")
        _check_depth(value)
    if value.get("version") != SCHEMA_VERSION:
        raise RecordError(
            f"Unsupported kerasviz record version: {str(value.get('version'))[:80]} "
            f"(this plugin reads version {SCHEMA_VERSION})."
        )
    return value


def parse_plugin_content(content):
    """The dict in a series' `plugin_data.content`.

    Raises:
        RecordError: (a `ValueError`) for anything but a JSON object of this
            schema version with string `family` and `method`, at most
            `MAX_HEADER_BYTES` long and `MAX_DEPTH` deep.
    """
    parsed = _decode_object(content, "metadata")
    for key in ("family", "method"):
        if not isinstance(parsed.get(key), str):
            raise RecordError(f"Unreadable kerasviz metadata: `{key}` is not a string")
    return parsed


def decoded_bytes(array):
    """The bytes `array` takes once a record is decoded (a float array comes back as float32 at least)."""
    array = np.asarray(array)
    return array.size * (max(array.dtype.itemsize, 4) if array.dtype.kind == "f" else array.dtype.itemsize)


def encode_record(header, arrays):
    """`[header JSON bytes, npz bytes]` for one record.

    Args:
        header: a JSON-serializable dict (a `"version"` key is added).
        arrays: `{name: numpy array}`; float arrays are stored as float16.

    Raises:
        ValueError: when the arrays would pass `MAX_RECORD_BYTES` once
            decoded (the dashboard could not read the record).
    """
    sizes = {name: decoded_bytes(array) for name, array in arrays.items()}
    if sum(sizes.values()) > MAX_RECORD_BYTES:
        largest = ", ".join(f"{name!r} {size / 2 ** 20:.1f} MiB" for name, size in
                            sorted(sizes.items(), key=lambda item: -item[1])[:3])
        raise ValueError(f"A kerasviz record of {sum(sizes.values()) / 2 ** 20:.1f} MiB once decoded is over the "
                         f"{MAX_RECORD_BYTES // 2 ** 20} MiB the dashboard reads (largest arrays: {largest}).")
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
    """The header dict of a record.

    `NaN`, `Infinity` and numbers beyond the float range read as None, so the
    header stays valid JSON for the browser.

    Raises:
        RecordError: (a `ValueError`) for anything but a JSON object of this
            schema version, at most `MAX_HEADER_BYTES` long and `MAX_DEPTH` deep.
    """
    return _decode_object(blob, "record header")


def decode_arrays(blob):
    """`{name: numpy array}` from a record's npz blob, bounded before anything is inflated.

    Only `.npy` members of bool, integer or float dtype are read (never a
    pickle: `allow_pickle=False`), at most `MAX_ARRAYS` of them, of rank at
    most `MAX_RANK`, `MAX_RECORD_BYTES` in all once decoded; each member's
    declared shape must match the bytes it holds. Float arrays with a
    `<name>__scale` are multiplied back to float32.

    Raises:
        RecordError: (a `ValueError`) for any other blob.
    """
    with _reading("Damaged kerasviz record arrays"):
        if not isinstance(blob, bytes):
            raise RecordError(f"{type(blob).__name__}, not bytes")
        if blob.count(_CENTRAL_DIRECTORY_ENTRY) > MAX_ARRAYS:
            raise RecordError(f"more than {MAX_ARRAYS} arrays")
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            return _unscaled(_read_members(archive))


def _read_members(archive):
    """`{name: array}` of the archive's `.npy` members, each read only once its header passed the checks."""
    budget, stored = MAX_RECORD_BYTES, {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise RecordError(f"{info.filename[:80]!r} is not an array (.npy)")
        name = info.filename[: -len(".npy")]
        with archive.open(info) as member:
            shape, dtype = _npy_header(member, name)
            count, held = math.prod(shape), info.file_size - member.tell()
        if held != count * dtype.itemsize:
            raise RecordError(f"array {name[:80]!r} declares {count * dtype.itemsize} bytes but holds {held}")
        budget -= count * (max(dtype.itemsize, 4) if dtype.kind == "f" else dtype.itemsize)
        if budget < 0:
            raise RecordError(f"more than {MAX_RECORD_BYTES} bytes once decoded")
        with archive.open(info) as member:
            stored[name] = np.lib.format.read_array(member, allow_pickle=False)
    return stored


def _npy_header(member, name):
    """`(shape, dtype)` from a `.npy` header, for the dtypes and ranks we read."""
    version = np.lib.format.read_magic(member)
    if version not in ((1, 0), (2, 0)):
        raise RecordError(f"array {name[:80]!r}: .npy format {version} is not read")
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(member)
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise RecordError(f"array {name[:80]!r} has dtype {str(dtype)[:80]}: only bool, integer and float are read")
    if len(shape) > MAX_RANK or any(d < 0 for d in shape):
        raise RecordError(f"array {name[:80]!r} has shape {str(shape)[:80]} (rank at most {MAX_RANK})")
    return shape, dtype


def _unscaled(stored):
    arrays = {}
    for name, array in stored.items():
        if name.endswith(_SCALE):
            continue
        scale = stored.get(name + _SCALE)
        if scale is not None:
            if array.dtype.kind != "f" or scale.dtype.kind != "f" or array.ndim < 1 or scale.shape != array.shape[:1]:
                raise RecordError(f"bad scale for {name[:80]!r}: {list(scale.shape)} for an array of "
                                  f"shape {list(array.shape)}")
            with np.errstate(over="ignore", invalid="ignore"):  # a non-finite scale gives non-finite values
                array = array.astype(np.float32) * scale.astype(np.float32).reshape((-1,) + (1,) * (array.ndim - 1))
        arrays[name] = array
    return arrays
