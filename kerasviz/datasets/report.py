"""`Explanations.write`: a whole-dataset explanation as one record for the kerasviz dashboard.

The record (tag `kerasviz/dataset/explanations`, see
`kerasviz.summary.write_dataset_summary`) holds what `Explanations.summary()`
says (per method and metric the mean, the 95 % t-interval and `n`), a
histogram of each metric per method, and per method the `k` best and worst
images as small thumbnails with their maps and dataset indices. The
dashboard's Dataset tab shows it.
"""

import math
import numbers

import numpy as np
from PIL import Image

from kerasviz import eventfile, summary
from kerasviz.datasets import aggregate
from tb_plugin import metadata

DATASET_TAG = metadata.tag_for("dataset", "explanations")
HISTOGRAM_BINS = 20
THUMBNAIL = 96  # the longest side of a stored thumbnail (image and map), in pixels
RANKED_BY_PROBABILITY = "predicted_probability"


def histogram(values, low, high, bins=HISTOGRAM_BINS):
    """`{"edges", "counts", "nan"}`: `bins` equal bins over `[low, high]`, non-finite values counted apart."""
    values = np.asarray(values, np.float64).reshape(-1)
    finite = values[np.isfinite(values)]
    counts, edges = np.histogram(finite, bins=bins, range=(low, high))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts],
            "nan": int(values.size - finite.size)}


def metric_range(columns):
    """`(low, high)` over the finite values of all `columns` (one metric, every method): the shared bins."""
    finite = np.concatenate([np.asarray(c, np.float64)[np.isfinite(c)] for c in columns])
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low - 0.5, high + 0.5) if low == high else (low, high)


def _thumbnail(array, mode):
    """`array` (`[H, W(, C)]`) shrunk so its longest side is at most `THUMBNAIL` (box filter); as it is if smaller."""
    h, w = array.shape[:2]
    if max(h, w) <= THUMBNAIL:
        return array
    size = (max(1, round(w * THUMBNAIL / max(h, w))), max(1, round(h * THUMBNAIL / max(h, w))))
    if mode == "F":
        return np.asarray(Image.fromarray(array.astype(np.float32), "F").resize(size, Image.BOX), np.float32)
    squeeze = array.shape[-1] == 1
    picture = Image.fromarray(array[..., 0] if squeeze else array).resize(size, Image.BOX)
    picture = np.asarray(picture)
    return picture[..., None] if squeeze else picture


def ranking(explained, k):
    """`(ranked_by, higher_is_better, values [N], {method: (best positions, worst positions)})`.

    By the first metric (its direction, NaN left out, as `summary()` ranks),
    or by the predicted class's probability when the run has no metrics.
    """
    n = len(explained)
    positions = np.arange(n, dtype=np.int64)
    if explained.metrics:
        first = explained.metrics[0]
        per_image = {(m, first): explained.metric(m, first) for m in explained.methods}
        ranked = aggregate.summarize(explained.methods, [first], per_image, positions,
                                     {first: explained.higher_is_better[first]}, k)
        return first, bool(explained.higher_is_better[first]), per_image, {
            m: (ranked.best[m][first], ranked.worst[m][first]) for m in explained.methods}
    probability = explained.probabilities[positions, explained.predicted.astype(np.int64)].astype(np.float32)
    order = np.argsort(-probability.astype(np.float64), kind="stable")
    strips = {m: (order[:k], order[::-1][:k]) for m in explained.methods}
    return RANKED_BY_PROBABILITY, True, {(m, RANKED_BY_PROBABILITY): probability for m in explained.methods}, strips


def contents(explained, k):
    """The record's parts: `(fields for write_dataset_summary, images uint8, {method: maps float})`."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"Received an invalid value for `k`: {k!r}. Expected an int >= 1.")
    k = int(k)
    intervals, histograms = {}, {}
    if explained.metrics:
        summary = explained.summary(k)
        intervals = {m: {metric: {"mean": _number(iv.mean), "low": _number(iv.low), "high": _number(iv.high),
                                  "n": int(iv.n)} for metric, iv in row.items()}
                     for m, row in summary.intervals.items()}
        for metric in explained.metrics:
            columns = {m: explained.metric(m, metric) for m in explained.methods}
            low, high = metric_range(columns.values())
            for m, column in columns.items():
                histograms.setdefault(m, {})[metric] = histogram(column, low, high)
    ranked_by, higher, values, chosen = ranking(explained, k)
    strips, images, maps, row = {}, [], {m: [] for m in explained.methods}, 0
    index, labels, predicted = explained.index, explained.labels, explained.predicted
    for m in explained.methods:
        strips[m], map_row = {}, 0
        for end, positions in zip(("best", "worst"), chosen[m]):
            positions = np.asarray(positions, np.int64)
            strips[m][end] = {
                "rows": list(range(row, row + len(positions))),
                "map_rows": list(range(map_row, map_row + len(positions))),
                "index": [int(i) for i in index[positions]],
                "value": [_number(v) for v in np.asarray(values[(m, ranked_by)])[positions]],
                "label": [int(v) for v in labels[positions]], "predicted": [int(v) for v in predicted[positions]],
            }
            row, map_row = row + len(positions), map_row + len(positions)
            if len(positions):
                images.extend(_thumbnail(picture, "L") for picture in explained.images(positions))
                maps[m].extend(_thumbnail(_as_map(one), "F") for one in explained.maps(m, positions))
    fields = {"methods": list(explained.methods), "metrics": list(explained.metrics), "n_items": len(explained),
              "intervals": intervals, "higher_is_better": dict(explained.higher_is_better),
              "histograms": histograms, "ranked_by": ranked_by, "ranked_higher_is_better": higher,
              "strips": strips, "k": k}
    return fields, np.stack(images), {m: np.stack(v) for m, v in maps.items()}


def check_size(images, maps, k):
    """Raises `ValueError` for a record the plugin would refuse to read (too many arrays or bytes)."""
    if 1 + 2 * len(maps) > metadata.MAX_ARRAYS:
        raise ValueError(f"This run has {len(maps)} methods; a dataset record holds at most "
                         f"{(metadata.MAX_ARRAYS - 1) // 2}. Write it from a run with fewer methods.")
    size = metadata.decoded_bytes(images) + sum(metadata.decoded_bytes(m) for m in maps.values())
    if size > metadata.MAX_RECORD_BYTES:
        raise ValueError(f"Received k={k!r}: the record would hold {size / 2**20:.0f} MiB of thumbnails and maps, "
                         f"over the {metadata.MAX_RECORD_BYTES // 2**20} MiB the dashboard reads. Pass a smaller `k`.")


def _as_map(one):
    """A `[h, w]` map: a signed gradient `[H, W, C]` is shown as its largest magnitude over channels."""
    one = np.asarray(one, np.float32)
    return np.abs(one).max(axis=-1) if one.ndim == 3 else one


def _number(value):
    value = float(value)
    return value if math.isfinite(value) else None


def write(explained, log_dir, step, run_name, k):
    """Writes `explained` as one record into `<log_dir>/<run_name>`; returns `(run directory, step)`."""
    step = eventfile.check_step(step)
    run_dir = eventfile.check_run_dir(log_dir, run_name)
    fields, images, maps = contents(explained, k)
    check_size(images, maps, k)
    step = eventfile.write_record_once(run_dir, DATASET_TAG, step, "a dataset summary",
                                       lambda: summary.write_dataset_summary(images=images, maps=maps, **fields))
    return run_dir, step
