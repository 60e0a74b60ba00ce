"""Where a feature-visualization step's time goes: decode, transforms and the model, each timed apart.

Feature visualization's default step decodes a Fourier latent into images,
resamples them through the standard robustness transforms (pad, jitter,
scale, rotate: one bilinear resampling, whose backward is a scatter), runs
the model up to the layer, and takes the gradient back through all of it.
On a small model the decode and the transforms are a large share of the
step. For the demo model (or ResNet50V2 with weights=None), at one batch and
image size, this prints the compiled forward+backward time of each part
alone, then the whole `feature_visualization` step per parameterization
and transforms, each as a ratio to the whole model's forward+backward limit
(`limits.py`), timed in the same rounds (medians).

Usage:
    python benchmarks/synthesis_parts.py                     # demo model, conv2, batch 4, 64 px
    python benchmarks/synthesis_parts.py --model resnet50v2 --layer conv4_block3_out --size 96
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
from kerasviz import models  # noqa: E402
from kerasviz.gradients import parameterization, transforms  # noqa: E402
from kerasviz.gradients.feature_visualization import feature_visualization  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["demo", "resnet50v2"], default="demo")
    parser.add_argument("--layer", default="conv2")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=64, help="steps per timed feature_visualization call")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.model == "demo":
        model = kerasviz.demo.demo_model("shapes")
    else:
        model = keras.applications.ResNet50V2(weights=None, input_shape=(args.size, args.size, 3))
    shape = (args.size, args.size, 3)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0.4, 0.6, (args.batch, *shape)).astype(np.float32))
    bound = parameterization.Parameterization("fourier").bound(shape)
    latent = tf.constant(rng.normal(0.0, 0.01, (args.batch, *bound.latent_shape())).astype(np.float32))
    seed = tf.constant([1, 2], tf.int64)
    chain = transforms.standard(shape)
    path = models.get_layer(model, args.layer)[0]
    backward = limits.backward_of
    parts = {
        "the whole model": (backward(lambda x: models.run(model, x)[0][:, 0]), images),
        f"the model cut at {path!r}": (backward(lambda x: models.run_layers(model, x, (path,))[path]), images),
        "standard transforms": (backward(lambda x: transforms.compose(chain, x, seed, shape[:2])), images),
        "Fourier decode": (backward(bound.decode), latent),
    }
    steps = {(p, t): (lambda n, p=p, t=t: feature_visualization(
        model, path, channels=args.batch, steps=n, parameterization=p, transforms=t))
        for p in ("fourier", "pixels") for t in ("standard", None)}
    for run in steps.values():
        run(2)  # the traces
    part_times = {name: [] for name in parts}
    step_times = {key: [] for key in steps}
    limit = []
    for _ in range(args.rounds):  # alternating rounds: the machine's load drifts
        for name, (function, argument) in parts.items():
            part_times[name].append(limits.seconds_per_call(function, argument, 30))
        limit.append(1.0 / limits.forward_backward_rate(model, images.numpy(), 3, np.median))
        for key, run in steps.items():
            start = time.perf_counter()
            run(args.steps)
            step_times[key].append((time.perf_counter() - start) / args.steps)
    limit = float(np.median(limit))
    print(f"{model.name}, batch {args.batch}, {args.size}x{args.size}, layer {path!r}; medians of {args.rounds} "
          f"rounds; compiled forward+backward, ms (share of the limit)")
    for name, values in part_times.items():
        value = float(np.median(values))
        print(f"  {name:40s} {1e3 * value:8.2f} ms ({value / limit:4.2f})")
    print(f"feature_visualization steps ({args.steps} per call), ms per step (ratio to the limit: limit / step)")
    for (kind, chain_name), values in step_times.items():
        value = float(np.median(values))
        label = f"{kind}, transforms={chain_name}"
        print(f"  {label:40s} {1e3 * value:8.2f} ms ({limit / value:4.2f})")


if __name__ == "__main__":
    main()
