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

Run: `python benchmarks/callback_overhead.py [--epochs 3] [--rounds 3]`.
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasviz import callbacks, demo as data, registry  # noqa: E402


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed fit")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
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
