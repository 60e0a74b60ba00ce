"""The model's own limit, shared by the benchmarks: compiled forward+backward input gradients per second."""

import os
import threading
import time

import numpy as np
import tensorflow as tf

from kerasviz import models


def backward_of(function):
    """A compiled `x -> d sum(function(x)) / dx`: one forward and backward pass of `function`."""

    @tf.function
    def backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(tf.cast(function(x), tf.float32))
        return tape.gradient(total, x)

    return backward


def seconds_per_call(function, argument, repeats, statistic=np.median):
    """Seconds of `function(argument).numpy()` after a warm-up call, `repeats` timings reduced by `statistic`."""
    function(argument).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(argument).numpy()
        times.append(time.perf_counter() - start)
    return float(statistic(times))


def forward_backward_rate(model, images, repeats, statistic=np.min):
    """Batches of `images` per second through one compiled forward+backward pass (after a warm-up call).

    `statistic` reduces the repeated timings (`np.min`: the best run; `np.median`: a typical one).
    """
    backward = backward_of(lambda x: models.run(model, x)[0][:, 0])
    return 1.0 / seconds_per_call(backward, tf.constant(images), repeats, statistic)


def median_times(functions, repeats, clock=time.perf_counter):
    """The median time of each function (called with no argument), timed in turns after one warm-up call each.

    On a shared machine the load drifts over seconds: timing the limit and the
    method in alternation (limit, method, limit, method, ...) lets both see the
    same machine states, and the median is a typical run of each, not its
    luckiest. Tracing and first-call costs are not throughput: the warm-up
    call takes them.
    """
    for function in functions:
        function()
    times = [[] for _ in functions]
    for _ in range(repeats):
        for i, function in enumerate(functions):
            start = clock()
            function()
            times[i].append(clock() - start)
    return [float(np.median(t)) for t in times]


class RssSampler:
    """The process's resident memory before a block and its maximum during it (sampled every 10 ms)."""

    def __enter__(self):
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.before = self.peak = self._rss()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _rss(self):
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def _watch(self):
        while not self.stop.wait(0.01):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self._rss())
