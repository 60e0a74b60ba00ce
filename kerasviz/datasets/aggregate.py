"""A dataset's metrics in a few numbers: the mean and 95 % confidence interval per method and metric.

The interval is Student's t-interval of the mean, `mean +- t(0.975, n - 1) *
s / sqrt(n)` with `s` the sample standard deviation (ddof 1): by the central
limit theorem the mean of a few dozen images or more is close to normal
whatever the metric's own distribution, and the interval needs no resampling
(a bootstrap of 100,000 images would cost far more than it tells). NaN values
(a metric undefined for an image, e.g. a constant map's rank correlation)
are left out, and `n` says how many images count.
"""

import typing

import numpy as np
from scipy import stats

from kerasviz.metrics.compare import Comparison

CONFIDENCE = 0.95


def t_interval(values, confidence=CONFIDENCE):
    """`(mean, low, high, n)` of the finite `values`; NaN bounds for fewer than 2 of them."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(values.mean())
    if n < 2:
        return mean, float("nan"), float("nan"), n
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * values.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half, n


class Interval(typing.NamedTuple):
    """A metric's mean over a dataset with its 95 % t-interval, over `n` images (NaN left out)."""

    mean: float
    low: float
    high: float
    n: int


class DatasetSummary(typing.NamedTuple):
    """Per method and metric: the mean and 95 % confidence interval, and the best and worst images.

    Attributes:
        intervals: `{method: {metric: Interval}}`.
        best, worst: `{method: {metric: int64 [k]}}`, dataset indices of the
            images where the metric is best (worst) for the method, best
            (worst) first, NaN left out; "best" follows each metric's
            direction.
        comparison: the means as a `kerasviz.metrics.Comparison` (the object
            `kerasviz.metrics.compare` returns for one batch), its
            `per_image` holding every image's value.
        n_items: the number of images.
    """

    intervals: dict
    best: dict
    worst: dict
    comparison: Comparison
    n_items: int

    def as_dict(self):
        """`{method: {metric: {"mean", "low", "high", "n"}}}` (JSON-friendly; NaN stays NaN)."""
        return {m: {k: iv._asdict() for k, iv in row.items()} for m, row in self.intervals.items()}

    def table(self):
        """Plain text: one row per method, each metric as `mean [low, high]`, its direction under its name."""
        methods, metrics = self.comparison.methods, self.comparison.metrics
        cells = {(m, k): f"{iv.mean:.4f} [{iv.low:.4f}, {iv.high:.4f}]"
                 for m in methods for k, iv in self.intervals[m].items()}
        width = max([len("method")] + [len(m) for m in methods])
        columns = [max([len(k)] + [len(cells[(m, k)]) for m in methods]) for k in metrics]
        lines = [f"{self.n_items} images; mean and 95 % t-interval per method and metric",
                 "  ".join(["method".ljust(width)] + [k.rjust(c) for k, c in zip(metrics, columns)]),
                 "  ".join([" " * width] + [("higher" if self.comparison.higher_is_better[k] else "lower").rjust(c)
                                            for k, c in zip(metrics, columns)])]
        for m in methods:
            lines.append("  ".join([m.ljust(width)] + [cells[(m, k)].rjust(c) for k, c in zip(metrics, columns)]))
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def summarize(methods, metrics, per_image, index, higher_is_better, k=8):
    """The `DatasetSummary` of per-image metric values.

    Args:
        methods, metrics: names, in order.
        per_image: `{(method, metric): float [N]}`.
        index: int64 `[N]`, the dataset index of each value.
        higher_is_better: `{metric: bool}`.
        k: how many best and worst images to keep.
    """
    intervals, best, worst = {}, {}, {}
    for m in methods:
        intervals[m], best[m], worst[m] = {}, {}, {}
        for metric in metrics:
            values = np.asarray(per_image[(m, metric)], np.float64)
            intervals[m][metric] = Interval(*t_interval(values))
            finite = np.flatnonzero(np.isfinite(values))
            signed = values[finite] if higher_is_better[metric] else -values[finite]
            order = finite[np.argsort(-signed, kind="stable")]
            best[m][metric] = index[order[:k]]
            worst[m][metric] = index[order[::-1][:k]]
    table = np.array([[intervals[m][metric].mean for metric in metrics] for m in methods], np.float32)
    table = table.reshape(len(methods), len(metrics))
    comparison = Comparison(list(methods), list(metrics), table, dict(per_image),
                            {metric: higher_is_better[metric] for metric in metrics})
    return DatasetSummary(intervals, best, worst, comparison, int(len(index)))
