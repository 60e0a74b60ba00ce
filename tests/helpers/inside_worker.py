"""The processes of the `kerasviz.inside` distributed tests: `dissect` and `sample_activations` under a strategy.

Run from the repository root:

    python -m tests.helpers.inside_worker mirrored OUT                    # MirroredStrategy, 2 logical CPUs
    python -m tests.helpers.inside_worker worker OUT STATE_DIR LOG_DIR    # MultiWorkerMirroredStrategy (TF_CONFIG)

Writes its results to `OUT/result.npz` (`run(...)`'s arrays); a worker then builds a tiny microscope
(`microscope`) in the shared `LOG_DIR`. Prints one JSON line. The model and the
data are built here from fixed seeds, so every process (and the test itself, importing this module) runs the
same passes on the same images.
"""

import json
import os
import sys

N_IMAGES, SIZE = 100, 16
CONCEPTS = ["red", "green", "blue", "yellow"]
COLOURS = [(0.9, 0.1, 0.1), (0.1, 0.85, 0.1), (0.1, 0.1, 0.9), (0.95, 0.9, 0.1)]
# 7 shards (the last of 4 images): worker 0 of 2 takes 4, worker 1 takes 3; 4 batches per shard, taken in turns.
# capacity 512: each shard's 4,096 positions per unit make the sketch compact, and the top 0.5% (128) still
# lies within the exact 256 values: thresholds exact, so equal to the single device's.
SETTINGS = dict(shard_size=16, batch_size=4)
DISSECT = dict(capacity=512, seed=5)
SAMPLE = dict(samples=60, seed=7)
MICROSCOPE = dict(channels=[0, 1], steps=2, facets=0, k=2, fan=2, grid=2, samples=30, layout="pca", atlas_steps=2,
                  sources=1, effect_images=4, batch_size=4, classes=[0, 1])


def build_model():
    """Channel k of layer "colour" is `relu(W_k . rgb - 0.3)`: red, green and blue detectors; "mix" a seeded
    3x3 convolution of them with a positive bias (no position is all zero: the microscope's atlas cells)."""
    import keras
    import numpy as np

    weights = np.array([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]], np.float32)
    inputs = keras.Input((SIZE, SIZE, 3), name="images")  # every layer named: the same model in every process
    x = keras.layers.Conv2D(3, 1, activation="relu", name="colour")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="mix",
                            kernel_initializer=keras.initializers.GlorotUniform(seed=1),
                            bias_initializer=keras.initializers.Constant(0.1))(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    logits = keras.layers.Dense(2, name="logits", kernel_initializer=keras.initializers.GlorotUniform(seed=2))(x)
    model = keras.Model(inputs, logits, name="planted")
    model.get_layer("colour").set_weights([weights.T[None, None], np.full(3, -0.3, np.float32)])
    return model


def data():
    """`(images, concept ids)`: grey images, a 4x4 coloured square in 8 images per colour."""
    import numpy as np

    rng = np.random.default_rng(0)
    images = np.repeat(rng.uniform(0.3, 0.7, (N_IMAGES, 1, 1, 1)), 3, axis=-1) * np.ones((1, SIZE, SIZE, 3))
    images = images + rng.uniform(-0.02, 0.02, images.shape)
    ids = np.full((N_IMAGES, SIZE, SIZE), -1, np.int64)
    order = rng.permutation(N_IMAGES)
    for k, colour in enumerate(COLOURS):
        for i in order[k * 8:(k + 1) * 8]:
            top, left = 2 * rng.integers(0, (SIZE - 4) // 2 + 1, 2)
            images[i, top:top + 4, left:left + 4] = np.asarray(colour) + rng.uniform(-0.03, 0.03, (4, 4, 3))
            ids[i, top:top + 4, left:left + 4] = k
    return np.clip(images, 0, 1).astype(np.float32), ids


def run(strategy=None, state_dir=None):
    """`{name: array}`: the fields of `dissect` and `sample_activations` of the model over the data."""
    import numpy as np

    from kerasviz.inside import dissect, sample_activations

    model, (images, ids) = build_model(), data()
    result = dissect(model, (images, ids), "colour", CONCEPTS, strategy=strategy,
                     state_dir=None if state_dir is None else os.path.join(state_dir, "dissect"), **DISSECT,
                     **SETTINGS)
    sample = sample_activations(model, images, "colour", strategy=strategy,
                                state_dir=None if state_dir is None else os.path.join(state_dir, "sample"),
                                **SAMPLE, **SETTINGS)
    out = {f"dissect.{k}": np.asarray(v) for k, v in result._asdict().items() if k not in ("layer", "concepts")}
    out.update({f"sample.{k}": np.asarray(v) for k, v in sample._asdict().items() if k != "layer"})
    return out


def microscope(log_dir, strategy=None, state_dir=None):
    """`build_microscope` of the model over the data (with its concept masks), layer "mix"; the report."""
    from kerasviz.inside import build_microscope

    return build_microscope(build_model(), data(), log_dir, ["mix"], concepts=CONCEPTS, strategy=strategy,
                            state_dir=state_dir, **MICROSCOPE)


def main(argv):
    mode, out = argv[0], argv[1]
    import numpy as np
    import tensorflow as tf

    from kerasviz.datasets.placement import Placement

    report = {}
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        state_dir = None
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        state_dir, log_dir = argv[2], argv[3]
        try:  # several workers without a state_dir: a named error, before any pass (no collective is joined)
            run(strategy)
        except ValueError as error:
            report["without_state_dir"] = str(error)
    place = Placement(strategy)
    if mode == "mirrored":  # where `in_turns` runs batches 0, 1, 2: the devices in turns
        turns = []
        place.in_turns(3, lambda i: (tf.constant(float(i)) * 2.0).device, lambda i, device: turns.append(device))
        report["turns"] = [device.rsplit("device:", 1)[-1] for device in turns]
    report.update(devices=len(place.devices), worker=place.worker, workers=place.workers, chief=place.chief)
    os.makedirs(out, exist_ok=True)
    np.savez(os.path.join(out, "result.npz"), **run(strategy, state_dir))
    if mode == "worker":
        built = microscope(log_dir, strategy, os.path.join(state_dir, "microscope"))
        report["written"] = [list(w) for w in built.written]
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
