"""The on-disk form of `explain_dataset`: atomic shard directories and a manifest.

An output directory holds

- `manifest.json`: the format version, the fingerprint of the arguments (and
  the arguments themselves, so that a mismatch can be said precisely), and,
  once the run is complete, the list of shards with their item counts and
  input digests;
- `shard-000000/`, `shard-000001/`, ...: one directory per shard of
  `shard_size` consecutive items, each array in its own `.npy` file (so the
  reader can memory-map them) and `meta.json` (fingerprint, index, first item,
  count, digest of the inputs).

Nothing is ever half-written: a shard is written into a temporary directory
`.tmp-w<worker>-shard-...` (every file flushed and fsynced) and renamed to its
final name in one `os.rename`; the manifest is written to a temporary file
and `os.replace`d. A shard directory under its final name is therefore
complete, and a killed run leaves at most temporary entries, which the same
worker removes when it starts again.

Float arrays are stored as float16 after dividing each item by its largest
magnitude, kept as float32 in `<name>.scale.npy`, the scheme of the
dashboard's records (`tb_plugin.metadata.encode_record`): maps of 1e-6 keep
their relative precision.
"""

import hashlib
import json
import os
import shutil
import uuid

import numpy as np

FORMAT = 1
MANIFEST = "manifest.json"
_SCALE = ".scale"


def shard_name(index):
    return f"shard-{index:06d}"


def encode_scaled(array):
    """`(float16 values, float32 scale [N])`: each item divided by its largest finite magnitude."""
    array = np.asarray(array, np.float32)
    flat = np.abs(array.reshape(len(array), -1))
    if not np.isfinite(flat).all():
        flat = np.where(np.isfinite(flat), flat, 0.0)  # non-finite values stay what they are
    scale = flat.max(axis=1, initial=0.0) if flat.size else np.zeros(len(array), np.float32)  # exact in float32
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        values = (array / scale.reshape((-1,) + (1,) * (array.ndim - 1))).astype(np.float16)
    return values, scale


def decode_scaled(values, scale):
    """float32 values back from `encode_scaled`'s pair."""
    values = np.asarray(values, np.float32)
    return values * np.asarray(scale, np.float32).reshape((-1,) + (1,) * (values.ndim - 1))


def digest(*arrays):
    """A hex digest of arrays (dtype, shape and bytes), to tell whether a shard's inputs are the same."""
    h = hashlib.blake2b(digest_size=32)  # several times faster than sha256 on megabytes of images
    for array in arrays:
        if array is None:
            h.update(b"none")
            continue
        array = np.ascontiguousarray(array)
        h.update(f"{array.dtype.str}{array.shape}".encode())
        h.update(memoryview(array).cast("B"))  # no copy
    return h.hexdigest()


def fingerprint(arguments):
    """The sha256 of the arguments' canonical JSON."""
    return hashlib.sha256(json.dumps(arguments, sort_keys=True).encode()).hexdigest()


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_json(path, content):
    tmp = os.path.join(os.path.dirname(path), f".tmp-{uuid.uuid4().hex}-{os.path.basename(path)}")
    try:
        with open(tmp, "w") as f:
            json.dump(content, f, sort_keys=True, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    _fsync_dir(os.path.dirname(path))


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def write_shard(out, index, arrays, meta, worker=0):
    """Writes one shard atomically: a temporary directory, fsynced, then renamed into place.

    Args:
        out: the output directory.
        index: the shard's index.
        arrays: `{name: numpy array}`; float arrays named in `meta["scaled"]`
            are stored with `encode_scaled`.
        meta: JSON-serializable dict (fingerprint, first item, count, digest).
        worker: the writing worker's index (part of the temporary name).

    Returns:
        The shard's directory.
    """
    final = os.path.join(out, shard_name(index))
    tmp = os.path.join(out, f".tmp-w{worker}-{shard_name(index)}-{uuid.uuid4().hex}")
    os.makedirs(tmp)
    try:
        for name, array in arrays.items():
            if name in meta.get("scaled", ()):
                array, scale = encode_scaled(array)
                _save(os.path.join(tmp, name + _SCALE + ".npy"), scale)
            _save(os.path.join(tmp, name + ".npy"), np.asarray(array))
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump(meta, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not os.path.isdir(final):
                raise
            # Another process finished the same shard first; what it wrote is what we would have.
            if read_meta(out, index).get("digest") != meta.get("digest"):
                raise
        _fsync_dir(out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _save(path, array):
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


def read_meta(out, index):
    """The `meta.json` of a finished shard, or None when the shard is not there (yet)."""
    path = os.path.join(out, shard_name(index), "meta.json")
    if not os.path.isfile(path):
        return None
    return _read_json(path)


def load_array(shard_dir, name, mmap=True):
    """One array of a shard, memory-mapped; float16 stored ones come back as stored (see `decode_scaled`)."""
    return np.load(os.path.join(shard_dir, name + ".npy"), mmap_mode="r" if mmap else None, allow_pickle=False)


def load_scaled(shard_dir, name, rows=None):
    """A scaled array of a shard as float32 (only `rows` when given)."""
    values, scale = load_array(shard_dir, name), load_array(shard_dir, name + _SCALE)
    if rows is not None:
        values, scale = values[rows], scale[rows]
    return decode_scaled(values, scale)


def finished_shards(out):
    """Sorted indices of the shard directories under their final names."""
    found = []
    for entry in os.listdir(out):
        if entry.startswith("shard-") and entry[6:].isdigit() and os.path.isdir(os.path.join(out, entry)):
            found.append(int(entry[6:]))
    return sorted(found)


def read_manifest(out):
    path = os.path.join(out, MANIFEST)
    return _read_json(path) if os.path.isfile(path) else None


def write_manifest(out, manifest):
    _write_json(os.path.join(out, MANIFEST), manifest)


def _differences(old, new):
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in keys if old.get(k) != new.get(k)]


def open_output(out, arguments, worker=0, argname="out"):
    """Checks that `out` is new or holds a run of the same `arguments`; creates it; returns the fingerprint.

    Removes this worker's temporary entries left by a killed run. Never
    overwrites: a directory holding other files, or a run of other
    arguments, raises. `argname` is the caller's name of the directory
    (`explain_dataset`'s `out`, `dissect`'s `state_dir`).

    Raises:
        ValueError: `out` is a file, holds something that is not a sharded
            run's output, or holds a run of other arguments.
    """
    print_ = fingerprint(arguments)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"Received an invalid value for `{argname}`: {out!r} is a file, not a directory.")
    os.makedirs(out, exist_ok=True)
    manifest = read_manifest(out)
    if manifest is not None and manifest.get("fingerprint") != print_:
        diff = "; ".join(_differences(manifest.get("arguments", {}), arguments)) or "the format"
        raise ValueError(f"Received `{argname}={out!r}`, which holds a run of other arguments "
                         f"({diff}). Nothing was overwritten: pass another `{argname}`, or the same arguments to "
                         "resume that run.")
    for entry in os.listdir(out):
        path = os.path.join(out, entry)
        if entry.startswith(f".tmp-w{worker}-"):
            shutil.rmtree(path, ignore_errors=True)
        elif entry.startswith(".tmp-") or entry == MANIFEST:
            continue
        elif entry.startswith("shard-"):
            meta = read_meta(out, int(entry[6:])) if entry[6:].isdigit() else None
            if meta is None or meta.get("fingerprint") != print_:
                raise ValueError(f"Received `{argname}={out!r}`, whose {entry!r} comes from a run of "
                                 f"other arguments (or is not one). Nothing was overwritten: pass another "
                                 f"`{argname}`, or the same arguments to resume that run.")
        else:
            raise ValueError(f"Received `{argname}={out!r}`, a directory holding {entry!r}, which is not part of "
                             f"a sharded run's output. Nothing was overwritten: pass a new or empty directory.")
    return print_
