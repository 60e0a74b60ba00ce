"""Dataset passes of `kerasviz.inside` in shards, resumable from a state directory.

A pass (`fold`) reads its data in shards of `shard_size` consecutive images
and carries a state from shard to shard (a quantile sketch, running sums, a
sample). With a `state_dir`, the state after each shard is saved in the
on-disk format of `explain_dataset` (`kerasviz.datasets.shards`: a manifest
with the fingerprint of the arguments, each checkpoint an atomic shard
directory holding the state's arrays and, in its `meta.json`, the digests of
every shard read so far): a run killed at any moment and called again with
the same arguments and data verifies the shards already done (their digests;
no model is run on them), loads the last saved state and goes on, ending
exactly where an uninterrupted run ends. Only the last state of each pass is
kept (the one before is removed once the next is in place).

Under `tf.distribute` (`kerasviz.datasets.placement`, as `explain_dataset`):
the local devices of the strategy take the batches of a shard in turns
(`Placement.in_turns`), and with several workers (`MultiWorkerMirroredStrategy`)
worker `i` of `W` folds the shards `i` modulo `W` into its own partial state,
saved under `state_dir/worker-<i>-of-<W>`. After a barrier every worker reads
the final partial states of all workers and merges them in worker order
(`gather`), so every worker holds the same state, that of the whole stream.
"""

import os
import shutil
import uuid

import numpy as np
import tensorflow as tf

from kerasviz import progress
from kerasviz.datasets import arguments as dataset_arguments
from kerasviz.datasets import shards
from kerasviz.datasets.placement import Placement
from kerasviz.inside import streams

#: Images per shard by default: the unit of resumption, and the most images held at once.
DEFAULT_SHARD_SIZE = 256
FORMAT = 1


def run_arguments(model, function, **arguments):
    """The recorded arguments of a resumable run: its function, the model by its weights' digest, the rest."""
    recorded = {"format": FORMAT, "function": function, "model": dataset_arguments.model_digest(model)}
    recorded.update({k: dataset_arguments.canonical(v, k) for k, v in arguments.items()})
    return recorded


def placement(strategy, state_dir):
    """The `Placement` of `strategy` (None: the current one); several workers need a `state_dir`."""
    place = Placement(tf.distribute.get_strategy() if strategy is None else strategy)
    if place.workers > 1 and state_dir is None:
        raise ValueError(
            f"Received `state_dir=None` under a strategy of {place.workers} workers: the workers exchange their "
            "partial states through `state_dir`, a directory they all share. Pass one.")
    return place


def worker_folder(root, worker, workers):
    """Where worker `worker` of `workers` saves its states under the shared `state_dir` `root`."""
    return os.path.join(root, f"worker-{worker}-of-{workers}")


class StateDir:
    """The checkpoints of one run under `path` (None: nothing saved), checked against its `arguments`.

    With a `place` of several workers, this worker's checkpoints go to its
    own folder under `path` (`worker_folder`).
    """

    def __init__(self, path, arguments, place=None):
        self.path = self.root = None
        self.place = Placement(tf.distribute.get_strategy()) if place is None else place
        self.latest = {}  # pass name -> (shard index, meta)
        self.shards = {}  # pass name -> how many shards of the data its last fold read
        self.next_index = 0
        if path is None:
            return
        if not isinstance(path, (str, bytes)) and not hasattr(path, "__fspath__"):
            raise TypeError(f"Expected `state_dir` to be a directory path or None. Received: state_dir={path!r}.")
        self.root = self.path = os.fsdecode(os.fspath(path))
        if self.place.workers > 1:
            self.path = worker_folder(self.root, self.place.worker, self.place.workers)
        self.fingerprint = shards.open_output(self.path, arguments, argname="state_dir")
        if shards.read_manifest(self.path) is None:
            shards.write_manifest(self.path, {"format": shards.FORMAT, "fingerprint": self.fingerprint,
                                              "arguments": arguments})
        for index in shards.finished_shards(self.path):
            meta = shards.read_meta(self.path, index)
            if meta["pass"] not in self.latest or index > self.latest[meta["pass"]][0]:
                self.latest[meta["pass"]] = (index, meta)
            self.next_index = index + 1

    def saved(self, name):
        """`(digests of the shards done, info, load(array name))` of pass `name`'s last state, or None."""
        return latest_state(self.path, name)

    def save(self, name, digests, arrays, info):
        """Saves pass `name`'s state after `len(digests)` shards, then removes its previous state."""
        index = self.next_index
        meta = {"fingerprint": self.fingerprint, "index": index, "pass": name, "digests": list(digests),
                "info": info, "digest": digests[-1]}
        shards.write_shard(self.path, index, arrays, meta)
        self.next_index += 1
        previous = self.latest.get(name)
        self.latest[name] = (index, meta)
        if previous is not None:  # renamed out of the way first: a half-removed state is never under a shard name
            doomed = os.path.join(self.path, f".tmp-w0-old-{uuid.uuid4().hex}")
            os.rename(os.path.join(self.path, shards.shard_name(previous[0])), doomed)
            shutil.rmtree(doomed, ignore_errors=True)


def shards_of(data, shard_size, parts=1, argname="data"):
    """Yields tuples of `parts` arrays of exactly `shard_size` images (the last one fewer), from any `data`.

    `data` as `streams.batches` takes it; a dataset's own batches are joined
    and cut again, so the shards depend only on the images and `shard_size`.
    """
    pending, count = [], 0
    for piece in streams.batches(data, shard_size, argname, parts):
        pending.append(piece)
        count += len(piece[0])
        while count >= shard_size:
            joined = tuple(np.concatenate(p) for p in zip(*pending)) if len(pending) > 1 else pending[0]
            yield tuple(p[:shard_size] for p in joined)
            rest = tuple(p[shard_size:] for p in joined)
            count = len(rest[0])
            pending = [rest] if count else []
    if count:
        yield tuple(np.concatenate(p) for p in zip(*pending)) if len(pending) > 1 else pending[0]


def fold(data, state_dir: StateDir, name, start, step, encode, decode, *, shard_size, parts=1, verbose=0):
    """Runs `state = step(state, shard arrays, index of the shard's first image)` over `data`'s shards.

    With several workers (`state_dir.place`), over this worker's shards
    only (shard `k` when `k % workers == worker`): the state returned is
    this worker's partial state (`gather` merges them).

    Starts from `start`, or from the state `decode(info, load)` saved by
    an earlier run of pass `name` (after checking the digests of the
    shards it had done); with a state directory, saves `encode(state) ->
    (arrays, info)` after each shard.

    Raises:
        ValueError: empty data; data whose shards differ from those of the
            saved run (nothing is overwritten).
    """
    saved = None if state_dir.path is None else state_dir.saved(name)
    done, state = ([], start) if saved is None else (saved[0], decode(saved[1], saved[2]))
    digests, first, position, total = list(done), 0, -1, 0
    items = progress.track(shards_of(data, shard_size, parts), None, verbose, size=lambda item: len(item[0]),
                           unit="image")
    for index, arrays in enumerate(items):
        total = index + 1
        if not state_dir.place.mine(index):
            first += len(arrays[0])
            continue
        position += 1
        digest = None if state_dir.path is None else shards.digest(*arrays)
        if position < len(done):
            if digest != done[position]:
                raise ValueError(
                    f"Received a `data` whose images {first}..{first + len(arrays[0]) - 1} differ from those "
                    f"of the run saved in `state_dir={state_dir.path!r}`. Nothing was overwritten: pass the same "
                    "data to resume that run, or another `state_dir`.")
        else:
            state = step(state, arrays, first)
            if state_dir.path is not None:
                digests.append(digest)
                state_dir.save(name, digests, *encode(state))
        first += len(arrays[0])
    if not total:
        raise ValueError("Received an empty dataset for `data`.")
    if position + 1 < len(done):
        raise ValueError(f"Received a `data` of {first} images, fewer than the run saved in "
                         f"`state_dir={state_dir.path!r}` had read. Nothing was overwritten.")
    state_dir.shards[name] = total
    return state


def gather(state_dir: StateDir, name, state, decode, merge):
    """Every worker's final state of pass `name` merged in worker order: the same on every worker.

    With one worker, `state` itself. With several, after a barrier (every
    worker has folded its shards and saved its last state), each worker
    reads the last state of every worker from `state_dir` (a worker that
    had no shard contributes nothing) and merges them, `merge(a, b)`, in
    the order of the workers; a second barrier keeps the states in place
    until every worker has read them.

    Raises:
        ValueError: a worker's saved state does not cover its share of the
            shards (the workers read different data, or do not share
            `state_dir`).
    """
    place = state_dir.place
    if place.workers == 1:
        return state
    place.barrier(0)
    total, merged = state_dir.shards[name], None
    for worker in range(place.workers):
        expected = len(range(worker, total, place.workers))
        folder = worker_folder(state_dir.root, worker, place.workers)
        saved = latest_state(folder, name) if expected else None
        covered = 0 if saved is None else len(saved[0])
        if covered != expected:
            raise ValueError(
                f"Worker {worker} of {place.workers} saved a state of pass {name!r} over {covered} shards in "
                f"`state_dir={state_dir.root!r}`; its share of the {total} shards is {expected}. The workers must "
                "read the same data and share `state_dir`.")
        if saved is not None:
            part = decode(saved[1], saved[2])
            merged = part if merged is None else merge(merged, part)
    place.barrier(0)
    return merged


def latest_state(folder, name):
    """`(digests, info, load)` of the last state of pass `name` saved in `folder`, or None."""
    if not os.path.isdir(folder):
        return None
    latest = None
    for index in shards.finished_shards(folder):
        meta = shards.read_meta(folder, index)
        if meta is not None and meta["pass"] == name and (latest is None or index > latest[0]):
            latest = (index, meta)
    if latest is None:
        return None
    shard = os.path.join(folder, shards.shard_name(latest[0]))
    return latest[1]["digests"], latest[1]["info"], lambda array: np.array(shards.load_array(shard, array,
                                                                                             mmap=False))
