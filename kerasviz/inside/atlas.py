"""Activation atlas: a layer's activation space sampled over a dataset, laid out in 2-D and binned into cells."""

import typing

import numpy as np

from kerasviz import inputs, models, targets
from kerasviz.activations.projections import project
from kerasviz.inside import renders, streams
from kerasviz.inside.sampling import ActivationSample, sample_activations

_MAX_CLASSES = 64  # logit effects for every class by default up to this many classes


class Atlas(typing.NamedTuple):
    """An activation atlas's cells.

    Attributes:
        layout: float32 `[S, 2]`, each sampled vector's place in `[0, 1]^2`.
        cell: int64 `[S, 2]`, each vector's cell `(row, col)`.
        counts: int64 `[n, n]`, vectors per cell.
        means: float32 `[n, n, C]`, each cell's mean activation vector (0 where empty).
        effects: float32 `[n, n, K]`, each cell's effect on the logits of `classes` (see `cell_effects`), or None.
        classes: int64 `[K]`, or None.
        sample: the `ActivationSample`.
    """

    layout: np.ndarray
    cell: np.ndarray
    counts: np.ndarray
    means: np.ndarray
    effects: typing.Optional[np.ndarray]
    classes: typing.Optional[np.ndarray]
    sample: ActivationSample


def bin_layout(layout, vectors, grid: int = 20):
    """Bins 2-D points into an `grid x grid` grid: each cell's count and mean vector.

    The layout is scaled to `[0, 1]` per axis (min to max); point `(u, v)`
    falls in cell `(min(floor(v * n), n - 1), min(floor(u * n), n - 1))`
    (row from the second coordinate, column from the first). A pure
    function of its inputs: the same layout gives the same cells.

    Args:
        layout: `[S, 2]` coordinates.
        vectors: `[S, C]` the points' vectors.
        grid: the number of cells per side.

    Returns:
        `(unit_layout [S, 2] float32, cell [S, 2] int64, counts [n, n] int64, means [n, n, C] float32)`.
    """
    layout = np.asarray(layout, np.float64)
    vectors = np.asarray(vectors, np.float64)
    grid = streams.check_int(grid, "grid")
    if layout.ndim != 2 or layout.shape[1] != 2 or vectors.ndim != 2 or len(vectors) != len(layout):
        raise ValueError(f"Received `layout` of shape {layout.shape} and `vectors` of shape {vectors.shape}; "
                         "expected [S, 2] and [S, C].")
    if not len(layout) or not np.all(np.isfinite(layout)):
        raise ValueError("Received an empty `layout` or one with NaN or inf.")
    low, span = layout.min(axis=0), np.ptp(layout, axis=0)
    unit = (layout - low) / np.where(span > 0, span, 1.0)
    cell = np.minimum((unit[:, ::-1] * grid).astype(np.int64), grid - 1)
    flat = cell[:, 0] * grid + cell[:, 1]
    counts = np.bincount(flat, minlength=grid * grid)
    sums = np.zeros((grid * grid, vectors.shape[1]))
    np.add.at(sums, flat, vectors)
    means = sums / np.maximum(counts, 1)[:, None]
    return (unit.astype(np.float32), cell, counts.reshape(grid, grid),
            means.reshape(grid, grid, -1).astype(np.float32))


def _check_classes(model, classes, image_shape):
    count = targets.num_classes(model, image_shape)
    if classes is None:
        if count > _MAX_CLASSES:
            raise ValueError(f"Received `classes=None` for a model of {count} classes; name the classes whose "
                             f"logit effects to compute (at most {_MAX_CLASSES} by default).")
        return np.arange(count)
    values = np.atleast_1d(np.asarray(classes))
    if values.ndim != 1 or values.dtype.kind not in "iu" or not len(values) or values.min() < 0 \
            or values.max() >= count:
        raise ValueError(f"Received an invalid value for `classes`: {classes!r}. Expected class indices "
                         f"in [0, {count}).")
    return values.astype(np.int64)


def logit_directions(model, images, layer, classes=None, *, batch_size=None):
    """Per class, the direction of a layer's channel space that raises its logit: float32 `[K, C]`.

    Row `k` is the gradient of logit `classes[k]` (behind a softmax) with
    respect to the layer's activation, summed over positions and averaged
    over `images`: a vector `v` placed at every position of the layer
    changes that logit by `v . row` to first order. Where the layer feeds
    the logits through linear layers only (global pooling, dense, no
    nonlinearity), this is exactly the linear map, whatever the images
    (the activation atlas's "how it affects the logits"); otherwise it is a
    gradient-based approximation around `images`. Costs `K` backward passes
    per image.
    """
    models.check_model(model)
    path = streams.layer_path(model, layer)
    checked = inputs.check_images(model, images)
    chosen = _check_classes(model, classes, checked.shape[1:])
    rows = []
    for k in chosen:
        _, gradients, values = streams.layer_gradients(model, checked, path, int(k), batch_size)
        if values.ndim != 4:
            raise ValueError(f"Received an invalid value for `layer`: {layer!r} is not spatial.")
        rows.append(gradients.sum(axis=(1, 2)).mean(axis=0))
    return np.stack(rows).astype(np.float32), chosen


def activation_atlas(model, data, layer, grid: int = 20, *, samples: int = 10000, method: str = "pca",
                     layout=None, classes=None, effect_images: int = 32, seed: int = 0, batch_size=None,
                     value_range=None, strategy=None, state_dir=None, verbose: int = 0) -> Atlas:
    """The cells of an activation atlas of a layer: sample, lay out in 2-D, bin, average, relate to the logits.

    Carter, Armstrong, Schubert, Johnson & Olah, 2019, "Activation Atlas",
    Distill: spatial activation vectors of the layer are sampled over the
    dataset (`sample_activations`, bounded memory, seeded), laid out in 2-D
    (`kerasviz.project`: PCA, or t-SNE as in the article, where UMAP is
    also used), binned into a `grid x grid` grid (`bin_layout`); each
    cell's mean vector is what `render_atlas_cells` draws, and its effect on
    the logits is `means . logit_directions` (exactly the linear effect
    where the layer feeds the logits through linear layers, else the
    gradient-based estimate around the first `effect_images` images).

    Args:
        model: a built Keras image model.
        data: images (array, tensor or `tf.data.Dataset`), in the model's input space.
        layer: a spatial layer.
        grid: cells per side.
        samples: vectors sampled.
        method: `"pca"` or `"tsne"` (`kerasviz.project`).
        layout: instead of `method`, your own `[samples, 2]` layout of the sample
            (`sample_activations` with the same arguments gives the same sample).
        classes: the classes whose logit effects to compute (default: all,
            up to 64); `()` for none.
        effect_images: how many of the first images estimate the logit directions.
        seed: seeds the sample and the layout.
        batch_size, value_range, verbose: as in `sample_activations`.
        strategy, state_dir: as in `sample_activations`: the sampling pass
            under `tf.distribute` (the local devices take its batches in
            turns, the workers its shards; a `state_dir` shared by the workers
            is then required), resumable from `state_dir`. The layout and the
            logit directions are computed on each worker, from the same sample.

    Returns:
        An `Atlas`.

    Raises:
        ValueError, TypeError: an invalid argument (named).
    """
    sample = sample_activations(model, data, layer, samples, seed=seed, batch_size=batch_size,
                                value_range=value_range, strategy=strategy, state_dir=state_dir, verbose=verbose)
    if layout is None:
        layout = project(sample.vectors, method, seed=seed % 2**32)
    elif np.shape(layout) != (len(sample.vectors), 2):
        raise ValueError(f"Received `layout` of shape {np.shape(layout)}; expected [{len(sample.vectors)}, 2].")
    unit, cell, counts, means = bin_layout(layout, sample.vectors, grid)
    effects = chosen = None
    if classes is None or len(np.atleast_1d(classes)):
        effect_images = streams.check_int(effect_images, "effect_images")
        first = []
        for (batch,) in streams.batches(data, effect_images):
            first.append(np.asarray(batch)[:effect_images - sum(map(len, first))])
            if sum(map(len, first)) >= effect_images:
                break
        directions, chosen = logit_directions(model, np.concatenate(first), sample.layer, classes,
                                              batch_size=batch_size)
        effects = np.where(counts[..., None] > 0, means @ directions.T, 0.0).astype(np.float32)
    return Atlas(unit, cell, counts, means, effects, chosen, sample)


def render_atlas_cells(model, atlas: Atlas, cells=None, *, steps: int = 128, image_shape=None,
                       value_range=(0.0, 1.0), cosine_power: float = 1.0, seed: int = 0, verbose: int = 0):
    """Draws what the layer sees in each atlas cell: an image per cell, by feature visualization.

    Each image maximizes the mean over positions of `a . v` (`v` the cell's
    mean vector, unit length), weighted by `max(cos(a, v), 0.1) **
    cosine_power` as the article's renders are (0: the plain
    `kerasviz.targets.Direction` objective), through the engine of
    `kerasviz.gradients.feature_visualization` (Fourier parameterization,
    standard transforms, Adam). All cells in one batch: `steps` forward and
    backward passes of `len(cells)` images; traced once per (model, layer,
    power, image shape), the vectors passed as tensors.

    Args:
        model: a built Keras image model.
        atlas: an `Atlas` of this model.
        cells: `(row, col)` pairs; default: every non-empty cell.
        steps: optimization steps.
        image_shape: `(H, W, C)` where the model's input size is free.
        value_range: the model's input range.
        cosine_power: the cosine weighting's power (0: none).
        seed: seeds the start and the transforms.
        verbose: 1 shows a progress bar.

    Returns:
        `(images [len(cells), H, W, C] float32, cells int64 [len(cells), 2])`.

    Raises:
        ValueError, TypeError: an invalid argument; an empty cell.
    """
    if not isinstance(atlas, Atlas):
        raise TypeError(f"Expected `atlas` to be an `Atlas` from `activation_atlas`. Received: {type(atlas).__name__}.")
    if cells is None:
        cells = np.argwhere(atlas.counts > 0)
    cells = np.asarray(cells, np.int64).reshape(-1, 2)
    n = atlas.counts.shape[0]
    if not len(cells) or cells.min() < 0 or cells.max() >= n:
        raise ValueError(
            f"Received an invalid value for `cells`: {cells.tolist()}. Expected (row, col) pairs in [0, {n}).")
    empty = atlas.counts[cells[:, 0], cells[:, 1]] == 0
    if empty.any():
        raise ValueError(f"Received empty cells in `cells`: {cells[empty].tolist()}.")
    images = renders.render_directions(model, atlas.sample.layer, atlas.means[cells[:, 0], cells[:, 1]], steps=steps,
                                       image_shape=image_shape, value_range=value_range, cosine_power=cosine_power,
                                       seed=seed, verbose=verbose)
    return images, cells
