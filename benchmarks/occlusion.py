"""Occlusion past the naive limit: naive vs incremental (exact) vs coarse-to-fine (approximate), one run.

A VGG-style network (five blocks of two 3x3 convs and a 2x2 max pooling,
widths `w, 2w, 4w, 8w, 8w`, global pooling, a dense softmax; random weights,
seed 0) at 224 x 224 on one image, for occluders of 8 and 16 pixels at
strides 4 and 8. For each case:

- naive: `occlusion(..., inference="naive")`, every occluded image through the
  whole network; incremental: `inference="incremental"` (Nakandala et al.,
  SIGMOD 2019), checked equal to naive (max |difference| printed);
- coarse-to-fine: `occlusion_coarse_to_fine(coarse=4, threshold=0.1)` (or
  `--coarse`, `--threshold`), with
  its max and mean error against the exact map (as a share of the map's
  range) and the share of positions it evaluated;
- the limit: the model's own compiled forward pass at the same batch
  (32 images, naive occlusion's default batch), timed in every repetition; the naive limit of a case
  is its number of positions times the time per image. A ratio below 1 is
  faster than any method that runs the whole network on every occluded image.

Repetitions alternate the methods (and the limit) in a rotating order, and
the medians are reported: the machine may be shared and its load drifts.
`benchmarks/limits.py` measures forward+backward; occlusion only runs
forward passes, so the forward limit is timed here the same way.

Usage:
    python benchmarks/occlusion.py                      # 224 x 224, width 8, 3 repetitions
    python benchmarks/occlusion.py --width 16 --repeats 5
    python benchmarks/occlusion.py --quick              # 112 x 112, 2 repetitions
    python benchmarks/occlusion.py --model demo         # the trained demo model at 64 x 64
"""

import argparse
import logging
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasviz import models  # noqa: E402
from kerasviz.activations.coarse_to_fine import occlusion_coarse_to_fine  # noqa: E402
from kerasviz.activations.occlusion import occlusion, occlusion_plan  # noqa: E402

CASES = ((8, 4), (8, 8), (16, 4), (16, 8))


def vgg_style(size, width, seed=0):
    layers = [keras.Input((size, size, 3))]
    for block, factor in enumerate((1, 2, 4, 8, 8)):
        for conv in range(2):
            layers.append(keras.layers.Conv2D(
                width * factor, 3, padding="same", activation="relu", name=f"block{block + 1}_conv{conv + 1}",
                kernel_initializer=keras.initializers.HeNormal(seed + 2 * block + conv)))
        layers.append(keras.layers.MaxPooling2D(2, name=f"block{block + 1}_pool"))
    layers += [keras.layers.GlobalAveragePooling2D(),
               keras.layers.Dense(10, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(seed))]
    return keras.Sequential(layers, name=f"vgg_style_{size}_w{width}")


class _Count(logging.Handler):
    """Remembers the last coarse-to-fine message ("evaluated N of M positions")."""

    message = ""

    def emit(self, record):
        if "coarse_to_fine" in record.getMessage():
            _Count.message = record.getMessage()


def _timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=None, help="default: each method's own")
    parser.add_argument("--coarse", type=int, default=4, help="coarse-to-fine: the coarse grid's step, in positions")
    parser.add_argument("--threshold", type=float, default=0.1, help="coarse-to-fine: the refinement threshold")
    parser.add_argument("--quick", action="store_true", help="112 x 112, 2 repetitions")
    parser.add_argument("--model", choices=["vgg", "demo"], default="vgg",
                        help="vgg: the random-weight VGG-style net; demo: the trained demo model (shapes, 64 x 64) "
                             "on a test image, whose smooth maps are what coarse-to-fine is for")
    args = parser.parse_args()
    size, repeats = (112, 2) if args.quick else (args.size, args.repeats)
    batch = args.batch_size or 32  # the limit's batch: naive occlusion's default
    if args.model == "demo":
        from kerasviz import demo as data

        model, image = data.demo_model("shapes"), data.demo_data("shapes")[1].images[:1]
    else:
        model = vgg_style(size, args.width)
        image = np.random.default_rng(0).uniform(0, 1, (1, size, size, 3)).astype(np.float32)
    logger = logging.getLogger("kerasviz")
    logger.setLevel(logging.INFO)
    logger.addHandler(_Count())

    forward = tf.function(lambda x: models.run(model, x, logits=False)[0])
    forward_batch = tf.constant(np.repeat(image, batch, axis=0))
    forward(forward_batch).numpy()

    def limit_per_image():
        times = [_timed(lambda: forward(forward_batch).numpy())[0] for _ in range(3)]
        return min(times) / batch

    print(f"{model.name}: {model.count_params():,} parameters, 1 image, batch_size={args.batch_size} (the limit: "
          f"forward at batch {batch}), "
          f"{repeats} repetitions (alternating, medians); {os.cpu_count()} CPUs, devices: "
          f"{[d.device_type for d in tf.config.list_logical_devices()]}; coarse-to-fine: coarse={args.coarse}, "
          f"threshold={args.threshold}")
    header = (f"{'patch':>5} {'stride':>6} {'positions':>9} {'limit s':>8} {'naive s':>8} {'x limit':>7} "
              f"{'incr s':>8} {'x limit':>7} {'speedup':>7} {'|diff|':>8} {'c2f s':>7} {'x limit':>7} "
              f"{'speedup':>7} {'evaluated':>9} {'max err':>7} {'mean err':>8} {'predicted':>9}")
    print(header, flush=True)
    for patch, stride in CASES:
        params = dict(patch=patch, stride=stride, batch_size=args.batch_size)
        plan = occlusion_plan(model, image, patch=patch, stride=stride)
        methods = {
            "naive": lambda: occlusion(model, image, inference="naive", **params),
            "incremental": lambda: occlusion(model, image, inference="incremental", **params),
            "c2f": lambda: occlusion_coarse_to_fine(model, image, coarse=args.coarse, threshold=args.threshold,
                                                    **params),
        }
        results = {name: method() for name, method in methods.items()}  # warm-up: traces are not throughput
        positions = results["naive"].size
        times = {name: [] for name in list(methods) + ["limit"]}
        names = list(times)
        for r in range(repeats):
            for name in names[r % len(names):] + names[:r % len(names)]:
                if name == "limit":
                    times[name].append(limit_per_image() * positions)
                else:
                    seconds, results[name] = _timed(methods[name])
                    times[name].append(seconds)
        t = {name: float(np.median(v)) for name, v in times.items()}
        exact, fast, quick = results["naive"], results["incremental"], results["c2f"]
        spread = max(float(np.ptp(exact)), 1e-12)
        error = np.abs(quick - exact) / spread
        evaluated = _Count.message.split("(")[-1].rstrip(")") if "(" in _Count.message else "?"
        print(f"{patch:5d} {stride:6d} {positions:9d} {t['limit']:8.2f} {t['naive']:8.2f} "
              f"{t['naive'] / t['limit']:7.2f} {t['incremental']:8.2f} {t['incremental'] / t['limit']:7.2f} "
              f"{t['naive'] / t['incremental']:7.2f} {np.abs(fast - exact).max():8.1e} {t['c2f']:7.2f} "
              f"{t['c2f'] / t['limit']:7.2f} {t['naive'] / t['c2f']:7.2f} {evaluated:>9} {error.max():7.3f} "
              f"{error.mean():8.4f} {plan.flops_naive / plan.flops_incremental:8.1f}x", flush=True)
        print(f"      plan: {plan}", flush=True)


if __name__ == "__main__":
    main()
