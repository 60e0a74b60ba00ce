"""LRP's presets, DeepLIFT, DeepLiftShap, GradientShap and layer/neuron attribution as a ratio to the model's limit.

For each method, the limit (a compiled forward+backward input gradient over
`--batch` images, `limits.backward_of`) and the method (on the same images,
`batch_size=--batch`) are timed in turns and the medians compared. A method
is called as users call it, for the predicted class (`target=None`), and
counted in the passes its registry record says it makes
(`kerasviz.registry.cost`: DeepLIFT's image and reference are two
evaluations, a path method's points one each, forward passes one each;
the passes a rule cannot do without inside the backward, `Cost.rule_passes`:
RevealCancel's spreads, a forward and backward of the absolute weights per
pair; LRP's z+ and gamma a forward with modified weights, alpha-beta a
forward and a backward, weighed by the layers' multiply-adds):

    ratio = (passes per second achieved by the method) / (forward+backward passes per second of the limit)

1.0 means the method costs exactly its passes (a forward pass alone is
cheaper than a forward+backward one, so methods with forward passes in their
count can exceed 1). Models: the demo model on the shapes dataset, and the
ImageNet EfficientNet-Lite3 of `../shared/imagenet` (280 x 280, raw 0-255).

Usage:
    python benchmarks/relevance.py                         # both models
    python benchmarks/relevance.py --models shapes --repeats 5
    python benchmarks/relevance.py --models imagenet --batch 8 --steps 8
    python benchmarks/relevance.py --clock cpu             # process CPU time: steadier on a busy machine
    python benchmarks/relevance.py --models imagenet --batch 8 --only deeplift   # DeepLIFT and DeepLiftShap
    python benchmarks/relevance.py --models imagenet --batch 8 --only lrp        # LRP's presets
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's kerasviz

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasviz  # noqa: E402
from kerasviz import models, registry  # noqa: E402

from limits import backward_of, median_times  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGENET = os.path.join(HERE, "..", "..", "shared", "imagenet")
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def cases(steps, references, value_range):
    """`(label, registry name, parameters)` of the methods measured."""
    return [
        ("lrp epsilon_plus", "lrp", {"composite": "epsilon_plus"}),
        ("lrp epsilon_gamma_box", "lrp", {"composite": "epsilon_gamma_box", "value_range": value_range}),
        ("lrp epsilon_alpha2_beta1", "lrp", {"composite": "epsilon_alpha2_beta1"}),
        ("deeplift", "deeplift", {}),
        ("deeplift reveal_cancel", "deeplift", {"rule": "reveal_cancel"}),
        (f"deeplift_shap ({len(references)} references)", "deeplift_shap",
         {"references": references, "samples": None}),
        (f"gradient_shap ({steps} samples)", "gradient_shap", {"samples": steps, "references": references}),
        ("layer_gradient_x_activation", "layer_gradient_x_activation", {}),
        (f"layer_integrated_gradients ({steps})", "layer_integrated_gradients", {"steps": steps}),
        (f"layer_conductance ({steps})", "layer_conductance", {"steps": steps}),
        (f"neuron_conductance ({steps})", "neuron_conductance", {"steps": steps, "neuron": 0}),
        (f"integrated_gradients ({steps}, for comparison)", "integrated_gradients", {"steps": steps}),
    ]


def benchmark(label, model, images, references, value_range, steps, repeats, clock, only=None):
    batch = tf.constant(images)
    backward = backward_of(lambda x: models.run(model, x)[0][:, 0])
    print(f"\n{label}: {len(images)} images {images.shape[1:]}, batch_size={len(images)}, median of {repeats} "
          f"({clock} time)")
    print(f"{'method':48s} {'passes/img':>10s} {'limit img/s':>11s} {'passes/s':>9s} {'ratio':>6s}")
    rows = []
    for name, method, params in cases(steps, references, value_range):
        if only and not name.startswith(tuple(only)):
            continue
        cost = registry.cost(method, model, images.shape[1:], params)
        passes = cost.forward + cost.backward + cost.rule_passes
        limit_seconds, seconds = median_times(
            [lambda: backward(batch).numpy(),
             lambda: registry.ATTRIBUTION_METHODS[method](model, images, batch_size=len(images),
                                                          **params)],
            repeats, CLOCKS[clock])
        limit = len(images) / limit_seconds
        rate = passes * len(images) / seconds
        rows.append((label, name, rate / limit))
        print(f"{name:48s} {passes:10.3g} {limit:11.1f} {rate:9.1f} {rate / limit:6.2f}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["shapes", "imagenet"], choices=["shapes", "imagenet"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=16, help="path points / samples of the path methods")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clock", default="wall", choices=sorted(CLOCKS))
    parser.add_argument("--only", nargs="+", default=None, help="only the methods whose label starts so")
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores")
    rng = np.random.default_rng(0)
    if "shapes" in args.models:
        model = kerasviz.demo.demo_model("shapes")
        test = kerasviz.demo.demo_data("shapes")[1]
        images = test.images[:args.batch]
        benchmark("demo model (shapes)", model, images, test.images[-4:], (0, 1), args.steps, args.repeats,
                  args.clock, args.only)
    if "imagenet" in args.models:
        model = keras.models.load_model(os.path.join(IMAGENET, "efficientnet_lite3.keras"), compile=False)
        images = rng.uniform(0, 255, (args.batch, 280, 280, 3)).astype(np.float32)
        references = rng.uniform(0, 255, (4, 280, 280, 3)).astype(np.float32)
        benchmark("EfficientNet-Lite3 ImageNet (280 px)", model, images, references, (0, 255), args.steps,
                  args.repeats, args.clock, args.only)


if __name__ == "__main__":
    main()
