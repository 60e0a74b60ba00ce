"""`load_explanations`: reading what `explain_dataset` wrote, shard by shard, memory-mapped."""

import logging
import os

import numpy as np

from kerasviz.datasets import aggregate, report, shards

logger = logging.getLogger("kerasviz")


class Explanations:
    """The results of `explain_dataset` in a directory: maps, predictions and metrics per method.

    Small per-image arrays (`index`, `labels`, `predicted`, `classes`,
    `probabilities`, and each metric) are read in full on first use; maps
    and images are memory-mapped per shard and decoded only for the items
    asked for, so a dataset larger than memory can be browsed.

    Attributes:
        out: the directory.
        methods: the method names, in the order they were given.
        metrics: the metric names.
        higher_is_better: `{metric: bool}`.
        arguments: the arguments of the run (as recorded in the manifest).
        chief: False on a non-chief worker of the `explain_dataset` call that
            returned it (`write` then writes nothing); True otherwise.
    """

    def __init__(self, out, manifest):
        self.out, self.manifest, self.chief = out, manifest, True
        self.methods, self.metrics = list(manifest["methods"]), list(manifest["metrics"])
        self.higher_is_better = dict(manifest["higher_is_better"])
        self.arguments = manifest["arguments"]
        self._shards = manifest["shards"]
        self._starts = np.array([s["start"] for s in self._shards], np.int64)
        self._cache = {}

    def __len__(self):
        return int(self.manifest["n_items"])

    def __repr__(self):
        return (f"Explanations({self.out!r}: {len(self)} images, methods {self.methods}, metrics "
                f"{self.metrics})")

    def _dir(self, k):
        return os.path.join(self.out, shards.shard_name(self._shards[k]["index"]))

    def _column(self, name):
        if name not in self._cache:
            self._cache[name] = np.concatenate([np.asarray(shards.load_array(self._dir(k), name))
                                                for k in range(len(self._shards))])
        return self._cache[name]

    @property
    def index(self):
        """int64 `[N]`: each item's position in the dataset."""
        return self._column("index")

    @property
    def labels(self):
        """int64 `[N]`: the dataset's labels (-1 where it had none)."""
        return self._column("labels")

    @property
    def probabilities(self):
        """float32 `[N, classes]`: the model's class probabilities."""
        return self._column("probabilities")

    @property
    def predicted(self):
        """int32 `[N]`: the predicted classes."""
        return self._column("predicted")

    @property
    def classes(self):
        """int32 `[N]`: the classes explained."""
        return self._column("classes")

    def metric(self, method, metric):
        """float32 `[N]`: one metric of one method, per image."""
        self._check(method, metric)
        return self._column(f"metric.{method}.{metric}")

    def _check(self, method, metric=None):
        if method not in self.methods:
            raise ValueError(f"Received an invalid value for `method`: {method!r}. This run has {self.methods}.")
        if metric is not None and metric not in self.metrics:
            raise ValueError(f"Received an invalid value for `metric`: {metric!r}. This run has {self.metrics}.")

    def _rows(self, indices):
        """`[(shard k, rows in the shard, positions in the result)]` for dataset `indices`."""
        indices = np.arange(len(self)) if indices is None else np.asarray(indices, np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise ValueError(f"Received `indices` outside 0..{len(self) - 1}: {indices.min()}..{indices.max()}.")
        which = np.searchsorted(self._starts, indices, side="right") - 1
        return indices, [(k, indices[which == k] - self._starts[k], np.flatnonzero(which == k))
                         for k in np.unique(which)]

    def _gather(self, indices, read):
        indices, parts = self._rows(indices)
        pieces = [(positions, read(self._dir(k), rows)) for k, rows, positions in parts]
        if not pieces:
            raise ValueError("Received empty `indices`.")
        result = np.empty((len(indices),) + pieces[0][1].shape[1:], pieces[0][1].dtype)
        for positions, values in pieces:
            result[positions] = values
        return result

    def maps(self, method, indices=None):
        """float32 maps of `method` for the dataset `indices` (default: all, which may be large)."""
        self._check(method)
        return self._gather(indices, lambda d, rows: shards.load_scaled(d, "maps." + method, rows))

    def images(self, indices=None):
        """uint8 `[n, H, W, C]` images in display space for the dataset `indices`."""
        return self._gather(indices, lambda d, rows: np.asarray(shards.load_array(d, "images")[rows]))

    def iter_shards(self):
        """Yields `(index [n], {method: float32 maps [n, ...]})` shard by shard (memory bounded by a shard)."""
        for k in range(len(self._shards)):
            directory = self._dir(k)
            yield (np.asarray(shards.load_array(directory, "index")),
                   {m: shards.load_scaled(directory, "maps." + m) for m in self.methods})

    def summary(self, k=8):
        """Per method and metric: mean and 95 % t-interval, and the `k` best and worst images.

        Returns:
            `kerasviz.datasets.aggregate.DatasetSummary`; `print(summary)`
            shows the table.
        """
        if not self.metrics:
            raise ValueError(f"The run in {self.out!r} computed no metrics: pass `metrics=` to explain_dataset.")
        per_image = {(m, metric): self.metric(m, metric) for m in self.methods for metric in self.metrics}
        return aggregate.summarize(self.methods, self.metrics, per_image, self.index, self.higher_is_better, k)

    def write(self, log_dir, step=None, *, run_name="kerasviz", k=8):
        """Writes the dataset's summary to `<log_dir>/<run_name>` for the kerasviz dashboard.

        One record, tag `kerasviz/dataset/explanations` at `step`
        (`kerasviz.summary.write_dataset_summary`), appended to the run's
        event file as the callbacks write it (verified; shared with a
        callback of the same run directory in this process). It holds, per
        method and metric, what `summary()` says (mean, 95 % t-interval, `n`)
        and a histogram (20 bins shared by the methods over the metric's
        range, NaN counted apart), each metric's direction, and per method
        the `k` best and `k` worst images, by the first metric (or by the
        predicted class's probability when the run has no metrics), as
        thumbnails (at most 96 pixels a side) with their maps and dataset
        indices. The dashboard's Dataset tab shows it. Costs: reading the
        metrics, `4 * k` images and maps per method, and one pass over the
        run's event files for its last step.

        Args:
            log_dir: the TensorBoard log directory.
            step: int >= 0, later than the run's last dataset summary;
                `None` (default): the next step after it (0 in a new run).
            run_name: the run directory's name under `log_dir`.
            k: how many best and worst images per method (int >= 1).

        On a non-chief worker of a multi-worker `explain_dataset` call
        (`chief` is False) it writes nothing, as the callbacks do: every
        worker may run the same script, and the run gets one record.

        Returns:
            `(run directory, step)`, or None on a non-chief worker.

        Raises:
            ValueError, TypeError: a bad `log_dir`, `step`, `run_name` or `k`.
            OSError: the event file could not be written.

        Example:

        >>> kerasviz.load_explanations("explained").write("logs")
        """
        if not self.chief:
            logger.info("Explanations.write: not the chief worker; the chief writes the dataset summary.")
            return None
        return report.write(self, log_dir, step, run_name, k)


def load_explanations(out):
    """Opens the results of a complete `explain_dataset` run.

    Args:
        out: the directory `explain_dataset` wrote.

    Returns:
        `Explanations`: maps, images, predictions and metrics per method,
        read lazily per shard; `summary()` aggregates the metrics.

    Raises:
        ValueError: `out` holds no complete run (never started, still
            running, or killed: run `explain_dataset` again with the same
            arguments to finish it).

    Example:

    >>> explained = kerasviz.load_explanations("explained")
    >>> print(explained.summary())
    >>> worst = explained.summary().worst["saliency"]["deletion_auc"]
    >>> kerasviz.show({"saliency": explained.maps("saliency", worst)}, explained.images(worst) / 255)
    """
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"Expected `out` to be a directory path. Received: out={out!r}.")
    out = os.fspath(out)
    manifest = shards.read_manifest(out) if os.path.isdir(out) else None
    if manifest is None:
        raise ValueError(f"Received `out={out!r}`, which holds no explain_dataset manifest.")
    if manifest.get("format") != shards.FORMAT:
        raise ValueError(f"Received `out={out!r}`, written in format {manifest.get('format')!r}; this kerasviz "
                         f"reads format {shards.FORMAT}.")
    if not manifest.get("complete"):
        done = len(shards.finished_shards(out))
        raise ValueError(f"Received `out={out!r}`, an explain_dataset run that is not complete ({done} shards "
                         "written): run explain_dataset again with the same arguments to finish it.")
    return Explanations(out, manifest)
