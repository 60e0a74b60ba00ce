"""Tiny seeded models with several inputs, small enough for closed-form references.

`image_and_side`: an image and a vector side input, both reaching the output.
`two_images_one_used`: two image branches of their own; the output depends
on `left` only (`right`'s conv has a zero kernel: it is in the graph, times
0). `image_and_spatial_side`: the side vector is reshaped into a spatial map
and concatenated with the image's features (a spatial layer that depends on
no image input).
"""

import keras
import numpy as np
import tensorflow as tf

import kerasviz

SIZE, SIDE, CLASSES = 6, 3, 4


def image_and_side(seed=0):
    """`image` [6, 6, 2] and `side` [3] -> tanh features of both -> 4 classes (softmax)."""
    init = keras.initializers.GlorotUniform(seed=seed)
    image = keras.Input((SIZE, SIZE, 2), name="image")
    side = keras.Input((SIDE,), name="side")
    x = keras.layers.Concatenate()([keras.layers.Flatten()(image), side])
    x = keras.layers.Dense(8, activation="tanh", kernel_initializer=init)(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", kernel_initializer=init)(x)
    return keras.Model({"image": image, "side": side}, outputs, name="image_and_side")


def two_images_one_used(seed=0):
    """Two image inputs, a conv branch each (`left_conv`, `right_conv`, then `add`); the output reads `left` only."""
    init = keras.initializers.GlorotUniform(seed=seed)
    left, right = keras.Input((SIZE, SIZE, 2), name="left"), keras.Input((SIZE, SIZE, 2), name="right")
    used = keras.layers.Conv2D(3, 3, activation="relu", kernel_initializer=init, bias_initializer="ones",
                               name="left_conv")(left)
    ignored = keras.layers.Conv2D(3, 3, kernel_initializer="zeros", name="right_conv")(right)  # times 0
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add(name="add")([used, ignored]))
    return keras.Model([left, right], keras.layers.Dense(CLASSES, kernel_initializer=init)(x), name="two_images")


def image_and_spatial_side(seed=0):
    """`image` [6, 6, 2], `side` [3]: the side vector becomes a [6, 6, 1] map (`side_map`) beside the image's conv."""
    init = keras.initializers.GlorotUniform(seed=seed)
    image = keras.Input((SIZE, SIZE, 2), name="image")
    side = keras.Input((SIDE,), name="side")
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=init,
                                   name="image_conv")(image)
    side_map = keras.layers.Reshape((SIZE, SIZE, 1), name="side_map")(
        keras.layers.Dense(SIZE * SIZE, kernel_initializer=init)(side))
    merged = keras.layers.Concatenate(name="merged")([features, side_map])
    x = keras.layers.Conv2D(5, 3, padding="same", activation="relu", kernel_initializer=init, name="joint")(merged)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model({"image": image, "side": side}, keras.layers.Dense(CLASSES, kernel_initializer=init)(x),
                       name="image_and_spatial_side")


def image_pair(n=2, seed=1):
    """Two inputs' worth of uniform images `[n, SIZE, SIZE, 2]` (for `two_images_one_used`), seeded."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 1, (n, SIZE, SIZE, 2)).astype(np.float32) for _ in range(2)]


def probability(model, inputs, cls):
    """The softmax probability of class `cls` from the model's logits (behind its softmax, if any), numpy `[B]`."""
    with kerasviz.models.patched(model):
        logits = model(inputs)
    return tf.nn.softmax(logits, axis=-1).numpy()[:, cls]
