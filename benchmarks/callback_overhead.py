"""How much an `AttributionCallback` adds to an epoch of the demo training run.

Trains the demo ConvNet (the architecture of `kerasviz.demo.demo_model`) on
`kerasviz.demo.demo_data("shapes")` as the demo does (batch 32, with
validation) and times epochs without callbacks and with an
`AttributionCallback` at its default settings (8 images, every epoch), in
alternating rounds on the same model so that machine noise hits both alike.
The time spent inside the callback's epoch-end hook is measured directly
(between two clock callbacks placed around it), and divided by the median
epoch time without it; the first call (the trace of each compiled function)
is paid before timing and reported on its own. Other registered methods are
timed alone for comparison. Target: at most 5 % added per epoch at default
settings.

`--imagenet` instead fine-tunes the ImageNet classifier of `../shared/imagenet`
(EfficientNet-Lite3, 280 px, raw 0-255) on its sample photos (one batch per
epoch, labelled with its own predictions) and times, per epoch, the hook of
an `AttributionCallback` and of a `FeatureVisualizationCallback`, both at
their defaults, against an epoch without callbacks.

Run: `python benchmarks/callback_overhead.py [--epochs 3] [--rounds 3]` or `--imagenet --epochs 1 --rounds 2`.
"""

import argparse
import glob
import os
import sys
import tempfile
import time
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasviz import callbacks, demo as data, files, registry  # noqa: E402

IMAGENET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "imagenet")


def demo_architecture(train):
    """A fresh, compiled model of the demo architecture (a clone of `demo_model("shapes")`)."""
    try:
        model = keras.models.clone_model(data.demo_model("shapes"))  # new weights, same layers
    except Exception as error:  # the demo model is unavailable: the same layers, written out
        print(f"(demo_model unavailable: {error!r}; using an equivalent model)")
        x = inputs = keras.Input(train.images.shape[1:])
        for i, filters in enumerate((16, 32, 64)):
            if i:
                x = keras.layers.MaxPooling2D(2)(x)
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.GlobalMaxPooling2D()(x)
        x = keras.layers.Dense(64, activation="relu", name="fc")(x)
        model = keras.Model(inputs, keras.layers.Dense(len(train.class_names), activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class Clock(keras.callbacks.Callback):
    """Records `time.perf_counter()` at epoch begin and/or end; placed around the callback under test."""

    def __init__(self, on_begin=False, on_end=False):
        super().__init__()
        self.on_begin, self.on_end, self.times = on_begin, on_end, []

    def on_epoch_begin(self, epoch, logs=None):
        if self.on_begin:
            self.times.append(time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        if self.on_end:
            self.times.append(time.perf_counter())


def timed_fit(model, train, test, epochs, callback):
    """`(epoch seconds [epochs], seconds inside the callback's epoch-end hook [epochs])`."""
    begin, mark, end = Clock(on_begin=True), Clock(on_end=True), Clock(on_end=True)
    middle = [] if callback is None else [callback]
    model.fit(train.images, train.labels, batch_size=32, epochs=epochs, verbose=0, shuffle=False,
              validation_data=(test.images, test.labels), callbacks=[begin, mark, *middle, end])
    return (np.subtract(end.times, begin.times), np.subtract(end.times, mark.times))


def imagenet(epochs, rounds):
    """The callbacks' cost per epoch of fine-tuning the ImageNet classifier on its sample photos."""
    model = keras.saving.load_model(os.path.join(IMAGENET, "efficientnet_lite3.keras"), compile=False)
    paths = sorted(glob.glob(os.path.join(IMAGENET, "photos", "*.jpg")))
    photos = np.concatenate([files.read_image(p, model, (0, 255)) for p in paths])
    labels = np.argmax(model.predict(photos, verbose=0), axis=-1)
    model.compile(optimizer=keras.optimizers.SGD(1e-4), loss="sparse_categorical_crossentropy")
    data_ = types.SimpleNamespace(images=photos, labels=labels)
    logdir = tempfile.mkdtemp(prefix="kerasviz_bench_")
    made = {
        "AttributionCallback (defaults)": callbacks.AttributionCallback(
            logdir, photos, labels, value_range=(0, 255), run_name="bench_a", on_error="raise"),
        "FeatureVisualizationCallback (defaults)": callbacks.FeatureVisualizationCallback(
            logdir, value_range=(0, 255), run_name="bench_f", on_error="raise"),
    }
    timed_fit(model, data_, data_, 1, None)  # traces the training step
    first = {}
    for name, callback in made.items():
        start = time.perf_counter()
        callback.set_model(model)
        callback.visualize(0)
        first[name] = time.perf_counter() - start
    base, hooks = [], {name: [] for name in made}
    for _ in range(rounds):
        for name, callback in made.items():
            base.extend(timed_fit(model, data_, data_, epochs, None)[0])
            hooks[name].extend(timed_fit(model, data_, data_, epochs, callback)[1])
    epoch = float(np.median(base))
    print(f"ImageNet classifier (EfficientNet-Lite3, 280 px), {len(photos)} photos, one batch per epoch, with "
          f"validation; {rounds} rounds x {epochs} epochs; medians; load {os.getloadavg()[0]:.1f}")
    print(f"{'callback':<42}{'epoch s':>9}{'hook s':>9}{'hook/epoch':>12}{'first call s':>14}")
    for name in made:
        hook = float(np.median(hooks[name]))
        print(f"{name:<42}{epoch:>9.2f}{hook:>9.2f}{hook / epoch:>11.1f}x{first[name]:>14.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed fit")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--imagenet", action="store_true", help="the ImageNet classifier on its photos instead")
    args = parser.parse_args()
    if args.imagenet:
        return imagenet(args.epochs, args.rounds)
    train, test = data.demo_data("shapes")
    model = demo_architecture(train)
    logdir = tempfile.mkdtemp(prefix="kerasviz_bench_")
    images, labels = test.images[:8], test.labels[:8]
    default = [m for m in callbacks.DEFAULT_METHODS if m in registry.ATTRIBUTION_METHODS]
    settings = {f"default ({'+'.join(default)})": {}}
    for method in ("smoothgrad", "integrated_gradients", "occlusion"):
        if method in registry.ATTRIBUTION_METHODS:
            settings[method] = {"methods": (method,)}
    made = {name: callbacks.AttributionCallback(logdir, images, labels, class_names=train.class_names,
                                                run_name=f"bench_{i}", on_error="raise", **kwargs)
            for i, (name, kwargs) in enumerate(settings.items())}
    timed_fit(model, train, test, 1, None)  # traces the training step
    first = {}
    for name, callback in made.items():  # traces our functions: a one-off cost, reported apart
        start = time.perf_counter()
        callback.set_model(model)
        callback.visualize(0)
        first[name] = time.perf_counter() - start
    base_for = {name: [] for name in made}  # epochs without callbacks, timed just before each setting
    epochs, hooks = {name: [] for name in made}, {name: [] for name in made}
    for _ in range(args.rounds):
        for name, callback in made.items():
            base_for[name].extend(timed_fit(model, train, test, args.epochs, None)[0])
            epoch_times, hook_times = timed_fit(model, train, test, args.epochs, callback)
            epochs[name].extend(epoch_times)
            hooks[name].extend(hook_times)
    print(f"demo shapes run: {len(train.images)} training images, batch 32, with validation; "
          f"{args.rounds} rounds x {args.epochs} epochs; {len(images)} images visualized; medians")
    print(f"{'callback':<34}{'epoch s':>9}{'with cb s':>10}{'hook s':>8}{'hook/epoch':>12}"
          f"{'end-to-end':>12}{'first call s':>14}")
    for name in made:
        base, hook = float(np.median(base_for[name])), float(np.median(hooks[name]))
        whole = float(np.median(epochs[name]))
        print(f"{name:<34}{base:>9.3f}{whole:>10.3f}{hook:>8.3f}{hook / base:>11.1%}"
              f"{(whole - base) / base:>11.1%}{first[name]:>14.2f}")
    print("hook/epoch: time inside the callback's on_epoch_end over the median epoch without callbacks "
          "(target <= 5 % at default settings); end-to-end: the difference of the median epochs, which "
          "machine noise dominates on a shared machine.")


if __name__ == "__main__":
    main()
