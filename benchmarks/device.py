"""The device benchmark: every method's ratio to the model's own limit, per model and compiler setting.

One prepared script for the day a GPU is lent (and, meanwhile, for this
machine's CPU). For each model and setting it starts one worker process (the
XLA and mixed-precision switches are process-wide), which times:

- the model's limit at the batch: a compiled forward pass and a compiled
  forward+backward input gradient (seconds per image);
- every method of `kerasviz.registry.METHODS` with moderate settings
  (`SETTINGS`), reported as

      ratio = (forward passes x forward time + backward passes x backward time) / method time
  (backward passes include `registry.Cost.rule_passes`, a relevance rule's inherent work)

  per image, the passes being the method's own `registry.cost` (1.0: the
  method costs exactly its passes);
- the optimization recipes (class and feature visualization, DeepDream):
  steps per second against forward+backward passes of the whole model at
  the recipe's batch (above 1 where the recipe runs the model only up to
  the layer it reads);
- peak resident memory of the worker, and peak device memory per case on a
  GPU (`tf.config.experimental.get_memory_info`).

The limit and each case are timed in turns and the medians are compared (the
machine may be shared). Settings: `fp32` (plain), `xla` (XLA auto-clustering
of every compiled function, `tf.config.optimizer.set_jit`), `mixed`
(`mixed_float16` for the models built here; the saved ImageNet model keeps
the precision it was saved with, so it is skipped there, said in the table).

Usage:
    python benchmarks/device.py                                  # shapes, vgg, imagenet x fp32, xla, mixed
    python benchmarks/device.py --models imagenet --settings fp32 # one table on this machine
    python benchmarks/device.py --smoke                          # CPU smoke test (minutes): tiny model, few methods
    python benchmarks/device.py --out results.md                 # also write the table

Models: `shapes` (the demo model, 64 px, trained in seconds on first use),
`vgg` (a VGG-style net at 224 px, seeded weights), `imagenet`
(`../shared/imagenet/efficientnet_lite3.keras`, 280 px, raw 0-255 input) and
`tiny` (the smoke test's 32 px net).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from limits import median_times  # noqa: E402  (beside this script; imports TensorFlow)

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGENET = os.path.join(HERE, "..", "..", "shared", "imagenet", "efficientnet_lite3.keras")
SETTINGS_NAMES = ("fp32", "xla", "mixed")
MODELS = ("shapes", "vgg", "imagenet", "tiny")

# Moderate per-method settings: enough passes for throughput to show, few enough for minutes in all.
SETTINGS = {
    "smoothgrad": {"samples": 16}, "smoothgrad_squared": {"samples": 16}, "vargrad": {"samples": 16},
    "integrated_gradients": {"steps": 16}, "blur_integrated_gradients": {"steps": 16},
    "expected_gradients": {"samples": 16}, "guided_integrated_gradients": {"steps": 16},
    "score_cam": {"max_channels": 32}, "rise": {"masks": 256}, "lime": {"samples": 128},
    "kernel_shap": {"samples": 128}, "xrai": {"steps": 16},
}
SMOKE_METHODS = ("saliency", "smoothgrad", "integrated_gradients", "grad_cam", "occlusion", "rise")
RECIPE_STEPS = 16


def _args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=["shapes", "vgg", "imagenet"])
    parser.add_argument("--settings", nargs="+", choices=SETTINGS_NAMES, default=list(SETTINGS_NAMES))
    parser.add_argument("--methods", nargs="+", default=None,
                        help="registry names (default: all; `none`: only the recipes)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=None, help="images per call (default: 32, ImageNet 16)")
    parser.add_argument("--no-recipes", action="store_true")
    parser.add_argument("--smoke", action="store_true",
                        help="CPU smoke test: the tiny model, fp32 and xla, a few methods, 1 repeat")
    parser.add_argument("--out", default=None, help="also write the markdown table here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


# ---------------------------------------------------------------- worker: one model, one setting


def _vgg(keras, size=224, seed=0):
    """A VGG-style net: 5 blocks of two 3x3 ReLU convolutions and max pooling, global pooling, 10 classes."""
    init = keras.initializers.HeNormal(seed=seed)
    inputs = keras.Input((size, size, 3), name="image")
    x = inputs
    for block, filters in enumerate((32, 64, 128, 256, 256), start=1):
        for k in (1, 2):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=init,
                                    name=f"block{block}_conv{k}")(x)
        x = keras.layers.MaxPooling2D(name=f"block{block}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = keras.layers.Dense(10, kernel_initializer=keras.initializers.GlorotUniform(seed=seed), name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="vgg_style")


def _tiny(keras, seed=0):
    init = keras.initializers.HeNormal(seed=seed)
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=init, name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=init, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = keras.layers.Dense(4, kernel_initializer=keras.initializers.GlorotUniform(seed=seed), name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="tiny")


def _model(name, keras, kerasviz):
    """`(model, value_range)` of a benchmark model, built under the current dtype policy."""
    if name == "shapes":
        return kerasviz.demo.demo_model("shapes"), (0.0, 1.0)
    if name == "vgg":
        return _vgg(keras), (0.0, 1.0)
    if name == "tiny":
        return _tiny(keras), (0.0, 1.0)
    return keras.saving.load_model(IMAGENET), (0.0, 255.0)


def _device_peak_mb(tf):
    """Peak device memory (MiB) since the last reset, or None without a GPU."""
    if not tf.config.list_physical_devices("GPU"):
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def _reset_device_peak(tf):
    if tf.config.list_physical_devices("GPU"):
        tf.config.experimental.reset_memory_stats("GPU:0")


def _worker(config):
    import keras
    import numpy as np
    import tensorflow as tf

    if config["setting"] == "xla":
        tf.config.optimizer.set_jit("autoclustering")
    if config["setting"] == "mixed":
        keras.mixed_precision.set_global_policy("mixed_float16")
    import kerasviz
    from kerasviz import models, registry

    rows = []

    def emit(case, **values):
        row = {"model": config["model"], "setting": config["setting"], "case": case, **values}
        rows.append(row)
        print("ROW " + json.dumps(row), flush=True)

    if config["setting"] == "mixed" and config["model"] == "imagenet":
        emit("all", skipped="the saved model keeps its float32 layers; mixed precision applies to models built "
                            "under the policy")
        return rows
    model, value_range = _model(config["model"], keras, kerasviz)
    shape = tuple(model.input_shape[1:])
    batch = config["batch"] or (16 if config["model"] == "imagenet" else 32)
    rng = np.random.default_rng(0)
    low, high = value_range
    images = (low + (high - low) * rng.uniform(0.2, 0.8, (batch,) + shape)).astype(np.float32)
    x = tf.constant(images)

    @tf.function
    def forward(x):
        return models.run(model, x)[0]

    @tf.function
    def backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(tf.reduce_max(models.run(model, x)[0], axis=-1))
        return tape.gradient(score, x)

    def limit_forward():
        forward(x).numpy()

    def limit_backward():
        backward(x).numpy()

    names = [n for n in config["methods"] or registry.METHODS if n != "none"]
    for name in names:
        params = SETTINGS.get(name, {})
        function = registry.METHODS[name].function
        _reset_device_peak(tf)

        def method(function=function, params=params):
            function(model, images, batch_size=batch, **params)

        try:
            t_forward, t_backward, t_method = median_times([limit_forward, limit_backward, method], config["repeats"])
        except Exception as error:  # one method's failure is a row of the table, not the end of it
            emit(name, error=f"{type(error).__name__}: {error}"[:300])
            continue
        cost = registry.cost(name, model, shape, params)
        backward_passes = cost.backward + cost.rule_passes  # a relevance rule's inherent work in the backward
        expected = (cost.forward * t_forward + backward_passes * t_backward) / batch
        shown = int(backward_passes) if float(backward_passes).is_integer() else round(backward_passes, 2)
        emit(name, passes=[cost.forward, shown], ms_per_image=1e3 * t_method / batch,
             ratio=expected / (t_method / batch), device_peak_mb=_device_peak_mb(tf))
    if config["recipes"]:
        _recipes(config, model, value_range, shape, emit, tf, np, kerasviz)
    emit("worker", peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return rows


def _recipes(config, model, value_range, shape, emit, tf, np, kerasviz):
    """Optimization steps per second against whole-model forward+backward passes at the recipe's batch."""
    from kerasviz import models

    low, high = value_range
    image = (low + (high - low) * np.random.default_rng(1).uniform(0.3, 0.7, (1,) + shape)).astype(np.float32)
    steps = RECIPE_STEPS
    recipes = {
        "class_visualization": (1, lambda: kerasviz.class_visualization(
            model, 0, steps=steps, value_range=value_range)),
        "feature_visualization": (4, lambda: kerasviz.feature_visualization(
            model, channels=4, steps=steps, value_range=value_range)),
        "deep_dream": (1, lambda: kerasviz.deep_dream(
            model, image, octaves=1, steps_per_octave=steps, value_range=value_range)),
    }
    for name, (batch, run) in recipes.items():
        x = tf.constant(np.repeat(image, batch, axis=0))

        @tf.function
        def backward(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = tf.reduce_sum(tf.reduce_max(models.run(model, x)[0], axis=-1))
            return tape.gradient(score, x)

        _reset_device_peak(tf)
        try:
            t_limit, t_run = median_times([lambda: backward(x).numpy(), run], config["repeats"])
        except Exception as error:
            emit(name, error=f"{type(error).__name__}: {error}"[:300])
            continue
        emit(name, passes=[0, steps], ms_per_image=1e3 * t_run / steps / batch,
             ratio=steps * t_limit / t_run, device_peak_mb=_device_peak_mb(tf))


# ---------------------------------------------------------------- driver


def _table(rows):
    lines = ["| model | setting | case | passes (fwd, fwd+bwd) | ms per image | ratio | device peak MiB | note |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if row["case"] == "worker":
            continue
        passes = "" if "passes" not in row else f"{row['passes'][0]}, {row['passes'][1]}"
        peak = row.get("device_peak_mb")
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
            row["model"], row["setting"], row["case"], passes,
            f"{row['ms_per_image']:.2f}" if "ms_per_image" in row else "",
            f"{row['ratio']:.2f}" if "ratio" in row else "",
            "" if peak is None else f"{peak:.0f}",
            " ".join((row.get("error") or row.get("skipped") or "").split()).replace("|", "/")))
    for row in rows:
        if row["case"] == "worker":
            lines.append(f"\nPeak RSS of the {row['model']} / {row['setting']} worker: {row['peak_rss_mb']:.0f} MiB.")
    return "\n".join(lines)


def main():
    args = _args()
    if args.worker:
        _worker(json.loads(args.worker))
        return 0
    if args.smoke:
        args.models, args.settings = ["tiny"], ["fp32", "xla"]
        args.methods, args.repeats, args.batch = list(SMOKE_METHODS), 1, args.batch or 4
    rows, failed = [], []
    for model in args.models:
        for setting in args.settings:
            config = {"model": model, "setting": setting, "methods": args.methods, "repeats": args.repeats,
                      "batch": args.batch, "recipes": not args.no_recipes}
            start = time.perf_counter()
            done = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(config)],
                                  capture_output=True, text=True)
            found = [json.loads(line[4:]) for line in done.stdout.splitlines() if line.startswith("ROW ")]
            rows += found
            print(f"{model} / {setting}: {len(found)} rows in {time.perf_counter() - start:.0f} s"
                  + ("" if done.returncode == 0 else f", worker exit {done.returncode}"), flush=True)
            if done.returncode != 0:
                failed.append((model, setting))
                print(done.stderr[-3000:], file=sys.stderr)
    table = _table(rows)
    print(table)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(table + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
