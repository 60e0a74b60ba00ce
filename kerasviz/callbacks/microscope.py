"""`MicroscopeCallback`: a page per channel and an atlas per layer, precomputed at the end of training or every N epochs."""

import os

from kerasviz import models
from kerasviz.callbacks.base import VisualizationCallback
from kerasviz.inside import microscope_parts, streams
from kerasviz.inside.microscope import DEFAULT_CHANNELS, build_microscope

# Keyword arguments of `build_microscope` the callback passes on (the rest it owns).
_PARAMS = ("concepts", "steps", "facets", "k", "fan", "grid", "samples", "layout", "atlas_steps", "sources",
           "classes", "class_names", "effect_images", "seed", "batch_size")


class MicroscopeCallback(VisualizationCallback):
    """Precomputes the dashboard's Microscope (a page per channel, an atlas per layer) while a model trains.

    Runs `kerasviz.inside.build_microscope` (OpenAI Microscope's page per
    channel, with Carter et al.'s 2019 activation atlas) over `data`: at the
    end of training (`every=None`, the default), or every `every` epochs.
    Each write goes to its own run, `<run_name>/epoch_<step>` (or
    `<run_name>/final` at the end), since each holds the pages of other
    weights; only the chief writes. Costs what `build_microscope` costs, per
    write: keep `channels`, `steps` and the data small during training.

    Args:
        log_dir: the TensorBoard log directory.
        data: images (or `(images, masks)` with `concepts`), or a `tf.data.Dataset`, in the model's input space.
        layers: spatial layers (default: feature visualization's default layer).
        channels: an int (the first so many, default 8) or channel indices.
        every: None (once, at the end of training) or a write every `every` epochs.
        value_range: the model's input range.
        run_name, on_error: as for every kerasviz callback.
        **params: `concepts`, `steps`, `facets`, `k`, `fan`, `grid`,
            `samples`, `layout`, `atlas_steps`, `sources`, `classes`,
            `class_names`, `effect_images`, `seed`, `batch_size` of
            `build_microscope`.

    Raises:
        ValueError, TypeError: an invalid argument (named), at construction
            or before the first training step.

    Example:

    >>> model.fit(x, y, epochs=10, callbacks=[
    ...     kerasviz.callbacks.MicroscopeCallback("logs", x_val[:256], layers=["conv3"], channels=16)])
    """

    def __init__(self, log_dir, data, layers=None, channels=DEFAULT_CHANNELS, *, every=None,
                 value_range=(0.0, 1.0), run_name="microscope", on_error="warn", **params):
        unknown = sorted(set(params) - set(_PARAMS))
        if unknown:
            raise TypeError(f"Received unknown arguments for MicroscopeCallback: {unknown}. Expected any of {_PARAMS}.")
        super().__init__(log_dir, run_name=run_name, every=every or 1, on_error=on_error)
        self.at_end = every is None
        self.data, self.layers, self.channels = data, layers, channels
        self.value_range, self.options = value_range, params

    def configure(self, model):
        models.check_model(model)
        layers = self.layers if self.layers is not None else None
        if layers is not None:
            for layer in ([layers] if isinstance(layers, (str, int)) else layers):
                path = streams.layer_path(model, layer)
                shape = models.output_shape(model, path)
                if shape is None or len(shape) != 3:
                    raise ValueError(f"Received an invalid value for `layers`: {layer!r} is not a spatial layer.")
                microscope_parts.check_channels(self.channels, shape[-1])

    def on_epoch_end(self, epoch, logs=None):
        if not self.at_end:
            super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        try:
            if self.at_end and self._chief and self.model is not None:
                self.guarded("microscope", "final", self._write, "final")
        finally:
            super().on_train_end(logs)

    def visualize(self, step):
        self._write(f"epoch_{int(step):04d}")

    def _write(self, name):
        build_microscope(self.model, self.data, self.log_dir, self.layers, self.channels,
                         run_name=os.path.join(self.run_name, name).replace(os.sep, "/"),
                         value_range=self.value_range, **self.options)
