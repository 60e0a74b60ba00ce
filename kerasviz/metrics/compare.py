"""Every metric for every method on your own model: `compare`, and the metric table it reads."""

import functools
import typing
import warnings

import numpy as np

from kerasviz import image, registry, targets
from kerasviz.activations import occlusion as occlusion_module
from kerasviz.gradients import core
from kerasviz.metrics import faithfulness, localization, robustness, sanity
from kerasviz.metrics.complexity import complexity, sparseness
from kerasviz.metrics.mufidelity import mufidelity


class Metric(typing.NamedTuple):
    """A metric as `compare` and `AttributionCallback` run it.

    Attributes:
        higher_is_better: the direction of the metric.
        evaluate: `evaluate(run) -> float [B]`, `run` a `MethodRun`.
        needs_masks: it needs object masks (the pointing game).
    """

    higher_is_better: bool
    evaluate: typing.Callable
    needs_masks: bool = False


class MethodRun(typing.NamedTuple):
    """One method's maps of the images, as the metrics read them."""

    model: typing.Any
    images: np.ndarray
    method: typing.Callable  # the method with its parameters bound
    maps: np.ndarray  # what the method returned
    pixel_maps: np.ndarray  # [B, H, W], larger = more important
    classes: np.ndarray  # int32 [B], the classes explained
    masks: typing.Any
    batch_size: typing.Any
    seed: int


def _sanity(run):
    result = sanity.sanity_check(run.model, run.images, run.method, run.classes, seed=run.seed,
                                 batch_size=run.batch_size)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(result.correlations)
        return np.where(valid, result.correlations, 0).sum(0) / valid.sum(0)


METRICS = {
    "deletion_auc": Metric(False, lambda r: faithfulness.deletion(
        r.model, r.images, r.pixel_maps, r.classes, batch_size=r.batch_size).auc),
    "insertion_auc": Metric(True, lambda r: faithfulness.insertion(
        r.model, r.images, r.pixel_maps, r.classes, batch_size=r.batch_size).auc),
    "mufidelity": Metric(True, lambda r: mufidelity(
        r.model, r.images, r.pixel_maps, r.classes, seed=r.seed, batch_size=r.batch_size)),
    "max_sensitivity": Metric(False, lambda r: robustness.max_sensitivity(
        r.model, r.images, r.method, r.classes, seed=r.seed, batch_size=r.batch_size)),
    "avg_sensitivity": Metric(False, lambda r: robustness.avg_sensitivity(
        r.model, r.images, r.method, r.classes, seed=r.seed, batch_size=r.batch_size)),
    "sparseness": Metric(True, lambda r: sparseness(r.pixel_maps)),
    "complexity": Metric(False, lambda r: complexity(r.pixel_maps)),
    "pointing_game": Metric(True, lambda r: localization.pointing_game(r.pixel_maps, r.masks), True),
    "random_logit": Metric(False, lambda r: sanity.random_logit(
        r.model, r.images, r.method, r.classes, seed=r.seed, batch_size=r.batch_size).correlations),
    "randomization": Metric(False, _sanity),
}


def pixel_maps(name, maps, image_size, params):
    """`[B, H, W]` maps where larger means more important, at the images' size.

    Occlusion grids go back to pixels (`occlusion_to_input`), other sizes are
    resized bilinearly; maps whose low values matter (`registry.LOWER_IS_IMPORTANT`)
    become each image's maximum minus the map (the score drop), nonnegative.
    """
    maps = np.asarray(maps, np.float32)
    if maps.shape[1:] != tuple(image_size):
        if name == "occlusion":  # occlusion's default patch is 8
            maps = occlusion_module.occlusion_to_input(maps, image_size, params.get("patch", 8),
                                                       params.get("stride"))
        else:
            maps = image.resize_maps(maps, tuple(image_size))
    if name in registry.LOWER_IS_IMPORTANT:
        maps = maps.max(axis=(1, 2), keepdims=True) - maps
    return maps


def check_metric_names(metrics, masks, argname="metrics"):
    """The metric names asked for, validated; `None` gives every metric the inputs allow."""
    if metrics is None:
        return [name for name, metric in METRICS.items() if masks is not None or not metric.needs_masks]
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
        raise TypeError(f"Expected `{argname}` to be a list or tuple of metric names from "
                        f"{sorted(METRICS)}. Received: {argname}={metrics!r}.")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ValueError(f"Received an invalid value for `{argname}`: {metrics!r}. Expected metric names "
                         f"from {sorted(METRICS)}.")
    if masks is None and any(METRICS[m].needs_masks for m in metrics):
        raise ValueError(f"Received `{argname}` with 'pointing_game' but no `masks`: the pointing game needs "
                         "one object mask [H, W] per image.")
    return list(dict.fromkeys(metrics))


class Comparison(typing.NamedTuple):
    """Every metric for every method: `values[i, j]` is metric `j` of method `i`, averaged over images.

    Attributes:
        methods: the method names (rows).
        metrics: the metric names (columns).
        values: float32 `[methods, metrics]`, the mean over images (NaN ignored).
        per_image: `{(method, metric): float32 [B]}`.
        higher_is_better: `{metric: bool}`.
    """

    methods: list
    metrics: list
    values: np.ndarray
    per_image: dict
    higher_is_better: dict

    def as_dict(self):
        """`{method: {metric: value}}` (JSON-friendly floats; NaN stays NaN)."""
        return {m: {k: float(v) for k, v in zip(self.metrics, row)} for m, row in zip(self.methods, self.values)}

    def table(self):
        """The comparison as a plain-text table, each metric's direction under its name."""
        width = max([len("method")] + [len(m) for m in self.methods])
        columns = [max(len(k), 8) for k in self.metrics]
        lines = ["  ".join(["method".ljust(width)] + [k.rjust(c) for k, c in zip(self.metrics, columns)]),
                 "  ".join([" " * width] + [("higher" if self.higher_is_better[k] else "lower").rjust(c)
                                            for k, c in zip(self.metrics, columns)])]
        for method, row in zip(self.methods, self.values):
            lines.append("  ".join([method.ljust(width)] + [f"{v:{c}.4f}" for v, c in zip(row, columns)]))
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def _method_entries(methods):
    if methods is None:
        methods = list(registry.ATTRIBUTION_METHODS)
    if isinstance(methods, str) or callable(methods) or not isinstance(methods, (list, tuple)) or not methods:
        raise TypeError("Expected `methods` to be a non-empty list or tuple of method names, callables or "
                        f"(method, params dict) pairs. Received: methods={methods!r}.")
    entries = []
    for entry in methods:
        method, params = entry if isinstance(entry, tuple) and len(entry) == 2 else (entry, {})
        if isinstance(method, str) and method in registry.ATTRIBUTION_METHODS and isinstance(params, dict):
            entries.append((method, registry.ATTRIBUTION_METHODS[method], dict(params)))
        elif callable(method) and not isinstance(method, str) and isinstance(params, dict):
            entries.append((getattr(method, "__name__", type(method).__name__), method, dict(params)))
        else:
            raise ValueError(f"Received an invalid entry in `methods`: {entry!r}. Expected a name from "
                             f"{sorted(registry.ATTRIBUTION_METHODS)}, a callable, or a (name or callable, "
                             "params dict) pair.")
    names = [e[0] for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"Received a method twice in `methods`: {names}.")
    return entries


def check_masks(masks, images, argname="masks"):
    if masks is None:
        return None
    array = np.asarray(masks)
    if array.shape != images.shape[:3]:
        raise ValueError(f"Expected `{argname}` to be one mask [H, W] per image, shape {images.shape[:3]}. "
                         f"Received shape {array.shape}.")
    return array


def run_metrics(model, images, name, method, maps, classes, metrics, *, params=None, masks=None,
                batch_size=None, seed=0):
    """`{metric: float32 [B]}` for one method's `maps` (what `compare` and the callback compute)."""
    run = MethodRun(model, images, method, maps, pixel_maps(name, maps, images.shape[1:3], params or {}),
                    classes, masks, batch_size, seed)
    return {metric: np.asarray(METRICS[metric].evaluate(run), np.float32) for metric in metrics}


def compare(model, images, methods=None, metrics=None, target=None, *, masks=None, batch_size=None,
            seed=0) -> Comparison:
    """Compares attribution methods on your own model: every metric for every method.

    Runs each method on `images` (for the classes `target` names, by default
    the predicted ones) and every metric on its maps: faithfulness
    (`deletion_auc`, `insertion_auc`, `mufidelity`), robustness
    (`max_sensitivity`, `avg_sensitivity`), concision (`sparseness`,
    `complexity`), localization (`pointing_game`, with `masks`) and the two
    sanity checks (`random_logit`; `randomization`, the mean rank correlation
    over the cascade of `sanity_check`), so that you can choose a method for
    *your* network rather than for the papers'. Maps where low values matter
    (occlusion) are compared as score drops; other sizes are resized to the
    images'. Costs, per method: its own cost, times about 14 for the
    sensitivities and the sanity checks (`samples=10` noisy calls, two for
    random logits, one per layer with weights for randomization), plus
    `21 + 21 + 129` forward passes per image for the perturbation metrics.

    Args:
        model: a built Keras image model (cloneable, for `randomization`).
        images: `[B, H, W, C]` in the model's own input space.
        methods: names from `kerasviz.registry.ATTRIBUTION_METHODS`,
            callables with the attribution call shape, or `(name or callable,
            params dict)` pairs; default: every registered method, with its
            default parameters.
        metrics: names from `kerasviz.metrics.METRICS`; default: all of
            them (`pointing_game` only with `masks`).
        target: `None` (the predicted class), an int class or a sequence of
            ints (one per image).
        masks: optional `[B, H, W]` object masks (for `pointing_game`).
        batch_size: passed on to every method and metric.
        seed: int seed of the stochastic metrics.

    Returns:
        `Comparison(methods, metrics, values [methods, metrics], per_image,
        higher_is_better)`; `print(result)` shows the table.

    Raises:
        ValueError, TypeError: invalid `methods`, `metrics`, `masks`,
            `images`, `target`, `batch_size` or `seed`, or what a method or a
            metric raises for this model.

    Example:

    >>> result = kerasviz.metrics.compare(model, images, ["saliency", "grad_cam", ("rise", {"masks": 1000})])
    >>> print(result)
    """
    prepared = core.Prepared(model, images, target, batch_size)
    if not isinstance(prepared.target, targets.ClassScore):
        raise ValueError(f"`compare` measures class explanations: expected `target` to be None, an int or a "
                         f"sequence of ints. Received: target={target!r}.")
    masks = check_masks(masks, prepared.images)
    names = check_metric_names(metrics, masks)
    entries = _method_entries(methods)
    classes = core.predicted_classes(prepared)[:, 0]
    kwargs = {} if batch_size is None else {"batch_size": prepared.batch_size}
    per_image = {}
    for name, function, params in entries:
        method = functools.partial(function, **params)
        maps = method(model, prepared.images, classes, **kwargs)
        values = run_metrics(model, prepared.images, name, method, maps, classes, names, params=params,
                             masks=masks, batch_size=batch_size, seed=seed)
        per_image.update({(name, metric): value for metric, value in values.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of all-NaN columns is NaN
        table = np.array([[np.nanmean(per_image[(m, k)]) for k in names] for m, _, _ in entries], np.float32)
    return Comparison([e[0] for e in entries], names, table, per_image,
                      {k: METRICS[k].higher_is_better for k in names})
