"""What is inside a ConvNet, while it trains: `BuildingBlocksCallback`, and the base of the concept callbacks.

`InsideCallback` is what `BuildingBlocksCallback`, `CraftCallback` and
`TCAVCallback` (`kerasviz/callbacks/concepts.py`) share: a write at the end of
training (`every=None`, the default: these analyses cost many passes) or
every `every` epochs, each write a step of the callback's own run (the epoch,
as for every kerasviz callback; the end-of-training write takes the last
epoch's step), on the chief only, a failure warning once (`on_error`).
"""

import numpy as np

from kerasviz import inputs, models, targets
from kerasviz.callbacks.base import VisualizationCallback
from kerasviz.inside import streams
from kerasviz.inside.blocks import building_blocks_of
from tb_plugin import metadata


def check_target(target, argname="target", optional=False):
    """`target` as an int class (or None where `optional`), else a TypeError naming `argname`."""
    if optional and target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or target < 0:
        raise TypeError(f"Expected `{argname}` to be an int class index >= 0{' or None' if optional else ''}. "
                        f"Received: {argname}={target!r}.")
    return int(target)


def check_images(images, argname="images"):
    """`images` as float32 numpy `[N, H, W, C]` with N >= 1 (the model checks the rest in `configure`)."""
    array = inputs.as_numpy(images, argname)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"Expected `{argname}` to be numeric images [N, H, W, C]. Received dtype {array.dtype}.")
    array = array.astype(np.float32)
    if array.ndim != 4 or len(array) == 0:
        raise ValueError(f"Expected `{argname}` to be a non-empty batch [N, H, W, C]. Received shape {array.shape}.")
    return array


def resolve_layer(model, layer, images, value_range, *, rectified=True):
    """The layer's path (default: feature visualization's), checked spatial and, where asked, rectified on `images`."""
    if layer is None:
        from kerasviz.gradients import feature_visualization

        layer = feature_visualization.default_layer(model)
    path = streams.layer_path(model, layer)
    shape = models.output_shape(model, path)
    if rectified and (shape is None or len(shape) != 3):
        raise ValueError(f"Received an invalid value for `layer`: {layer!r} is not a spatial layer [B, h, w, C] "
                         f"(output {None if shape is None else tuple(shape)}).")
    checked = streams.check_batch(model, images, value_range, "images")
    if rectified:  # NMF needs non-negative activations: refused now, not at the first write
        streams.non_negative(streams.activations(model, checked[:1], path, 1), path)
    return path


def check_class(model, images, target, argname="target"):
    classes = targets.num_classes(model, images.shape[1:])
    if target is not None and not 0 <= target < classes:
        raise ValueError(f"Received an invalid value for `{argname}`: {target!r}. Expected a class index in "
                         f"[0, {classes}).")


class InsideCallback(VisualizationCallback):
    """A write at the end of training (`every=None`) or every `every` epochs, each a step of the run.

    Holds what every one of them takes (`images`, `layer`, `value_range`,
    `class_names`, `seed`, `batch_size`) and resolves the layer in
    `configure`; subclasses add their checks to `configure(model)` and
    implement `tags()` and `write(step)` (compute and record, inside
    `self.write_scope(step)`); `what` names the analysis in warnings.
    """

    what = "inside"
    rectified = True  # the layer must be spatial and rectified (NMF); TCAV's takes any

    def __init__(self, log_dir, images, layer, *, every, run_name, on_error, value_range, class_names, seed,
                 batch_size):
        super().__init__(log_dir, run_name=run_name, every=1 if every is None else every, on_error=on_error)
        self.at_end = every is None
        self._final_step = None
        self.images, self.layer = check_images(images), layer
        self.value_range, self.class_names = value_range, class_names
        self.seed, self.batch_size = inputs.check_seed(seed), inputs.check_batch_size(batch_size)
        self._path = None

    def configure(self, model):
        """Checks the model and resolves the layer (subclasses add their own checks)."""
        models.check_model(model)
        self._path = resolve_layer(model, self.layer, self.images, self.value_range, rectified=self.rectified)

    def write(self, step):
        raise NotImplementedError

    def on_train_begin(self, logs=None):
        self._final_step = None
        super().on_train_begin(logs)

    def visualize(self, step):
        if self.at_end:  # remember the step; the write waits for the end of training
            self._final_step = step
            return
        with self.write_scope(step):
            self.guarded(self.what, step, self.write, step)

    def on_train_end(self, logs=None):
        try:
            if self.at_end and self._chief and self.model is not None and self._final_step is not None:
                with self.write_scope(self._final_step):
                    self.guarded(self.what, self._final_step, self.write, self._final_step)
        finally:
            super().on_train_end(logs)


class BuildingBlocksCallback(InsideCallback):
    """Building Blocks of a few images (the dashboard's "Building blocks" tab) while a model trains.

    Runs `kerasviz.inside.building_blocks_of` (Olah et al., 2018, "The
    Building Blocks of Interpretability": the layer's NMF neuron groups,
    their attribution to the class, renders of each group and of each
    position's semantic dictionary) on each of `images` and records it,
    a series per image (`image_<i>`, or `names`), at the end of training
    (`every=None`, the default) or every `every` epochs. Each write costs,
    per image, one forward and backward pass, the NMF and `steps` forward
    and backward passes of `groups + max_channels` renders: keep `images`
    few and `steps` small during training.

    Args:
        log_dir: the TensorBoard log directory.
        images: `[N, H, W, C]`, a few images in the model's input space.
        layer: a rectified spatial layer (default: feature visualization's).
        groups, top, max_channels, steps, image_shape, seed, batch_size: as in `building_blocks_of`.
        target: the class explained (default: each image's predicted class at the write).
        names: a series name per image (default `image_<i>`).
        every: None (once, at the end of training) or a write every `every` epochs.
        value_range: the model's input range.
        class_names: optional per-class names, shown.
        run_name, on_error: as for every kerasviz callback.

    Raises:
        ValueError, TypeError: an invalid argument (named), at construction
            or before the first training step.

    Example:

    >>> model.fit(x, y, epochs=10, callbacks=[
    ...     kerasviz.callbacks.BuildingBlocksCallback("logs", x_val[:2], "conv3", steps=64)])
    """

    what = "building_blocks"

    def __init__(self, log_dir, images, layer=None, *, groups=6, target=None, top=4, max_channels=24, steps=128,
                 image_shape=None, names=None, every=None, value_range=(0.0, 1.0), class_names=None, seed=0,
                 batch_size=None, run_name="blocks", on_error="warn"):
        super().__init__(log_dir, images, layer, every=every, run_name=run_name, on_error=on_error,
                         value_range=value_range, class_names=class_names, seed=seed, batch_size=batch_size)
        names = [f"image_{i}" for i in range(len(self.images))] if names is None else list(names)
        if len(names) != len(self.images) or len(set(names)) != len(names) or \
                not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"Received an invalid value for `names`: {names!r}. Expected {len(self.images)} "
                             "distinct non-empty strings, one per image.")
        self.names, self.target = names, check_target(target, optional=True)
        self.options = dict(groups=inputs.check_positive_int(groups, "groups"),
                            top=inputs.check_positive_int(top, "top"),
                            max_channels=inputs.check_positive_int(max_channels, "max_channels"),
                            steps=inputs.check_positive_int(steps, "steps"), image_shape=image_shape,
                            seed=self.seed, batch_size=self.batch_size)

    def configure(self, model):
        super().configure(model)
        check_class(model, self.images, self.target)

    def tags(self):
        return [metadata.tag_for("blocks", name) for name in self.names]

    def write(self, step):
        for name, image in zip(self.names, self.images):
            blocks = self.guarded(f"building_blocks {name}", step, building_blocks_of, self.model, image, self._path,
                                  target=self.target, value_range=self.value_range, **self.options)
            if blocks is not None:
                blocks.write(step=step, class_names=self.class_names, value_range=self.value_range, name=name)
