"""A page per channel, precomputed over a dataset: the microscope that the kerasviz dashboard browses."""

import hashlib
import logging
import os
import typing

import numpy as np

from kerasviz import eventfile, inputs, models, progress
from kerasviz.activations.patches import top_patches
from kerasviz.gradients import feature_visualization as fv
from kerasviz.inside import atlas as atlases
from kerasviz.inside import microscope_parts as parts
from kerasviz.inside import microscope_records as records
from kerasviz.inside import resumable, streams
from kerasviz.inside.dissection import dissect
from kerasviz.inside.wiring import channel_wiring

DEFAULT_CHANNELS = 8  # channels per layer by default: the first 8 (feature visualization costs the most)
CHUNK = 8  # channels per feature-visualization call: the unit of resumption
_LOGGER = logging.getLogger("kerasviz")


class MicroscopeReport(typing.NamedTuple):
    """What `build_microscope` did.

    Attributes:
        run_dir: where the records are.
        layers: `{layer path: [channel, ...]}`, the pages asked for.
        written: `(tag, step)` of each record written by this call.
        skipped: how many records asked for were already there (same fingerprint).
        fingerprint: the model-and-settings fingerprint the records carry.
        defaults: `{argument: value}` of every default taken.
    """

    run_dir: str
    layers: dict
    written: list
    skipped: int
    fingerprint: str
    defaults: dict


def _layers(model, layers, shape, defaults):
    if layers is None:
        layers = [fv.default_layer(model, shape)]
        defaults["layers"] = list(layers)
    elif isinstance(layers, (str, int)):
        layers = [layers]
    paths = [streams.layer_path(model, layer) for layer in layers]
    for path in paths:
        out = models.output_shape(model, path)
        if out is None or len(out) != 3:
            raise ValueError(f"Received an invalid value for `layers`: {path!r} is not a spatial layer [h, w, C].")
    return list(dict.fromkeys(paths))


def build_microscope(
    model, data, log_dir, layers=None, channels=DEFAULT_CHANNELS, *, run_name: str = "microscope", concepts=None,
    steps: int = 128, facets: int = 3, k: int = 8, fan: int = 6, grid: int = 8, samples: int = 2000,
    layout: str = "tsne", atlas_steps=None, sources: int = 6, classes=None, class_names=None, effect_images: int = 16,
    value_range=(0.0, 1.0), seed: int = 0, batch_size=None, strategy=None, state_dir=None, verbose: int = 0,
) -> MicroscopeReport:
    """Precomputes a page per channel (and an activation atlas per layer) for the kerasviz dashboard.

    OpenAI Microscope's idea (Schubert et al., 2020, "OpenAI Microscope"),
    on the user's own model and data: for each chosen channel of each layer,
    its feature visualization and `facets` diverse facets (Olah et al.,
    2017, `kerasviz.feature_visualization`), its `k` top dataset patches
    (`kerasviz.top_patches`), its Network Dissection label and IoU when the
    data carries concept masks (Bau et al., 2017, `inside.dissect`), its
    strongest input and output channels by weight (`inside.channel_wiring`),
    and its place in the layer's activation atlas (the cell where its mean
    activation is highest and its activation-weighted centroid); per layer,
    the activation atlas (Carter et al., 2019, `inside.activation_atlas`,
    `inside.render_atlas_cells`): each cell's render, count, top class by
    linear effect on the logits, and its source patches. The format is in
    `kerasviz.inside.microscope_records`.

    Streamed: each layer reads the data in batches (top patches: one pass;
    the atlas sample: one; the atlas's source patches: one; dissection: two),
    memory bounded by `batch_size`, `samples` vectors and the records.
    Resumable: each record is written whole and flushed; a rerun with the
    same model and settings skips every record already written (keyed by
    tag, step and a fingerprint of the weights, the architecture and the
    settings), redoing only the data passes of a layer that misses records.
    Costs, per layer: `steps` forward and backward passes of `min(8,
    channels) * (1 + facets)` images per 8 channels, `atlas_steps` of one
    image per non-empty cell, and the passes over the data.

    Under `tf.distribute` (`strategy`), the atlas sample and the dissection
    passes run as `sample_activations` and `dissect` run them: the local
    devices take their batches in turns; with several workers each worker
    reads its share of the shards and the partial states are merged through
    `state_dir`. Then the chief alone renders and writes the records (the
    top patches, the atlas's source patches and the feature visualizations
    run on the chief only); the other workers return a report that wrote
    nothing.

    Args:
        model: a built Keras image model.
        data: images `[N, H, W, C]` or a `tf.data.Dataset` of them, in the
            model's input space; with `concepts`, `(images, masks)` (masks:
            int concept ids `[N, H, W]` or binary `[N, H, W, K]`) or a dataset
            yielding such pairs.
        log_dir: the TensorBoard log directory.
        layers: spatial layers (names or paths); default: feature
            visualization's default layer (`feature_visualization.default_layer`).
        channels: an int (the first so many of each layer, default 8) or a
            sequence of channel indices.
        run_name: the run directory under `log_dir`.
        concepts: the concept names of the masks (none: no dissection).
        steps: feature-visualization steps per channel.
        facets: diverse facets per channel (0: none).
        k: top dataset patches per channel.
        fan: strongest input and output channels kept per channel.
        grid: atlas cells per side.
        samples: activation vectors sampled for the atlas.
        layout: `"tsne"` (as in the article; openTSNE above 3,000 points) or `"pca"`.
        atlas_steps: rendering steps per atlas cell (default: `steps`).
        sources: source patches kept per atlas cell.
        classes: the classes whose logit effects label the cells (default:
            all up to 64 classes, else the 16 predicted most often on the
            first `effect_images` images).
        class_names: names of the classes, stored for the dashboard.
        effect_images: images that estimate the logit directions.
        value_range: the model's input range.
        seed: seeds the sample, layout, and optimizations.
        batch_size: images per compiled call (default 32).
        strategy: a `tf.distribute.Strategy`; default: the current one
            (`tf.distribute.get_strategy()`).
        state_dir: None, or a directory where the data passes save their
            states (a folder per layer and pass, see `dissect`'s
            `state_dir`): resumable passes; required with several workers,
            who exchange their partial states there.
        verbose: 1 shows progress bars.

    Returns:
        A `MicroscopeReport` (on a worker other than the chief, with nothing
        `written`).

    Raises:
        ValueError, TypeError: an invalid argument (named), a run directory
            holding records of another model or other settings, several
            workers without a `state_dir`.

    Example:

    >>> report = build_microscope(model, images, "logs", layers=["conv3"], channels=16)
    >>> # tensorboard --logdir logs: kerasviz tab, Microscope
    """
    models.check_model(model)
    run_dir = eventfile.check_run_dir(log_dir, run_name)
    verbose = progress.check_verbose(verbose)
    for value, name in ((steps, "steps"), (k, "k"), (fan, "fan"), (grid, "grid"), (samples, "samples"),
                        (sources, "sources"), (effect_images, "effect_images")):
        streams.check_int(value, name)
    streams.check_int(facets, "facets", minimum=0)
    if layout not in ("tsne", "pca"):
        raise ValueError(f"Received an invalid value for `layout`: {layout!r}. Expected 'tsne' or 'pca'.")
    atlas_steps = steps if atlas_steps is None else streams.check_int(atlas_steps, "atlas_steps")
    shape = inputs.check_image_shape(model, None)
    checked_range = inputs.check_value_range(value_range, shape[-1])
    if checked_range is None:
        raise ValueError("Received `value_range=None`: the microscope's feature visualizations need the input range.")
    seed = inputs.check_seed(seed)
    place = resumable.placement(strategy, state_dir)
    names = None if concepts is None else tuple(str(c) for c in concepts)
    said = isinstance(channels, int) and not isinstance(channels, bool) and channels == DEFAULT_CHANNELS
    defaults = {"channels": f"the first {DEFAULT_CHANNELS} of each layer"} if said else {}
    paths = _layers(model, layers, shape, defaults)
    images = parts.images_view(data, names)
    classes = parts.atlas_classes(model, images, classes, effect_images, batch_size, shape)
    settings = {"steps": steps, "facets": facets, "k": k, "fan": fan, "grid": grid, "samples": samples,
                "layout": layout, "atlas_steps": atlas_steps, "sources": sources, "concepts": names,
                "classes": None if classes is None else [int(c) for c in classes], "effect_images": effect_images,
                "value_range": [float(np.min(checked_range.low)), float(np.max(checked_range.high))], "seed": seed}
    key = records.fingerprint(model, settings)
    found = records.written(run_dir)
    records.check_fingerprints(found, key, run_dir)
    chosen = {path: parts.check_channels(channels, models.output_shape(model, path)[-1]) for path in paths}
    for name, value in defaults.items():
        _LOGGER.info("microscope: %s = %s (the default)", name, value)
    # Every worker decides from the records found before the first collective of the passes; the chief
    # writes none before every worker has joined it, so the workers join the same passes.
    writer = parts.RecordWriter(run_dir) if place.chief else None
    skipped = 0
    try:
        for path in paths:
            missing = [c for c in chosen[path] if (records.channel_tag(path), c) not in found]
            atlas_missing = (records.atlas_tag(path), 0) not in found
            skipped += len(chosen[path]) - len(missing) + (not atlas_missing)
            if missing or atlas_missing:
                _layer(model, data, images, path, missing, atlas_missing, writer, settings, key, classes,
                       class_names, checked_range, batch_size, verbose,
                       dict(strategy=place.strategy, state_dir=state_dir))
    finally:
        if writer is not None:
            writer.close()
    return MicroscopeReport(run_dir, chosen, [] if writer is None else writer.written, skipped, key, defaults)


def _pass_dir(state_dir, path, name):
    """The `state_dir` of one data pass of layer `path`: `<state_dir>/<layer>-<digest of the path>/<name>`."""
    if state_dir is None:
        return None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in path)
    return os.path.join(os.fspath(state_dir), f"{safe}-{hashlib.sha256(path.encode()).hexdigest()[:8]}", name)


def _layer(model, data, images, path, missing, atlas_missing, writer, settings, key, classes, class_names,
           value_range, batch_size, verbose, distribute):
    """The records of one layer that are missing: the atlas, then the channels 8 at a time (`writer`: None off
    the chief, which joins the data passes only)."""
    s = settings
    state_dir = distribute["state_dir"]
    atlas = atlases.activation_atlas(model, images, path, s["grid"], samples=s["samples"], method=s["layout"],
                                     classes=classes, effect_images=s["effect_images"], seed=s["seed"],
                                     batch_size=batch_size, value_range=value_range, verbose=verbose,
                                     strategy=distribute["strategy"], state_dir=_pass_dir(state_dir, path, "atlas"))
    if atlas_missing and writer is not None:
        _write_atlas(model, images, path, atlas, writer, settings, key, class_names, value_range, batch_size, verbose)
    if not missing:
        return
    dissection = None if s["concepts"] is None else dissect(
        model, data, path, s["concepts"], batch_size=batch_size, value_range=value_range, seed=s["seed"],
        verbose=verbose, strategy=distribute["strategy"], state_dir=_pass_dir(state_dir, path, "dissection"))
    if writer is None:
        return
    count = models.output_shape(model, path)[-1]
    patches = top_patches(model, images, path, channels=missing, k=s["k"], batch_size=batch_size, verbose=verbose)
    wiring = channel_wiring(model, path)
    chunks = [missing[a:b] for a, b in inputs.batches(len(missing), CHUNK)]
    for chunk in progress.track(chunks, len(missing), verbose, size=len, unit="channel"):
        plain = fv.feature_visualization(model, path, chunk, steps=s["steps"], value_range=value_range,
                                         seed=s["seed"])
        facets = None if not s["facets"] else fv.feature_visualization(
            model, path, chunk, images_per_channel=s["facets"], steps=s["steps"], value_range=value_range,
            seed=s["seed"])
        for i, channel in enumerate(chunk):
            row = missing.index(channel)
            pictures = [plain.images[i:i + 1]]
            if facets is not None:
                pictures.append(facets.images[i * s["facets"]:(i + 1) * s["facets"]])
            inputs_, outputs = parts.connections(wiring, channel, s["fan"])
            header = {
                "layer": path, "channel": channel, "channels": count, "fingerprint": key, "settings": settings,
                "objective": float(plain.objectives[i]),
                "patches": {"scores": patches.scores[row].tolist(), "image_index": patches.image_index[row].tolist(),
                            "boxes": patches.boxes[row].tolist()},
                "dissection": parts.dissection_of(dissection, channel),
                "inputs": inputs_, "outputs": outputs, "atlas": parts.channel_atlas(atlas, channel, s["grid"]),
            }
            arrays = {"facets": parts.display(np.concatenate(pictures), value_range),
                      "patches": parts.display(patches.patches[row], value_range)}
            writer.write("channel", path, channel, header, arrays)


def _write_atlas(model, images, path, atlas, writer, settings, key, class_names, value_range, batch_size, verbose):
    s = settings
    cells = np.argwhere(atlas.counts > 0)
    renders, cells = atlases.render_atlas_cells(model, atlas, cells, steps=s["atlas_steps"], value_range=value_range,
                                                seed=s["seed"], verbose=verbose)
    ids, crops = parts.source_crops(model, images, atlas, cells, s["sources"], path, batch_size)
    if atlas.effects is not None:
        top_class = np.where(atlas.counts > 0, atlas.classes[np.argmax(atlas.effects, axis=-1)], -1)
        top_effect = np.where(atlas.counts > 0, atlas.effects.max(axis=-1), 0.0)
    else:
        top_class, top_effect = np.full(atlas.counts.shape, -1), np.zeros(atlas.counts.shape)
    header = {
        "layer": path, "grid": s["grid"], "fingerprint": key, "settings": settings, "cells": cells.tolist(),
        "classes": None if atlas.classes is None else atlas.classes.tolist(),
        "class_names": None if class_names is None else [str(n) for n in class_names],
        "samples": int(len(atlas.layout)), "seen": int(atlas.sample.seen),
    }
    arrays = {
        "renders": parts.display(renders, value_range), "counts": atlas.counts.astype(np.int64),
        "top_class": top_class.astype(np.int64), "top_effect": top_effect.astype(np.float32),
        "means": atlas.means.astype(np.float32), "layout": atlas.layout.astype(np.float32),
        "cell": atlas.cell.astype(np.int64), "image_index": atlas.sample.image_index.astype(np.int64),
        "positions": atlas.sample.positions.astype(np.int64), "source_ids": ids,
        "sources": parts.display(crops.reshape((-1,) + crops.shape[2:]), value_range).reshape(
            crops.shape[:-1] + (3,)),
    }
    writer.write("atlas", path, 0, header, arrays)
