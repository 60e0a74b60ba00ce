"""The model's own limit, shared by the benchmarks: compiled forward+backward input gradients per second."""

import time

import numpy as np
import tensorflow as tf

from kerasviz import models


def forward_backward_rate(model, images, repeats, statistic=np.min):
    """Batches of `images` per second through one compiled forward+backward pass (after a warm-up call).

    `statistic` reduces the repeated timings (`np.min`: the best run; `np.median`: a typical one).
    """

    @tf.function
    def backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(models.run(model, x)[0][:, 0])
        return tape.gradient(score, x)

    batch = tf.constant(images)
    backward(batch).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        backward(batch).numpy()
        times.append(time.perf_counter() - start)
    return 1.0 / float(statistic(times))
