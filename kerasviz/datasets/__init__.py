"""Whole datasets: explain and evaluate them in resumable shards, under `tf.distribute`.

- `explain_dataset`: attribution maps and per-image metrics of a dataset,
  written as atomic shards with a manifest (`shards`); killed and restarted,
  it ends equal to an uninterrupted run. Workers take shards, devices take
  batches (`placement`).
- `load_explanations`: the reader (`Explanations`), memory-mapped per shard;
  `summary()` gives the mean and 95 % t-interval of each metric per method
  and the best and worst images (`aggregate`).
"""

from kerasviz.datasets.aggregate import DatasetSummary, Interval
from kerasviz.datasets.explain import explain_dataset
from kerasviz.datasets.reader import Explanations, load_explanations

__all__ = ["DatasetSummary", "Explanations", "Interval", "explain_dataset", "load_explanations"]
