"""Writes kerasviz logdirs for the plugin and dashboard tests (no mocks: real event files).

Records follow `tb_plugin/metadata.py` and the attribution record layout of
`kerasviz/summary.py`: header {family, method, params, layer, target,
class_names, labels, predictions, probabilities, value_range}, arrays
{images uint8 [N,H,W,C], maps [N,H,W] (occlusion: [N,nY,nX])}, plus scalar
metrics `kerasviz/attribution/<method>/deletion_auc|insertion_auc`.
"""

import io
import os
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tb_plugin import metadata  # noqa: E402
from kerasviz.metrics import METRICS  # noqa: E402

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


def attribution_record(method, step, n=4, size=32, occlusion=False, classes=None, params=None):
    """`(header, arrays)` of one attribution record whose maps move with `step` (`params`: its parameters if not occlusion)."""
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
    params = {"patch": size // grid, "stride": size // grid} if occlusion else dict(params or {"samples": 8})
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


def write_run(run_dir, steps=3, methods=("saliency", "gradcam", "occlusion"), n=4, size=32, classes=None,
              params=None):
    """A run with one record per method per step and deletion/insertion AUC scalars."""
    writer = tf.summary.create_file_writer(run_dir)
    for step in range(steps):
        for method in methods:
            header, arrays = attribution_record(method, step, n, size, method == "occlusion", classes, params)
            write_record(writer, metadata.tag_for("attribution", method), step, header, arrays)
            with writer.as_default():
                for k, metric in enumerate(("deletion_auc", "insertion_auc")):
                    value = 0.2 + 0.05 * step + 0.1 * k + 0.02 * methods.index(method)
                    description = metadata.metric_description(metric, method, METRICS[metric].higher_is_better)
                    tf.summary.scalar(metadata.tag_for("attribution", method, metric), value, step,
                                      description=description)
    writer.close()


def write_constant_run(run_dir, n=3):
    """One saliency record whose map of image 0 is constant (a model that ignores its input)."""
    header, arrays = attribution_record("saliency", 0, n)
    arrays["maps"][0] = 0.25
    writer = tf.summary.create_file_writer(run_dir)
    write_record(writer, metadata.tag_for("attribution", "saliency"), 0, header, arrays)
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
        header = {"family": "experimental", "method": "probe", "layer": "conv1", "note": XSS}
        arrays = {"images": images(6, 8, seed=step), "weights": np.linspace(0, 1, 12).reshape(3, 4)}
        write_record(writer, metadata.TAG_PREFIX + "experimental/probe", step, header, arrays,
                     family="experimental")
    writer.close()


# ---------------------------------------------------------------- synthesis records
# Tag `kerasviz/synthesis/<method>[/<suffix>]`; header {method, target, classes, class_names, params,
# value_range, steps, snapshot_every}; arrays {images uint8 [N,H,W,C], losses [N or 1, steps],
# snapshots uint8 [S,H,W,C] (optional)}, as `kerasviz.callbacks.ClassVisualizationCallback` writes them.


def synthesis_record(step, classes=(0, 2, 3), size=16, opt_steps=20, snapshots=4, per_image_losses=False):
    """`(header, arrays)` of one class visualization record whose images change with `step`."""
    n = len(classes)
    yy, xx = np.mgrid[:size, :size] / size
    pictures = np.zeros((n, size, size, 3), np.uint8)
    for i, c in enumerate(classes):
        phase = 2 + 3 * c + step
        pictures[i, ..., 0] = 127 + 120 * np.sin(phase * xx * np.pi)
        pictures[i, ..., 1] = 127 + 120 * np.cos(phase * yy * np.pi)
        pictures[i, ..., 2] = (40 * step + 60 * i) % 256
    t = np.arange(1, opt_steps + 1, dtype=np.float32)
    rows = [(1 + k + step) * np.log1p(t) for k in range(n)] if per_image_losses else [(1 + step) * np.log1p(t)]
    header = {
        "family": "synthesis", "method": "class_visualization", "classes": list(classes),
        "class_names": CLASS_NAMES, "target": "classes " + ", ".join(str(c) for c in classes),
        "params": {"steps": opt_steps, "seed": 0}, "value_range": [0.0, 1.0], "steps": opt_steps,
        "snapshot_every": opt_steps // snapshots if snapshots else 0,
    }
    arrays = {"images": pictures, "losses": np.stack(rows).astype(np.float32)}
    if snapshots:
        frames = [np.concatenate(list((pictures * ((s + 1) / snapshots)).astype(np.uint8)), axis=1)
                  for s in range(snapshots)]
        arrays["snapshots"] = np.stack(frames)
    return header, arrays


def write_synthesis_run(run_dir, steps=3, **kwargs):
    """A run with one class visualization record per step."""
    writer = tf.summary.create_file_writer(run_dir)
    for step in range(steps):
        header, arrays = synthesis_record(step, **kwargs)
        write_record(writer, metadata.tag_for("synthesis", "class_visualization"), step, header, arrays,
                     family="synthesis")
    writer.close()


# ---------------------------------------------------------------- activations records
# Tags `kerasviz/activations/<method>/<layer with "/" replaced by "__">` (`metadata.layer_suffix`, see tb_plugin/README.md).

SHAPE_NAMES = ["disk", "square", "triangle", "cross"]


def activations_tag(method, layer):
    """`kerasviz/activations/<method>/<layer, "/" -> "__">`: one series per method and layer."""
    return metadata.tag_for("activations", method, metadata.layer_suffix(layer))


def shape_images(labels, size=24, seed=0):
    """uint8 `[n, size, size, 3]`: class k drawn as SHAPE_NAMES[k % 4] in a random colour on dark noise."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(labels), size, size, 3), np.uint8)
    for i, label in enumerate(labels):
        cy, cx = rng.uniform(0.4, 0.6, 2) * size
        r = rng.uniform(0.22, 0.32) * size
        yy, xx = np.mgrid[:size, :size] - np.array([cy, cx])[:, None, None]
        mask = [yy**2 + xx**2 < r * r,
                np.maximum(abs(yy), abs(xx)) < r * 0.85,
                (yy < r * 0.7) & (abs(xx) < (yy + r) * 0.6),
                (np.minimum(abs(yy), abs(xx)) < r * 0.3) & (np.maximum(abs(yy), abs(xx)) < r)][int(label) % 4]
        out[i] = rng.integers(15, 45, (size, size, 1))
        out[i][mask] = rng.integers(90, 256, 3)
    return out


def filters_record(step, steps=3, layer="conv1", filters=16, kernel=3, channels=3):
    """`(header, arrays)`: the layer's filters as a grid (1-px gaps) that turns from noise into edges over steps."""
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(filters, kernel, kernel, channels))
    yy, xx = np.mgrid[:kernel, :kernel] - (kernel - 1) / 2
    angles = np.linspace(0, np.pi, filters, endpoint=False)
    edges = np.stack([np.cos(a) * xx + np.sin(a) * yy for a in angles])[..., None]
    edges = edges * rng.normal(size=(filters, 1, 1, channels))
    mix = min(1.0, step / max(1, steps - 1))
    weights = (1 - mix) * noise + mix * edges
    weights = weights / np.abs(weights).max()
    columns = int(np.ceil(np.sqrt(filters)))
    rows = -(-filters // columns)
    shown = channels if channels == 3 else 1
    grid = np.full((rows * (kernel + 1) + 1, columns * (kernel + 1) + 1, shown), 255, np.uint8)
    for f in range(filters):
        r, c = divmod(f, columns)
        tile = weights[f] if shown == 3 else weights[f].mean(axis=-1, keepdims=True)
        grid[1 + r * (kernel + 1):(r + 1) * (kernel + 1), 1 + c * (kernel + 1):(c + 1) * (kernel + 1)] = \
            np.round(127.5 + 127.5 * tile).astype(np.uint8)
    header = {
        "family": "activations", "method": "filters", "layer": layer,
        "kernel_shape": [kernel, kernel, channels, filters],
        "description": f"{filters} filters of {kernel}x{kernel}x{channels}"
                       + (", RGB: grey is 0" if shown == 3 else ", mean over input channels: grey is 0"),
    }
    return header, {"grid": grid}


def embeddings_record(step, steps=3, n=48, k=5, layer="fc", class_names=None, projection="pca",
                      projector_run="projector", size=24):
    """`(header, arrays)`: n points whose class clusters separate over steps, with neighbours in feature space."""
    class_names = list(SHAPE_NAMES if class_names is None else class_names)
    classes = len(class_names)
    rng = np.random.default_rng(2)
    labels = np.arange(n) % classes
    centers = rng.normal(size=(classes, 8)) * 2.5
    noise = rng.normal(size=(n, 8))
    spread = 0.15 + 0.85 * min(1.0, step / max(1, steps - 1))
    features = spread * centers[labels] + noise
    centered = features - features.mean(axis=0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    coords = (centered @ vt[:2].T).astype(np.float32)
    distances = ((features[:, None] - features[None]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    neighbors = np.argsort(distances, axis=1, kind="stable")[:, :k]
    wrong = rng.random(n) < 0.5 * (1 - spread)
    predictions = np.where(wrong, (labels + 1) % classes, labels)
    probabilities = np.round(0.4 + 0.55 * rng.random(n) * spread, 3)
    header = {
        "family": "activations", "method": "embeddings", "layer": layer, "projection": projection,
        "class_names": class_names, "labels": labels.tolist(), "predictions": predictions.tolist(),
        "probabilities": probabilities.tolist(), "projector_run": projector_run,
    }
    arrays = {"coords": coords, "thumbnails": shape_images(labels, size, seed=3),
              "neighbors": neighbors.astype(np.int32)}
    return header, arrays


def patches_record(step, layer="conv2", channels=(0, 3, 5, 7), k=6, size=11, stride=2, images_count=20):
    """`(header, arrays)`: for each channel the k crops (size x size, zero-padded at borders) that excite it most."""
    rng = np.random.default_rng(4 + step)
    source = shape_images(np.arange(images_count) % 4, 32, seed=5)
    pad = size // 2
    padded = np.pad(source, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    count = len(channels)
    patches = np.zeros((count, k, size, size, 3), np.uint8)
    boxes = np.zeros((count, k, 4), np.int32)
    index = rng.integers(0, images_count, (count, k)).astype(np.int32)
    for c in range(count):
        for j in range(k):
            y, x = (rng.integers(0, 32 // stride, 2) * stride).tolist()
            patches[c, j] = padded[index[c, j], y:y + size, x:x + size]
            boxes[c, j] = [y - pad, x - pad, y - pad + size, x - pad + size]
    scores = np.sort(rng.uniform(0.5, 4.0, (count, k)), axis=1)[:, ::-1] * (1 + step)
    header = {
        "family": "activations", "method": "top_patches", "layer": layer, "channels": [int(c) for c in channels],
        "receptive_field": {"size": [size, size], "stride": [stride, stride]},
    }
    return header, {"patches": patches, "scores": scores.astype(np.float32), "boxes": boxes, "image_index": index}


def write_activations_run(run_dir, steps=3, filter_layers=("conv1", "block/conv2"), embeddings=True, patches=True,
                          class_names=None, n=48, k=5):
    """A run with filters of each layer, embeddings of `fc` and top patches of `conv2`, one record per step each."""
    writer = tf.summary.create_file_writer(run_dir)
    for step in range(steps):
        for layer in filter_layers:
            channels = 3 if layer == filter_layers[0] else 8
            header, arrays = filters_record(step, steps, layer, filters=16 if channels == 3 else 12, channels=channels)
            write_record(writer, activations_tag("filters", layer), step, header, arrays, family="activations")
        if embeddings:
            header, arrays = embeddings_record(step, steps, n=n, k=k, class_names=class_names)
            write_record(writer, activations_tag("embeddings", "fc"), step, header, arrays, family="activations")
        if patches:
            header, arrays = patches_record(step)
            write_record(writer, activations_tag("top_patches", "conv2"), step, header, arrays, family="activations")
    writer.close()


def write_damaged_activations(run_dir):
    """Activations records that must never make a route answer 500 (nor break a view).

    filters/conv1: step 0 fine, step 1 a float grid, step 2 garbage arrays;
    embeddings/fc: step 0 fine, step 1 labels shorter than coords and neighbours out of range;
    top_patches/conv2: step 0 patches of rank 3 (not crops).
    """
    writer = tf.summary.create_file_writer(run_dir)
    header, arrays = filters_record(0)
    write_record(writer, activations_tag("filters", "conv1"), 0, header, arrays, family="activations")
    write_record(writer, activations_tag("filters", "conv1"), 1, header, {"grid": arrays["grid"] / 255.0},
                 family="activations")
    blobs = metadata.encode_record(header, arrays)
    with writer.as_default():
        tf.summary.write(activations_tag("filters", "conv1"), tf.constant([blobs[0], b"PK\x03\x04garbage"]), 2,
                         metadata=metadata.create_summary_metadata("activations", "filters"))
    header, arrays = embeddings_record(0, n=12, k=3)
    write_record(writer, activations_tag("embeddings", "fc"), 0, header, arrays, family="activations")
    header = dict(header, labels=header["labels"][:5])
    arrays = dict(arrays, neighbors=np.full_like(arrays["neighbors"], 99))
    write_record(writer, activations_tag("embeddings", "fc"), 1, header, arrays, family="activations")
    header, arrays = patches_record(0)
    arrays["patches"] = arrays["patches"][:, :, :, 0, 0]
    write_record(writer, activations_tag("top_patches", "conv2"), 0, header, arrays, family="activations")
    writer.close()


# ---------------------------------------------------------------- hostile logdirs
# Hand-crafted bytes that the plugin must answer without a 500: see `tests/test_plugin_damaged.py`.

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
    good_header, good_arrays = metadata.encode_record(header, arrays)
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


def _write_blobs(writer, tag, step, blobs, md):
    with writer.as_default():
        tf.summary.write(tag, tf.constant(blobs), step, metadata=md)


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
    md = metadata.create_summary_metadata("attribution", "saliency")
    writer = tf.summary.create_file_writer(os.path.join(logdir, HOSTILE_RUN))
    for step, (_, blobs, _) in enumerate(hostile_records()):
        _write_blobs(writer, SALIENCY, step, blobs, md)
    writer.close()

    header, arrays = attribution_record("saliency", 0, n=2, size=8)
    writer = tf.summary.create_file_writer(os.path.join(logdir, BADMETA_RUN))
    write_record(writer, SALIENCY, 0, header, arrays)
    for index, (_, content, _) in enumerate(hostile_metadata()):
        damaged = metadata.create_summary_metadata("attribution", "saliency")
        damaged.plugin_data.content = content
        _write_blobs(writer, badmeta_tag(index), 0, metadata.encode_record(header, arrays), damaged)
    writer.close()

    writer = tf.summary.create_file_writer(os.path.join(logdir, UNICODE_RUN))
    write_record(writer, SALIENCY, 0, header, arrays)
    writer.close()

    run = os.path.join(logdir, "corrupt")
    writer = tf.summary.create_file_writer(run)
    for step in range(3):
        write_record(writer, SALIENCY, step, header, arrays)
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
