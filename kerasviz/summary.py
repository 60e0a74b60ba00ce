"""Writing visualizations for TensorBoard: image tab, projector tab, our plugin's records.

Three consumers, three formats:

- **Images tab**: one PNG per tag and step, in `tf.summary.image`'s format
  (encoded on the host: `write_png`), under `kerasviz/<family>/<method>/...`,
  e.g. a row of the images with their coloured maps overlaid (`kerasviz.image`).
- **Projector tab**: `write_embeddings` puts feature vectors (a TF
  checkpoint), `metadata.tsv`-style labels, a sprite and
  `projector_config.pbtxt` inside one run directory.
- **The kerasviz dashboard**: `write_record` writes one record (see
  `tb_plugin.metadata`) per step under `kerasviz/<family>/<method>`.
  Attribution records (`write_attribution`) carry the header keys `family`,
  `method`, `params`, `layer`, `target`, `class_names`, `labels`,
  `predictions`, `true_probability`, `predicted_probability`, `value_range`,
  `lower_is_important` (true for occlusion scores)
  and the arrays `images` (uint8 `[N, H, W, C]`, display space) and `maps`
  (float `[N, h, w]`: `[N, H, W]` for gradient maps, `[N, nY, nX]` for
  occlusion, whose `params` then give `patch` and `stride`).

The `tf.summary` writers (`write_record`, `write_png`, `write_attribution`)
write to the default summary writer (`with writer.as_default(step):`) and do
nothing, without encoding anything, when no writer records summaries. Inside
`journal(entries)` they append the serialized events to `entries` instead, for
a writer that appends them itself and verifies what reached the disk
(`kerasviz.eventfile`).
"""

import contextlib
import io
import logging
import math
import numbers
import os
import re
import threading
import time

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from PIL import Image
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.projector import projector_config_pb2
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.util import tensor_util

from kerasviz import image, input_groups, inputs
from tb_plugin import metadata

PROJECTOR_FILENAME = "projector_config.pbtxt"
MAX_SPRITE_SIZE = 8192
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_JOURNAL = threading.local()


@contextlib.contextmanager
def journal(entries, step=None):
    """Within, this module's summaries are appended to `entries` instead of a `tf.summary` writer.

    Each entry is `(tag, step, event)`: `event` is the serialized
    `tensorboard.compat.proto.event_pb2.Event` that `tf.summary.write` would
    have written. Summaries are recorded inside even without a default
    writer; `step` is the default step there.
    """
    previous = getattr(_JOURNAL, "state", None)
    _JOURNAL.state = (entries, step)
    try:
        yield entries
    finally:
        _JOURNAL.state = previous


def recording():
    """True inside `journal`, or when a default summary writer exists and records at this point."""
    return getattr(_JOURNAL, "state", None) is not None or bool(tf.summary.should_record_summaries())


def _write(tag, values, step, summary_metadata):
    """Writes one summary (a numpy value) to the journal or the default `tf.summary` writer."""
    state = getattr(_JOURNAL, "state", None)
    if state is None:
        return bool(tf.summary.write(tag, tf.constant(values), step=step, metadata=summary_metadata))
    entries, default_step = state
    step = default_step if step is None else step
    if step is None:
        raise ValueError(f"Received step=None for {tag!r} and no default step is set.")
    value = summary_pb2.Summary.Value(tag=tag, tensor=tensor_util.make_tensor_proto(values),
                                      metadata=summary_metadata)
    event = event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary_pb2.Summary(value=[value]))
    entries.append((tag, int(step), event.SerializeToString()))
    return True


def write_record(family, method, header, arrays, step=None, suffix=None):
    """Writes one kerasviz record (`tb_plugin.metadata`) for our dashboard.

    The record is a rank-1 string tensor of two blobs (JSON header, npz
    arrays) with blob-sequence summary metadata, under the tag
    `kerasviz/<family>/<method>`. Nothing is encoded when no default writer
    records (`tf.summary.should_record_summaries()` is false).

    Args:
        family: one of `tb_plugin.metadata.FAMILIES`.
        method: the method's name (a tag component).
        header: JSON-serializable dict; `family` and `method` are added.
        arrays: `{name: numpy array}`.
        step: the step; `None` uses `tf.summary.experimental.get_step()`.
        suffix: a last tag component (e.g. the layer, "/" written "__"), so
            that one method has a series per layer.

    Returns:
        True when the record was written.
    """
    tag = metadata.tag_for(family, method, suffix)
    if not recording():
        return False
    blobs = metadata.encode_record(dict(header, family=family, method=method), arrays)
    return _write(tag, np.asarray(blobs, dtype=object), step, metadata.create_summary_metadata(family, method))


def write_png(tag, picture, step=None):
    """Writes one image to the images tab, encoded on the host (as `tf.summary.image` would store it).

    `tf.summary.image` runs a handful of eager ops per call; one PNG encoded
    with Pillow and one `tf.summary.write` cost a fraction of that.

    Args:
        tag: the tag.
        picture: `[H, W, C]`, float in [0, 1] or uint8, C in {1, 3, 4}.
        step: the step (`None`: the default step).
    """
    if not recording():
        return False
    picture = image.to_uint8(picture)
    buffer = io.BytesIO()  # fastest zlib level: this runs every epoch during training
    Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture).save(buffer, "PNG", compress_level=1)
    png = buffer.getvalue()
    tensor = np.asarray([str(picture.shape[1]).encode(), str(picture.shape[0]).encode(), png], dtype=object)
    return _write(tag, tensor, step, image_metadata.create_summary_metadata(None, None))


def overlay_tile(images, maps, *, value_range=(0.0, 1.0), colormap="inferno", alpha=0.5,
                 lower_is_important=False):
    """A `[H', W', 3]` float tile: the images with their normalized maps overlaid, in one row."""
    shown = image.to_display(images, value_range)
    maps = -maps if lower_is_important else maps
    overlays = image.overlay(shown, image.normalize(maps), alpha=alpha, colormap_name=colormap)
    return image.tile(overlays, cols=len(images), pad=2)


def _as_list(values, cast):
    return None if values is None else [cast(v) for v in np.asarray(values).reshape(-1)]


def jsonable(value):
    """A method parameter as a record stores it: JSON numbers, strings, lists, dicts; a big array by its shape.

    Non-finite floats become null, arrays of up to 64 values lists, larger
    ones `"array of shape [...]"`, anything else its `repr`.
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, complex):
        if isinstance(value, (float, np.floating)):
            return float(value) if math.isfinite(value) else None
        return int(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        if isinstance(value, np.ndarray) and value.size > 64:
            return f"array of shape {list(value.shape)}"
        return [jsonable(v) for v in list(value)]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return repr(value)


def write_attribution(method, images, maps, *, step=None, params=None, layer=None,
                      target="predicted class", class_names=None, labels=None,
                      predictions=None, true_probability=None, predicted_probability=None,
                      value_range=(0.0, 1.0), colormap="inferno", metrics=None,
                      lower_is_important=False, grid=None, higher_is_better=None):
    """Writes an attribution method's maps: image tab, dashboard record, metric scalars.

    Tags: `kerasviz/attribution/<method>/overlay` (image tab: the maps
    overlaid on the images, in a row), `kerasviz/attribution/<method>` (record) and, for
    each `metrics` entry, the scalar `kerasviz/attribution/<method>/<name>`.

    A multi-input model's call (`kerasviz.input_groups`): `images` as a dict
    `{input name: array}` or a list (one array per input) and `maps` in the
    same structure (the gradient methods' result) write one series per input
    that has maps, `kerasviz/attribution/<method>/input.<name>` (a list's
    inputs are named `input_<k>`), the column groups of the dashboard: an
    image input's record as above (its images, its maps, its overlay under
    `.../input.<name>/overlay`); a side input's without `images` and `maps`
    but with `values` and `attributions` (float `[N, D]`). Their headers add
    `input` (the name), `input_kind` (`"image"` or `"vector"`) and `inputs`
    (the names written, in order). An input held fixed writes nothing; the
    metric scalars stay one per method. A viewer that knows nothing of
    inputs reads each image input's series as a column of its own.

    Args:
        method: the method's name.
        images: `[N, H, W, C]` in the model's input space, or one array per
            input (a dict or a list) for a multi-input model.
        maps: `[N, h, w]` float maps (any spatial size, e.g. occlusion grids),
            or, per input, the structure of `images` (see above).
        step: the step (`None`: the default step).
        params, layer: what was computed (stored in the header, `jsonable`).
        target: what the maps explain, as JSON: `"predicted class"`, an int,
            one int per image, or a description.
        class_names, labels, predictions: optional per-class names, int `[N]`.
        true_probability, predicted_probability: optional float `[N]`.
        value_range: the model's pixel range, for display; per input, a dict
            `{input name: (lo, hi)}`.
        colormap: one of `kerasviz.image.COLORMAPS` (image tab only).
        metrics: optional `{name: float}` scalars (e.g. `deletion_auc`).
        higher_is_better: optional `{name: bool}`, the metrics' directions
            (`kerasviz.metrics.METRICS`): each scalar's description says
            "higher is better" or "lower is better"
            (`metadata.metric_description`; the dashboard reads it back, and
            TensorBoard's scalar tab shows it).
        lower_is_important: the map's low values mark what matters (occlusion
            scores): the image tab shows `-maps`; the header says so.
        grid: for a method whose maps are a grid of positions (occlusion),
            `{"patch": int, "stride": int}` in pixels
            (`kerasviz.registry.Method.grid`): the header's `grid`, how the
            dashboard maps the grid onto the image.

    Returns:
        True when something was written.

    Raises:
        ValueError, TypeError: per-input `images` and `maps` that do not match
            (`kerasviz.input_groups.input_groups`).
    """
    if not recording():
        return False
    prefix = metadata.tag_for("attribution", method)
    for name, value in (metrics or {}).items():
        better = (higher_is_better or {}).get(name)
        description = None if better is None else metadata.metric_description(name, method, better)
        _write(f"{prefix}/{name}", np.float32(value), step,
               scalar_metadata.create_summary_metadata(None, description))
    header = {
        "params": jsonable(params or {}), "layer": layer, "target": target,
        "lower_is_important": bool(lower_is_important), "grid": jsonable(grid),
        "class_names": None if class_names is None else [str(c) for c in class_names],
        "labels": _as_list(labels, int), "predictions": _as_list(predictions, int),
        "true_probability": _as_list(true_probability, float),
        "predicted_probability": _as_list(predicted_probability, float),
    }
    if not input_groups.is_per_input(images):
        return _write_maps(method, images, maps, header, step, value_range, colormap, lower_is_important)
    groups = [g for g in input_groups.input_groups(images, maps) if g.maps is not None]
    ranges = input_groups.per_input(value_range, [g.name for g in groups], "value_range")
    written = False
    for group in groups:
        one = dict(header, input=group.name, inputs=[g.name for g in groups], input_kind=group.kind)
        suffix = input_groups.tag_suffix(group.name)
        if group.kind == input_groups.IMAGE:
            written |= _write_maps(method, group.values, group.maps, one, step, ranges[group.name], colormap,
                                   lower_is_important, suffix)
        else:
            arrays = {"values": np.asarray(group.values, np.float32), "attributions": group.maps}
            written |= write_record("attribution", method, dict(one, value_range=None), arrays, step, suffix)
    return written


def _write_maps(method, images, maps, header, step, value_range, colormap, lower_is_important, suffix=None):
    """An attribution record of images and their maps (`write_attribution`), and its image tab overlay."""
    images, maps = np.asarray(images), np.asarray(maps, np.float32)
    tag = metadata.tag_for("attribution", method, suffix)
    write_png(tag + "/overlay", overlay_tile(images, maps, value_range=value_range, colormap=colormap,
                                             lower_is_important=lower_is_important), step=step)
    header = dict(header, value_range=None if value_range is None else [float(v) for v in value_range])
    arrays = {"images": image.to_uint8(image.to_display(images, value_range)), "maps": maps}
    return write_record("attribution", method, header, arrays, step=step, suffix=suffix)


def write_regions(method, images, maps, classes, *, masks=None, boxes=None, scores=None, step=None,
                  class_names=None, value_range=(0.0, 1.0)):
    """Writes the maps of each image's regions or boxes: the dashboard's "Regions" view.

    A segmenter's regions (`masks`) or a detector's boxes (`boxes`), one map
    each. Tag `kerasviz/regions/<method>` (a record of the family
    "regions"). The view draws each image with its regions (or boxes) in one
    colour per class; a click on one (or on its button) shows its map over
    the image. `kerasviz.explain_regions(...).write(images)` calls this.

    Args:
        method: the method's name.
        images: `[N, H, W, C]` in the model's input space.
        maps: float `[N, R, h, w]`, one map per image and region, larger =
            more important (any size: drawn stretched over the image).
        classes: int `[R]` (the class of each region column) or `[N, R]`
            (of each image's region: a detector's boxes).
        masks: bool `[N, R, h', w']`, each region (any resolution, e.g. the
            output's); an all-False mask is a region the image does not have.
        boxes: float `[N, R, 4]` instead of masks: `(y0, x0, y1, x1)` in
            fractions of the image (the box format of `kerasviz.Detection`);
            a box with no area (or NaN) is a box the image does not have.
        scores: optional float `[N, R]` shown beside each box or region.
        step: the step (`None`: the default step).
        class_names: optional per-class names.
        value_range: the model's pixel range, for display.

    Returns:
        True when the record was written.
    """
    if not recording():
        return False
    images, maps = np.asarray(images), np.asarray(maps, np.float32)
    n = len(images)
    if maps.ndim != 4 or len(maps) != n:
        raise ValueError(f"Expected `maps` of shape [N, R, h, w] with N = {n} images. Received shape {maps.shape}.")
    regions = maps.shape[1]
    classes = np.asarray(classes, np.int64)
    if classes.shape not in ((regions,), (n, regions)):
        raise ValueError(f"Expected `classes` of shape [R] or [N, R] = [{n}, {regions}]. Received shape "
                         f"{classes.shape}.")
    if (masks is None) == (boxes is None):
        raise ValueError("Pass the regions as `masks` (a segmenter's) or as `boxes` (a detector's): one of them.")
    arrays = {"images": image.to_uint8(image.to_display(images, value_range)), "maps": maps}
    if masks is not None:
        masks = np.asarray(masks, bool)
        if masks.ndim != 4 or masks.shape[:2] != (n, regions):
            raise ValueError(f"Expected `masks` of shape [N, R, h, w] = [{n}, {regions}, h, w]. Received shape "
                             f"{masks.shape}.")
        arrays["masks"] = masks
    else:
        boxes = np.asarray(boxes, np.float32)
        if boxes.shape != (n, regions, 4):
            raise ValueError(f"Expected `boxes` of shape [N, R, 4] = [{n}, {regions}, 4]. Received shape "
                             f"{boxes.shape}.")
        arrays["boxes"] = np.where(np.isfinite(boxes).all(-1, keepdims=True), boxes, 0.0)  # absent: no area
    if scores is not None:
        scores = np.asarray(scores, np.float32)
        if scores.shape != (n, regions):
            raise ValueError(f"Expected `scores` of shape [N, R] = [{n}, {regions}]. Received shape {scores.shape}.")
        arrays["scores"] = scores
    header = {"classes": classes.tolist(),
              "class_names": None if class_names is None else [str(c) for c in class_names],
              "value_range": None if value_range is None else [float(v) for v in value_range]}
    return write_record("regions", method, header, arrays, step=step)


def write_comparison(methods, metrics, values, higher_is_better, *, best, sanity_checks=(), sanity_threshold=None,
                     failures=(), params=None, per_image=None, step=None):
    """Writes a comparison of attribution methods (`kerasviz.metrics.compare`) as one dashboard record.

    Tag `kerasviz/attribution/comparison` (the Attribution tab shows it as a
    table). Header keys: `kind` (`"comparison"`), `methods` (rows),
    `metrics` (columns), `values` (`[methods][metrics]`, the mean over
    images, JSON numbers, null where undefined), `higher_is_better`
    (`{metric: bool}`), `best` (`{metric: [methods]}`), `sanity_checks`
    (the metrics that are sanity checks), `sanity_threshold`, `failures`
    (`[[method, metric]]`: sanity checks failed), `params` (`{method:
    {name: value}}`). Array: `per_image` (float `[methods, metrics, B]`).
    `Comparison.write` calls it; the values are kept exactly in the header
    (the arrays are stored as float16).

    Args:
        methods, metrics: the row and column names (strings).
        values: `[methods][metrics]` floats or None.
        higher_is_better: `{metric: bool}`, one per metric.
        best, sanity_checks, sanity_threshold, failures, params: as above.
        per_image: optional float `[methods, metrics, B]`.
        step: the step (`None`: the default step).

    Returns:
        True when the record was written.

    Raises:
        ValueError: `values` or `higher_is_better` that do not match the names.
    """
    methods, metrics = [str(m) for m in methods], [str(k) for k in metrics]
    rows = [[None if v is None or not np.isfinite(v) else float(v) for v in row] for row in values]
    if len(rows) != len(methods) or any(len(row) != len(metrics) for row in rows):
        raise ValueError(f"Expected `values` to be [methods][metrics] = [{len(methods)}][{len(metrics)}]. "
                         f"Received {len(rows)} rows of {sorted({len(row) for row in rows})} values.")
    if set(higher_is_better) != set(metrics):
        raise ValueError(f"Expected `higher_is_better` to give the direction of each of {metrics}. "
                         f"Received: {sorted(higher_is_better)}.")
    header = {
        "kind": "comparison", "methods": methods, "metrics": metrics, "values": rows,
        "higher_is_better": {k: bool(higher_is_better[k]) for k in metrics},
        "best": {k: [str(m) for m in best.get(k, [])] for k in metrics},
        "sanity_checks": [str(k) for k in sanity_checks],
        "sanity_threshold": None if sanity_threshold is None else float(sanity_threshold),
        "failures": [[str(m), str(k)] for m, k in failures], "params": dict(params or {}),
    }
    arrays = {} if per_image is None else {"per_image": np.asarray(per_image, np.float32)}
    return write_record("attribution", "comparison", header, arrays, step=step)


def write_dataset_summary(methods, metrics, *, n_items, intervals, higher_is_better, histograms, ranked_by,
                          ranked_higher_is_better, strips, k, images, maps, step=None):
    """Writes a whole-dataset explanation (`Explanations.write`) as one dashboard record.

    Tag `kerasviz/dataset/explanations` (the Dataset tab shows it). Header
    keys: `kind` (`"dataset"`), `methods`, `metrics`, `n_items`, `intervals`
    (`{method: {metric: {"mean", "low", "high", "n"}}}`, the 95 % t-interval,
    null where undefined), `higher_is_better` (`{metric: bool}`),
    `histograms` (`{method: {metric: {"edges", "counts", "nan"}}}`, the
    bins of a metric shared by its methods), `ranked_by` (the metric the
    strips are ranked by, or `"predicted_probability"`),
    `ranked_higher_is_better`, `k`, `strips` (`{method: {"best"|"worst":
    {"rows", "map_rows", "index", "value", "label", "predicted"}}}`:
    `rows` into `images`, `map_rows` into the method's maps, `index` the
    dataset indices, best (worst) first), `map_arrays` (`{method: array
    name}`). Arrays: `images` (uint8 `[T, H, W, C]`
    thumbnails, display space) and one `maps_<i>` (float `[T_i, h, w]`) per
    method `i`, rows as `strips` says.

    Args:
        methods, metrics: names, in order.
        n_items, intervals, higher_is_better, histograms, ranked_by,
            ranked_higher_is_better, strips, k: as above.
        images: uint8 `[T, H, W, C]`.
        maps: `{method: float [T_i, h, w]}`.
        step: the step (`None`: the default step).

    Returns:
        True when the record was written.

    Raises:
        ValueError: names, directions or arrays that do not match.
    """
    methods, metrics = [str(m) for m in methods], [str(k_) for k_ in metrics]
    if set(maps) != set(methods):
        raise ValueError(f"Expected `maps` for each of {methods}. Received: {sorted(maps)}.")
    if not set(metrics) <= set(higher_is_better):
        raise ValueError(f"Expected `higher_is_better` to give the direction of each of {metrics}. "
                         f"Received: {sorted(higher_is_better)}.")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"Expected `images` to be uint8 [T, H, W, C]. Received {images.dtype} {images.shape}.")
    header = {
        "kind": "dataset", "methods": methods, "metrics": metrics, "n_items": int(n_items),
        "intervals": intervals, "higher_is_better": {k_: bool(higher_is_better[k_]) for k_ in metrics},
        "histograms": histograms, "ranked_by": str(ranked_by),
        "ranked_higher_is_better": bool(ranked_higher_is_better),
        "strips": strips, "k": int(k), "map_arrays": {m: f"maps_{i}" for i, m in enumerate(methods)},
    }
    arrays = {"images": images}
    arrays.update({f"maps_{i}": np.asarray(maps[m], np.float32) for i, m in enumerate(methods)})
    return write_record("dataset", "explanations", header, arrays, step=step)


def _escape(text):
    return (str(text).replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


def _column(values, argname, n, class_names):
    values = np.asarray(values).reshape(-1) if not isinstance(values, (list, tuple)) else list(values)
    if len(values) != n:
        raise ValueError(f"Received {len(values)} values for `{argname}` but {n} feature vectors: "
                         "pass one per vector.")
    if class_names is None:
        return [_escape(v) for v in values]
    column = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) \
                or not 0 <= v < len(class_names):
            raise ValueError(f"Received an invalid value in `{argname}`: {v!r}. With `class_names`, "
                             f"expected class indices 0 to {len(class_names) - 1}.")
        column.append(_escape(class_names[int(v)]))
    return column


def _has_events(directory):
    return any("tfevents" in f for f in tf.io.gfile.listdir(directory))


# What TensorBoard's projector loads (its frontend, TensorBoard 2.x): it asks for at most 100,000 rows of a
# tensor (`num_rows=100000`; later rows never reach the browser), computes t-SNE on a 10,000-point sample,
# UMAP on 5,000 and PCA on 50,000 points and 200 dimensions, rejects sprites over 8192 px a side, and colours
# a metadata column with more than 50 distinct values as a gradient. The vectors travel as one float32
# buffer: PROJECTOR_MAX_VALUES (our choice, 200 MB) keeps that within what a browser tab holds comfortably.
PROJECTOR_MAX_POINTS = 100_000
PROJECTOR_MAX_VALUES = 50_000_000
_PROJECTOR_SAMPLE_SEED = 0


def _projector_sample(n, d):
    """Sorted row indices the projector's copy keeps (all of them when it can load them all), seeded."""
    limit = min(PROJECTOR_MAX_POINTS, max(1, PROJECTOR_MAX_VALUES // max(d, 1)))
    if n <= limit:
        return None
    return np.sort(np.random.default_rng(_PROJECTOR_SAMPLE_SEED).choice(n, limit, replace=False))


def write_embeddings(logdir_of_run, features, labels, predictions=None, images=None,
                     class_names=None, name="fc", step=None, *, value_range=(0.0, 1.0), ensure_run=True):
    """Writes feature vectors for TensorBoard's projector tab, inside one run directory.

    Writes `<name>` as a TF checkpoint (tensor `<name>/.ATTRIBUTES/VARIABLE_VALUE`,
    only the latest is kept: the projector has no time axis),
    `metadata_<name>.tsv` (one label column, or a `label\\tprediction` header and
    two columns; tabs, newlines and backslashes escaped), `sprite_<name>.png`
    (thumbnails in a square grid, at most 8192 px a side: thumbnails shrink to
    fit) and merges the entry into `projector_config.pbtxt`, all with paths
    relative to the run directory (TensorBoard rejects paths leaving it).
    Other names' embeddings in the same run are kept. With `ensure_run`, an
    empty event file is created when the directory has none, so that
    TensorBoard lists it as a run. Costs one pass over the data on the host.

    Within the projector's limits: it loads at most `PROJECTOR_MAX_POINTS`
    (100,000) rows and we keep its float32 buffer under
    `PROJECTOR_MAX_VALUES` (50M values: 24,414 rows of 2048-D features). Above
    them the projector's copy is a seeded uniform sample of the rows (the
    same rows for vectors, labels and sprite), the metadata gets an `index`
    column with each row's position in `features`, and the "kerasviz" log
    says so; `features` itself (e.g. `kerasviz.features(..., out=path)`) and
    our dashboard's record keep every point. The projector itself then runs
    t-SNE on 10,000 of the points it has, UMAP on 5,000, PCA on 50,000.

    Args:
        logdir_of_run: the run directory (created if missing).
        features: float `[N, D]`, e.g. a dense layer's activations (a
            memory map too: only the kept rows are read).
        labels: `[N]` class indices (with `class_names`) or strings, or None.
        predictions: optional `[N]`, like `labels`.
        images: optional `[N, H, W, C]` (in `value_range`) for the sprite.
        class_names: optional names for integer labels and predictions.
        name: the embedding's name (letters, digits, `_.-`).
        step: the checkpoint number (default: the next one).
        value_range: the pixel range of `images`.
        ensure_run: create an empty event file if the directory has none
            (False when the caller writes the run's event file itself).

    Returns:
        The path of `projector_config.pbtxt`.

    Raises:
        ValueError: shapes that do not match, a bad `name`, labels outside `class_names`.

    Example:

    >>> write_embeddings("logs/kerasviz", fc_features, test.labels,
    ...                  images=test.images, class_names=test.class_names)
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"Received an invalid value for `name`: {name!r}. Expected letters, digits, "
                         "'_', '.' or '-', starting with a letter or '_'.")
    vectors = features if isinstance(features, np.ndarray) else np.asarray(features)
    if vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] == 0:
        raise ValueError(f"Expected `features` to be a non-empty [N, D] array. Received shape {vectors.shape}.")
    n = len(vectors)
    if class_names is not None:
        class_names = [str(c) for c in class_names]
    columns = [(h, _column(v, arg, n, class_names))
               for h, arg, v in (("label", "labels", labels), ("prediction", "predictions", predictions))
               if v is not None]
    if images is not None:
        images = images if isinstance(images, np.ndarray) else np.asarray(images)
        if images.ndim not in (3, 4) or len(images) != n:
            raise ValueError(f"Expected `images` to be [N, H, W, C] with N = {n} (one per vector). "
                             f"Received shape {images.shape}.")
    keep = _projector_sample(n, vectors.shape[1])
    if keep is not None:
        logging.getLogger("kerasviz").warning(
            "kerasviz: the projector loads at most %d points of %d values here; its copy of %r holds a "
            "seeded sample of %d of the %d points (column `index`: their rows in `features`).",
            PROJECTOR_MAX_POINTS, PROJECTOR_MAX_VALUES, name, len(keep), n)
        vectors = vectors[keep]
        columns = [(h, [c[i] for i in keep]) for h, c in columns] + [("index", [str(i) for i in keep])]
        images = None if images is None else images[keep]
    vectors = np.asarray(vectors, dtype=np.float32)
    inputs.check_finite(vectors, "features")
    tf.io.gfile.makedirs(logdir_of_run)
    config_path = os.path.join(logdir_of_run, PROJECTOR_FILENAME)
    config = projector_config_pb2.ProjectorConfig()
    if tf.io.gfile.exists(config_path):
        with tf.io.gfile.GFile(config_path, "r") as f:
            text_format.Parse(f.read(), config)
    tensor_name = f"{name}/.ATTRIBUTES/VARIABLE_VALUE"
    others = [e for e in config.embeddings if e.tensor_name != tensor_name]
    del config.embeddings[:]
    config.embeddings.extend(others)
    embedding = config.embeddings.add(tensor_name=tensor_name)
    if columns:
        lines = ["\t".join(h for h, _ in columns)] if len(columns) > 1 else []
        lines += ["\t".join(row) for row in zip(*(c for _, c in columns))]
        embedding.metadata_path = f"metadata_{name}.tsv"
        with tf.io.gfile.GFile(os.path.join(logdir_of_run, embedding.metadata_path), "w") as f:
            f.write("\n".join(lines) + "\n")
    if images is not None:
        grid, (width, height) = image.sprite(image.to_display(images, value_range),
                                             max_size=MAX_SPRITE_SIZE)
        embedding.sprite.image_path = f"sprite_{name}.png"
        embedding.sprite.single_image_dim.extend([width, height])
        with tf.io.gfile.GFile(os.path.join(logdir_of_run, embedding.sprite.image_path), "wb") as f:
            f.write(image.encode_png(grid))
    _save_vectors(logdir_of_run, name, vectors, step)
    config.ClearField("model_checkpoint_path")
    with tf.io.gfile.GFile(config_path, "w") as f:
        f.write(text_format.MessageToString(config))
    if ensure_run and not _has_events(logdir_of_run):
        writer = tf.summary.create_file_writer(logdir_of_run)
        writer.flush()
        writer.close()
    return config_path


def _save_vectors(directory, name, vectors, step):
    """Saves `{name: vectors}` plus the other 2-D tensors of the latest checkpoint there."""
    values = {}
    latest = tf.train.latest_checkpoint(directory)
    if latest:
        reader = tf.train.load_checkpoint(latest)
        for key, shape in reader.get_variable_to_shape_map().items():
            other = key.split("/")[0]
            if key == f"{other}/.ATTRIBUTES/VARIABLE_VALUE" and len(shape) == 2 and other != name:
                values[other] = reader.get_tensor(key)
    values[name] = vectors
    checkpoint = tf.train.Checkpoint(**{k: tf.Variable(v, trainable=False) for k, v in values.items()})
    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=1, checkpoint_name="embeddings")
    return manager.save(checkpoint_number=None if step is None else int(step))

