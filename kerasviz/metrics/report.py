"""Reading a `Comparison` (`kerasviz.metrics.compare`): best methods, failed sanity checks, the table, the record.

What `Comparison.best`, `.sanity_failures`, `.table` and `.write` do, kept
apart from the computing in `compare.py`. The command line (`kerasviz
evaluate`) and the dashboard show what these functions say: the dashboard
reads the best methods and the failures from the record instead of
deciding again.
"""

import math
import numbers

import numpy as np

from kerasviz import eventfile, summary
from kerasviz.metrics.catalog import METRICS
from tb_plugin import metadata

# Two records of one series at one step: TensorBoard shows one.
COMPARISON_TAG = metadata.tag_for("attribution", "comparison")
_MARK_BEST, _MARK_FAILED = "*", "\u2717"  # *, ✗
_ARROWS = {True: "\u2191 higher", False: "\u2193 lower"}  # ↑ higher, ↓ lower is better


def sanity_checks(comparison):
    """The metrics of `comparison` that are sanity checks (`METRICS[name].sanity`), in its order."""
    return [k for k in comparison.metrics if k in METRICS and METRICS[k].sanity]


def check_threshold(threshold):
    """`threshold` as a float in [-1, 1] (a rank correlation), else `ValueError`/`TypeError`."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"Expected `threshold` to be a number (a rank correlation in [-1, 1]). Received: "
                        f"threshold={threshold!r}.")
    if not -1.0 <= float(threshold) <= 1.0:
        raise ValueError(f"Received an invalid value for `threshold`: {threshold!r}. Expected a rank "
                         "correlation in [-1, 1].")
    return float(threshold)


def best(comparison):
    """`{metric: [methods]}`: the methods with the best mean of each metric, by its direction."""
    out = {}
    for j, metric in enumerate(comparison.metrics):
        column = np.asarray(comparison.values, np.float64)[:, j]
        finite = np.isfinite(column)
        if not finite.any():
            out[metric] = []
            continue
        top = column[finite].max() if comparison.higher_is_better[metric] else column[finite].min()
        out[metric] = [m for m, v in zip(comparison.methods, column) if v == top]
    return out


def sanity_failures(comparison, threshold):
    """`[(method, metric, value)]`: sanity-check means at or above `threshold` (NaN fails nothing)."""
    threshold = check_threshold(threshold)
    checks = set(sanity_checks(comparison))
    failures = []
    for i, method in enumerate(comparison.methods):
        for j, metric in enumerate(comparison.metrics):
            value = float(comparison.values[i, j])
            if metric in checks and math.isfinite(value) and value >= threshold:
                failures.append((method, metric, value))
    return failures


_FAILURE_WORDS = {
    "randomization": "the map barely changes when the model's weights are randomized",
    "random_logit": "the map barely changes when another class is explained",
}


def table(comparison, threshold):
    """The text table: a row per method, a column per metric, directions, best `*` and failed `✗` marked."""
    top = best(comparison)
    failures = sanity_failures(comparison, threshold)
    failed = {(m, k) for m, k, _ in failures}
    width = max([len("method")] + [len(m) for m in comparison.methods])
    columns = [max(len(k), len(_ARROWS[False]), 6) for k in comparison.metrics]

    def line(first, cells):  # each cell right-aligned in its column, then a 2-character slot for the marks
        return (first.ljust(width) + "".join(f"  {text.rjust(c)}{marks:<2}" for (text, marks), c
                                             in zip(cells, columns))).rstrip()

    lines = [line("method", [(k, "") for k in comparison.metrics]),
             line("", [(_ARROWS[bool(comparison.higher_is_better[k])], "") for k in comparison.metrics])]
    for method, row in zip(comparison.methods, comparison.values):
        lines.append(line(method, [
            (f"{float(value):.4f}", (_MARK_BEST if method in top[metric] else "")
             + (_MARK_FAILED if (method, metric) in failed else "")) for metric, value in zip(comparison.metrics, row)]))
    lines.append(f"{_MARK_BEST} best of each metric; \u2191 higher / \u2193 lower is better.")
    if sanity_checks(comparison):
        lines.append(f"{_MARK_FAILED} fails a sanity check: mean rank correlation >= {threshold:g} "
                     "(Adebayo et al. 2018; Sixt et al. 2020)." if failures else
                     f"No method fails the sanity checks (mean rank correlation >= {threshold:g} would).")
    for method, metric, value in failures:
        lines.append(f"  {method} fails {metric} ({value:.2f}): {_FAILURE_WORDS.get(metric, 'the map barely changes')}.")
    undefined = [f"{m} {k}" for i, m in enumerate(comparison.methods) for j, k in enumerate(comparison.metrics)
                 if k in sanity_checks(comparison) and not math.isfinite(float(comparison.values[i, j]))]
    if undefined:
        lines.append(f"  undefined (nan: constant maps have no rank correlation): {', '.join(undefined)}.")
    return "\n".join(lines)


def _json_number(value):
    value = float(value)
    return value if math.isfinite(value) else None


def last_step(run_dir):
    """The last step of a comparison in `run_dir`'s event files, or -1 (reads them once)."""
    owner = object()
    try:
        return eventfile.acquire(run_dir).last_step([COMPARISON_TAG])
    finally:
        eventfile.release(run_dir, owner)


def write(comparison, log_dir, step, run_name, threshold):
    """Writes `comparison` as one record into `<log_dir>/<run_name>`; returns `(run directory, step)`."""
    step = eventfile.check_step(step)
    threshold = check_threshold(threshold)
    run_dir = eventfile.check_run_dir(log_dir, run_name)
    values = np.asarray(comparison.values, np.float64)
    per_image = np.stack([np.stack([np.asarray(comparison.per_image[(m, k)], np.float32)
                                    for k in comparison.metrics]) for m in comparison.methods])
    params = comparison.params or {}

    def write_it():
        summary.write_comparison(
            comparison.methods, comparison.metrics, [[_json_number(v) for v in row] for row in values],
            {k: bool(comparison.higher_is_better[k]) for k in comparison.metrics},
            best=best(comparison), sanity_checks=sanity_checks(comparison), sanity_threshold=threshold,
            failures=[[m, k] for m, k, _ in sanity_failures(comparison, threshold)],
            params={m: summary.jsonable(params.get(m, {})) for m in comparison.methods}, per_image=per_image)

    step = eventfile.write_record_once(run_dir, COMPARISON_TAG, step, "a comparison", write_it)
    return run_dir, step
