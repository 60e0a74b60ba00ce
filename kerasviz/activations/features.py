"""FC-layer features ("CNN codes") of a stream of images, in memory or streamed to a memory-mapped file."""

import os
import tempfile

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, models, progress

_POOLS = ("avg", "max", None)
_NPY_MAGIC = b"\x93NUMPY\x01\x00"
_NPY_HEADER_BYTES = 128  # the whole .npy header, room for any [N, D] up to 10**15 rows


def _feature_function(model, path, pool, shape):
    """The compiled `images [B, *shape] -> features [B, D]` for one layer, traced once per shape."""

    def build(model_ref):
        def forward(images):
            _, captured = models.run(model_ref(), images, capture=(path,), logits=False)
            values = captured[path]
            if not isinstance(values, tf.Tensor):
                raise ValueError(
                    f"Received an invalid value for `layer`: {path!r} returns "
                    f"{type(values).__name__}, not one tensor."
                )
            values = tf.cast(values, tf.float32)
            rank = values.shape.rank
            if rank > 2 and pool is not None:
                reduce = tf.reduce_mean if pool == "avg" else tf.reduce_max
                values = reduce(values, axis=list(range(1, rank - 1)))
            return tf.reshape(values, [tf.shape(values)[0], -1])

        return forward

    signature = [tf.TensorSpec([None, *shape], tf.float32)]
    return compiled.compiled_function(model, ("features", path, pool, shape), build, signature)


def _raw_batches(data, batch_size):
    """Yields `(array, from_dataset)` pieces of `data`, never holding a whole dataset."""
    if isinstance(data, tf.data.Dataset):
        for element in data:  # one batch held at a time (add `.prefetch()` to overlap the pipeline)
            if isinstance(element, (tuple, list)):
                element = element[0]
            if isinstance(element, dict):
                raise TypeError(
                    "Expected `data` to yield image batches or (images, labels) tuples. "
                    "Received a dataset of dicts."
                )
            yield element, True
        return
    array = inputs.as_numpy(data, "data")
    if array.ndim != 4 or len(array) == 0:
        yield array, False  # check_images raises the right error
        return
    for start, stop in inputs.batches(len(array), batch_size):
        yield array[start:stop], False


def _npy_header(rows, cols):
    text = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}"
    room = _NPY_HEADER_BYTES - len(_NPY_MAGIC) - 2
    return _NPY_MAGIC + room.to_bytes(2, "little") + (text + " " * (room - len(text) - 1) + "\n").encode("latin1")


class _Sink:
    """Where feature batches go: a list in memory, or a `.npy` file written batch by batch.

    The file is written as `<out>.partial` and renamed to `out` when complete
    (a failed or interrupted call never leaves a half-written `out`); plain
    writes, not a writable mapping, so the process's memory stays flat in N.
    """

    def __init__(self, out):
        self.parts, self.rows, self.cols, self.handle = [], 0, None, None
        self.temporary = out is True
        if out is None:
            self.path = None
        elif self.temporary:
            handle, self.path = tempfile.mkstemp(suffix=".npy", prefix="kerasviz-features-")
            os.close(handle)
        else:
            self.path = os.fspath(out)

    def add(self, values):
        if self.cols is None:
            self.cols = values.shape[1]
            if self.path is not None:
                self.handle = open(self.path + ".partial", "wb")
                self.handle.write(_npy_header(0, self.cols))
        if values.shape[1] != self.cols:
            return  # the caller reports the mismatch
        self.rows += len(values)
        if self.handle is None:
            self.parts.append(values)
        else:
            self.handle.write(np.ascontiguousarray(values, "<f4").tobytes())

    def finish(self):
        if self.path is None:
            return np.concatenate(self.parts, axis=0)
        self.handle.seek(0)
        self.handle.write(_npy_header(self.rows, self.cols))
        self.handle.close()
        os.replace(self.path + ".partial", self.path)
        mapped = np.load(self.path, mmap_mode="r")
        if self.temporary:
            os.unlink(self.path)  # freed with the last reference to the mapping
        return mapped

    def discard(self):
        if self.handle is not None:
            self.handle.close()
            os.unlink(self.path + ".partial")
        if self.temporary and os.path.exists(self.path):
            os.unlink(self.path)


def _check_out(out):
    if out is None or out is True:
        return out
    if isinstance(out, bool) or not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"Received an invalid value for `out`: {out!r}. Expected None, True or a file path.")
    folder = os.path.dirname(os.path.abspath(os.fspath(out)))
    if not os.path.isdir(folder):
        raise ValueError(f"Received an invalid value for `out`: {os.fspath(out)!r}; its folder does not exist.")
    return out


def features(model, data, layer=None, *, batch_size=None, pool="avg", out=None, verbose=0) -> np.ndarray:
    """The outputs of one layer for a stream of images: the "CNN codes".

    The activations of a late layer (by default the fully connected layer
    before the classifier, after its ReLU: AlexNet's 4096-D "fc7" codes of
    Krizhevsky et al., 2012, section 6.1, and CS231n's "t-SNE of CNN codes")
    place images that the network sees alike close together. Images are
    streamed: a `tf.data.Dataset` is iterated batch by batch and each batch is
    checked (rank, size, finite values) on its own. With `out`, each batch's
    features are written to a `.npy` file as they come and a read-only
    memory map of it is returned, so the process's memory stays flat in N
    (100,000 images or more; `benchmarks/embeddings.py --features`); without,
    they are gathered in memory. One compiled function per (model, layer,
    pool, image shape), traced once. Costs one forward pass of the whole model
    per image: 0.8 to 1.0 times the throughput of the model's own compiled
    forward pass at the same batch size (`benchmarks/activations.py`, 2 CPU
    cores; the per-batch check costs most on tiny models).

    Args:
        model: a built Keras image model (any form; a nested layer is named by
            its path, e.g. `"backbone/conv2"`).
        data: images `[N, H, W, C]` in the model's own input space: a numpy
            array, a tensor, or a `tf.data.Dataset` yielding batches (or
            `(images, labels)` tuples).
        layer: a layer name, path, index or object; default: the `Dense`
            layer before the last one
            (`kerasviz.models.default_layer(model, "embedding")`): the
            classifier's input, the "CNN code" (VGG's fc2, a ResNet's global
            pooling; an all-convolutional net's class-map conv input, pooled).
        batch_size: at most this many images per compiled call (default 32;
            larger dataset batches are split); results do not depend on it.
        pool: for layers with spatial outputs `[B, h, w, C]`: `"avg"`
            (default: global average, `[N, C]`), `"max"` (global max) or
            `None` (flatten, `[N, h * w * C]`). 2-D outputs are kept as they are.
        out: `None` (in memory), a file path (a float32 `.npy` written there,
            readable later with `np.load(out, mmap_mode="r")`; an existing
            file is replaced only once the new one is complete) or `True` (a
            temporary file, deleted when the returned map is).
        verbose: 0 (silent) or 1: a progress bar over images.

    Returns:
        float32 `[N, D]`: an array, or with `out` a read-only `np.memmap`.

    Raises:
        ValueError: invalid `images` (in any batch), `layer`, `batch_size`,
            `pool` or `out`; an empty dataset; a dataset whose batches give
            features of different sizes (`pool=None` with images of different
            sizes).
        TypeError: `data` is not image data, `out` not a path.

    Example:

    >>> codes = kerasviz.features(model, dataset)  # [N, 64] from the "fc" layer
    >>> codes = kerasviz.features(model, imagenet_val, out="val_codes.npy", verbose=1)  # 50,000 x 2048, on disk
    """
    models.check_model(model)
    batch_size = inputs.check_batch_size(batch_size)
    verbose = progress.check_verbose(verbose)
    if pool not in _POOLS:
        raise ValueError(f"Received an invalid value for `pool`: {pool!r}. Expected 'avg', 'max' or None.")
    out = _check_out(out)
    if layer is None:
        layer = models.default_layer(model, "embedding")
    path, _ = models.get_layer(model, layer)
    # a dataset's images are counted as they come (its cardinality counts batches of unknown size)
    total = int(data.shape[0]) if not isinstance(data, tf.data.Dataset) and len(getattr(data, "shape", ())) == 4 \
        else None
    sink = _Sink(out)
    sizes = set()
    try:
        batches = progress.track(_raw_batches(data, batch_size), total, verbose,
                                 size=lambda item: len(item[0]), unit="image")
        for index, (raw, from_dataset) in enumerate(batches):
            try:
                batch = inputs.check_images(model, np.asarray(raw), "data")
            except ValueError as error:
                if not from_dataset:
                    raise
                raise ValueError(
                    f"{error} (batch {index} of the dataset; a dataset must yield batches "
                    "[B, H, W, C], for example `dataset.batch(32)`)"
                ) from None
            function = _feature_function(model, path, pool, batch.shape[1:])
            if from_dataset and raw.dtype == tf.float32 and len(batch) <= batch_size:
                pieces = [function(raw).numpy()]  # the checked tensor itself: no copy
            else:
                pieces = [function(tf.constant(batch[start:stop])).numpy()
                          for start, stop in inputs.batches(len(batch), batch_size)]
            for piece in pieces:
                sizes.add(piece.shape[1])
                sink.add(piece)
        if not sink.rows:
            raise ValueError("Received an empty dataset for `data`.")
        if len(sizes) > 1:
            raise ValueError(
                f"The batches of `data` give features of different sizes {sorted(sizes)} at layer {path!r}; "
                "use images of one size or `pool='avg'`."
            )
        return sink.finish()
    except BaseException:
        sink.discard()
        raise
