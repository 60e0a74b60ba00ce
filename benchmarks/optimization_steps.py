"""The optimization engine's step against a hand-written compiled step doing the same work, and the model's limit.

Each recipe (class and feature visualization, DeepDream, inversion, texture,
and a plain `optimize` of a channel) calls `kerasviz.gradients.synthesis.optimize`
with its settings. This script records that call, then builds from the same
settings a *hand-written* step: one `tf.function` per step, called from a
Python loop, that decodes the same parameterization, applies the same
transforms (same seeds), runs the same objective on the same (cut) model,
adds only the priors whose weight is not zero and applies the same update
(normalized pixel ascent with jitter, blur and clipping, or Adam on the
latent). The recipe (one whole call, its set-up included) and the
hand-written loop are timed in alternation in the same process (medians,
`limits.median_times`), as is the model's own compiled forward+backward
pass at the same batch and size (the limit):

    vs hand = hand-written seconds per step / recipe seconds per step   (target >= 0.9)
    vs limit = limit seconds per pass / recipe seconds per step

Seconds per step come from runs of `n` and `2n` steps (their difference);
what remains is the recipe's fixed cost per call (its start, reference
features or Gram matrices, final objectives), printed apart, with the ratio
of whole calls of `2n` steps.

`vs limit` shows what the parameterization, the transforms and the objective
cost beyond the whole model's pass (above 1: the model is cut at the layer).

Usage:
    python benchmarks/optimization_steps.py --models shapes vgg imagenet
    python benchmarks/optimization_steps.py --models shapes --rounds 5 --clock cpu
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
import limits  # noqa: E402  (benchmarks/limits.py, beside this script)
from kerasviz import inputs, models, targets  # noqa: E402
from kerasviz.art.deepdream import deep_dream  # noqa: E402
from kerasviz.art.style import texture_synthesis  # noqa: E402
from kerasviz.gradients import core, regularizers, synthesis  # noqa: E402
from kerasviz.gradients import parameterization as parameterizations  # noqa: E402
from kerasviz.gradients import transforms as image_transforms  # noqa: E402
from kerasviz.gradients.class_visualization import class_visualization  # noqa: E402
from kerasviz.gradients.feature_visualization import default_layer, feature_visualization  # noqa: E402
from kerasviz.gradients.inversion import invert_features  # noqa: E402

IMAGENET = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "imagenet", "efficientnet_lite3.keras")
OPTIMIZE_DEFAULTS = dict(layers=None, extras=(), steps=100, learning_rate=0.01, value_range=(0.0, 1.0), l2=0.0,
                         tv=0.0, jitter=0, blur_every=0, blur_sigma=0.5, normalize_gradient=True, seed=0,
                         parameterization=None, transforms=None, reads_logits=True)


def recorded_call(run):
    """The `(model, objective, init, settings)` of the `optimize` call `run()` makes (its last one)."""
    calls, original = [], synthesis.optimize

    def recording(model, objective, init, **kwargs):
        calls.append((model, objective, np.asarray(init), {**OPTIMIZE_DEFAULTS, **kwargs}))
        return original(model, objective, init, **kwargs)

    synthesis.optimize = recording
    try:
        run()
    finally:
        synthesis.optimize = original
    return calls[-1]


def hand_written(model, objective, init, s):
    """`run(steps) -> images`: the same steps as `optimize(model, objective, init, **s)`, written plainly."""
    value_range = inputs.check_value_range(s["value_range"], init.shape[-1])
    low, high = (tf.constant(v, tf.float32) for v in (value_range.low, value_range.high))
    if isinstance(objective, targets.Target) or not callable(objective):
        prepared = core.Prepared(model, init, objective, None)
        class_idx = tf.constant(core.predicted_classes(prepared))
        capture, score = prepared.capture, prepared.target.score
        reads = prepared.target.reads_logits() or not capture
    else:
        capture = tuple(models.get_layer(model, layer)[0] for layer in s["layers"])
        class_idx, reads = None, s["reads_logits"]
        score = lambda logits, activations, class_idx, *extras: objective(logits, activations, *extras)  # noqa
    extras = [tf.constant(e) for e in s["extras"]]
    chain = image_transforms.check_transforms(s["transforms"], init.shape[1:])
    schedule = regularizers.check_learning_rate(s["learning_rate"])
    seed, l2, tv = s["seed"] % 2**63, s["l2"], s["tv"]
    latent_kind = s["parameterization"]
    bound = None if latent_kind is None else parameterizations.get(latent_kind).bound(init.shape[1:], value_range.bgr)

    def total(unit, index):
        seen = image_transforms.compose(chain, unit, tf.stack([tf.constant(seed, tf.int64), index]), init.shape[1:3])
        x = low + (high - low) * seen
        if reads:
            logits, activations = models.run(model, x, capture=capture)
        else:
            logits, activations = None, models.run_layers(model, x, capture)
        value = tf.reduce_sum(tf.cast(score(logits, activations, class_idx, *extras), tf.float32))
        if l2:
            value -= l2 * tf.reduce_sum(tf.square(unit - 0.5))
        if tv:
            value -= tv * tf.reduce_sum(regularizers.total_variation(unit))
        return value

    unit0 = ((init - value_range.low) / (value_range.high - value_range.low)).astype(np.float32)
    if bound is not None:
        beta_1, beta_2, epsilon = 0.9, 0.999, 1e-8

        @tf.function
        def step(latent, m, v, index, rate):
            with tf.GradientTape() as tape:
                tape.watch(latent)
                value = total(bound.decode(latent), index)
            g = tape.gradient(value, latent)
            m = beta_1 * m + (1 - beta_1) * g
            v = beta_2 * v + (1 - beta_2) * g * g
            t = tf.cast(index + 1, tf.float32)
            return latent + rate * tf.sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (tf.sqrt(v) + epsilon), m, v

        def run(steps):
            latent = tf.constant(bound.encode(unit0))
            state = (latent, tf.zeros_like(latent), tf.zeros_like(latent))
            for i in range(steps):
                state = step(*state, tf.constant(i, tf.int64), tf.constant(schedule(i), tf.float32))
            return (low + (high - low) * bound.decode(state[0])).numpy()

        return run
    mode = regularizers.check_normalization(s["normalize_gradient"])
    jitter, blur_every, sigma = s["jitter"], s["blur_every"], s["blur_sigma"]

    @tf.function
    def pixel_step(unit, index, rate):
        if jitter:
            shift = tf.random.stateless_uniform([2], tf.stack([tf.constant(seed, tf.int64), index]),
                                                minval=-jitter, maxval=jitter + 1, dtype=tf.int32)
            unit = tf.roll(unit, shift, axis=[1, 2])
        with tf.GradientTape() as tape:
            tape.watch(unit)
            value = total(unit, index)
        g = tape.gradient(value, unit)
        updated = unit + rate * regularizers.normalize(g, mode)
        if jitter:
            updated = tf.roll(updated, -shift, axis=[1, 2])
        if blur_every:
            updated = tf.cond(tf.math.floormod(index + 1, blur_every) == 0,
                              lambda: regularizers.gaussian_blur(updated, sigma), lambda: updated)
        return tf.clip_by_value(updated, 0.0, 1.0)

    def run(steps):
        unit = tf.constant(unit0)
        for i in range(steps):
            unit = pixel_step(unit, tf.constant(i, tf.int64), tf.constant(schedule(i), tf.float32))
        return (low + (high - low) * unit).numpy()

    return run


def vgg_style(size=224):
    """A VGG-style net (3x3 conv blocks and max pooling, seeded weights), `conv1` its first layer."""
    keras.utils.set_random_seed(0)
    x = inputs_ = keras.Input((size, size, 3))
    for k, width in enumerate((32, 64, 128, 128)):
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{2 * k + 1}")(x)
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{2 * k + 2}")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs_, keras.layers.Dense(10, name="logits")(x), name="vgg_style")


def recipes(model, size, layer, value_range, steps):
    """name -> (steps, run(n)) at each recipe's defaults (one octave of DeepDream)."""
    rng = np.random.default_rng(0)
    low, high = value_range
    photo = (low + (high - low) * rng.uniform(0.3, 0.7, (1, size, size, 3))).astype(np.float32)
    vr = dict(value_range=value_range)
    return {
        "optimize Channel": lambda n: synthesis.optimize(model, targets.Channel(layer, 5), photo, steps=n, **vr),
        "class visualization": lambda n: class_visualization(model, 1, init=photo, image_shape=None, steps=n, **vr),
        "feature visualization": lambda n: feature_visualization(model, layer, channels=2, steps=n, **vr),
        "DeepDream": lambda n: deep_dream(model, photo, octaves=1, steps_per_octave=n, **vr),
        "inversion": lambda n: invert_features(model, photo, layer, steps=n, **vr),
        "texture": lambda n: texture_synthesis(model, photo, steps=n, **vr),
    }


def measure(name, model, size, layer, value_range, steps, rounds, only, clock):
    """Prints, per recipe, its time per step and per call against the hand-written loop's and the limit's.

    The recipe and the hand-written loop run `steps` and `2 * steps` steps:
    the difference is the time of `steps` steps alone, the rest the fixed
    cost of a call (the recipe's set-up: its start, its reference features
    or Gram matrices, its final objectives and picture).
    """
    for label, run in recipes(model, size, layer, value_range, steps).items():
        if only and label not in only:
            continue
        model_, objective, init, settings = recorded_call(lambda: run(2))
        hand = hand_written(model_, objective, init, settings)
        limit = limits.backward_of(lambda x: models.run(model, x)[0][:, 0])
        batch = tf.constant(init)
        recipe_1, recipe_2, hand_1, hand_2, limit_s = limits.median_times(
            [lambda: run(steps), lambda: run(2 * steps), lambda: hand(steps), lambda: hand(2 * steps),
             lambda: limit(batch).numpy()], rounds, clock)
        recipe_step, hand_step = (recipe_2 - recipe_1) / steps, (hand_2 - hand_1) / steps
        fixed = recipe_1 - steps * recipe_step
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name:10s} {label:22s} batch {len(init)} | per step: recipe {1e3 * recipe_step:7.1f} ms, hand "
              f"{1e3 * hand_step:7.1f}, limit {1e3 * limit_s:7.1f}; vs hand {hand_step / recipe_step:4.2f}, vs limit "
              f"{limit_s / recipe_step:4.2f} | per call of {2 * steps} steps: fixed {1e3 * fixed:6.0f} ms, vs hand "
              f"{hand_2 / recipe_2:4.2f} | peak RSS {rss:5.0f} MiB", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["shapes", "vgg", "imagenet"],
                        choices=["shapes", "vgg", "imagenet"])
    parser.add_argument("--recipes", nargs="*", default=[], help="only these recipes (names as printed)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: this process's CPU seconds (steadier than wall time on a loaded, shared machine)")
    args = parser.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores, load {os.getloadavg()[0]:.1f}; medians of "
          f"{args.rounds} alternating rounds (recipe, hand-written, limit), {args.clock} clock", flush=True)
    if "shapes" in args.models:
        model = kerasviz.demo.demo_model("shapes")
        measure("shapes", model, 64, "conv2", (0.0, 1.0), 64, args.rounds, args.recipes, clock)
    if "vgg" in args.models:
        measure("VGG-style", vgg_style(), 224, "conv1", (0.0, 1.0), 16, args.rounds, args.recipes, clock)
    if "imagenet" in args.models:
        model = keras.saving.load_model(IMAGENET, compile=False)
        layer = default_layer(model)
        measure("ImageNet", model, 280, layer, (0.0, 255.0), 4, args.rounds, args.recipes, clock)


if __name__ == "__main__":
    main()
