"""Callbacks of the synthesis family: the network's idea of each class, epoch by epoch.

`ClassVisualizationCallback` writes, at every `every`-th epoch, a record for
the kerasviz dashboard (tag `kerasviz/synthesis/class_visualization`) and a
tile of the generated images for TensorBoard's image tab.
"""

import numbers

import numpy as np

from kerasviz import image, inputs, models, summary, targets
from kerasviz.callbacks.base import VisualizationCallback
from kerasviz.gradients.class_visualization import class_visualization
from tb_plugin import metadata

# Keyword arguments of `class_visualization` a callback may set (the rest it owns).
_PARAMS = ("learning_rate", "l2", "blur_every", "blur_sigma", "jitter", "parameterization", "transforms")


def _check_classes(classes):
    values = np.atleast_1d(np.asarray(classes, dtype=object))
    if values.ndim != 1 or len(values) == 0 or not all(
            isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in values):
        raise ValueError(f"Expected `classes` to be an int class index or a non-empty sequence of them. "
                         f"Received: classes={classes!r}.")
    return [int(c) for c in values]


class ClassVisualizationCallback(VisualizationCallback):
    """Writes class visualizations each epoch: how the network's idea of each class develops.

    Each write synthesizes one image per class with
    `kerasviz.class_visualization` (Simonyan et al., 2013, "Deep Inside
    Convolutional Networks"; by default its Fourier recipe of Olah et al.,
    2017), all classes in one batch, from the same start noise and
    transforms (`seed`) every epoch, so that epochs differ only by the
    weights. Records hold the images
    (display space), the loss (the mean class score) per step, and snapshots
    of the images every few steps. Costs `steps` forward and backward passes
    per class per write; the step is traced once for the whole training.
    When `fit` starts, one ascent step of class 0 runs, so that
    `class_visualization`'s own checks see the parameters and the model.

    Args:
        log_dir: the TensorBoard log directory; writes go to `<log_dir>/<run_name>`.
        classes: an int class index or a sequence of them (one image each).
        class_names: optional names, one per class of the model.
        steps: ascent steps per write.
        every: write every `every` epochs.
        value_range: `(min, max)` of the model's input space.
        image_shape: `(H, W, C)` when the model's input size is free.
        seed: the start noise and jitter seed (fixed: epochs are comparable).
        snapshots: how many snapshots of the images to keep over the steps (0: none).
        run_name, on_error: as for every kerasviz callback.
        **params: `learning_rate`, `l2`, `blur_every`, `blur_sigma`, `jitter`,
            `parameterization` (a preset name or None: the record stores it)
            and `transforms` (`"standard"` or None) of `class_visualization`.

    Raises:
        ValueError, TypeError: an invalid argument (named in the message),
            at construction or before the first training step.

    Example:

    >>> model.fit(x, y, epochs=10, callbacks=[
    ...     kerasviz.callbacks.ClassVisualizationCallback("logs", classes=[0, 3], steps=50)])
    """

    def __init__(self, log_dir, classes, *, class_names=None, steps=100, every=1, value_range=(0.0, 1.0),
                 image_shape=None, seed=0, snapshots=8, run_name="kerasviz", on_error="warn", **params):
        super().__init__(log_dir, run_name=run_name, every=every, on_error=on_error)
        self.classes = _check_classes(classes)
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.steps = inputs.check_positive_int(steps, "steps")
        self.value_range = inputs.check_value_range(value_range)
        if self.value_range is None:
            raise ValueError("Received value_range=None: the callback needs the model's input range `(min, max)`.")
        self.image_shape = None if image_shape is None else tuple(image_shape)
        self.seed = inputs.check_seed(seed)
        if not isinstance(snapshots, numbers.Integral) or isinstance(snapshots, bool) or snapshots < 0:
            raise ValueError(f"Expected `snapshots` to be an int >= 0. Received: snapshots={snapshots!r}.")
        self.snapshots = min(int(snapshots), self.steps)
        unknown = sorted(set(params) - set(_PARAMS))
        if unknown:
            raise TypeError(f"Received unknown keyword arguments {unknown}. Expected some of {list(_PARAMS)}.")
        for name in ("parameterization", "transforms"):
            if not isinstance(params.get(name), (str, type(None))):
                raise TypeError(f"Expected `{name}` to be a preset name or None (the record stores it). "
                                f"Received: {name}={params[name]!r}.")
        self.extra_params = params
        self._shape = None

    def configure(self, model):
        models.check_model(model)
        trial = class_visualization(model, 0, image_shape=self.image_shape, steps=1, value_range=self.value_range,
                                    seed=self.seed, **self.extra_params)  # its own checks: shape, parameters
        self._shape = tuple(int(d) for d in trial.image.shape[1:])
        n_classes = targets.num_classes(model, self._shape)
        bad = [c for c in self.classes if not 0 <= c < n_classes]
        if bad:
            raise ValueError(f"Received an invalid value for `classes`: {self.classes}. Expected indices in "
                             f"[0, {n_classes}) for a model with {n_classes} classes.")
        if self.class_names is not None and len(self.class_names) != n_classes:
            raise ValueError(f"Received {len(self.class_names)} `class_names` for a model with {n_classes} classes.")

    def tags(self):
        return [metadata.tag_for("synthesis", "class_visualization")]

    def visualize(self, step):
        with self.write_scope(step):
            self.guarded("class_visualization", step, self._write, step)

    def _display(self, images):
        return image.to_display(np.asarray(images, np.float32), self.value_range)

    def _write(self, step):
        every = max(1, self.steps // self.snapshots) if self.snapshots else 0
        frames = []

        def collect(i, current, loss):
            if every and (i + 1) % every == 0 and len(frames) < self.snapshots:
                frames.append(image.tile(self._display(current), cols=len(self.classes), pad=1))

        result = class_visualization(self.model, self.classes, image_shape=self._shape, steps=self.steps,
                                     value_range=self.value_range, seed=self.seed,
                                     callback=collect if every else None, **self.extra_params)
        shown = self._display(result.image)
        names = self.class_names
        header = {
            "target": "classes " + ", ".join(
                f"{c} ({names[c]})" if names else str(c) for c in self.classes),
            "classes": self.classes, "class_names": names,
            "params": {"steps": self.steps, "seed": self.seed, **self.extra_params},
            "value_range": list(self.value_range), "steps": int(result.steps),
            "snapshot_every": every,
        }
        arrays = {"images": image.to_uint8(shown),
                  "losses": np.asarray(result.losses, np.float32)[None, :]}
        if frames:
            arrays["snapshots"] = image.to_uint8(np.stack(frames))
        summary.write_record("synthesis", "class_visualization", header, arrays, step=step)
        summary.write_png(metadata.tag_for("synthesis", "class_visualization") + "/images",
                          image.tile(shown, cols=len(self.classes), pad=1), step=step)
