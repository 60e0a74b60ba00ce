"""Input-optimization speed as a ratio to the model's own forward+backward, measured in one run.

The limit is a compiled forward+backward input gradient at the same batch and
image size. The engine (`kerasviz.gradients.synthesis.optimize`, as used by
class visualization with jitter, blur and L2) is timed over a run of steps
after a warm-up run (tracing is not throughput), and

    ratio = (steps per second of the engine) / (forward+backward passes per second of the limit)

A ratio of 1.0 means a step costs exactly one forward and backward pass.

Usage:
    python benchmarks/synthesis.py                    # demo model and VGG16 224x224
    python benchmarks/synthesis.py --models demo --steps 50
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasviz  # noqa: E402

import limits  # noqa: E402  (benchmarks/limits.py, beside this script)
from kerasviz.gradients.class_visualization import class_visualization  # noqa: E402


def limit_rate(model, images, repeats):
    """Compiled forward+backward input gradients per second (batches per second)."""
    return limits.forward_backward_rate(model, images, repeats, np.min)


def engine_rate(model, images, steps):
    run = lambda: class_visualization(model, 0, init=images, steps=steps)  # noqa: E731
    class_visualization(model, 0, init=images, steps=1)  # warm-up: the trace
    start = time.perf_counter()
    run()
    return steps / (time.perf_counter() - start)


def benchmark(name, model, images, steps, repeats):
    limit = limit_rate(model, images, repeats)
    rate = engine_rate(model, images, steps)
    print(f"{name:28s} batch {len(images):2d} {images.shape[1]}x{images.shape[2]}  limit {limit:8.2f} passes/s  "
          f"engine {rate:8.2f} steps/s  ratio {rate / limit:5.2f}", flush=True)
    return rate / limit


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["demo", "vgg16"], choices=["demo", "vgg16"])
    parser.add_argument("--steps", type=int, default=50, help="steps on the demo model (VGG16: 5)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores")
    rng = np.random.default_rng(0)
    if "demo" in args.models:
        model = kerasviz.data.demo_model("shapes")
        for batch in (1, 8):
            images = rng.uniform(0.4, 0.6, (batch, 64, 64, 3)).astype(np.float32)
            benchmark("demo model (shapes)", model, images, args.steps, args.repeats)
    if "vgg16" in args.models:
        model = keras.applications.VGG16(weights=None)
        images = rng.uniform(0.4, 0.6, (1, 224, 224, 3)).astype(np.float32)
        benchmark("VGG16 (weights=None)", model, images, 5, 2)


if __name__ == "__main__":
    main()
