"""Attribution throughput as a ratio to the model's own limit, measured in one run.

For each method, the model's limit is timed in turns with it: a compiled
forward pass or a compiled forward+backward input gradient at batch 32 (images
per second), the method also at `batch_size=32`. The machine is shared: the
limit and the method alternate within each repetition and the medians of the
repetitions are compared. With `--clock cpu` the times are the process's CPU
time (all its threads) instead of wall time: on a machine loaded by other
processes, CPU time measures the work a call does far more steadily than
wall time does (it counts threads that spin while they wait, too). The method is counted in the work it must do (SmoothGrad with N samples = N
forward+backward passes per image; occlusion with P positions = P forward
passes per image), and reported as

    ratio = (passes per second achieved by the method) / (passes per second of the limit)

A ratio of 1.0 means the method costs exactly its passes: no overhead.

Usage:
    python benchmarks/attributions.py                  # demo model and MobileNetV2 224x224
    python benchmarks/attributions.py --models demo    # only the demo model
    python benchmarks/attributions.py --models mobilenetv2_035   # MobileNetV2 alpha 0.35, 128x128
    python benchmarks/attributions.py --repeats 5
    python benchmarks/attributions.py --models demo --clock cpu   # the work done, steady on a busy machine
    python benchmarks/attributions.py --only rise lime kernel_shap xrai   # methods whose label starts so
"""

import argparse
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasviz  # noqa: E402
from kerasviz import model_cost, models, registry  # noqa: E402
from limits import median_times  # noqa: E402

BATCH = 32


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def model_limits(model, images):
    """Compiled limit functions: a forward pass, and a forward+backward input gradient."""

    @tf.function
    def forward(x):
        return models.run(model, x)[0]

    @tf.function
    def backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = models.run(model, x)[0]
            score = tf.reduce_sum(tf.reduce_max(logits, axis=-1))
        return tape.gradient(score, x)

    batch = tf.constant(images[:BATCH])
    return {
        "forward": lambda: forward(batch).numpy(),
        "backward": lambda: backward(batch).numpy(),
    }


def _cam_channels(model, image_shape):
    """The channels K of the default CAM layer (Score-CAM scores one masked image per channel)."""
    path = models.default_layer(model, "grad_cam", image_shape)
    return int(models.get_layer(model, path)[1].output.shape[-1])


def gradient_cases(model, image_shape):
    """Issue 15's gradient methods: `(name, function, kwargs, passes per image, pass kind)`.

    Passes are the work a method must do: Score-CAM with K scored channels
    does 1 forward pass for the layer (and the predicted class) and K for the
    masked images; the trapezoidal rule evaluates `steps + 1` points.
    """
    channels = min(64, _cam_channels(model, image_shape))
    methods = registry.ATTRIBUTION_METHODS
    return [
        ("gradient_x_input", methods["gradient_x_input"], {}, 1, "backward"),
        ("deconvnet", methods["deconvnet"], {}, 1, "backward"),
        ("smoothgrad_squared (25)", methods["smoothgrad_squared"], {"samples": 25}, 25, "backward"),
        ("vargrad (25)", methods["vargrad"], {"samples": 25}, 25, "backward"),
        ("noise_tunnel(guided_backprop, var) (25)", kerasviz.noise_tunnel,
         {"method": "guided_backprop", "reduce": "var", "samples": 25}, 25, "backward"),
        ("integrated_gradients trapezoid (32)", methods["integrated_gradients"],
         {"steps": 32, "rule": "trapezoid"}, 33, "backward"),
        ("blur_integrated_gradients (32)", methods["blur_integrated_gradients"], {"steps": 32}, 32, "backward"),
        ("expected_gradients (32)", methods["expected_gradients"], {"samples": 32}, 32, "backward"),
        ("guided_integrated_gradients (32)", methods["guided_integrated_gradients"], {"steps": 32}, 32,
         "backward"),
        ("grad_cam_plus_plus", methods["grad_cam_plus_plus"], {}, 1, "backward"),
        ("layer_cam", methods["layer_cam"], {}, 1, "backward"),
        (f"score_cam (max_channels {channels})", methods["score_cam"], {"max_channels": channels},
         channels + 1, "forward"),
    ]


def method_cases(image_size):
    """`(name, function, kwargs, passes per image, pass kind)` for every method."""
    patch = max(4, image_size // 8)
    stride = patch // 2
    positions = ((image_size - patch) // stride + 1) ** 2
    return [
        ("saliency", registry.ATTRIBUTION_METHODS["saliency"], {}, 1, "backward"),
        ("guided_backprop", registry.ATTRIBUTION_METHODS["guided_backprop"], {}, 1, "backward"),
        ("smoothgrad (25)", registry.ATTRIBUTION_METHODS["smoothgrad"], {"samples": 25}, 25, "backward"),
        ("integrated_gradients (32)", registry.ATTRIBUTION_METHODS["integrated_gradients"], {"steps": 32}, 32, "backward"),
        ("grad_cam", registry.ATTRIBUTION_METHODS["grad_cam"], {}, 1, "backward"),
        ("guided_grad_cam", registry.ATTRIBUTION_METHODS["guided_grad_cam"], {}, 2, "backward"),
        (f"occlusion (patch {patch}, stride {stride})", registry.ATTRIBUTION_METHODS["occlusion"],
         {"patch": patch, "stride": stride}, positions, "forward"),
    ]



# ---------------------------------------------------------------- the perturbation family (issue 15)


def perturbation_cases(image_size):
    """`(name, function, kwargs, passes per image, pass kind)` for RISE, LIME, KernelSHAP and XRAI.

    Counted in model passes: RISE one forward per mask, LIME one per coalition,
    KernelSHAP one per coalition plus the all-on and all-off ones, XRAI its
    Integrated Gradients steps (forward + backward); their host work
    (segmentation, regression, XRAI's greedy selection) counts as overhead.
    """
    return [
        ("rise (512 masks)", registry.ATTRIBUTION_METHODS["rise"], {"masks": 512}, 512, "forward"),
        ("lime (512 samples)", registry.ATTRIBUTION_METHODS["lime"], {"samples": 512}, 512, "forward"),
        ("kernel_shap (510 + 2)", registry.ATTRIBUTION_METHODS["kernel_shap"], {"samples": 510}, 512, "forward"),
        ("xrai (IG 32 steps)", registry.ATTRIBUTION_METHODS["xrai"], {"steps": 32}, 32, "backward"),
    ]


# ---------------------------------------------------------------- the relevance family (issue 24)


def relevance_cases(model, shape):
    """`(name, function, kwargs, passes per image, pass kind)` for LRP: one forward and backward pass each, and
    the passes its rules cannot do without inside the backward (`kerasviz.registry.Cost.rule_passes`).

    z+ and gamma run each layer's forward again with modified weights (half a
    pass), alpha-beta with beta a forward and a backward, weighed by the layers'
    multiply-adds: the ratio then measures the implementation's overhead over
    the rule's own minimum. `epsilon_gamma_box` needs the value range: the
    demo model's images are in [0, 1], the others' in [-1, 1].
    """
    methods = registry.ATTRIBUTION_METHODS
    cases = [("lrp lrp_0", {"composite": "lrp_0"}), ("lrp epsilon_plus", {"composite": "epsilon_plus"}),
             ("lrp epsilon_gamma_box", {"composite": "epsilon_gamma_box", "value_range": (-1, 1)}),
             ("lrp epsilon_alpha2_beta1", {"composite": "epsilon_alpha2_beta1"})]
    rows = []
    for label, kwargs in cases:
        cost = registry.cost("lrp", model, shape, kwargs)
        rows.append((label, methods["lrp"], kwargs, cost.backward + cost.rule_passes, "backward"))
    return rows


def benchmark(name, model, images, n_images, repeats, only=None, clock="wall"):
    limits = model_limits(model, images)
    shape = images.shape[1:]
    defaults = {cost: model_cost.default_batch_size(model, shape, cost) for cost in model_cost.COSTS}
    print(f"\n{name}: input {shape}, batch {BATCH}; the limit and each method are timed in turns, median of "
          f"{repeats} repetitions of {clock} time (batch_size=None would give {defaults['forward']} for forward methods, "
          f"{defaults['backward']} for gradient methods)")
    print(f"{'method':42s} {'passes/img':>10s} {'limit img/s':>11s} {'passes/s':>9s} {'ratio':>6s} {'peak RSS MB':>11s}")
    rows = []
    cases = (method_cases(images.shape[1]) + gradient_cases(model, images.shape[1:])
             + perturbation_cases(images.shape[1]) + relevance_cases(model, images.shape[1:]))
    for label, method, kwargs, passes, kind in cases:
        if only and not label.startswith(tuple(only)):
            continue
        # Methods that split work into (image, sample) pairs fill a batch from few images; Guided IG's
        # steps depend on each other, so it batches images only.
        sequential = label.startswith("guided_integrated_gradients")
        subset = images[:n_images] if passes >= 8 and not sequential else images[:BATCH]
        limit_seconds, seconds = median_times(
            [limits[kind], lambda: method(model, subset, batch_size=BATCH, **kwargs)], repeats, CLOCKS[clock])
        limit = BATCH / limit_seconds
        rate = passes * len(subset) / seconds
        ratio = rate / limit
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append((name, label, ratio))
        print(f"{label:42s} {passes:10.3g} {limit:11.1f} {rate:9.1f} {ratio:6.2f} {peak:11.0f}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["demo", "mobilenetv2"],
                        choices=["demo", "mobilenetv2", "mobilenetv2_035"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=4, help="images for the multi-pass methods")
    parser.add_argument("--only", nargs="+", default=None, help="only the methods whose label starts so")
    parser.add_argument("--clock", default="wall", choices=sorted(CLOCKS), help="wall time or process CPU time")
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores")
    rng = np.random.default_rng(0)
    if "demo" in args.models:
        model = kerasviz.demo.demo_model("shapes")
        test = kerasviz.demo.demo_data("shapes")[1]
        benchmark("demo model (shapes)", model, test.images[:BATCH], args.images, args.repeats, args.only, args.clock)
    if "mobilenetv2" in args.models:
        model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None)
        images = rng.uniform(-1, 1, (BATCH, 224, 224, 3)).astype(np.float32)
        benchmark("MobileNetV2 (weights=None)", model, images, args.images, args.repeats, args.only, args.clock)
    if "mobilenetv2_035" in args.models:
        model = keras.applications.MobileNetV2(input_shape=(128, 128, 3), alpha=0.35, weights=None)
        images = rng.uniform(-1, 1, (BATCH, 128, 128, 3)).astype(np.float32)
        benchmark("MobileNetV2 alpha 0.35 (weights=None)", model, images, args.images, args.repeats, args.only, args.clock)


if __name__ == "__main__":
    main()
