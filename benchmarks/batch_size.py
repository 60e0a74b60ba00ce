"""Throughput against batch size, and the batch `kerasviz.model_cost.default_batch_size` picks.

For each model, compiled forward (and forward+backward) passes are timed at
batch sizes 1, 2, 4, ..., 256 (or up to `--max-batch`), the sizes taken in
turns within each repetition so that all see the same machine states (the
machine is shared), and the median of the repetitions is reported as images
per second, with the share of the best rate seen. The default batch size is
then the one the library would use for `batch_size=None`.

With `--clock cpu` the times are the process's CPU time (all its threads):
on a machine loaded by other processes, wall time mostly measures the
others (a long call is more often preempted), CPU time the work per image.

Usage:
    python benchmarks/batch_size.py                        # the three models
    python benchmarks/batch_size.py --models demo --repeats 5
    python benchmarks/batch_size.py --clock cpu
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasviz  # noqa: E402
from kerasviz import model_cost, models  # noqa: E402


def vgg_style(size=64, seed=0):
    """A VGG-style net: three blocks of two 3x3 convolutions (32, 64, 128 filters) and max pooling, two Dense."""
    init = keras.initializers.GlorotUniform(seed)
    layers = [keras.Input((size, size, 3))]
    for filters in (32, 64, 128):
        layers += [keras.layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=init)
                   for _ in range(2)] + [keras.layers.MaxPooling2D()]
    layers += [keras.layers.Flatten(), keras.layers.Dense(256, activation="relu", kernel_initializer=init),
               keras.layers.Dense(10, kernel_initializer=init)]
    return keras.Sequential(layers, name="vgg_style")


def build(name):
    if name == "demo":
        return kerasviz.demo.demo_model("shapes")
    if name == "mobilenetv2":
        return keras.applications.MobileNetV2(input_shape=(128, 128, 3), alpha=0.35, weights=None)
    return vgg_style()


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def curve(model, batches, repeats, clock=time.perf_counter):
    """`{(kind, batch): median images per second}` for kind in ("forward", "backward")."""

    @tf.function(reduce_retracing=True)
    def forward(x):
        return models.run(model, x)[0]

    @tf.function(reduce_retracing=True)
    def backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(tf.reduce_max(models.run(model, x)[0], axis=-1))
        return tape.gradient(score, x)

    shape = tuple(model.inputs[0].shape[1:])
    rng = np.random.default_rng(0)
    data = {b: tf.constant(rng.uniform(0, 1, (b, *shape)).astype(np.float32)) for b in batches}
    functions = {(kind, b): (lambda f=f, x=data[b]: f(x).numpy())
                 for kind, f in (("forward", forward), ("backward", backward)) for b in batches}
    for function in functions.values():
        function()  # tracing and first-call costs are not throughput
    times = {key: [] for key in functions}
    for _ in range(repeats):
        for key, function in functions.items():
            start = clock()
            function()
            times[key].append(clock() - start)
    return {key: key[1] / float(np.median(t)) for key, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["demo", "mobilenetv2", "vgg"],
                        choices=["demo", "mobilenetv2", "vgg"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-batch", type=int, default=256)
    parser.add_argument("--clock", default="wall", choices=sorted(CLOCKS), help="wall time or process CPU time")
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores; batch sizes "
          f"timed in turns, median of {args.repeats} repetitions of {args.clock} time (images per second of it)")
    batches = [b for b in (1, 2, 4, 8, 16, 32, 64, 128, 256) if b <= args.max_batch]
    for name in args.models:
        model = build(name)
        shape = tuple(model.inputs[0].shape[1:])
        rates = curve(model, batches, args.repeats, CLOCKS[args.clock])
        picks = {kind: model_cost.default_batch_size(model, shape, cost=kind) for kind in ("forward", "backward")}
        cost = model_cost.image_cost(model, shape)
        print(f"\n{name} ({model.count_params():,} parameters, input {shape}, {cost.activation_bytes / 2**20:.1f} MiB "
              f"of activations and {cost.multiply_adds / 1e6:.0f} M multiply-adds per image); default batch_size: "
              f"forward {picks['forward']}, backward {picks['backward']}")
        print(f"{'batch':>6s} {'forward img/s':>14s} {'share':>6s} {'fwd+bwd img/s':>14s} {'share':>6s}")
        best = {kind: max(rates[(kind, b)] for b in batches) for kind in ("forward", "backward")}
        for b in batches:
            f, g = rates[("forward", b)], rates[("backward", b)]
            print(f"{b:6d} {f:14.1f} {f / best['forward']:6.2f} {g:14.1f} {g / best['backward']:6.2f}", flush=True)


if __name__ == "__main__":
    main()
