"""Records and event files the plugin must survive: damaged, hostile, odd, or of a family it does not know.

What the library's writer would refuse or never produce starts from what it
does write, `library_record` (the tag, blobs and summary metadata of
`kerasviz.summary.write_record`, taken from its journal), or from
`tb_plugin.metadata`'s encoding, and is damaged on purpose: blobs replaced or
cut, series metadata rewritten, event files truncated or overwritten on disk.
`write_blobs` is the only write here that bypasses `kerasviz.summary`; odd but
well-formed records and the good records beside the damaged ones go through
`tests.helpers.records.write_record`. The plugin must answer all of it without
a 500 (`test_plugin.py`, `test_plugin_activations.py`,
`test_plugin_damaged.py`; `test_metadata.py` decodes the hostile records).
"""

import io
import os
import zipfile

import numpy as np
import tensorflow as tf
from tensorboard.compat.proto import event_pb2, summary_pb2

from kerasviz import summary
from tb_plugin import metadata
from tests.helpers.records import (XSS, activations_tag, attribution_record, embeddings_record, filters_record, images,
                                   patches_record, write_record)


def library_record(family, method, header, arrays, suffix=None):
    """`(tag, [header blob, arrays blob], SummaryMetadata)` exactly as `kerasviz.summary.write_record` writes them."""
    entries = []
    with summary.journal(entries, step=0):
        assert summary.write_record(family, method, header, arrays, suffix=suffix)
    ((tag, _, event),) = entries
    value = event_pb2.Event.FromString(event).summary.value[0]
    return tag, [bytes(blob) for blob in tf.make_ndarray(value.tensor)], value.metadata


def write_blobs(writer, tag, step, blobs, summary_metadata):
    """Writes `blobs` (a list of bytes, any number) as one summary under `tag`, as they are: no check, no encoding."""
    with writer.as_default():
        tf.summary.write(tag, tf.constant(blobs), step, metadata=summary_metadata)


def write_damaged(logdir):
    """Runs that must never make a route answer 500: see `test_plugin.py`."""
    # An unknown record version in the series metadata.
    header, arrays = attribution_record("saliency", 0)
    tag, blobs, md = library_record("attribution", "saliency", header, arrays)
    future = summary_pb2.SummaryMetadata.FromString(md.SerializeToString())
    future.plugin_data.content = b'{"family": "attribution", "method": "saliency", "version": 99}'
    writer = tf.summary.create_file_writer(os.path.join(logdir, "future"))
    write_blobs(writer, tag, 0, blobs, future)
    writer.close()
    # Good metadata, but the header blob says version 99, and the npz blob is garbage at step 1,
    # and a record with a single blob at step 2.
    writer = tf.summary.create_file_writer(os.path.join(logdir, "garbage"))
    bad_header = blobs[0].replace(b'"version": 1', b'"version": 99')
    write_blobs(writer, tag, 0, [bad_header, blobs[1]], md)
    write_blobs(writer, tag, 1, [blobs[0], b"PK\x03\x04garbage"], md)
    write_blobs(writer, tag, 2, [blobs[0]], md)
    write_blobs(writer, tag, 3, [b"\xff\xfe not json", blobs[1]], md)
    writer.close()
    # A truncated event file: two good records, then the file cut in the middle of a third.
    run = os.path.join(logdir, "truncated")
    writer = tf.summary.create_file_writer(run)
    for step in range(3):
        header, arrays = attribution_record("saliency", step)
        write_record(writer, "attribution", "saliency", header, arrays, step)
    writer.close()
    (event_file,) = [os.path.join(run, f) for f in os.listdir(run)]
    size = os.path.getsize(event_file)
    with open(event_file, "r+b") as handle:
        handle.truncate(size - size // 5)


def write_other_family(run_dir, steps=2):
    """Records of a family without a dedicated view (shown by the generic view).

    The library's writer refuses a family outside `metadata.FAMILIES`
    (`metadata.tag_for` raises), so these are encoded by `tb_plugin.metadata`
    and written with `write_blobs`.
    """
    writer = tf.summary.create_file_writer(run_dir)
    for step in range(steps):
        header = {"family": "experimental", "method": "probe", "layer": "conv1", "note": XSS}
        arrays = {"images": images(6, 8, seed=step), "weights": np.linspace(0, 1, 12).reshape(3, 4)}
        write_blobs(writer, metadata.TAG_PREFIX + "experimental/probe", step, metadata.encode_record(header, arrays),
                    metadata.create_summary_metadata("experimental", "probe"))
    writer.close()


def write_damaged_activations(run_dir):
    """Activations records that must never make a route answer 500 (nor break a view).

    filters/conv1: step 0 fine, step 1 a float grid, step 2 garbage arrays;
    embeddings/fc: step 0 fine, step 1 labels shorter than coords and neighbours out of range;
    top_patches/conv2: step 0 patches of rank 3 (not crops).
    """
    writer = tf.summary.create_file_writer(run_dir)
    header, arrays = filters_record(0)
    write_record(writer, "activations", "filters", header, arrays, 0, "conv1")
    write_record(writer, "activations", "filters", header, {"grid": arrays["grid"] / 255.0}, 1, "conv1")
    tag, blobs, md = library_record("activations", "filters", header, arrays, "conv1")
    assert tag == activations_tag("filters", "conv1")
    write_blobs(writer, tag, 2, [blobs[0], b"PK\x03\x04garbage"], md)
    header, arrays = embeddings_record(0, n=12, k=3)
    write_record(writer, "activations", "embeddings", header, arrays, 0, "fc")
    header = dict(header, labels=header["labels"][:5])
    arrays = dict(arrays, neighbors=np.full_like(arrays["neighbors"], 99))
    write_record(writer, "activations", "embeddings", header, arrays, 1, "fc")
    header, arrays = patches_record(0)
    arrays["patches"] = arrays["patches"][:, :, :, 0, 0]
    write_record(writer, "activations", "top_patches", header, arrays, 0, "conv2")
    writer.close()


# ---------------------------------------------------------------- hostile logdirs
# Hand-crafted bytes that the plugin must answer without a 500: see `test_plugin_damaged.py`.

HOSTILE_RUN = "hostile"
BADMETA_RUN = "badmeta"
UNICODE_RUN = "\u00fcn\u00ef/\U0001f600 \u05e8\u05d5\u05e5 \u2028 e\u0301"  # a nested directory; emoji, RTL, U+2028
SALIENCY = "kerasviz/attribution/saliency"
BOMB_BYTES = 128 * 1024 * 1024  # what the zip bomb inflates to


def npy_bytes(array):
    """The `.npy` bytes of `array` (object arrays pickled, as `numpy.save` does)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npy_declared(descr, shape, data=b""):
    """A `.npy` member whose header declares `descr` and `shape`, followed by `data` as written."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


def npz_bytes(members):
    """A deflated zip of `{member name: bytes}`, e.g. `{"maps.npy": npy_bytes(x)}`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_bomb(nbytes=BOMB_BYTES):
    """A few hundred KB of npz whose float16 `maps` inflate to `nbytes` of zeros (streamed: never all in memory)."""
    buffer = io.BytesIO()
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("maps.npy", "w", force_zip64=True) as member:
            member.write(npy_declared("<f2", (nbytes // 2,)))
            for _ in range(nbytes // len(chunk)):
                member.write(chunk)
    return buffer.getvalue()


def _nested(depth):
    return b'{"family": "attribution", "method": "saliency", "version": 1, "deep": ' + b"[" * depth + b"]" * depth + b"}"


def hostile_records():
    """`[(kind, [blob, ...], expected)]`: one record per kind, written at step = its index.

    `expected` is the text a 404 answer must contain, or None for an odd record that
    must be served (200, strict JSON).
    """
    header, arrays = attribution_record("saliency", 0, n=2, size=8)
    _, (good_header, good_arrays), _ = library_record("attribution", "saliency", header, arrays)
    image_npy = npy_bytes(arrays["images"])
    extremes = np.array([[np.nan, np.inf, -np.inf, 3e38], [-3e38, 0.0, 1.0, 2.0]], np.float32)
    nonfinite_header = good_header[:-1] + b', "score": NaN, "limits": [Infinity, -Infinity, 1e999]}'
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    return [
        ("good", [good_header, good_arrays], None),
        ("header nested 50,000 levels", [_nested(50_000), good_arrays], "nested too deeply"),
        ("header nested 40 levels", [_nested(40), good_arrays], "nested too deeply"),
        ("header over 4 MB", [good_header[:-1] + b', "pad": "' + b" " * (4 * 1024 * 1024) + b'"}', good_arrays],
         "too large"),
        ("header a JSON list", [b"[1, 2, 3]", good_arrays], "not a JSON object"),
        ("header version 2", [good_header.replace(b'"version": 1', b'"version": 2'), good_arrays], "version: 2"),
        ("header of another series", [good_header.replace(b'"saliency"', b'"gradcam"'), good_arrays],
         "does not belong"),
        ("blobs not ours (PNG)", [png, png], "Unreadable kerasviz record header"),
        ("empty blobs", [b"", b""], "Unreadable kerasviz record header"),
        ("three blobs", [good_header, good_arrays, good_arrays], "3 blob(s)"),
        ("structured dtype", [good_header, npz_bytes(
            {"images.npy": image_npy, "maps.npy": npy_bytes(np.zeros(3, [("a", "<f4"), ("b", "<i4")]))})], "dtype"),
        ("0-d array with a scale", [good_header, npz_bytes(
            {"maps.npy": npy_bytes(np.float16(0.5)), "maps__scale.npy": npy_bytes(np.ones(1, np.float32))})],
         "scale"),
        ("scale of the wrong shape", [good_header, npz_bytes(
            {"maps.npy": npy_bytes(np.ones((2, 3), np.float16)), "maps__scale.npy": npy_bytes(np.ones(5, np.float32))})],
         "scale"),
        ("object dtype (pickle)", [good_header, npz_bytes(
            {"images.npy": image_npy, "maps.npy": npy_bytes(np.array([{"a": 1}, None], dtype=object))})], "dtype"),
        ("string dtype", [good_header, npz_bytes({"maps.npy": npy_bytes(np.array(["a", "bc"]))})], "dtype"),
        ("huge declared shape", [good_header, npz_bytes(
            {"maps.npy": npy_declared("<f4", (10**6, 10**6), bytes(16))})], "bytes"),
        ("declared shape larger than its data", [good_header, npz_bytes(
            {"maps.npy": npy_declared("<f4", (1000,), bytes(16))})], "holds"),
        ("zip bomb (128 MiB inflated)", [good_header, zip_bomb()], "bytes"),
        ("too many arrays", [good_header, npz_bytes(
            {f"a{i}.npy": npy_bytes(np.zeros(1, np.uint8)) for i in range(100)})], "arrays"),
        ("a member that is not an array", [good_header, npz_bytes(
            {"images.npy": image_npy, "notes.txt": b"hello"})], "not an array"),
        ("truncated npz", [good_header, good_arrays[: len(good_arrays) // 2]], "Damaged kerasviz record arrays"),
        ("NaN and infinities in the header", [nonfinite_header, good_arrays], None),
        ("NaN, infinities and extremes in arrays", [good_header, npz_bytes(
            {"images.npy": image_npy, "maps.npy": npy_bytes(extremes), "ints.npy": npy_bytes(np.arange(4) - 2**62),
             "scaled.npy": npy_bytes(np.ones((3, 2), np.float16)),
             "scaled__scale.npy": npy_bytes(np.array([np.inf, 0.0, np.nan], np.float32))})], None),
        ("images with no pixels", [good_header, npz_bytes(
            {"images.npy": npy_bytes(np.zeros((2, 0, 4, 3), np.uint8))})], None),
    ]


def hostile_metadata():
    """`[(kind, plugin_data.content, expected error text)]`: one damaged series metadata per kind."""
    return [
        ("nested 50,000 levels", b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        ("a protobuf, not JSON", b"\x08\x01\x12\x04abcd", "Unreadable kerasviz metadata"),
        ("empty", b"", "Unreadable kerasviz metadata"),
        ("a JSON list", b"[1]", "not a JSON object"),
        ("version 2", b'{"family": "attribution", "method": "saliency", "version": 2}', "version: 2"),
        ("family not a string", b'{"family": {"a": 1}, "method": "saliency", "version": 1}', "family"),
        ("over 4 MB", b'{"version": 1, "pad": "' + b" " * (4 * 1024 * 1024) + b'"}', "too large"),
    ]


def badmeta_tag(index):
    """The tag of damaged series metadata `index` in the `badmeta` run."""
    return f"kerasviz/attribution/bad{index}"


def write_hostile(logdir):
    """Runs of damaged and hostile records, series metadata and event files, beside good ones.

    - `hostile`: `SALIENCY` with one record of each `hostile_records()` kind (step = index);
    - `badmeta`: a good `SALIENCY` series and one series per `hostile_metadata()` kind
      (tag `badmeta_tag(index)`), each holding a good record;
    - `UNICODE_RUN`: a good record under a run name of emoji, RTL text, U+2028 and a combining accent;
    - `corrupt`: an event file whose second record's bytes are flipped, then a third good record;
    - `noise`: an event file of random bytes; `empty`: an event file of zero bytes.

    Returns:
        The number of kerasviz series a data provider lists once everything is loaded.
    """
    header, arrays = attribution_record("saliency", 0, n=2, size=8)
    tag, blobs, md = library_record("attribution", "saliency", header, arrays)
    assert tag == SALIENCY
    writer = tf.summary.create_file_writer(os.path.join(logdir, HOSTILE_RUN))
    for step, (_, hostile, _) in enumerate(hostile_records()):
        write_blobs(writer, SALIENCY, step, hostile, md)
    writer.close()

    writer = tf.summary.create_file_writer(os.path.join(logdir, BADMETA_RUN))
    write_record(writer, "attribution", "saliency", header, arrays, 0)
    for index, (_, content, _) in enumerate(hostile_metadata()):
        damaged = summary_pb2.SummaryMetadata.FromString(md.SerializeToString())
        damaged.plugin_data.content = content
        write_blobs(writer, badmeta_tag(index), 0, blobs, damaged)
    writer.close()

    writer = tf.summary.create_file_writer(os.path.join(logdir, UNICODE_RUN))
    write_record(writer, "attribution", "saliency", header, arrays, 0)
    writer.close()

    run = os.path.join(logdir, "corrupt")
    writer = tf.summary.create_file_writer(run)
    for step in range(3):
        write_record(writer, "attribution", "saliency", header, arrays, step)
    writer.close()
    (event_file,) = [os.path.join(run, f) for f in os.listdir(run)]
    with open(event_file, "r+b") as handle:
        content = bytearray(handle.read())
        middle = len(content) // 2
        content[middle : middle + 64] = bytes(64)
        handle.seek(0)
        handle.write(content)

    for name, data in (("noise", np.random.default_rng(0).bytes(4096)), ("empty", b"")):
        os.makedirs(os.path.join(logdir, name))
        with open(os.path.join(logdir, name, "events.out.tfevents.0.kerasviz"), "wb") as handle:
            handle.write(data)
    return 1 + (1 + len(hostile_metadata())) + 1 + 1
