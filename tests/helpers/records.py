"""Writes kerasviz logdirs for the plugin and dashboard tests (no mocks: real event files).

The records' content is built here; they are written by the library's own
writer, `kerasviz.summary.write_record` (tag, summary metadata and encoding
of `tb_plugin/metadata.py`), into a `tf.summary` file writer, as
`kerasviz.summary` documents for records written outside the callbacks.
Records the library would never write (damaged, hostile, of an unknown
family) are `tests/helpers/damaged.py`'s.

Attribution records follow the layout of `kerasviz/summary.py`: header
{family, method, params, layer, target, class_names, labels, predictions,
probabilities, value_range}, arrays {images uint8 [N,H,W,C], maps [N,H,W]
(occlusion: [N,nY,nX])}, plus scalar metrics
`kerasviz/attribution/<method>/deletion_auc|insertion_auc`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasviz import summary  # noqa: E402
from kerasviz.metrics import METRICS  # noqa: E402
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


def write_record(writer, family, method, header, arrays, step, suffix=None):
    """One record through the library's writer (`kerasviz.summary.write_record`) into `writer`, flushed.

    The tag is `metadata.tag_for(family, method, suffix)`; the header gets
    `family`, `method` and the schema version as the library writes them.
    """
    with writer.as_default():
        assert summary.write_record(family, method, header, arrays, step=step, suffix=suffix)
    writer.flush()


def write_run(run_dir, steps=3, methods=("saliency", "gradcam", "occlusion"), n=4, size=32, classes=None,
              params=None):
    """A run with one record per method per step and deletion/insertion AUC scalars."""
    writer = tf.summary.create_file_writer(run_dir)
    for step in range(steps):
        for method in methods:
            header, arrays = attribution_record(method, step, n, size, method == "occlusion", classes, params)
            write_record(writer, "attribution", method, header, arrays, step)
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
    write_record(writer, "attribution", "saliency", header, arrays, 0)
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
        write_record(writer, "synthesis", "class_visualization", header, arrays, step)
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
            write_record(writer, "activations", "filters", header, arrays, step, metadata.layer_suffix(layer))
        if embeddings:
            header, arrays = embeddings_record(step, steps, n=n, k=k, class_names=class_names)
            write_record(writer, "activations", "embeddings", header, arrays, step, "fc")
        if patches:
            header, arrays = patches_record(step)
            write_record(writer, "activations", "top_patches", header, arrays, step, "conv2")
    writer.close()
