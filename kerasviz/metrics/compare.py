"""Every metric for every method on your own model: `compare` and its `Comparison` table."""

import functools
import typing
import warnings

import numpy as np

from kerasviz import inputs, progress, registry, targets
from kerasviz.gradients import core
from kerasviz.metrics import report
from kerasviz.metrics.catalog import METRICS, SANITY_THRESHOLD, check_masks, check_metric_names, run_metrics


class Comparison(typing.NamedTuple):
    """Every metric for every method: `values[i, j]` is metric `j` of method `i`, averaged over images.

    Attributes:
        methods: the method names (rows).
        metrics: the metric names (columns).
        values: float32 `[methods, metrics]`, the mean over images (NaN ignored).
        per_image: `{(method, metric): float32 [B]}`.
        higher_is_better: `{metric: bool}`.
        params: `{method: dict}` or None, the parameters each method ran with
            (those passed; the others are the method's defaults).
    """

    methods: list
    metrics: list
    values: np.ndarray
    per_image: dict
    higher_is_better: dict
    params: typing.Optional[dict] = None

    def as_dict(self):
        """`{method: {metric: value}}` (JSON-friendly floats; NaN stays NaN)."""
        return {m: {k: float(v) for k, v in zip(self.metrics, row)} for m, row in zip(self.methods, self.values)}

    def best(self):
        """`{metric: [methods]}`: the best value of each metric, by its direction (ties: all; NaN never)."""
        return report.best(self)

    def sanity_failures(self, threshold=SANITY_THRESHOLD):
        """`[(method, metric, value)]`: the sanity checks (`random_logit`, `randomization`) failed.

        A method fails a check when its mean rank correlation is at or above
        `threshold`: its maps barely change when the weights are randomized
        (Adebayo et al., 2018) or another class is explained (Sixt et al.,
        2020). NaN (constant maps) fails nothing: it is undefined.
        """
        return report.sanity_failures(self, threshold)

    def table(self, threshold=SANITY_THRESHOLD):
        """The comparison as a plain-text table.

        Each metric's direction under its name (`↑ higher` or `↓ lower` is
        better), the best value of each metric marked `*`, a failed sanity
        check marked `✗` and said in words below the table.
        """
        return report.table(self, threshold)

    def write(self, log_dir, step=None, *, run_name="kerasviz", threshold=SANITY_THRESHOLD):
        """Writes the comparison to `<log_dir>/<run_name>` for the kerasviz dashboard.

        One record, tag `kerasviz/attribution/comparison` at `step`
        (`kerasviz.summary.write_comparison`), appended to the run's event
        file as the callbacks write it (verified; shared with a callback of
        the same run directory in this process). The dashboard's Attribution
        tab shows it as a table: sortable by metric, each metric's direction,
        the best value per metric and the failed sanity checks marked. Each
        comparison of a run needs its own, later step (TensorBoard shows one
        record per step); reading the run's event files for the last one
        costs one pass over them.

        Args:
            log_dir: the TensorBoard log directory.
            step: int >= 0, the step (e.g. the epoch of the weights
                compared), later than the run's last comparison; `None`
                (default): the next step after it (0 in a new run).
            run_name: the run directory's name under `log_dir` (default: the
                callbacks' own, so the table sits beside their maps).
            threshold: the sanity-check threshold (see `sanity_failures`).

        Returns:
            `(run directory, step)`.

        Raises:
            ValueError, TypeError: a bad `log_dir`, `step` (also one not
                after the run's last comparison), `run_name` or `threshold`.
            OSError: the event file could not be written (`WriteError`).

        Example:

        >>> kerasviz.metrics.compare(model, images, ["saliency", "grad_cam"]).write("logs", step=10)
        """
        return report.write(self, log_dir, step, run_name, threshold)

    def __str__(self):
        return self.table()


def compare(model, images, methods=None, metrics=None, target=None, *, masks=None, batch_size=None,
            seed=0, value_range=None, verbose=0) -> Comparison:
    """Compares attribution methods on your own model: every metric for every method.

    Runs each method on `images` (for the classes `target` names, by default
    the predicted ones) and every metric of `kerasviz.metrics.METRICS` on
    its maps (faithfulness, robustness, complexity, localisation with
    `masks`, randomisation and the axioms: the README's metric table), so
    that you can choose a method for *your* network rather than for the
    papers'. Maps where low values matter (occlusion) are compared as score
    drops; other sizes are resized to the images'. Costs, per method, its own
    cost plus each metric's `METRICS[name].cost` per image: with every
    metric 993 forward passes and 82 + 9 x (layers with weights)
    calls of the method per image, so on a large model pick `metrics`.

    Args:
        model: a built Keras image model (cloneable, for `randomization`).
        images: `[B, H, W, C]` in the model's own input space.
        methods: names from `kerasviz.registry.METHODS`,
            callables with the attribution call shape, or `(name or callable,
            params dict)` pairs; default: every registered method, with its
            default parameters.
        metrics: names from `kerasviz.metrics.METRICS`, or `"all"`;
            default: `DEFAULT_METRICS` (those that need masks only with
            `masks`).
        target: `None` (the predicted class), an int class or a sequence of
            ints (one per image).
        masks: optional `[B, H, W]` object masks (for the localisation metrics).
        batch_size: passed on to every method and metric.
        seed: int seed of the stochastic metrics.
        value_range: the model's input range (a preset or `(low, high)`,
            `kerasviz.inputs.check_value_range`), or None: the metrics that
            move the image (`kerasviz.metrics.MOVING_METRICS`: the
            sensitivities, the stabilities, continuity, ROAD, smooth MPRT)
            clip the images they build into it, so that a method that
            refuses other inputs (`("gradient_shap", {"value_range": (0,
            255)})`) runs under them; the images must lie inside it. The
            methods get only their own parameters.
        verbose: 0 (silent), 1 (a progress bar: each method's maps, then
            each of its metrics) or 2 (one line when done).

    Returns:
        `Comparison(methods, metrics, values [methods, metrics], per_image,
        higher_is_better, params)`; `print(result)` shows the table,
        `result.write(log_dir)` puts it in the dashboard.

    Raises:
        ValueError, TypeError: invalid `methods`, `metrics`, `masks`,
            `images`, `target`, `batch_size`, `seed` or `value_range`
            (also images outside it), or what a method or a metric raises
            for this model.

    Example:

    >>> result = kerasviz.metrics.compare(model, images, ["saliency", "grad_cam", ("rise", {"masks": 1000})])
    >>> print(result)
    """
    prepared = core.Prepared(model, images, target, batch_size)
    if not isinstance(prepared.target, targets.ClassScore):
        raise ValueError(f"`compare` measures class explanations: expected `target` to be None, an int or a "
                         f"sequence of ints. Received: target={target!r}.")
    masks = check_masks(masks, prepared.images)
    value_range = inputs.check_value_range(value_range, prepared.images.shape[-1])
    inputs.check_in_range(prepared.images, value_range, "images")
    names = check_metric_names(metrics, masks)
    entries = registry.resolve(list(registry.METHODS) if methods is None else methods)
    progbar = progress.bar(len(entries) * (1 + len(names)), verbose, unit="step")
    classes = core.predicted_classes(prepared)[:, 0]
    kwargs = {} if batch_size is None else {"batch_size": prepared.batch_size}
    per_image, done = {}, 0
    for name, function, params, record in entries:
        method = functools.partial(function, **params)
        maps = method(model, prepared.images, classes, **kwargs)
        for metric in [None] + names:  # a step of the bar: the maps, then each metric
            if metric is not None:
                per_image[(name, metric)] = run_metrics(model, prepared.images, record, method, maps, classes,
                                                        [metric], params=params, masks=masks,
                                                        batch_size=batch_size, seed=seed,
                                                        value_range=value_range)[metric]
            done += 1
            if progbar is not None:
                progbar.update(done, finalize=done == progbar.target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of all-NaN columns is NaN
        table = np.array([[np.nanmean(per_image[(e.name, k)]) for k in names] for e in entries], np.float32)
    return Comparison([e.name for e in entries], names, table, per_image,
                      {k: METRICS[k].higher_is_better for k in names}, {e.name: e.params for e in entries})
