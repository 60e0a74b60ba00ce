"""Input-optimization speed as a ratio to the model's own forward+backward, measured in one run.

For each recipe on the engine (class visualization, feature visualization,
DeepDream, feature inversion, texture synthesis), on the demo model and on a
larger `keras.applications` model (weights=None), the optimization steps per
second are divided by the compiled forward+backward input gradients per
second of the whole model at the same batch and image size:

    ratio = (steps per second of the recipe) / (forward+backward passes per second of the limit)

1.0: a step costs one forward and backward pass of the whole model. A layer
objective may beat 1.0: the engine runs the model only up to the deepest
layer it reads. Each timing follows a warm-up call (tracing is not
throughput); the limit and the recipe are timed in alternating rounds (the
machine is shared, its load drifts) and the medians are reported.

The truncation table times one step of a mid-layer channel objective with
the whole network run (a callable objective that says it reads the logits)
and with the network cut after the layer (`kerasviz.targets.Channel`).

Usage:
    python benchmarks/synthesis.py                          # demo model and ResNet50V2 at 96 px
    python benchmarks/synthesis.py --models demo --rounds 5
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasviz  # noqa: E402
from kerasviz import targets  # noqa: E402

import limits  # noqa: E402  (benchmarks/limits.py, beside this script)
from kerasviz.art.deepdream import deep_dream  # noqa: E402
from kerasviz.art.style import texture_synthesis  # noqa: E402
from kerasviz.gradients import synthesis  # noqa: E402
from kerasviz.gradients.class_visualization import class_visualization  # noqa: E402
from kerasviz.gradients.feature_visualization import feature_visualization  # noqa: E402
from kerasviz.gradients.inversion import invert_features  # noqa: E402


def recipes(model, size, layer):
    """name -> (batch, run(steps)): each recipe with its defaults, transforms on where it has them."""
    rng = np.random.default_rng(0)
    image = rng.uniform(0.3, 0.7, (1, size, size, 3)).astype(np.float32)
    return {
        "class visualization": (1, lambda n: class_visualization(model, 0, image_shape=None, init=image, steps=n)),
        "feature visualization": (4, lambda n: feature_visualization(model, layer, channels=4, steps=n)),
        "DeepDream": (1, lambda n: deep_dream(model, image, octaves=1, steps_per_octave=n)),
        "inversion": (1, lambda n: invert_features(model, image, layer, steps=n)),
        "texture": (1, lambda n: texture_synthesis(model, image, steps=n)),
    }


def timed(run, steps):
    start = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - start)


def ratios(name, model, size, layer, steps, rounds):
    rng = np.random.default_rng(1)
    for label, (batch, run) in recipes(model, size, layer).items():
        images = rng.uniform(0.4, 0.6, (batch, size, size, 3)).astype(np.float32)
        run(2)  # warm-up: the traces
        limit, rate = [], []
        for _ in range(rounds):  # alternate: the load on a shared machine drifts
            limit.append(limits.forward_backward_rate(model, images, 3, np.median))
            rate.append(timed(run, steps))
        limit, rate = float(np.median(limit)), float(np.median(rate))
        print(f"{name:22s} {label:22s} batch {batch} {size}x{size}  limit {limit:7.2f} passes/s  "
              f"recipe {rate:7.2f} steps/s  ratio {rate / limit:5.2f}", flush=True)


def truncation(name, model, size, layer, steps, rounds):
    """One mid-layer channel objective, whole network vs truncated: seconds per step (medians)."""
    image = np.random.default_rng(2).uniform(0.3, 0.7, (1, size, size, 3)).astype(np.float32)
    path = kerasviz.models.get_layer(model, layer)[0]

    def whole(logits, activations):
        return tf.reduce_mean(tf.cast(activations[path], tf.float32)[..., 0], axis=[1, 2])

    runs = {
        "whole network": lambda n: synthesis.optimize(model, whole, image, layers=(path,), steps=n,
                                                      objective_key="bench_whole"),
        "truncated": lambda n: synthesis.optimize(model, targets.Channel(path, 0), image, steps=n),
    }
    for run in runs.values():
        run(2)
    times = {k: [] for k in runs}
    for _ in range(rounds):
        for k, run in runs.items():
            times[k].append(1.0 / timed(run, steps))
    whole_s, cut_s = (float(np.median(times[k])) for k in runs)
    print(f"{name:22s} truncation at {path!r}: whole network {1e3 * whole_s:7.1f} ms/step, truncated "
          f"{1e3 * cut_s:7.1f} ms/step ({whole_s / cut_s:4.2f}x faster)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["demo", "resnet50v2"], choices=["demo", "resnet50v2"])
    parser.add_argument("--steps", type=int, default=30, help="steps per timing on the demo model (ResNet: 6)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=96, help="ResNet50V2's image size")
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores; medians of "
          f"{args.rounds} alternating rounds")
    if "demo" in args.models:
        model = kerasviz.demo.demo_model("shapes")
        ratios("demo model (shapes)", model, 64, "conv2", args.steps, args.rounds)
        truncation("demo model (shapes)", model, 64, "conv2", args.steps, args.rounds)
    if "resnet50v2" in args.models:
        model = keras.applications.ResNet50V2(weights=None, input_shape=(args.size, args.size, 3))
        ratios("ResNet50V2 (weights=None)", model, args.size, "conv4_block3_out", 6, args.rounds)
        truncation("ResNet50V2 (weights=None)", model, args.size, "conv4_block3_out", 6, args.rounds)


if __name__ == "__main__":
    main()
