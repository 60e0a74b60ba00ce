"""The activation atlas's sample: a seeded bottom-k sample of a layer's spatial activation vectors over a dataset."""

import typing

import numpy as np

from kerasviz import inputs, models, progress
from kerasviz.inside import resumable, streams

_SAMPLE_ARRAYS = ("keys", "vectors", "image_index", "positions")  # a sample's saved state


class ActivationSample(typing.NamedTuple):
    """A uniform, seeded sample of a layer's spatial activation vectors over a dataset.

    Attributes:
        vectors: float32 `[S, C]`.
        image_index: int64 `[S]`, the image's index in the stream.
        positions: int64 `[S, 2]`, `(row, col)` in the layer's grid.
        layer: the layer's path.
        seen: the number of vectors the sample was drawn from.
    """

    vectors: np.ndarray
    image_index: np.ndarray
    positions: np.ndarray
    layer: str
    seen: int


def _keys(seed, image_index, count):
    """The sampling keys of one image's `count` positions: from `(seed, image index)` only, not the batching."""
    return np.random.default_rng([seed, image_index]).random(count)


def merge_samples(a, b, samples):
    """The bottom-`samples` sample of two streams from theirs: `(keys, (vectors, image_index, positions), seen)`.

    The union's `samples` smallest keys are among each part's `samples`
    smallest: merging the samples of the two halves of a stream gives the
    sample of the whole stream (the same set; order aside).
    """
    keys = np.concatenate([a[0], b[0]])
    channels = max(a[1][0].shape[-1], b[1][0].shape[-1])
    parts = (np.concatenate([a[1][0].reshape(-1, channels), b[1][0].reshape(-1, channels)]),
             np.concatenate([a[1][1], b[1][1]]), np.concatenate([a[1][2], b[1][2]]))
    if len(keys) > samples:
        chosen = np.argpartition(keys, samples - 1)[:samples]
        keys, parts = keys[chosen], tuple(part[chosen] for part in parts)
    return keys, parts, a[2] + b[2]


def sample_activations(model, data, layer, samples: int = 10000, *, seed: int = 0, batch_size=None,
                       value_range=None, shard_size: int = resumable.DEFAULT_SHARD_SIZE, state_dir=None,
                       strategy=None, verbose: int = 0) -> ActivationSample:
    """A uniform sample of `samples` spatial activation vectors of a layer over a stream of images.

    Each position of each image gets a random key drawn from `(seed, image
    index)`, and the `samples` smallest keys are kept as the images stream
    by (a bottom-k sample: uniform without replacement, the same whatever
    the batch size or the dataset's batching). Memory: `samples * C` floats,
    one shard of images and one batch of activations (per local device).
    One forward pass (up to the layer) per image.

    Under `tf.distribute` (as `explain_dataset`): the strategy's local
    devices (`MirroredStrategy`) compute the batches of a shard in turns;
    with several workers (`MultiWorkerMirroredStrategy`), worker `i` of `W`
    samples the shards `i` modulo `W`, and the workers merge their samples
    through `state_dir` (`merge_samples`): every worker returns the sample
    a single device draws, whatever the strategy.

    Args:
        model: a built Keras image model.
        data: images `[N, H, W, C]` (array or tensor) or a `tf.data.Dataset`
            of batches (or `(images, ...)` tuples), in the model's input space.
        layer: a spatial layer (name, path, index or object).
        samples: the number of vectors to keep.
        seed: an int seeding the keys.
        batch_size: images per compiled call (default 32).
        value_range: when given, images outside it raise.
        shard_size: images read (and held) at a time, and between two
            saved states.
        state_dir: None, or a directory where the sample is saved after
            each shard (`kerasviz.inside.resumable`): called again with the
            same arguments and data after an interruption, it goes on from
            the last saved state and returns exactly what an uninterrupted
            run returns. A directory of another run raises. Required with
            several workers: a directory they all share.
        strategy: a `tf.distribute.Strategy`; default: the current one
            (`tf.distribute.get_strategy()`).
        verbose: 1 shows a progress bar.

    Returns:
        An `ActivationSample`.

    Raises:
        ValueError, TypeError: an invalid argument (named), a layer without a spatial map; several workers
            without a `state_dir`.
    """
    models.check_model(model)
    path = streams.layer_path(model, layer)
    samples = streams.check_int(samples, "samples")
    seed = inputs.check_seed(seed)
    batch_size = inputs.check_batch_size(batch_size)
    verbose = progress.check_verbose(verbose)
    shard_size = inputs.check_positive_int(shard_size, "shard_size")
    place = resumable.placement(strategy, state_dir)
    state = resumable.StateDir(state_dir, resumable.run_arguments(
        model, "sample_activations", layer=path, samples=samples, seed=seed, batch_size=batch_size,
        value_range=value_range, shard_size=shard_size), place)

    def add_to_sample(state, shard, first):
        starts = [(first + a, a, b) for a, b in inputs.batches(len(shard[0]), batch_size)]
        held = [state]

        def compute(i):
            images = streams.check_batch(model, shard[0][starts[i][1]:starts[i][2]], value_range)
            return streams.activations(model, images, path, batch_size)

        def add(i, values):
            if values.ndim != 4:
                raise ValueError(f"Received an invalid value for `layer`: {layer!r} outputs {values.shape[1:]}, "
                                 "not a spatial map [h, w, C].")
            n, h, w, c = values.shape
            start = starts[i][0]
            keys = np.concatenate([_keys(seed, start + j, h * w) for j in range(n)])
            rows, cols = np.divmod(np.tile(np.arange(h * w), n), w)
            index = np.repeat(np.arange(start, start + n), h * w)
            batch = (keys, (values.reshape(-1, c), index, np.stack([rows, cols], 1)), n * h * w)
            held[0] = merge_samples(held[0], batch, samples)

        place.in_turns(len(starts), compute, add)
        return held[0]

    def encode(state):
        return dict(zip(_SAMPLE_ARRAYS, (state[0], *state[1]))), {"seen": state[2]}

    def decode(info, load):
        keys, *kept = (load(name) for name in _SAMPLE_ARRAYS)
        return keys, tuple(kept), info["seen"]

    start = (np.empty(0), (np.empty((0, 0), np.float32), np.empty(0, np.int64), np.empty((0, 2), np.int64)), 0)
    partial = resumable.fold(data, state, "sample", start, add_to_sample, encode, decode,
                             shard_size=shard_size, verbose=verbose)
    _, kept, seen = resumable.gather(state, "sample", partial, decode, lambda a, b: merge_samples(a, b, samples))
    order = np.lexsort((kept[2][:, 1], kept[2][:, 0], kept[1]))  # stream order
    return ActivationSample(kept[0][order].astype(np.float32), kept[1][order], kept[2][order], path, seen)
