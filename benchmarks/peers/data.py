"""The two models and the inputs every tool of the peer benchmark reads (made once, by the driver).

Both models take images in [0, 255] (a `Rescaling` layer inside), so the
grey occluder of tf-explain (127.5, hard-coded) is the middle grey of the
images for every tool. Both end in `Dense(10)` (logits) followed by a separate
`Activation("softmax")`: the layout tf-explain and tf-keras-vis expect when
they bypass the softmax, and the one kerasviz reads logits from.

- `vgg`: a VGG-style net (3 blocks of 3x3 convs, max pooling, global average
  pooling, dense) at 64 x 64, He-initialized from a seed.
- `mobilenet`: `keras.applications.MobileNetV2(alpha=0.35, weights=None)` at
  128 x 128 built flat on the same input (no nested model: the peers' most
  reported failure is not what this benchmark measures). Its BatchNormalization
  statistics are set, layer by layer, to the mean and variance of their input on
  these images, and gamma/beta drawn from a seed, so activations neither vanish
  nor explode and the prediction is not the same for every image.

Inputs are smooth random images (a seeded 8 x 8 colour field upsampled, plus a
little pixel noise), so segmentations (XRAI) and occlusion see structure.
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

SIZES = {"vgg": 64, "mobilenet": 128}


def build(name, seed=0):
    """The seeded, untrained model `name` (`"vgg"` or `"mobilenet"`)."""
    keras.utils.set_random_seed(seed)
    size = SIZES[name]
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    if name == "vgg":
        for block, filters in enumerate((32, 64, 128)):
            for i in range(2):
                x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                        kernel_initializer="he_normal", name=f"block{block + 1}_conv{i + 1}")(x)
            if block < 2:
                x = keras.layers.MaxPooling2D(name=f"block{block + 1}_pool")(x)
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    else:
        x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_tf_range")(x)  # MobileNetV2 reads [-1, 1]
        backbone = keras.applications.MobileNetV2(input_tensor=x, alpha=0.35, weights=None, include_top=False,
                                                  pooling="avg")
        x = backbone.output
    logits = keras.layers.Dense(10, name="logits")(x)
    outputs = keras.layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=name)


def images_for(name, n=16, seed=0):
    """`n` smooth seeded images `[n, S, S, 3]` float32 in [0, 255]."""
    rng = np.random.default_rng(seed)
    size = SIZES[name]
    coarse = rng.uniform(0.0, 255.0, size=(n, 8, 8, 3)).astype(np.float32)
    fine = tf.image.resize(coarse, (size, size), method="bicubic").numpy()
    fine += rng.normal(0.0, 8.0, size=fine.shape).astype(np.float32)
    return np.clip(fine, 0.0, 255.0).astype(np.float32)


def calibrate(model, images, seed=0):
    """Sets every BatchNormalization's statistics to its input's on `images`; gamma and beta seeded.

    One forward pass in training mode (each BatchNormalization normalizing
    with its batch's statistics) gives every layer's input as inference will
    see it once those statistics are its moving ones. Then the last Dense
    layer is scaled and centred so the logits spread over a few units across
    the images (softmax neither uniform nor saturated).
    """
    rng = np.random.default_rng(seed)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        gamma, beta, mean, variance = layer.get_weights()
        layer.set_weights([rng.uniform(0.8, 1.2, gamma.shape).astype(np.float32),
                           rng.normal(0.0, 0.1, beta.shape).astype(np.float32), mean, variance])
    if norms:
        probe = keras.Model(model.inputs, [layer.input for layer in norms])
        for layer, values in zip(norms, probe(images, training=True)):
            values = values.numpy()
            axes = tuple(range(values.ndim - 1))
            gamma, beta, _, _ = layer.get_weights()
            layer.set_weights([gamma, beta, values.mean(axis=axes), values.var(axis=axes)])
    dense = model.get_layer("logits")
    logits = keras.Model(model.inputs, dense.output)(images, training=False).numpy()
    spread = float(logits.std(axis=0).mean())
    kernel, bias = dense.get_weights()
    scale = 2.0 / max(spread, 1e-6)
    dense.set_weights([kernel * scale, (bias - logits.mean(axis=0)) * scale])  # classes centred on the batch


def integrated_gradients(logits_model, images, target, steps=16):
    """Signed Integrated Gradients summed over channels `[B, H, W]` (midpoint rule, black baseline).

    XRAI's input attribution, computed once here so that every tool's XRAI
    segments and ranks the same map.
    """
    total = np.zeros_like(images)
    for alpha in (np.arange(steps) + 0.5) / steps:
        x = tf.constant(images * np.float32(alpha))
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(logits_model(x, training=False)[:, target])
        total += tape.gradient(score, x).numpy()
    return (total / steps * images).sum(axis=-1).astype(np.float32)


def prepare(name, directory, batch=16, seed=0):
    """Writes `model.keras`, `images.npy`, `logits.npy`, `attribution.npy` and `meta.json` into `directory`."""
    os.makedirs(directory, exist_ok=True)
    model = build(name, seed)
    images = images_for(name, batch, seed)
    calibrate(model, images, seed)
    logits = keras.Model(model.inputs, model.get_layer("logits").output)(images, training=False).numpy()
    probabilities = tf.nn.softmax(logits).numpy()
    target = int(np.argmax(probabilities.mean(axis=0)))  # the class the batch leans to, for every tool
    logits_model = keras.Model(model.inputs, model.get_layer("logits").output)
    np.save(os.path.join(directory, "attribution.npy"), integrated_gradients(logits_model, images, target))
    model.save(os.path.join(directory, "model.keras"))
    np.save(os.path.join(directory, "images.npy"), images)
    np.save(os.path.join(directory, "logits.npy"), logits)
    predicted = np.bincount(logits.argmax(axis=1), minlength=10).tolist()
    meta = {"model": name, "size": SIZES[name], "batch": batch, "target": target, "predicted_counts": predicted,
            "target_probability_mean": float(probabilities[:, target].mean())}
    with open(os.path.join(directory, "meta.json"), "w") as f:
        json.dump(meta, f)
    return meta
