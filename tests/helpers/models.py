"""Tiny seeded models in every form users have, and the checks that a model was left unchanged.

Every form computes the same kind of network (conv with fused ReLU, a ReLU
layer, conv, global pooling, a named FC layer, logits, softmax) on 16x16x3
images with 4 classes, so tests can be parametrized over forms (the
`model_form` fixture of `tests/conftest.py`).
"""

import os

import keras
import numpy as np

SIZE = 16
CLASSES = 4


def initializer(seed):
    """The seeded kernel initializer of every tiny model."""
    return keras.initializers.GlorotUniform(seed=seed)


def layer_stack(seed):
    """The layers of the standard tiny network."""
    return [
        keras.layers.Conv2D(6, 3, padding="same", activation="relu", kernel_initializer=initializer(seed), name="conv1"),
        keras.layers.Conv2D(8, 3, padding="same", kernel_initializer=initializer(seed + 1), name="conv2"),
        keras.layers.ReLU(name="relu2"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(12, activation="relu", kernel_initializer=initializer(seed + 2), name="fc"),
        keras.layers.Dense(CLASSES, activation="softmax", kernel_initializer=initializer(seed + 3), name="logits", dtype="float32"),
    ]


def saved_model_and_images(folder, count=2, size=20, images_in=""):
    """`folder` with `model.keras` (the functional test model) and `img0.png`... (seeded noise): a CLI's inputs.

    With `images_in`, the images go to that subfolder of `folder` (a CLI's image directory).
    """
    from PIL import Image

    keras.backend.clear_session()
    functional().save(folder / "model.keras")
    (folder / images_in).mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / images_in / f"img{i}.png")
    return folder


def sequential(seed=0):
    return keras.Sequential([keras.Input((SIZE, SIZE, 3), name="image")] + layer_stack(seed), name="seq")


def functional(seed=0):
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = inputs
    layers = layer_stack(seed)
    for layer in layers[:-1]:
        x = layer(x)
    x = keras.layers.Dense(CLASSES, kernel_initializer=initializer(seed + 3), name="logits")(x)
    outputs = keras.layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, outputs, name="func")


def nested(seed=0):
    """A functional backbone inside a Sequential head (the keras.applications pattern)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", kernel_initializer=initializer(seed), name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", kernel_initializer=initializer(seed + 1), name="conv2")(x)
    x = keras.layers.ReLU(name="relu2")(x)
    backbone = keras.Model(inputs, x, name="backbone")
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3), name="image"),
            backbone,
            keras.layers.GlobalAveragePooling2D(name="pool"),
            keras.layers.Dense(12, activation="relu", kernel_initializer=initializer(seed + 2), name="fc"),
            keras.layers.Dense(CLASSES, kernel_initializer=initializer(seed + 3), name="logits"),
            keras.layers.Activation("softmax", name="probabilities"),
        ],
        name="nested",
    )


class Subclassed(keras.Model):
    def __init__(self, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.stack = layer_stack(seed)

    def call(self, x, training=False):
        for layer in self.stack:
            x = layer(x)
        return x


def subclassed(seed=0):
    model = Subclassed(seed, name="sub")
    model(np.zeros((1, SIZE, SIZE, 3), np.float32))
    return model


def mixed_precision(seed=0):
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        return sequential(seed)
    finally:
        keras.mixed_precision.set_global_policy(policy)


def reloaded(seed=0, directory=None):
    import tempfile

    model = functional(seed)
    path = os.path.join(directory or tempfile.mkdtemp(), "model.keras")
    model.save(path)
    return keras.models.load_model(path)


MODEL_FORMS = {
    "sequential": sequential,
    "functional": functional,
    "nested": nested,
    "subclassed": subclassed,
    "mixed_float16": mixed_precision,
    "reloaded": reloaded,
}


def rich_model():
    """Max pooling, a squeeze-and-excitation product, swish, tanh, global max pooling, softmax at the end."""
    L = keras.layers
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.Conv2D(6, 3, padding="same", activation="swish", kernel_initializer=initializer(0), name="conv1")(inputs)
    x = L.MaxPooling2D(name="pool1")(x)
    gate = L.GlobalAveragePooling2D(keepdims=True)(x)
    gate = L.Conv2D(6, 1, activation="sigmoid", kernel_initializer=initializer(1), name="gate")(gate)
    x = L.Multiply(name="excite")([x, gate])
    x = L.BatchNormalization(name="bn")(x)
    x = L.Conv2D(8, 3, activation="tanh", kernel_initializer=initializer(2), name="conv2")(x)
    shortcut = L.Conv2D(8, 3, kernel_initializer=initializer(3))(L.Cropping2D(0)(L.MaxPooling2D()(inputs)))
    x = L.ReLU(name="relu2")(L.Add()([x, shortcut]))
    x = L.GlobalMaxPooling2D(name="gmax")(x)
    return keras.Model(inputs, L.Dense(4, activation="softmax", kernel_initializer=initializer(4))(x), name="rich")


def compiled_model(build=functional):
    """A fresh tiny model compiled for `fit` (SGD, sparse categorical cross-entropy), after `clear_session`."""
    keras.backend.clear_session()
    model = build()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def downsampling_model(seed=0):
    """Functional: conv (stride 2) -> conv -> GAP -> logits -> softmax; 16x16 -> 8x8 maps."""
    init = keras.initializers.GlorotUniform
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu", kernel_initializer=init(seed), name="down")(inputs)
    x = keras.layers.Conv2D(7, 3, padding="same", activation="relu", kernel_initializer=init(seed + 1), name="feat")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(CLASSES, kernel_initializer=init(seed + 2), name="logits")(x)
    return keras.Model(inputs, keras.layers.Softmax()(x))


def weights_snapshot(model):
    return [np.array(w) for w in model.get_weights()]


def layer_state(model):
    """Every layer's instance attributes (by identity), to prove nothing was patched or left behind."""
    import kerasviz

    return {
        path: {k: id(v) for k, v in vars(layer).items()}
        for path, layer in kerasviz.models.iter_layers(model)
    }


def assert_model_unchanged(model, before_weights, before_state):
    after = weights_snapshot(model)
    assert len(after) == len(before_weights)
    for a, b in zip(after, before_weights):
        np.testing.assert_array_equal(a, b)
    assert layer_state(model) == before_state


def rank3_model(size=8, channels=6, classes=3, seed=0):
    """Layer "mix" = relu(x @ K), K >= 0 of shape [3, channels]: on non-negative images its activations have rank 3.

    The head is global average pooling and a linear Dense before a softmax:
    the gradient of logit c w.r.t. "mix" is `W[:, c] / (h w)` everywhere.
    """
    rng = np.random.default_rng(seed)
    inputs = keras.Input((size, size, 3))
    mix = keras.layers.Conv2D(channels, 1, activation="relu", use_bias=False, name="mix")(inputs)
    logits = keras.layers.Dense(classes, name="logits")(keras.layers.GlobalAveragePooling2D()(mix))
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    model.get_layer("mix").set_weights([rng.uniform(0, 1, (1, 1, 3, channels)).astype(np.float32)])
    model.get_layer("logits").set_weights([rng.normal(0, 1, (channels, classes)).astype(np.float32),
                                           np.zeros(classes, np.float32)])
    return model
