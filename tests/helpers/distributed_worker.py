"""The processes of the dataset and distributed tests: one `explain_dataset` run (and a `fit`) per call.

Run from the repository root:

    python -m tests.helpers.distributed_worker single OUT        # the default strategy
    python -m tests.helpers.distributed_worker mirrored OUT      # MirroredStrategy over 2 logical CPU devices
    python -m tests.helpers.distributed_worker worker OUT LOGDIR # MultiWorkerMirroredStrategy (TF_CONFIG), then a fit

Prints one JSON line. The model and the data are built here from fixed seeds, so every process (and the
test itself, importing this module) explains the same model on the same images.
"""

import json
import sys

N_IMAGES, SIZE, CLASSES = 192, 16, 3
SETTINGS = dict(methods=["saliency", ("smoothgrad", {"samples": 4}), "grad_cam"],
                metrics=["sparseness", "complexity"], shard_size=32, batch_size=32, seed=3,
                value_range=(0, 1), verbose=0)


def build_model():
    import keras

    seeds = iter(range(1, 10))

    def init():
        return keras.initializers.GlorotUniform(seed=next(seeds))

    return keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(6, 3, activation="relu", kernel_initializer=init(), name="conv1"),
        keras.layers.Conv2D(8, 3, activation="relu", kernel_initializer=init(), name="conv2"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(CLASSES, kernel_initializer=init(), bias_initializer="zeros"),
        keras.layers.Activation("softmax"),
    ])


def data():
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.random((N_IMAGES, SIZE, SIZE, 3), dtype=np.float32), np.arange(N_IMAGES) % CLASSES


def dataset():
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(data())


def explain(out, strategy=None):
    from kerasviz import explain_dataset

    return explain_dataset(build_model(), dataset(), out=out, strategy=strategy, **SETTINGS)


def reference(base):
    """The uninterrupted single-process run, computed once per test session under `base`."""
    import os

    from kerasviz.datasets import shards

    out = os.path.join(base, "explain-reference")
    manifest = shards.read_manifest(out) if os.path.isdir(out) else None
    if manifest is None or not manifest.get("complete"):
        explain(out)
    return out


def differences(a, b):
    """The files of shards that differ between two output directories (array bytes and dtypes), or []."""
    import glob
    import os

    import numpy as np

    names = sorted(os.path.relpath(p, a) for p in glob.glob(os.path.join(a, "shard-*", "*.npy")))
    other = sorted(os.path.relpath(p, b) for p in glob.glob(os.path.join(b, "shard-*", "*.npy")))
    if names != other:
        return sorted(set(names) ^ set(other)) or ["(file lists differ)"]
    found = []
    for name in names:
        x, y = np.load(os.path.join(a, name)), np.load(os.path.join(b, name))
        if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
            found.append(name)
    return found


def _fit(strategy, logdir):
    """Trains 3 epochs under `strategy` with an AttributionCallback, driven through its Keras hooks.

    Keras 3's own `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585: its symbolic build and
    its per-replica reduction of the loss both raise), so the loop is ours: a `strategy.run` step over the
    distributed dataset, and the callback's hooks called in the order `fit` calls them.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasviz import callbacks

    x, y = data()
    with strategy.scope():
        model = build_model()
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    train = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((x[:64], y[:64])).batch(16))

    @tf.function
    def step(images, labels):
        def replica(images, labels):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(labels, model(images, training=True)))
                loss = loss / 16
            gradients = tape.gradient(loss, model.trainable_variables)
            model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return loss

        return strategy.reduce("SUM", strategy.run(replica, (images, labels)), axis=None)

    callback = callbacks.AttributionCallback(logdir, x[:4], y[:4], methods=("saliency", "grad_cam"),
                                             on_error="raise")
    callback.set_model(model)
    callback.on_train_begin()
    for epoch in range(3):
        callback.on_epoch_begin(epoch)
        for images, labels in train:
            loss = step(images, labels)
        callback.on_epoch_end(epoch, {"loss": float(loss)})
    callback.on_train_end()
    return {"chief": callback._chief, "weights": float(np.sum([np.sum(w) for w in model.get_weights()]))}


def main(argv):
    mode, out = argv[0], argv[1]
    import tensorflow as tf

    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    elif mode == "worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        strategy = None
    result = explain(out, strategy)
    report = {"n": len(result), "replicas": 1 if strategy is None else strategy.num_replicas_in_sync}
    if mode == "worker":
        report.update(_fit(strategy, argv[2]))
        # Every worker asks for the dataset summary, as one script run on every worker does.
        report["summary_written"] = result.write(argv[2], run_name="dataset") is not None
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
