"""The metrics by name: each one's direction, how it runs on a method's maps, and what it needs.

`compare`, `AttributionCallback(metrics=...)`, `explain_dataset(metrics=...)`
and the reports read `METRICS` here; `run_metrics` runs some of them on one
method's maps, brought to pixels the way the method's registry record says.
"""

import typing

import numpy as np

from kerasviz import image
from kerasviz.metrics import (
    agreement,
    axiomatic,
    confidence,
    faithfulness,
    localization,
    randomisation,
    robustness,
    sanity,
    stability,
)
from kerasviz.metrics import faithfulness_correlations as correlations
from kerasviz.metrics import faithfulness_curves as curves
from kerasviz.metrics.complexity import complexity, effective_complexity, sparseness
from kerasviz.metrics.mosaics import focus
from kerasviz.metrics.mufidelity import mufidelity
from kerasviz.metrics.road import road


class MetricCost(typing.NamedTuple):
    """What a metric costs per image, on top of the method's maps, with its default parameters.

    Attributes:
        forward: forward passes of the model over one image (perturbed copies).
        method: calls of the attribution method on the image (noisy copies,
            another class, a shifted input, a randomized model).
        per_layer: further calls of the method per layer with weights
            (the cascading randomization tests).
    """

    forward: int = 0
    method: int = 0
    per_layer: int = 0

    def __str__(self):
        parts = [f"{self.forward} forward"] if self.forward else []
        parts += [f"{self.method} x the method"] if self.method else []
        parts += [f"{self.per_layer} x the method per layer with weights"] if self.per_layer else []
        return " + ".join(parts) or "none (on the map)"


class Metric(typing.NamedTuple):
    """A metric as `compare` and `AttributionCallback` run it.

    Attributes:
        higher_is_better: the direction of the metric.
        evaluate: `evaluate(run) -> float [B]`, `run` a `MethodRun`.
        needs_masks: it needs object masks (the localisation metrics).
        sanity: it is a sanity check, a rank correlation that a method
            fails when it stays at or above `SANITY_THRESHOLD` (the map
            barely changes when the weights or the class do).
        cost: a `MetricCost`, its passes per image with the defaults.
        category: "faithfulness", "robustness", "localisation",
            "complexity", "randomisation" or "axiomatic".
    """

    higher_is_better: bool
    evaluate: typing.Callable
    needs_masks: bool = False
    sanity: bool = False
    cost: MetricCost = MetricCost()
    category: str = ""

    @property
    def direction(self):
        """`"higher"` or `"lower"`: which way is better."""
        return "higher" if self.higher_is_better else "lower"


# A rank correlation at or above this between the maps before and after randomizing the weights (or changing
# the class) fails a sanity check. Adebayo et al. (2018) judge by eye; on our digits test guided backprop stays
# at 0.74-0.91 and plain gradients at 0.13-0.33 (`sanity_check`), so 0.5 separates the two.
SANITY_THRESHOLD = 0.5


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
    record: typing.Any = None  # the method's registry record (None for a callable of the user's)
    params: typing.Any = None  # the parameters the method runs with (those passed)
    value_range: typing.Any = None  # the model's input range: the images the metrics perturb are clipped into it


def _sanity(run):
    result = sanity.sanity_check(run.model, run.images, run.method, run.classes, seed=run.seed,
                                 batch_size=run.batch_size)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(result.correlations)
        return np.where(valid, result.correlations, 0).sum(0) / valid.sum(0)


def _faithful(function, **params):
    """`evaluate(run)` of a metric `function(model, images, maps, classes, *, batch_size, **params)`."""
    return lambda r: function(r.model, r.images, r.pixel_maps, r.classes, batch_size=r.batch_size, **params)


def _seeded(function, ranged=False, **params):
    """`evaluate(run)` of a seeded metric on the maps; `ranged`: its perturbed images clipped into the run's range."""
    return lambda r: function(r.model, r.images, r.pixel_maps, r.classes, batch_size=r.batch_size, seed=r.seed,
                              **params, **({"value_range": r.value_range} if ranged else {}))


def _pixel_method(run):
    """The run's method returning `[B, H, W]` maps where larger is more important (as `pixel_maps` makes them)."""

    def method(model, images, target=None, **kwargs):
        return pixel_maps(run.record, run.method(model, images, target, **kwargs), np.shape(images)[1:3],
                          run.params or {})

    return method


def _with_method(function, **params):
    """`evaluate(run)` of a metric `function(model, images, method, classes, *, batch_size, seed, **params)`."""
    return lambda r: function(r.model, r.images, _pixel_method(r), r.classes, batch_size=r.batch_size,
                              seed=r.seed, **params)


def _moving(function, **params):
    """`evaluate(run)` of a metric that moves the image, `function(model, images, method, classes, *,
    batch_size, seed, value_range, **params)`: its moved images clipped into the run's value range."""
    return lambda r: function(r.model, r.images, _pixel_method(r), r.classes, batch_size=r.batch_size,
                              seed=r.seed, value_range=r.value_range, **params)


def _input_invariance(run):
    """`input_invariance` with the method's own `value_range`, shifted for the shifted model (not clipped)."""
    given = (run.params or {}).get("value_range") if run.record is not None and run.record.accepts(
        "value_range") else None
    return axiomatic.input_invariance(run.model, run.images, _pixel_method(run), run.classes,
                                      batch_size=run.batch_size, value_range=given)


def _masked(function):
    return lambda r: function(r.pixel_maps, r.masks)


def _signed_maps(run):
    """Signed maps summed over channels where the method has `signed=True`, else the pixel maps."""
    if run.record is not None and run.record.accepts("signed"):
        return np.asarray(run.method(run.model, run.images, run.classes, signed=True,
                                     **({} if run.batch_size is None else {"batch_size": run.batch_size})),
                          np.float64).sum(axis=-1)
    return run.pixel_maps


def _completeness(run):
    baseline = 0.0
    if run.record is not None and run.record.accepts("baseline"):
        given = run.record.with_defaults(run.params).get("baseline", 0.0)
        baseline = given if isinstance(given, (int, float, np.ndarray)) and not isinstance(given, bool) else 0.0
    return axiomatic.completeness(run.model, run.images, _signed_maps(run), run.classes, baseline=baseline,
                                  batch_size=run.batch_size)


F, R, C, L, S, A = "faithfulness", "robustness", "complexity", "localisation", "randomisation", "axiomatic"
METRICS = {
    "deletion_auc": Metric(False, lambda r: faithfulness.deletion(
        r.model, r.images, r.pixel_maps, r.classes, batch_size=r.batch_size).auc, cost=MetricCost(21), category=F),
    "insertion_auc": Metric(True, lambda r: faithfulness.insertion(
        r.model, r.images, r.pixel_maps, r.classes, batch_size=r.batch_size).auc, cost=MetricCost(21), category=F),
    "mufidelity": Metric(True, _seeded(mufidelity), cost=MetricCost(129), category=F),
    "pixel_flipping_morf": Metric(True, _faithful(curves.pixel_flipping, order="morf"), cost=MetricCost(21),
                                  category=F),
    "pixel_flipping_lerf": Metric(False, _faithful(curves.pixel_flipping, order="lerf"), cost=MetricCost(21),
                                  category=F),
    "region_perturbation_morf": Metric(True, _faithful(curves.region_perturbation, order="morf"),
                                       cost=MetricCost(65), category=F),
    "region_perturbation_lerf": Metric(False, _faithful(curves.region_perturbation, order="lerf"),
                                       cost=MetricCost(65), category=F),
    "selectivity": Metric(False, _faithful(curves.selectivity), cost=MetricCost(65), category=F),
    "irof": Metric(True, _faithful(curves.irof), cost=MetricCost(51), category=F),
    "road_morf": Metric(False, _seeded(road, order="morf", ranged=True), cost=MetricCost(9), category=F),
    "road_lerf": Metric(True, _seeded(road, order="lerf", ranged=True), cost=MetricCost(9), category=F),
    "faithfulness_estimate": Metric(True, _faithful(correlations.faithfulness_estimate), cost=MetricCost(65),
                                    category=F),
    "monotonicity": Metric(True, _faithful(curves.monotonicity), cost=MetricCost(21), category=F),
    "monotonicity_correlation": Metric(True, _faithful(correlations.monotonicity_correlation),
                                       cost=MetricCost(65), category=F),
    "sensitivity_n": Metric(True, _seeded(correlations.sensitivity_n), cost=MetricCost(165), category=F),
    "infidelity": Metric(False, _seeded(correlations.infidelity), cost=MetricCost(65), category=F),
    "average_drop": Metric(False, _faithful(confidence.average_drop), cost=MetricCost(2), category=F),
    "increase_in_confidence": Metric(True, _faithful(confidence.increase_in_confidence), cost=MetricCost(2),
                                     category=F),
    "average_gain": Metric(True, _faithful(confidence.average_gain), cost=MetricCost(2), category=F),
    "max_sensitivity": Metric(False, lambda r: robustness.max_sensitivity(
        r.model, r.images, r.method, r.classes, seed=r.seed, batch_size=r.batch_size, value_range=r.value_range), cost=MetricCost(method=10),
        category=R),
    "avg_sensitivity": Metric(False, lambda r: robustness.avg_sensitivity(
        r.model, r.images, r.method, r.classes, seed=r.seed, batch_size=r.batch_size, value_range=r.value_range), cost=MetricCost(method=10),
        category=R),
    "sparseness": Metric(True, lambda r: sparseness(r.pixel_maps), category=C),
    "complexity": Metric(False, lambda r: complexity(r.pixel_maps), category=C),
    "pointing_game": Metric(True, lambda r: localization.pointing_game(r.pixel_maps, r.masks), True, category=L),
    "random_logit": Metric(False, lambda r: sanity.random_logit(
        r.model, r.images, r.method, r.classes, seed=r.seed, batch_size=r.batch_size).correlations, sanity=True,
        cost=MetricCost(method=2), category=S),
    "randomization": Metric(False, _sanity, sanity=True, cost=MetricCost(method=1, per_layer=1), category=S),
    "smooth_mprt": Metric(False, _moving(randomisation.smooth_mprt), sanity=True,
                          cost=MetricCost(method=8, per_layer=8), category=S),
    "efficient_mprt": Metric(True, lambda r: randomisation.efficient_mprt(
        r.model, r.images, _pixel_method(r), r.classes, seed=r.seed, batch_size=r.batch_size),
        cost=MetricCost(method=2), category=S),
    "relevance_rank_accuracy": Metric(True, _masked(localization.relevance_rank_accuracy), True, category=L),
    "relevance_mass_accuracy": Metric(True, _masked(localization.relevance_mass_accuracy), True, category=L),
    "attribution_localisation": Metric(True, _masked(localization.attribution_localisation), True, category=L),
    "top_k_intersection": Metric(True, _masked(localization.top_k_intersection), True, category=L),
    "mask_auc": Metric(True, _masked(localization.mask_auc), True, category=L),
    "focus": Metric(True, _with_method(focus), cost=MetricCost(method=1), category=L),
    "effective_complexity": Metric(False, lambda r: effective_complexity(r.pixel_maps), category=C),
    "local_lipschitz_estimate": Metric(False, _moving(stability.local_lipschitz_estimate),
                                       cost=MetricCost(11, 10), category=R),
    "relative_input_stability": Metric(False, _moving(stability.relative_input_stability),
                                       cost=MetricCost(11, 10), category=R),
    "relative_output_stability": Metric(False, _moving(stability.relative_output_stability),
                                        cost=MetricCost(11, 10), category=R),
    "relative_representation_stability": Metric(False, _moving(stability.relative_representation_stability),
                                                cost=MetricCost(22, 10), category=R),
    "continuity": Metric(False, lambda r: stability.continuity(
        r.model, r.images, _pixel_method(r), r.classes, batch_size=r.batch_size, value_range=r.value_range),
        cost=MetricCost(7, 6),
        category=R),
    "consistency": Metric(True, lambda r: agreement.consistency(r.pixel_maps, r.classes), category=R),
    "sufficiency": Metric(True, lambda r: agreement.sufficiency(r.pixel_maps, r.classes), category=F),
    "completeness": Metric(False, _completeness, cost=MetricCost(2, 1), category=A),
    "non_sensitivity": Metric(False, _faithful(axiomatic.non_sensitivity), cost=MetricCost(65), category=A),
    "input_invariance": Metric(False, _input_invariance, cost=MetricCost(method=1), category=A),
}


def pixel_maps(method, maps, image_size, params):
    """`[B, H, W]` maps where larger means more important, at the images' size.

    `method` is the method's registry record (None for a callable of the
    user's). A grid method's scores go back to pixels the way its record
    says (occlusion: `occlusion_to_input`), other sizes are resized
    bilinearly; maps whose low values matter (`Method.lower_is_important`)
    become each image's maximum minus the map (the score drop), nonnegative.
    """
    maps = np.asarray(maps, np.float32)
    if method is not None and method.output == "grid":
        maps = np.asarray(method.pixel_maps(maps, tuple(image_size), params), np.float32)
    elif maps.shape[1:] != tuple(image_size):
        maps = image.resize_maps(maps, tuple(image_size))
    if method is not None and method.lower_is_important:
        maps = maps.max(axis=(1, 2), keepdims=True) - maps
    return maps


# The metrics that build images off the clean ones by noise, translation or imputation; given a `value_range`
# they clip them into it. The removal metrics (deletion, pixel flipping, IROF, sensitivity-n, infidelity,
# MuFidelity, the confidence metrics...) mix the image's own pixels with a baseline, inside the range when the
# baseline is; `input_invariance` shifts the input on purpose and is not clipped (its docstring says why).
MOVING_METRICS = ("max_sensitivity", "avg_sensitivity", "road_morf", "road_lerf", "smooth_mprt",
                  "local_lipschitz_estimate", "relative_input_stability", "relative_output_stability",
                  "relative_representation_stability", "continuity")


# What `compare` and `kerasviz evaluate` run when no metric is named: one or two of each kind (faithfulness,
# robustness, complexity, localisation, sanity), about 80 forward passes and 30 calls of the method per image
# with their defaults. `metrics="all"` runs every metric of `METRICS`, several times that.
DEFAULT_METRICS = ("deletion_auc", "insertion_auc", "mufidelity", "max_sensitivity", "avg_sensitivity", "sparseness",
                   "complexity", "pointing_game", "random_logit", "randomization")


def check_metric_names(metrics, masks, argname="metrics"):
    """The metric names asked for, validated.

    `None` gives `DEFAULT_METRICS` and `"all"` every metric of `METRICS`,
    each without the metrics that need masks when `masks` is None.
    """
    if metrics is None or metrics == "all":
        names = DEFAULT_METRICS if metrics is None else tuple(METRICS)
        return [name for name in names if masks is not None or not METRICS[name].needs_masks]
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
        raise TypeError(f"Expected `{argname}` to be a list or tuple of metric names from "
                        f"{sorted(METRICS)}. Received: {argname}={metrics!r}.")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ValueError(f"Received an invalid value for `{argname}`: {metrics!r}. Expected metric names "
                         f"from {sorted(METRICS)}.")
    if masks is None and any(METRICS[m].needs_masks for m in metrics):
        needing = [m for m in metrics if METRICS[m].needs_masks]
        raise ValueError(f"Received `{argname}` with {needing} but no `masks`: the localisation metrics need "
                         "one object mask [H, W] per image.")
    return list(dict.fromkeys(metrics))


def check_masks(masks, images, argname="masks"):
    if masks is None:
        return None
    array = np.asarray(masks)
    if array.shape != images.shape[:3]:
        raise ValueError(f"Expected `{argname}` to be one mask [H, W] per image, shape {images.shape[:3]}. "
                         f"Received shape {array.shape}.")
    return array


def run_metrics(model, images, record, method, maps, classes, metrics, *, params=None, masks=None,
                batch_size=None, seed=0, value_range=None):
    """`{metric: float32 [B]}` for one method's `maps` (what `compare` and the callback compute).

    `record` is the method's registry record (None for a callable of the
    user's); `method` the function with its parameters bound; `value_range`
    the model's input range (or None), into which the metrics that move the
    image (`MOVING_METRICS`) clip the images they build.
    """
    run = MethodRun(model, images, method, maps, pixel_maps(record, maps, images.shape[1:3], params or {}),
                    classes, masks, batch_size, seed, record, params or {}, value_range)
    return {metric: np.asarray(METRICS[metric].evaluate(run), np.float32) for metric in metrics}
