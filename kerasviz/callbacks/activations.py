"""Callbacks of the activations family: filters, FC-layer embeddings, top patches, per epoch.

Each writes, at every `every`-th epoch, a record for the kerasviz dashboard
(tag `kerasviz/activations/<method>/<layer, "/" as "__">`) and a picture for
TensorBoard's image tab; `EmbeddingCallback` also feeds the projector tab.
"""

import numpy as np

from kerasviz import image, inputs, models, summary, targets
from kerasviz.activations import embeddings, filters, patches
from kerasviz.callbacks.base import VisualizationCallback, probe_arrays
from tb_plugin import metadata


class FilterCallback(VisualizationCallback):
    """Writes conv filters as tile grids each epoch: watch them form as the model trains.

    The first conv layer is drawn as RGB tiles, higher layers as
    per-input-channel grayscale tiles (`kerasviz.activations.filters.filter_grid`);
    Keras's own `write_images` never draws 4-D kernels of this kind. Reads
    the live weights; costs no forward pass.

    Args:
        log_dir: the TensorBoard log directory; writes go to `<log_dir>/<run_name>`.
        layers: layer names/paths (default: the first conv layer).
        every: write every `every` epochs.
        max_filters, max_channels: caps passed to `filter_grid`.
        run_name, on_error: as for every kerasviz callback.
    """

    def __init__(self, log_dir, layers=None, *, every=1, max_filters=64, max_channels=16,
                 run_name="kerasviz", on_error="warn"):
        super().__init__(log_dir, run_name=run_name, every=every, on_error=on_error)
        self.layers = None if layers is None else list(layers) if isinstance(layers, (list, tuple)) else [layers]
        self.max_filters = inputs.check_positive_int(max_filters, "max_filters")
        self.max_channels = inputs.check_positive_int(max_channels, "max_channels")
        self._paths = []

    def configure(self, model):
        models.check_model(model)
        specs = self.layers or [models.default_layer(model, "filters")]
        self._paths = []
        for spec in specs:
            grid = filters.filter_grid(model, spec, max_filters=self.max_filters, max_channels=self.max_channels)
            self._paths.append(grid.layer)

    def tags(self):
        return [metadata.tag_for("activations", "filters", metadata.layer_suffix(p)) for p in self._paths]

    def visualize(self, step):
        with self.write_scope(step):
            for path in self._paths:
                self.guarded(f"filters {path}", step, self._write, path, step)

    def _write(self, path, step):
        grid = filters.filter_grid(self.model, path, max_filters=self.max_filters, max_channels=self.max_channels)
        header = {"layer": path, "kernel_shape": list(grid.kernel_shape), "description": grid.description}
        summary.write_record("activations", "filters", header, {"grid": image.to_uint8(grid.image)},
                             step=step, suffix=metadata.layer_suffix(path))
        summary.write_png(metadata.tag_for("activations", "filters", metadata.layer_suffix(path)) + "/grid",
                          grid.image, step=step)


class EmbeddingCallback(VisualizationCallback):
    """Writes FC-layer features of a fixed probe set each epoch: our 2-D map and the projector tab.

    Per write: features of the layer (`kerasviz.activations.embeddings.features`;
    default the classifier's input, `models.default_layer(model, "embedding")`), a 2-D projection (PCA by default;
    t-SNE costs seconds for a few thousand points), the `k` nearest
    neighbours of every point in feature space, and the predictions; the
    dashboard shows the map moving over epochs (the projector keeps only the
    latest vectors, written too, with labels, predictions and a sprite).
    Costs two forward passes over `images` (features, then predictions),
    plus the projection.

    Args:
        log_dir: the TensorBoard log directory; writes go to `<log_dir>/<run_name>`.
        images: `[N, H, W, C]` probe images in the model's input space.
        labels: optional int class indices `[N]` (or one-hot).
        layer: the layer (default: the classifier's input, pooled when spatial).
        projection: `"pca"` or `"tsne"`.
        class_names: optional names, one per class.
        k: neighbours per point.
        projector: also write the projector tab's files.
        value_range: the images' pixel range, for thumbnails.
        max_images, every, run_name, on_error, batch_size: as usual.
    """

    def __init__(self, log_dir, images, labels=None, *, layer=None, projection="pca", class_names=None, k=5,
                 projector=True, value_range=(0.0, 1.0), max_images=1000, every=1, run_name="kerasviz",
                 on_error="warn", batch_size=None, seed=0):
        super().__init__(log_dir, run_name=run_name, every=every, on_error=on_error)
        self.max_images = inputs.check_positive_int(max_images, "max_images")
        self.images, self.labels = probe_arrays(images, labels, self.max_images)
        if self.images.ndim != 4 or len(self.images) == 0:
            raise ValueError(f"Expected `images` to be a non-empty batch [N, H, W, C]. Received shape {self.images.shape}.")
        inputs.check_finite(self.images.astype(np.float32, copy=False), "images")
        if projection not in ("pca", "tsne"):
            raise ValueError(f"Received an invalid value for `projection`: {projection!r}. Expected 'pca' or 'tsne'.")
        self.k = inputs.check_positive_int(k, "k")
        if self.k >= len(self.images):
            raise ValueError(f"Received k={k} neighbours for {len(self.images)} probe images: `k` must be smaller.")
        self.layer, self.projection, self.projector = layer, projection, bool(projector)
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.value_range, self.seed = value_range, inputs.check_seed(seed)
        self.batch_size = inputs.check_batch_size(batch_size)
        self.thumbnails = image.to_uint8(image.to_display(self.images, value_range))
        self._path = None

    def configure(self, model):
        models.check_model(model)
        self._path = models.get_layer(model, self.layer or models.default_layer(model, "embedding"))[0]
        inputs.check_images(model, self.images[:1])
        n_classes = targets.num_classes(model, self.images.shape[1:])
        if self.class_names is not None and len(self.class_names) != n_classes:
            raise ValueError(f"Received {len(self.class_names)} `class_names` for a model with {n_classes} classes.")

    def tags(self):
        return [metadata.tag_for("activations", "embeddings", metadata.layer_suffix(self._path))]

    def visualize(self, step):
        with self.write_scope(step):
            self.guarded("embeddings", step, self._write, step)

    def _write(self, step):
        vectors = embeddings.features(self.model, self.images, self._path, batch_size=self.batch_size)
        probabilities = self.model.predict(self.images, batch_size=self.batch_size, verbose=0)
        predictions = probabilities.argmax(axis=-1)
        coords = embeddings.project(vectors, self.projection, seed=self.seed)
        neighbors, _ = embeddings.nearest_neighbors(vectors, None, self.k, exclude_self=True)
        header = {
            "layer": self._path, "projection": self.projection, "class_names": self.class_names,
            "labels": None if self.labels is None else self.labels.tolist(),
            "predictions": predictions.tolist(),
            "probabilities": probabilities.max(axis=-1).round(4).tolist(),
            "projector_run": self.run_name if self.projector else None,
        }
        arrays = {"coords": coords, "thumbnails": self.thumbnails, "neighbors": neighbors}
        summary.write_record("activations", "embeddings", header, arrays, step=step,
                             suffix=metadata.layer_suffix(self._path))
        if self.projector:
            summary.write_embeddings(self.run_dir, vectors, self.labels, predictions, self.images,
                                     class_names=self.class_names, name=metadata.layer_suffix(self._path).replace(".", "_"),
                                     step=step, value_range=self.value_range, ensure_run=False)


class PatchesCallback(VisualizationCallback):
    """Writes the maximally activating patches of chosen channels each epoch.

    Streams `images` through the model and keeps, per channel, the `k`
    strongest activations with their receptive-field crops
    (`kerasviz.activations.patches.top_patches`). Costs one forward pass over
    `images`.

    Args:
        log_dir: the TensorBoard log directory; writes go to `<log_dir>/<run_name>`.
        images: `[N, H, W, C]` in the model's input space (or a `tf.data.Dataset`).
        layer: a spatial layer (default: the last one).
        channels: the channels to follow.
        k: patches per channel.
        value_range: the images' pixel range, for display.
        every, run_name, on_error, batch_size: as usual.
    """

    def __init__(self, log_dir, images, *, layer=None, channels=(0, 1, 2, 3), k=9, value_range=(0.0, 1.0),
                 every=1, run_name="kerasviz", on_error="warn", batch_size=None):
        super().__init__(log_dir, run_name=run_name, every=every, on_error=on_error)
        self.images = images
        self.layer = layer
        self.channels = [int(c) for c in np.atleast_1d(np.asarray(channels))]
        self.k = inputs.check_positive_int(k, "k")
        self.value_range = value_range
        self.batch_size = inputs.check_batch_size(batch_size)
        self._path = None

    def configure(self, model):
        models.check_model(model)
        self._path = models.get_layer(model, self.layer or models.default_layer(model, "patches"))[0]
        patches.top_patches(model, np.asarray(self.images)[:1], self._path, self.channels, k=1)  # validates

    def tags(self):
        return [metadata.tag_for("activations", "top_patches", metadata.layer_suffix(self._path))]

    def visualize(self, step):
        with self.write_scope(step):
            self.guarded("top_patches", step, self._write, step)

    def _write(self, step):
        result = patches.top_patches(self.model, self.images, self._path, self.channels, k=self.k,
                                     batch_size=self.batch_size)
        crops = np.stack([image.to_uint8(image.to_display(p.astype(np.float32), self.value_range))
                          for p in result.patches])
        rf = result.receptive_field
        header = {"layer": self._path, "channels": result.channels.tolist(),
                  "receptive_field": {"size": list(rf.size), "stride": list(rf.stride)}}
        arrays = {"patches": crops, "scores": result.scores, "boxes": result.boxes,
                  "image_index": result.image_index}
        summary.write_record("activations", "top_patches", header, arrays, step=step,
                             suffix=metadata.layer_suffix(self._path))
        summary.write_png(metadata.tag_for("activations", "top_patches", metadata.layer_suffix(self._path)) + "/grid",
                          patches.patches_grid(result, value_range=self.value_range), step=step)
