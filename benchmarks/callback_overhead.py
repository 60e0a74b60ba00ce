"""How much an `AttributionCallback` adds to an epoch of the demo training run.

Trains the demo ConvNet (the architecture of `kerasviz.data.demo_model`) on
`kerasviz.data.demo_data("shapes")` as the demo does (batch 32, with
validation) and times epochs without callbacks and with an
`AttributionCallback` at its default settings (8 images, every epoch), in
alternating rounds on the same model so that machine noise hits both alike.
The first call of each compiled function (its trace) is paid before timing
and reported on its own. Target: at most 5 % added per epoch.

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

from kerasviz import callbacks, data, registry  # noqa: E402


def demo_architecture(train):
    """A fresh, compiled model of the demo architecture."""
    build = getattr(data, "_build_model", None)
    if build is not None:
        model = build(train.images.shape[1:], len(train.class_names), 0, "shapes")
    else:  # the same layers, written out
        x = inputs = keras.Input(train.images.shape[1:])
        for i, filters in enumerate((16, 32, 64)):
            if i:
                x = keras.layers.MaxPooling2D(2)(x)
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        x = keras.layers.Dense(64, activation="relu", name="fc")(x)
        model = keras.Model(inputs, keras.layers.Dense(len(train.class_names), activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def timed_fit(model, train, test, epochs, extra):
    start = time.perf_counter()
    model.fit(train.images, train.labels, batch_size=32, epochs=epochs, verbose=0, shuffle=False,
              validation_data=(test.images, test.labels), callbacks=extra)
    return (time.perf_counter() - start) / epochs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed fit")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median taken)")
    args = parser.parse_args()
    train, test = data.demo_data("shapes")
    model = demo_architecture(train)
    logdir = tempfile.mkdtemp(prefix="kerasviz_bench_")
    images, labels = test.images[:8], test.labels[:8]
    settings = {"default": {}}
    extra = tuple(m for m in ("saliency", "grad_cam", "guided_backprop") if m in registry.ATTRIBUTION_METHODS)
    settings["+".join(extra)] = {"methods": extra}
    made = {name: callbacks.AttributionCallback(logdir, images, labels, class_names=train.class_names,
                                                run_name=f"bench_{i}", on_error="raise", **kwargs)
            for i, (name, kwargs) in enumerate(settings.items())}
    timed_fit(model, train, test, 1, [])  # traces the training step
    first = {}
    for name, callback in made.items():  # traces our functions: a one-off cost, reported apart
        start = time.perf_counter()
        callback.set_model(model)
        callback.visualize(0)
        first[name] = time.perf_counter() - start
    times = {"none": []} | {name: [] for name in made}
    for _ in range(args.rounds):
        times["none"].append(timed_fit(model, train, test, args.epochs, []))
        for name, callback in made.items():
            times[name].append(timed_fit(model, train, test, args.epochs, [callback]))
    base = float(np.median(times["none"]))
    print(f"demo shapes run: {len(train.images)} training images, batch 32, with validation; "
          f"{args.rounds} rounds x {args.epochs} epochs; default methods: "
          f"{[m for m in callbacks.DEFAULT_METHODS if m in registry.ATTRIBUTION_METHODS]}")
    print(f"{'callbacks':<32}{'s/epoch':>10}{'added s':>10}{'overhead':>10}{'first call s':>14}")
    for name, values in times.items():
        median = float(np.median(values))
        added = median - base
        print(f"{name:<32}{median:>10.3f}{added:>10.3f}{added / base:>9.1%}"
              f"{'' if name == 'none' else format(first[name], '>14.2f')}")


if __name__ == "__main__":
    main()
