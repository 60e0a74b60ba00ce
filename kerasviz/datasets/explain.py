"""`explain_dataset`: attribution maps and metrics of a whole dataset, sharded on disk, resumable."""

import concurrent.futures
import contextlib
import functools
import logging
import numbers

import numpy as np
import tensorflow as tf

from kerasviz import image, inputs, models, progress
from kerasviz.datasets import arguments as arguments_module
from kerasviz.datasets import pipeline
from kerasviz.datasets import placement as placement_module
from kerasviz.datasets import reader, shards, source
from kerasviz.gradients import core
from kerasviz.metrics.catalog import METRICS, check_metric_names, run_metrics

logger = logging.getLogger("kerasviz")

DEFAULT_SHARD_SIZE = 256


def batch_seed(seed, start):
    """The seed of the batch whose first item is `start`: the same whoever computes it, and when."""
    state = np.random.SeedSequence([seed, start]).generate_state(2, np.uint32)
    return int((int(state[0]) << 31 | int(state[1]) >> 1) % 2**63)


class _Run:
    """The fixed arguments of one `explain_dataset` call, and the computation of a batch."""

    def __init__(self, model, entries, metric_names, target, batch_size, seed, value_range):
        self.model, self.entries, self.metric_names = model, entries, metric_names
        self.target, self.batch_size, self.seed, self.value_range = target, batch_size, seed, value_range

    def batch(self, images, labels, masks, start):
        """`{name: array}` for the items `start..start + len(images)`; `images` as given (see `display_images`)."""
        prepared = core.Prepared(self.model, images, None, self.batch_size)
        inputs.check_in_range(prepared.images, self.value_range, "dataset")
        probabilities = np.asarray(core.model_outputs(prepared, prepared.images)[0], np.float32)
        predicted = probabilities.argmax(axis=-1).astype(np.int32)
        if self.target is None:
            classes = predicted
        elif self.target == "label":
            classes = labels.astype(np.int32)
        else:
            classes = np.full(len(images), self.target, np.int32)
        seed = batch_seed(self.seed, start)
        out = {"index": np.arange(start, start + len(images), dtype=np.int64), "images": prepared.images,
               "labels": labels if labels is not None else np.full(len(images), -1, np.int64),
               "probabilities": probabilities, "predicted": predicted, "classes": classes}
        for name, function, params, record in self.entries:
            call = dict(params, seed=seed) if record.accepts("seed") else dict(params)
            maps = np.asarray(function(self.model, prepared.images, classes, batch_size=self.batch_size, **call),
                              np.float32)
            out["maps." + name] = maps
            if self.metric_names:
                values = run_metrics(self.model, prepared.images, record, functools.partial(function, **call),
                                     maps, classes, self.metric_names, params=params, masks=masks,
                                     batch_size=self.batch_size, seed=seed, value_range=self.value_range)
                out.update({f"metric.{name}.{metric}": v for metric, v in values.items()})
        return out

    def display_images(self, images):
        """uint8 images for display: what the shards store (done by the writer, per image, off the model's path)."""
        return np.round(image.to_display(images, self.value_range) * 255).astype(np.uint8)

    def write(self, out, shard_index, arrays, meta, worker):
        """Writes a computed shard, its images converted for display first (run in the writer thread)."""
        arrays = dict(arrays, images=self.display_images(arrays["images"]))
        return shards.write_shard(out, shard_index, arrays, meta, worker)


def _read_ahead(src, shard_size, place, out):
    """The shards of `src`, those this worker computes loaded already: read in a thread while the model runs."""
    for shard in src.shards(shard_size):
        if place.mine(shard.index) and shards.read_meta(out, shard.index) is None:
            data = shard.load()
            shard.load = lambda data=data: data
        yield shard


def _compute_shard(run, shard, place, advance):
    """The arrays of one shard: its batches in turns on the local devices (`Placement.in_turns`)."""
    images, labels, masks = shard.load()
    pieces = [(s, e) for s, e in inputs.batches(shard.count, run.batch_size)]
    results = [None] * len(pieces)

    def one(i):
        start, stop = pieces[i]
        return run.batch(images[start:stop], None if labels is None else labels[start:stop],
                         None if masks is None else masks[start:stop], shard.start + start)

    def keep(i, result):
        results[i] = result
        advance(len(result["index"]))

    place.in_turns(len(pieces), one, keep)
    return {name: np.concatenate([r[name] for r in results]) for name in results[0]}


def explain_dataset(model, dataset, methods, *, out, target=None, metrics=(), strategy=None, batch_size=None,
                    shard_size=DEFAULT_SHARD_SIZE, seed=0, value_range=None, verbose=1, **method_params):
    """Explains a whole dataset: attribution maps and per-image metrics, in shards on disk, resumable.

    Streams `dataset` in shards of `shard_size` items and batches of
    `batch_size`; for each batch computes the model's probabilities, the
    maps of every method (for the predicted class, a fixed class, or each
    image's label) and every metric of `kerasviz.metrics.METRICS` asked for,
    and writes each shard atomically to `out/` (maps as float16 with a
    per-item scale, the images as uint8 for display, labels, probabilities,
    metrics; see `kerasviz.datasets.shards`), then a manifest.

    Resumable: killed at any moment and called again with the same
    arguments, it skips the finished shards (checking that their inputs are
    the same), and the result is identical, bit for bit, to an uninterrupted
    run. Stochastic methods and metrics are seeded per batch, from
    `(seed, index of the batch's first item)`: results depend on `seed` and
    `batch_size`, never on the strategy, the number of workers or where a
    run was interrupted. An `out` holding anything else (other arguments,
    another model's weights, other files) is an error, never overwritten.

    Under `tf.distribute` (see `kerasviz.datasets.placement`): worker `i` of
    `W` (`MultiWorkerMirroredStrategy`; the chief is worker 0) computes the
    shards whose index is `i` modulo `W`, each worker reading the dataset
    through (give every worker the same dataset, and an `out` on a file
    system they share); the local devices of the strategy (`MirroredStrategy`)
    take the batches of each shard in turns. The chief writes the manifest
    once every worker is done. Results equal a single-process run.

    Costs: per image, one forward pass, each method's own cost and each
    metric's (see `kerasviz.metrics.compare`). Memory: two shards' results (one computed while the
    previous one is written, and the next one read).

    Args:
        model: a built Keras image model (one input, one output of class
            scores or probabilities).
        dataset: a `tf.data.Dataset` of images, `(images, labels)` or
            `(images, labels, masks)` (batched or not; masks feed the
            `pointing_game`), a numpy array `[N, H, W, C]`, or a list of image
            file paths (resized to the model's input size, pixels 0..255
            mapped onto `value_range`, default `(0, 1)`).
        methods: names from `kerasviz.registry.METHODS`, or
            `(name, params dict)` pairs.
        out: the output directory (created; a run there is resumed).
        target: None (each image's predicted class), an int class, or
            `"label"` (each image's label).
        metrics: metric names from `kerasviz.metrics.METRICS` (default none).
        strategy: a `tf.distribute.Strategy`; default: the current one
            (`tf.distribute.get_strategy()`).
        batch_size: images per batch, also each method's chunk of model
            evaluations (default 32).
        shard_size: items per shard (default 256): the unit of resumption
            and of work between workers.
        seed: int seed of the stochastic methods and metrics.
        value_range: the model's input range (a preset or `(low, high)`):
            images outside it raise; passed on to methods that take one
            (SmoothGrad's noise scale); the metrics that move the image
            (`kerasviz.metrics.MOVING_METRICS`) clip what they build into
            it; used to show the images. Default None
            (no check; images shown stretched).
        verbose: 0 (silent), 1 (a progress bar with rate and ETA) or 2.
        **method_params: keyword arguments given to every method that takes
            them (e.g. `layer="conv3"` for the CAM family); a method's own
            params dict wins.

    Returns:
        `kerasviz.datasets.Explanations` of `out` (see `load_explanations`);
        on a non-chief worker its `chief` is False and its `write` writes
        nothing.

    Raises:
        ValueError, TypeError: invalid arguments, an `out` of another run,
            a dataset whose finished shards changed, or what a method or
            metric raises.

    Example:

    >>> result = kerasviz.explain_dataset(model, dataset, ["saliency", "grad_cam"], out="explained",
    ...                                   metrics=["deletion_auc", "insertion_auc"])
    >>> print(result.summary())
    """
    model = models.check_model(model)
    verbose = progress.check_verbose(verbose)
    batch_size = inputs.check_batch_size(batch_size)
    shard_size = inputs.check_positive_int(shard_size, "shard_size")
    if seed is None or isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"Expected `seed` to be an int (a resumable run needs a fixed seed). Received: seed={seed!r}.")
    seed = inputs.check_seed(seed)
    if not isinstance(out, (str, bytes)) and not hasattr(out, "__fspath__"):
        raise TypeError(f"Expected `out` to be a directory path. Received: out={out!r}.")
    resolved_range = inputs.check_value_range(value_range)
    place = placement_module.Placement(tf.distribute.get_strategy() if strategy is None else strategy)
    src = source.source(model, dataset, value_range)
    target = arguments_module.check_target(model, target, src.has_labels)
    metric_names = [] if metrics in ((), []) else check_metric_names(
        list(metrics) if isinstance(metrics, tuple) else metrics, True if src.has_masks else None)
    entries = arguments_module.method_entries(methods, method_params, value_range)
    arguments = {"format": shards.FORMAT, "model": arguments_module.model_digest(model),
                 "methods": [[n, arguments_module.canonical(p, f"params of {n!r}")] for n, _, p, _ in entries],
                 "metrics": metric_names, "target": target, "batch_size": batch_size, "shard_size": shard_size,
                 "seed": seed, "value_range": arguments_module.canonical(value_range, "value_range")}
    out = str(out) if not isinstance(out, str) else out
    fingerprint = shards.open_output(out, arguments, place.worker)
    if place.chief and shards.read_manifest(out) is None:
        shards.write_manifest(out, {"format": shards.FORMAT, "fingerprint": fingerprint,
                                    "arguments": arguments, "complete": False})
    run = _Run(model, entries, metric_names, target, batch_size, seed, resolved_range)
    finished = set(shards.finished_shards(out))
    todo = None
    if src.total is not None:
        todo = sum(min(shard_size, src.total - s) for k, s in enumerate(range(0, src.total, shard_size))
                   if place.mine(k) and k not in finished)
        logger.info("explain_dataset: %d of %d items to compute on worker %d of %d (%d shards done before).",
                    todo, src.total, place.worker, place.workers, len(finished))
    bar = progress.bar(todo, verbose, "image")
    done = [0]

    def advance(n):
        done[0] += n
        if bar is not None:
            bar.update(done[0], finalize=todo is not None and done[0] >= todo)

    count, seen = 0, 0
    # Host work overlaps the model: the next shard is read (its digest, its images loaded) in one background
    # thread and the last one written (display conversion, encoding, files fsynced, renamed) in another, while
    # this one is computed; numpy, hashing, tf.data and file writes release the GIL. At most one shard waits at
    # each end, so memory stays at a few shards.
    reading = contextlib.closing(pipeline.ahead(_read_ahead(src, shard_size, place, out)))
    with concurrent.futures.ThreadPoolExecutor(1) as writer, reading as shards_read:
        pending = None
        for shard in shards_read:
            seen += 1
            if not place.mine(shard.index):
                continue
            count += shard.count
            meta = shards.read_meta(out, shard.index)
            if meta is not None:
                if meta.get("digest") != shard.digest or meta.get("count") != shard.count:
                    last = shard.start + shard.count - 1
                    raise ValueError(f"Received a `dataset` whose items {shard.start}..{last} differ from those "
                                     f"explained in {out!r} before (shard {shard.index}). Nothing was overwritten: "
                                     "pass the same dataset to resume, or another `out`.")
                continue
            arrays = _compute_shard(run, shard, place, advance)
            meta = {"fingerprint": fingerprint, "index": shard.index, "start": shard.start, "count": shard.count,
                    "digest": shard.digest, "scaled": [name for name in arrays if name.startswith("maps.")],
                    "worker": place.worker}
            if pending is not None:
                pending.result()
            pending = writer.submit(run.write, out, shard.index, arrays, meta, place.worker)
        if pending is not None:
            pending.result()
    if bar is not None and (todo is None or done[0] < todo):
        bar.update(done[0], finalize=True)
    if seen == 0:
        raise ValueError("Received an empty `dataset`: there is nothing to explain.")
    total = place.barrier(count)
    if place.chief:
        _write_complete_manifest(out, fingerprint, arguments, entries, metric_names, total)
    place.barrier(0)
    explanations = reader.load_explanations(out)
    explanations.chief = place.chief
    return explanations


def _write_complete_manifest(out, fingerprint, arguments, entries, metric_names, total):
    metas = [shards.read_meta(out, k) for k in range(len(shards.finished_shards(out)))]
    if any(m is None for m in metas) or sum(m["count"] for m in metas) != total:
        raise ValueError(f"The shards in {out!r} do not cover the dataset ({total} items): a worker wrote into "
                         "the wrong directory, or `out` was changed during the run.")
    shards.write_manifest(out, {
        "format": shards.FORMAT, "fingerprint": fingerprint, "arguments": arguments, "complete": True,
        "n_items": total, "methods": [e.name for e in entries], "metrics": metric_names,
        "higher_is_better": {m: METRICS[m].higher_is_better for m in metric_names},
        "lower_is_important": [e.name for e in entries if e.method.lower_is_important],
        "shards": [{k: m[k] for k in ("index", "start", "count", "digest")} for m in metas]})
