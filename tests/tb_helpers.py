"""Writes kerasviz logdirs for the plugin and dashboard tests (no mocks: real event files).

Records follow `tb_plugin/metadata.py` and the attribution record layout of
`kerasviz/summary.py`: header {family, method, params, layer, target,
class_names, labels, predictions, probabilities, value_range}, arrays
{images uint8 [N,H,W,C], maps [N,H,W] (occlusion: [N,nY,nX])}, plus scalar
metrics `kerasviz/attribution/<method>/deletion_auc|insertion_auc`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tb_plugin import metadata  # noqa: E402

XSS = "<img src=x onerror=alert(1)>"
CLASS_NAMES = ["cat", "dog", XSS, "ship \u00e9\u6f22"]


def images(n=4, size=32, seed=0):
    """Simple coloured shapes on a dark background, uint8 [n, size, size, 3]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        cy, cx, r = rng.integers(size // 4, 3 * size // 4, 2).tolist() + [size // 4]
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        out[i] = (20 + 10 * rng.random((size, size, 1))).astype(np.uint8)
        out[i][disk] = rng.integers(80, 255, 3)
    return out


def attribution_record(method, step, n=4, size=32, occlusion=False, classes=None):
    """`(header, arrays)` of one attribution record whose maps move with `step`."""
    yy, xx = np.mgrid[:size, :size] / size
    grid = 4 if occlusion else size

    def blob(i, k):
        cy, cx = (0.2 + 0.15 * i + 0.05 * step) % 1.0, (0.3 + 0.1 * step + 0.35 * k) % 1.0
        full = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) * 20)
        return full[:: size // grid, :: size // grid] if occlusion else full

    if classes is None:
        maps = np.stack([blob(i, 0) for i in range(n)]).astype(np.float32)
    else:
        maps = np.stack([[blob(i, k) for k in range(len(classes))] for i in range(n)]).astype(np.float32)
    probabilities = np.full((n, len(CLASS_NAMES)), 0.1, np.float32)
    labels = [i % len(CLASS_NAMES) for i in range(n)]
    predictions = [(i + step) % len(CLASS_NAMES) for i in range(n)]
    for i, p in enumerate(predictions):
        probabilities[i, p] = 0.7
    params = {"patch": size // grid, "stride": size // grid} if occlusion else {"samples": 8}
    header = {
        "family": "attribution", "method": method, "params": params, "layer": "conv2" if occlusion else None,
        "class_names": CLASS_NAMES, "labels": labels, "predictions": predictions, "value_range": [0.0, 1.0],
    }
    if classes is None:  # as `kerasviz.summary.write_attribution` writes it
        header.update(target="predicted class", lower_is_important=occlusion,
                      true_probability=[float(probabilities[i, c]) for i, c in enumerate(labels)],
                      predicted_probability=[float(probabilities[i, c]) for i, c in enumerate(predictions)])
    else:  # maps for several classes, full probability vectors
        header.update(target=None, map_classes=list(classes), probabilities=probabilities.tolist())
    return header, {"images": images(n, size), "maps": maps}


def write_record(writer, tag, step, header, arrays, family="attribution", method=None):
    """One record through `tf.summary.write` with our summary metadata."""
    method = method or header.get("method")
    blobs = metadata.encode_record(header, arrays)
    with writer.as_default():
        tf.summary.write(tag, tf.constant(blobs), step, metadata=metadata.create_summary_metadata(family, method))
    writer.flush()


def write_run(run_dir, steps=3, methods=("saliency", "gradcam", "occlusion"), n=4, size=32, classes=None):
    """A run with one record per method per step and deletion/insertion AUC scalars."""
    writer = tf.summary.create_file_writer(run_dir)
    for step in range(steps):
        for method in methods:
            header, arrays = attribution_record(method, step, n, size, method == "occlusion", classes)
            write_record(writer, metadata.tag_for("attribution", method), step, header, arrays)
            with writer.as_default():
                for k, metric in enumerate(("deletion_auc", "insertion_auc")):
                    value = 0.2 + 0.05 * step + 0.1 * k + 0.02 * methods.index(method)
                    tf.summary.scalar(metadata.tag_for("attribution", method, metric), value, step)
    writer.close()


def write_damaged(logdir):
    """Runs that must never make a route answer 500: see `tests/test_plugin.py`."""
    # An unknown record version in the series metadata.
    writer = tf.summary.create_file_writer(os.path.join(logdir, "future"))
    header, arrays = attribution_record("saliency", 0)
    md = metadata.create_summary_metadata("attribution", "saliency")
    md.plugin_data.content = b'{"family": "attribution", "method": "saliency", "version": 99}'
    with writer.as_default():
        tf.summary.write("kerasviz/attribution/saliency", tf.constant(metadata.encode_record(header, arrays)), 0, metadata=md)
    writer.close()
    # Good metadata, but the header blob says version 99, and the npz blob is garbage at step 1,
    # and a record with a single blob at step 2.
    writer = tf.summary.create_file_writer(os.path.join(logdir, "garbage"))
    blobs = metadata.encode_record(header, arrays)
    md = metadata.create_summary_metadata("attribution", "saliency")
    with writer.as_default():
        bad_header = blobs[0].replace(b'"version": 1', b'"version": 99')
        tf.summary.write("kerasviz/attribution/saliency", tf.constant([bad_header, blobs[1]]), 0, metadata=md)
        tf.summary.write("kerasviz/attribution/saliency", tf.constant([blobs[0], b"PK\x03\x04garbage"]), 1, metadata=md)
        tf.summary.write("kerasviz/attribution/saliency", tf.constant([blobs[0]]), 2, metadata=md)
        tf.summary.write("kerasviz/attribution/saliency", tf.constant([b"\xff\xfe not json", blobs[1]]), 3, metadata=md)
    writer.close()
    # A truncated event file: two good records, then the file cut in the middle of a third.
    run = os.path.join(logdir, "truncated")
    writer = tf.summary.create_file_writer(run)
    for step in range(3):
        header, arrays = attribution_record("saliency", step)
        write_record(writer, "kerasviz/attribution/saliency", step, header, arrays)
    writer.close()
    (event_file,) = [os.path.join(run, f) for f in os.listdir(run)]
    size = os.path.getsize(event_file)
    with open(event_file, "r+b") as handle:
        handle.truncate(size - size // 5)


def write_other_family(run_dir, steps=2):
    """Records of a family without a dedicated view (shown by the generic view)."""
    writer = tf.summary.create_file_writer(run_dir)
    for step in range(steps):
        header = {"family": "activations", "method": "filters", "layer": "conv1", "note": XSS}
        arrays = {"images": images(6, 8, seed=step), "weights": np.linspace(0, 1, 12).reshape(3, 4)}
        write_record(writer, metadata.tag_for("activations", "filters"), step, header, arrays, family="activations")
    writer.close()
