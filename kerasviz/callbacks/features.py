"""Callbacks of the features family: what a layer's channels respond to, and where, epoch by epoch.

`FeatureVisualizationCallback` synthesizes, at every `every`-th epoch, one
image per channel that excites it most (`kerasviz.feature_visualization`);
`FeatureMapsCallback` writes a layer's activations for fixed probe images
(`kerasviz.feature_maps`). Each writes a record for the kerasviz dashboard
(tag `kerasviz/features/<method>/<layer, "/" as "__">`) and a picture for
TensorBoard's image tab (`.../grid`).
"""

import numpy as np

from kerasviz import image, inputs, models, summary
from kerasviz.activations.feature_maps import feature_maps
from kerasviz.callbacks.base import VisualizationCallback, probe_arrays
from kerasviz.gradients.feature_visualization import feature_visualization
from tb_plugin import metadata

FAMILY = "features"
# Keyword arguments of `feature_visualization` a callback may set (the rest it owns).
_PARAMS = ("learning_rate", "parameterization", "transforms", "diversity", "l2", "tv")


def _range_header(value_range):
    """The value range as JSON: a preset's name, or `[low, high]` (numbers, or lists per channel)."""
    resolved = inputs.check_value_range(value_range)
    if resolved is None:
        return None
    return resolved.name or [bound if isinstance(bound, float) else list(bound) for bound in resolved]


def _grid_tag(method, path):
    return f"{metadata.tag_for(FAMILY, method, metadata.layer_suffix(path))}/grid"


class FeatureVisualizationCallback(VisualizationCallback):
    """Writes feature visualizations of a layer's channels each epoch: watch the features form.

    Each write runs `kerasviz.feature_visualization` (Olah, Mordvintsev &
    Schubert, 2017, "Feature Visualization", Distill): one batched
    optimization in which every image maximizes its channel's mean
    activation, through a decorrelated Fourier parameterization and random
    transforms. The layer, the channels and the seed (start and transforms)
    are fixed when `fit` starts, so the records of two epochs differ only by
    the weights. Records hold the images (display space), the channel of
    each image, its final objective (the channel's mean activation on the
    image itself) and the mean objective per optimization step. Costs
    `steps` forward and backward passes of `len(channels) *
    images_per_channel` images per write; the step is traced once for the
    whole training. When `fit` starts, one step runs, so that the engine's
    own checks see the layer, the channels and the parameters before the
    first training step.

    Args:
        log_dir: the TensorBoard log directory; writes go to `<log_dir>/<run_name>`.
        layer: the layer (name, path, index or object); default: the
            meaningful block at about 80% of the depth, as for
            `kerasviz.feature_visualization` (the record says which).
        channels: None (the first 16), an int (the first so many) or a
            sequence of channel indices.
        every: write every `every` epochs.
        steps: optimization steps per write.
        images_per_channel: images per channel (facets; with `diversity`).
        image_shape: `(H, W, C)` when the model's input size is free.
        value_range: the model's input range: a preset or `(min, max)`.
        seed: the start and transforms seed (fixed: epochs are comparable).
        run_name, on_error: as for every kerasviz callback.
        **params: `learning_rate`, `parameterization`, `transforms`,
            `diversity`, `l2`, `tv` of `feature_visualization`.

    Raises:
        ValueError, TypeError: an invalid argument (named in the message),
            at construction or before the first training step.

    Example:

    >>> model.fit(x, y, epochs=10, callbacks=[
    ...     kerasviz.callbacks.FeatureVisualizationCallback("logs", "conv3", channels=8, steps=64)])
    """

    def __init__(self, log_dir, layer=None, channels=None, *, every=1, steps=64, images_per_channel=1,
                 image_shape=None, value_range=(0.0, 1.0), seed=0, run_name="kerasviz", on_error="warn", **params):
        super().__init__(log_dir, run_name=run_name, every=every, on_error=on_error)
        self.layer, self.channels = layer, channels
        self.steps = inputs.check_positive_int(steps, "steps")
        self.images_per_channel = inputs.check_positive_int(images_per_channel, "images_per_channel")
        if value_range is None or inputs.check_value_range(value_range) is None:
            raise ValueError("Received value_range=None: the callback needs the model's input range.")
        self.value_range = value_range
        self.image_shape = None if image_shape is None else tuple(image_shape)
        self.seed = inputs.check_seed(seed)
        unknown = sorted(set(params) - set(_PARAMS))
        if unknown:
            raise TypeError(f"Received unknown keyword arguments {unknown}. Expected some of {list(_PARAMS)}.")
        self.extra_params = params
        self._path = self._channels = self._shape = None

    def configure(self, model):
        models.check_model(model)
        trial = feature_visualization(model, self.layer, self.channels, images_per_channel=self.images_per_channel,
                                      image_shape=self.image_shape, steps=1, value_range=self.value_range,
                                      seed=self.seed, **self.extra_params)  # its own checks, one trace
        self._path = trial.layer
        self._channels = list(dict.fromkeys(int(c) for c in trial.channels))  # fixed: every epoch the same
        self._shape = tuple(int(d) for d in trial.images.shape[1:])

    def tags(self):
        return [metadata.tag_for(FAMILY, "feature_visualization", metadata.layer_suffix(self._path))]

    def visualize(self, step):
        with self.write_scope(step):
            self.guarded(f"feature_visualization {self._path}", step, self._write, step)

    def _write(self, step):
        result = feature_visualization(
            self.model, self._path, self._channels, images_per_channel=self.images_per_channel,
            image_shape=self._shape, steps=self.steps, value_range=self.value_range, seed=self.seed,
            **self.extra_params)
        shown = image.to_display(result.images, self.value_range)
        params = {key: value for key, value in self.extra_params.items() if isinstance(value, (int, float, str))}
        header = {
            "layer": result.layer, "channels": result.channels.tolist(),
            "objectives": [float(v) for v in result.objectives],
            "images_per_channel": self.images_per_channel, "steps": self.steps, "seed": self.seed,
            "params": {"steps": self.steps, "seed": self.seed, **params},
            "value_range": _range_header(self.value_range),
        }
        arrays = {"images": image.to_uint8(shown), "losses": np.asarray(result.losses, np.float32)[None, :]}
        summary.write_record(FAMILY, "feature_visualization", header, arrays, step=step,
                             suffix=metadata.layer_suffix(result.layer))
        summary.write_png(_grid_tag("feature_visualization", result.layer), result.grid, step=step)


class FeatureMapsCallback(VisualizationCallback):
    """Writes a layer's activations for fixed probe images each epoch: where each feature is found.

    Each write runs `kerasviz.feature_maps` (Zeiler & Fergus, 2014; the
    "live activations" of Yosinski et al., 2015) on the probe images. The
    channels shown are `channels` when given, else the `max_channels` with
    the largest mean activation over the probe images **at the first
    write**; that choice (and its order) is then kept for the rest of the
    training, so that every epoch shows the same channels in the same places
    (re-ranking each epoch would shuffle them). The record's header says the
    channels, their mean activation at this step and how they were chosen.
    Costs one forward pass over the probe images per write.

    Args:
        log_dir: the TensorBoard log directory; writes go to `<log_dir>/<run_name>`.
        images: `[N, H, W, C]` probe images in the model's input space (an
            array, a tensor or a `tf.data.Dataset`; the first `max_images`).
        layer: a spatial layer (name, path, index or object); default: the
            last feature block with a spatial extent, as for
            `kerasviz.feature_maps` (the record says which).
        channels: None (the most active at the first write), an int, or a
            sequence of channel indices (shown in this order).
        max_channels: how many channels to show when `channels` is None.
        every: write every `every` epochs.
        value_range: the images' pixel range, for display.
        max_images: the most probe images kept from `images`.
        run_name, on_error, batch_size: as usual.

    Raises:
        ValueError, TypeError: an invalid argument (named in the message),
            at construction or before the first training step.

    Example:

    >>> model.fit(x, y, epochs=10, callbacks=[
    ...     kerasviz.callbacks.FeatureMapsCallback("logs", x_test[:4], layer="conv2", max_channels=8)])
    """

    def __init__(self, log_dir, images, *, layer=None, channels=None, max_channels=16, every=1,
                 value_range=(0.0, 1.0), max_images=8, run_name="kerasviz", on_error="warn", batch_size=None):
        super().__init__(log_dir, run_name=run_name, every=every, on_error=on_error)
        self.max_images = inputs.check_positive_int(max_images, "max_images")
        self.images, _ = probe_arrays(images, None, self.max_images)
        if self.images.ndim != 4 or len(self.images) == 0:
            raise ValueError(f"Expected `images` to be a non-empty batch [N, H, W, C]. "
                             f"Received shape {self.images.shape}.")
        self.images = self.images.astype(np.float32, copy=False)
        inputs.check_finite(self.images, "images")
        self.max_channels = inputs.check_positive_int(max_channels, "max_channels")
        self.layer, self.channels, self.value_range = layer, channels, value_range
        self.batch_size = inputs.check_batch_size(batch_size)
        self.thumbnails = image.to_uint8(image.to_display(self.images, value_range))
        self._path = None
        self._fixed = None  # the channels shown, once chosen

    def configure(self, model):
        models.check_model(model)
        trial = feature_maps(model, self.images[:1], self.layer, channels=self.channels,
                             max_channels=self.max_channels, order="index")  # its own checks: layer, channels
        if self._path != trial.layer:
            self._fixed = None if self.channels is None else trial.channels.tolist()
        self._path = trial.layer

    def tags(self):
        return [metadata.tag_for(FAMILY, "feature_maps", metadata.layer_suffix(self._path))]

    def visualize(self, step):
        with self.write_scope(step):
            self.guarded(f"feature_maps {self._path}", step, self._write, step)

    def _write(self, step):
        if self._fixed is None:  # the first write ranks the channels; later writes keep them
            ranked = feature_maps(self.model, self.images, self._path, max_channels=self.max_channels,
                                  batch_size=self.batch_size)
            self._fixed = ranked.channels.tolist()
        result = feature_maps(self.model, self.images, self._path, channels=self._fixed, order="index",
                              batch_size=self.batch_size)
        header = {
            "layer": result.layer, "channels": result.channels.tolist(),
            "means": [float(v) for v in result.means],
            "chosen": "given" if self.channels is not None else
                      f"the {len(self._fixed)} most active over the probe images at the first write",
            "value_range": _range_header(self.value_range),
        }
        arrays = {"images": self.thumbnails, "maps": np.moveaxis(result.maps, -1, 1)}  # [B, K, h, w]
        summary.write_record(FAMILY, "feature_maps", header, arrays, step=step, suffix=metadata.layer_suffix(result.layer))
        columns = len(result.grids) if len(result.grids) <= 4 else int(np.ceil(np.sqrt(len(result.grids))))
        summary.write_png(_grid_tag("feature_maps", result.layer),
                          image.tile(result.grids, cols=columns, pad=4, pad_value=0.5), step=step)
