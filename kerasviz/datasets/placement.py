"""Who computes what under `tf.distribute`: workers take shards, devices take batches.

The design, chosen to be correct and simple, and to give results that do not
depend on the strategy:

- The unit of work between workers is the shard. Worker `i` of `W`
  (`MultiWorkerMirroredStrategy`: the chief is worker 0) computes the shards
  whose index is `i` modulo `W`; a single process is worker 0 of 1.
- The unit of seeded computation is the batch: a batch of items
  `start..start + batch_size` within a shard is computed by one device, with
  seeds derived from `(seed, start)`. Within a worker, the local devices of the
  strategy (`MirroredStrategy` over GPUs or logical devices) take the batches
  of a shard in turns, each in its own thread under `tf.device`. No batch is
  split, so every map is computed exactly as a single device computes it.
- When its shards are written, every worker joins one all-reduce (a barrier
  that also sums the counts); then the chief writes the complete manifest.
"""

import concurrent.futures
import contextlib

import tensorflow as tf

from kerasviz import eventfile


class Placement:
    """`worker` index, `workers` count, `chief` flag and the local `devices` of a strategy."""

    def __init__(self, strategy):
        if not isinstance(strategy, tf.distribute.Strategy):
            raise TypeError("Expected `strategy` to be a tf.distribute.Strategy or None (the current one). "
                            f"Received: strategy={strategy!r}.")
        self.strategy = strategy
        try:
            self.devices = list(strategy.extended.worker_devices)
        except RuntimeError:  # the default strategy: whatever device TensorFlow chooses
            self.devices = [None]
        resolver = getattr(strategy, "cluster_resolver", None)
        self.chief = True if resolver is None else eventfile.chief_of(resolver)
        self.worker, self.workers = 0, 1
        if resolver is not None and getattr(resolver, "task_type", None):
            jobs = resolver.cluster_spec().as_dict()
            n_chief = len(jobs.get("chief", ()))
            self.workers = n_chief + len(jobs.get("worker", ()))
            task_id = int(resolver.task_id or 0)
            self.worker = task_id if resolver.task_type == "chief" else n_chief + task_id
            if resolver.task_type not in ("chief", "worker"):
                raise ValueError(f"The dataset passes of kerasviz run on the chief and the workers, not on a "
                                 f"{resolver.task_type!r} task.")

    def mine(self, shard_index):
        """True when this worker computes the shard."""
        return shard_index % self.workers == self.worker

    def in_turns(self, count, compute, consume):
        """Runs `compute(i)` for `i` in `range(count)`, device `i % len(devices)`; `consume(i, result)` in order.

        Each local device runs one batch at a time in its own thread (under
        `tf.device`); the results are consumed in the order of `i` as they
        come, so at most one result per device waits: what a single device
        computes, in the same order, whatever the number of devices.
        """
        devices = self.devices

        def on_device(i):
            device = devices[i % len(devices)]
            with contextlib.nullcontext() if device is None else tf.device(device):
                return compute(i)

        if len(devices) == 1:
            for i in range(count):
                consume(i, on_device(i))
            return
        with concurrent.futures.ThreadPoolExecutor(len(devices)) as pool:
            # Batch i + D goes to device i % D once batch i is consumed: one batch per device at a time.
            running = {i: pool.submit(on_device, i) for i in range(min(len(devices), count))}
            for i in range(count):
                result = running.pop(i).result()
                if i + len(devices) < count:
                    running[i + len(devices)] = pool.submit(on_device, i + len(devices))
                consume(i, result)

    def barrier(self, count):
        """Waits for every worker (one all-reduce); returns the sum of `count` over the workers."""
        if self.workers == 1:
            return int(count)
        share = float(count) / len(self.devices)  # each local replica holds a share; their sum is the count

        def value(context):
            return tf.constant(share, tf.float32)

        values = self.strategy.experimental_distribute_values_from_function(value)
        return int(round(float(self.strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None))))
