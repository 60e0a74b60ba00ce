"""`AttributionCallback`: attribution maps of fixed images, written as the model trains."""

import functools
import numbers

import numpy as np
import tensorflow as tf

from kerasviz import image, input_groups, inputs, models, registry, summary, targets
from kerasviz.callbacks import attribution_inputs
from kerasviz.callbacks.base import VisualizationCallback, probe_arrays
from kerasviz.gradients import cam, core
from kerasviz.metrics.catalog import METRICS, MOVING_METRICS, check_masks, check_metric_names, run_metrics
from tb_plugin import metadata

DEFAULT_METHODS = ("saliency", "grad_cam")
DEFAULT_METRICS = ("deletion_auc", "insertion_auc")


class AttributionCallback(VisualizationCallback):
    """Writes attribution maps of fixed images to TensorBoard as the model trains.

    At the end of every `every`-th epoch, runs each method of `methods` on
    `images` with the live weights and writes, per method, a tile of the images
    with their maps overlaid (images tab, `kerasviz/attribution/<method>/overlay`),
    a record for the kerasviz dashboard (`kerasviz/attribution/<method>`:
    images, float maps, labels, predictions and probabilities) and, with
    `metrics`, one scalar per metric (`kerasviz/attribution/<method>/<metric>`,
    charted per metric by the dashboard): `metrics=True` writes the deletion
    and insertion AUCs, a tuple of names from `kerasviz.metrics.METRICS` writes
    those (e.g. `("deletion_auc", "mufidelity", "sparseness", "random_logit")`). Each method's
    function is traced once for the whole training. Costs per write: one
    forward pass over `images`, plus each method's own cost (saliency and
    Grad-CAM: one forward and backward pass per image; SmoothGrad and
    Integrated Gradients: tens). Everything is checked before the first step:
    each method runs once on the first probe image when `fit` starts (all
    of them when `target` is a `Target` with one class per image), so that
    its own argument checks see its parameters, the images and the model.

    Args:
        log_dir: the TensorBoard log directory; writes go to `<log_dir>/<run_name>`.
        images: `[N, H, W, C]` in the model's input space (or a `tf.data.Dataset`
            of batches or `(images, labels)`); only the first `max_images` are used.
            For a model with several inputs, a dict `{input name: array}` or a
            list in the order of `model.inputs`: the methods that take several inputs
            (`attribution_inputs.METHODS`) write one series per attributed input
            (`kerasviz/attribution/<method>/input.<name>`, a column group of the
            dashboard); a method's `attribute` parameter chooses the inputs
            (default: the image inputs), e.g. `("saliency", {"attribute": "all"})`.
        labels: optional int class indices `[N]` (or one-hot), shown and used for
            the true class's probability.
        methods: names in `kerasviz.registry.METHODS`, callables
            `method(model, images, target=None, *, batch_size=None, **params)`,
            or `(name or callable, params dict)` pairs. Default: saliency and
            Grad-CAM (those of them that are registered).
        target: what to explain, as for every method: `None` (the predicted
            class), an int, one int per image (e.g. `target=labels`), or a
            `kerasviz.targets.Target`.
        class_names: optional names, one per class of the model.
        every: write every `every` epochs (epochs 0, every, 2 * every, ...).
        every_n_batches: write every this many batches instead (steps are
            then the optimizer's iteration count; a Python call per batch).
        value_range: the model's pixel range `(lo, hi)` for display, or None;
            also the range the metrics that move the image
            (`kerasviz.metrics.MOVING_METRICS`) clip their images into
            (the images must then lie inside it).
        metrics: `False` (default), `True` (the deletion and insertion AUCs)
            or a tuple of metric names from `kerasviz.metrics.METRICS`
            (`deletion_auc`, `insertion_auc`, `mufidelity`, `max_sensitivity`,
            `avg_sensitivity`, `sparseness`, `complexity`, `pointing_game`,
            `random_logit`, `randomization`), each the mean over the images.
            Each costs what `kerasviz.metrics.compare` says, every write;
            the sensitivities and `randomization` rerun the method ~10 times.
        masks: `[N, H, W]` object masks of the images (for `pointing_game`).
        run_name: the run directory's name under `log_dir`.
        on_error: `"warn"` (default: a failing method warns once and training
            goes on) or `"raise"`.
        batch_size: the methods' `batch_size` (`None`: each method's own default, sized to the model).
        max_images: at most this many images are visualized.
        colormap: the images tab's colormap (`kerasviz.image.COLORMAPS`).

    Raises:
        ValueError, TypeError: a bad argument, in `__init__` or, for what
            depends on the model (image shape, class index, layer), when
            `fit` starts, before the first step.

    Example:

    >>> callback = kerasviz.callbacks.AttributionCallback(
    ...     "logs", test.images[:8], test.labels[:8], class_names=test.class_names)
    >>> model.fit(x, y, epochs=10, callbacks=[keras.callbacks.TensorBoard("logs"), callback])
    """

    def __init__(self, log_dir, images, labels=None, *, methods=None, target=None, class_names=None,
                 every=1, every_n_batches=None, value_range=(0.0, 1.0), metrics=False, masks=None,
                 run_name="kerasviz", on_error="warn", batch_size=None, max_images=8, colormap="inferno"):
        super().__init__(log_dir, run_name=run_name, every=every, every_n_batches=every_n_batches,
                         on_error=on_error)
        self.max_images = inputs.check_positive_int(max_images, "max_images")
        self._several = input_groups.is_per_input(images)  # a multi-input model's examples, one array per input
        if self._several:
            self.images, self.labels = attribution_inputs.probe_inputs(images, labels, self.max_images)
            if metrics or masks is not None:
                raise ValueError(f"Received metrics={metrics!r} and masks={'given' if masks is not None else None} "
                                 "with `images` per input: the metrics measure models with one image input.")
            default = tuple(m for m in DEFAULT_METHODS if m in attribution_inputs.METHODS)
        else:
            self.images, self.labels = probe_arrays(images, labels, self.max_images)
            default = DEFAULT_METHODS
        self.methods = registry.resolve(default if methods is None else methods)
        # What each record says was computed: the parameters with the defaults filled in (the grid's, per images).
        self._effective = {entry.name: entry.with_defaults() for entry in self.methods}
        self._count = len(next(iter(attribution_inputs.values(self.images)))) if self._several else len(self.images)
        if isinstance(target, (list, tuple, np.ndarray)) or tf.is_tensor(target):
            target = np.asarray(target)[:self._count] if np.ndim(target) else target  # as images
        self.target = target
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        image.to_display(np.zeros((1, 1, 1)), value_range)  # validates value_range
        self.value_range = value_range
        if colormap not in image.COLORMAPS:
            raise ValueError(f"Received an invalid value for `colormap`: {colormap!r}. "
                             f"Expected one of {image.COLORMAPS}.")
        self.colormap = colormap
        self.batch_size = inputs.check_batch_size(batch_size, default=None)  # None: each method sizes its own batch
        self.masks = None if masks is None else check_masks(np.asarray(masks)[:len(self.images)], self.images)
        if isinstance(metrics, bool):
            metrics = DEFAULT_METRICS if metrics else ()
        self.metrics = tuple(check_metric_names(metrics, self.masks)) if metrics else ()
        if any(name in MOVING_METRICS for name in self.metrics):  # they clip into it: the images must lie inside
            inputs.check_in_range(self.images, inputs.check_value_range(value_range, self.images.shape[-1]), "images")
        self._prepared = None
        self._layers = {}

    def configure(self, model):
        models.check_model(model)
        if self._several:
            return self._configure_inputs(model)
        prepared = core.Prepared(model, self.images, self.target, self.batch_size)
        self._check_classes(model, prepared.images.shape[1:])
        layers = {}
        for name, _, params, method in self.methods:
            if method is not None and method.takes_layer:
                layers[name] = cam.cam_layer(model, params.get("layer"), prepared.images.shape[1:])
            elif params.get("layer") is not None:
                layers[name] = models.get_layer(model, params["layer"], argname="layer")[0]
        if self.metrics and not isinstance(prepared.target, targets.ClassScore):
            raise ValueError(f"Received metrics={self.metrics!r} with target={self.target!r}: the metrics "
                             "measure class explanations (use a class target).")
        self._prepared, self._layers = prepared, layers
        images, target = self._trial_inputs()
        for name, function, params, method in self.methods:
            try:
                self._maps(model, name, function, params, images, target)
            except (ValueError, TypeError) as error:
                if type(error) not in (ValueError, TypeError):
                    raise
                raise type(error)(f"Received invalid parameters for {name!r} in `methods` ({params!r}) "
                                  f"for these images and this model: {error}") from error
            if method is not None and method.output == "grid":  # the records say the grid that ran on these images
                grid = method.grid(prepared.images.shape[1:], params)
                self._effective[name].update({k: v for k, v in grid.items() if method.accepts(k)})

    def _configure_inputs(self, model):
        """`configure` for a multi-input model: the examples against its inputs, each method run once on the first."""
        probe = attribution_inputs.ProbeInputs(model, self.images, self.target, self.batch_size)
        self._check_classes(model, tuple(model.inputs[0].shape[1:]))
        self._written = {}
        for name, function, params, _ in self.methods:
            try:
                result = function(model, probe.first(), self._trial_target(), batch_size=self.batch_size, **params)
                self._written[name] = sorted(probe.by_name(result), key=probe.names.index)
            except (ValueError, TypeError) as error:
                if type(error) not in (ValueError, TypeError):
                    raise
                raise type(error)(f"Received invalid parameters for {name!r} in `methods` ({params!r}) for these "
                                  f"images of several inputs and this model: {error}") from error
        self._prepared = probe

    def _check_classes(self, model, shape):
        n_classes = max(targets.num_classes(model, shape), 2)  # 1 sigmoid unit: 2
        if self.labels is not None and ((self.labels < 0) | (self.labels >= n_classes)).any():
            raise ValueError(f"Received an invalid class index in `labels`: {self.labels.tolist()}. "
                             f"The model has {n_classes} classes.")
        if self.class_names is not None and len(self.class_names) != n_classes:
            raise ValueError(f"Received {len(self.class_names)} `class_names` for a model with {n_classes} classes.")

    def _trial_target(self):
        target = self.target
        if isinstance(target, targets.Target) or not np.ndim(target):
            return target
        return target[:1]

    def tags(self):
        if self._several:
            return [metadata.tag_for("attribution", name, input_groups.tag_suffix(written))
                    for name, names in self._written.items() for written in names]
        return [metadata.tag_for("attribution", entry.name) for entry in self.methods]

    def _trial_inputs(self):
        """The configuration run's images and target: the first image (all, for per-image `Target`s)."""
        images, target = self._prepared.images, self.target
        if isinstance(target, targets.Target):
            per_image = any(np.ndim(term.index) for term in target.class_terms())
            return (images if per_image else images[:1]), target
        return images[:1], (target[:1] if np.ndim(target) else target)

    def _maps(self, model, name, function, params, images, target):
        """`function`'s maps of `images`, checked to be `[N, h, w]`."""
        maps = np.asarray(function(model, images, target, batch_size=self.batch_size, **params), np.float32)
        if maps.ndim != 3 or len(maps) != len(images):
            raise ValueError(f"The method {name!r} returned an array of shape {maps.shape}; expected "
                             f"maps [{len(images)}, h, w].")
        return maps

    def _target_json(self):
        """The header's `target`: "predicted class", an int, one int per image, or a description."""
        target = self.target.index if isinstance(self.target, targets.ClassScore) else self.target
        if target is None:
            return "predicted class"
        if isinstance(target, numbers.Integral):
            return int(target)
        if isinstance(target, (list, tuple, np.ndarray)):
            return np.broadcast_to(np.asarray(target, np.int64), [self._count]).tolist()
        return repr(target)

    def visualize(self, step):
        prepared = self._prepared
        if self._several:
            probs = prepared.outputs(self.model)
        else:
            probs = core.model_outputs(prepared, prepared.images)[0]
        if isinstance(probs, list):  # several outputs: the one the target's classes read, if any
            outputs = prepared.target.class_outputs()
            probs = probs[outputs[0]] if outputs else None
        rows = np.arange(self._count)
        if probs is None or np.ndim(probs) != 2:  # no class vector to predict from (a box, a dense map)
            for entry in self.methods:
                self.guarded(entry.name, step, self._one, entry, step, None, None, None)
            return
        probs = np.asarray(probs, np.float64)
        if probs.shape[-1] == 1:  # a single sigmoid unit
            predictions = (probs[:, 0] > 0.5).astype(np.int64)
            probs = np.concatenate([1.0 - probs, probs], axis=-1)
        else:
            predictions = probs.argmax(axis=-1)
        true_probability = None if self.labels is None else probs[rows, self.labels]
        for entry in self.methods:
            self.guarded(entry.name, step, self._one, entry, step, predictions, probs[rows, predictions],
                         true_probability)

    def _one(self, entry, step, predictions, predicted_probability, true_probability):
        prepared, name, method = self._prepared, entry.name, entry.method
        if self._several:
            maps = prepared.by_name(entry.function(self.model, prepared.images, self.target, batch_size=self.batch_size,
                                                   **entry.params))
            with self.write_scope(step):
                summary.write_attribution(
                    name, prepared.by_name(prepared.images), maps, step=step,
                    params=self._effective[name], target=self._target_json(), class_names=self.class_names,
                    labels=self.labels, predictions=predictions, true_probability=true_probability,
                    predicted_probability=predicted_probability, value_range=self.value_range, colormap=self.colormap)
            return
        maps = self._maps(self.model, name, entry.function, entry.params, prepared.images, self.target)
        effective = self._effective[name]
        scalars = self._metric_scalars(entry, effective, maps) if self.metrics else None
        grid = method.grid(prepared.images.shape[1:], entry.params) if method is not None else None
        with self.write_scope(step):
            summary.write_attribution(
                name, prepared.images, maps, step=step, params=effective,
                layer=self._layers.get(name), target=self._target_json(), class_names=self.class_names,
                labels=self.labels, predictions=predictions, true_probability=true_probability,
                predicted_probability=predicted_probability, value_range=self.value_range,
                colormap=self.colormap, metrics=scalars,
                lower_is_important=method is not None and method.lower_is_important, grid=grid,
                higher_is_better={k: METRICS[k].higher_is_better for k in scalars or {}})

    def _metric_scalars(self, entry, effective, maps):
        """`{metric: mean over the images}` of `maps` (NaN where every image's value is undefined)."""
        prepared = self._prepared
        classes = core.predicted_classes(prepared)[:, 0]
        method = functools.partial(entry.function, **entry.params)
        values = run_metrics(self.model, prepared.images, entry.method, method, maps, classes, self.metrics,
                             params=effective, masks=self.masks, batch_size=self.batch_size,
                             value_range=self.value_range)
        return {metric: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
                for metric, v in values.items()}
