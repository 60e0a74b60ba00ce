"""What `explain_dataset` reads: a `tf.data.Dataset`, a numpy array or a list of image files, in shards.

Every source is cut into shards of `shard_size` consecutive items, each with
a digest of its inputs (so that a resumed run can check that the data is the
same as before). Arrays and files are read only for the shards that are
computed; a `tf.data.Dataset` is a stream, read through from its start (its
finished shards are read too, to check their digests, but not computed).
"""

import os

import numpy as np
import tensorflow as tf

from kerasviz import files, inputs
from kerasviz.datasets import shards


class Shard:
    """One shard of the input: `index`, `start`, `count`, `digest`, and `load() -> (images, labels, masks)`."""

    def __init__(self, index, start, count, digest, load):
        self.index, self.start, self.count, self.digest, self.load = index, start, count, digest, load


class Source:
    """Base: `total` items (None when unknown), whether there are `labels` and `masks`, `shards(size)`."""

    total = None
    has_labels = False
    has_masks = False

    def shards(self, shard_size):
        raise NotImplementedError


class _Arrays(Source):
    def __init__(self, model, images):
        self.images = inputs.check_images(model, np.asarray(images), "dataset")
        self.total = len(self.images)

    def shards(self, shard_size):
        for index, (start, stop) in enumerate(inputs.batches(self.total, shard_size)):
            part = self.images[start:stop]
            yield Shard(index, start, stop - start, shards.digest(part, None, None),
                        lambda part=part: (part, None, None))


class _Files(Source):
    def __init__(self, model, paths, value_range):
        self.paths = [os.fspath(p) for p in paths]
        self.model, self.value_range, self.total = model, value_range, len(self.paths)
        for path in self.paths:
            if not os.path.isfile(path):
                raise ValueError(f"Received a list of image files for `dataset` with {path!r}, which is not a "
                                 "file.")

    def _read(self, paths):
        value_range = (0.0, 1.0) if self.value_range is None else self.value_range
        try:
            return np.concatenate([files.read_image(p, self.model, value_range) for p in paths]), None, None
        except ValueError as error:
            raise ValueError(f"Received a list of image files for `dataset`: {error}") from None

    def shards(self, shard_size):
        for index, (start, stop) in enumerate(inputs.batches(self.total, shard_size)):
            part = self.paths[start:stop]
            token = np.frombuffer("\0".join(part).encode(), np.uint8)
            yield Shard(index, start, stop - start, shards.digest(token), lambda part=part: self._read(part))


class _Stream(Source):
    def __init__(self, model, dataset):
        spec = dataset.element_spec
        parts = spec if isinstance(spec, tuple) else (spec,)
        if not 1 <= len(parts) <= 3 or not all(isinstance(p, tf.TensorSpec) for p in parts):
            raise TypeError("Expected `dataset` to yield images, (images, labels) or (images, labels, masks). "
                            f"Received a tf.data.Dataset with element_spec={spec!r}.")
        rank = parts[0].shape.rank
        if rank not in (3, 4):
            raise ValueError("Expected `dataset` to yield images [H, W, C] or batches [B, H, W, C]. Received "
                             f"elements of shape {parts[0].shape}.")
        self.model, self.batched = model, rank == 4
        self.has_labels, self.has_masks = len(parts) >= 2, len(parts) == 3
        self.dataset = dataset if isinstance(spec, tuple) else dataset.map(lambda x: (x,))
        if not self.batched:
            cardinality = int(dataset.cardinality())
            self.total = cardinality if cardinality >= 0 else None

    def shards(self, shard_size):
        stream = self.dataset.unbatch() if self.batched else self.dataset
        start = 0
        for index, element in enumerate(stream.batch(shard_size).prefetch(1)):
            parts = [np.asarray(p) for p in element]
            images = inputs.check_images(self.model, parts[0], "dataset")
            labels = inputs.class_labels(parts[1], "dataset's labels") if self.has_labels else None
            masks = parts[2] if self.has_masks else None
            count = len(images)
            yield Shard(index, start, count, shards.digest(images, labels, masks),
                        lambda data=(images, labels, masks): data)
            start += count


def source(model, dataset, value_range):
    """The `Source` of a `dataset` argument."""
    if isinstance(dataset, tf.data.Dataset):
        return _Stream(model, dataset)
    if isinstance(dataset, (list, tuple)) and dataset and all(isinstance(p, (str, os.PathLike)) for p in dataset):
        return _Files(model, dataset, value_range)
    if isinstance(dataset, (np.ndarray, tf.Tensor)):
        return _Arrays(model, dataset)
    raise TypeError("Expected `dataset` to be a tf.data.Dataset (of images, (images, labels) or (images, labels, "
                    "masks)), a numpy array [N, H, W, C] or a non-empty list of image file paths. Received: "
                    f"dataset of type {type(dataset).__name__}.")
