"""The meaningful-layer rules behind every default layer (issue 11, findings 1-4), on small nets.

Each net is built to contain the trap a position-based default fell into: a
pooling or BatchNormalization output after the last conv, a pre-activation
conv, a class-map conv before global pooling, a receptive field wider than the
image. The architectures users bring are in `test_zoo.py`.
"""

import keras
import numpy as np
import pytest

import kerasviz
from kerasviz import layer_graph, models

L = keras.layers


def _init(seed):
    return keras.initializers.GlorotUniform(seed=seed)


def vgg_like(size=32):
    """conv-relu blocks each ending in max pooling, flatten, two dense layers (VGG's shape)."""
    inputs = keras.Input((size, size, 3))
    x = inputs
    for block in (1, 2):
        x = L.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=_init(block), name=f"block{block}_conv1")(x)
        x = L.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=_init(block + 10), name=f"block{block}_conv2")(x)
        x = L.MaxPooling2D(name=f"block{block}_pool")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(16, activation="relu", kernel_initializer=_init(20), name="fc1")(x)
    x = L.Dense(16, activation="relu", kernel_initializer=_init(21), name="fc2")(x)
    outputs = L.Dense(4, activation="softmax", kernel_initializer=_init(22), name="predictions")(x)
    return keras.Model(inputs, outputs, name="vgg_like")


def _bn_block(x, name, filters, strides=1):
    x = L.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, kernel_initializer=_init(len(name)), name=f"{name}_conv")(x)
    x = L.BatchNormalization(name=f"{name}_bn")(x)
    return L.ReLU(name=f"{name}_relu")(x)


def bn_residual(size=32):
    """conv-BN-ReLU blocks, a residual Add whose branch ends in a pre-activation conv + BN, GAP, Dense."""
    inputs = keras.Input((size, size, 3))
    x = _bn_block(inputs, "stem", 8)
    x = _bn_block(x, "a", 8, strides=2)
    branch = L.Conv2D(8, 3, padding="same", kernel_initializer=_init(5), name="b_conv")(x)
    branch = L.BatchNormalization(name="b_bn")(branch)
    x = L.Add(name="b_add")([x, branch])
    x = L.ReLU(name="b_out")(x)
    x = L.BatchNormalization(name="post_bn")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(4, activation="softmax", kernel_initializer=_init(6), name="predictions")(x)
    return keras.Model(inputs, outputs, name="bn_residual")


def all_convolutional(size=32, classes=4, channels=3):
    """Springenberg et al.'s all-convolutional classifier: a class-map conv, global pooling, softmax."""
    inputs = keras.Input((size, size, channels))
    x = L.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=_init(1), name="conv1")(inputs)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", kernel_initializer=_init(2), name="conv2")(x)
    x = L.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=_init(3), name="conv3")(x)
    x = L.Conv2D(classes, 1, kernel_initializer=_init(4), name="class_map")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Activation("softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="all_conv")


class SubclassedResidual(keras.Model):
    """The subclassed twin of `bn_residual` (same layers, same names, called in `call`)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        twin = bn_residual()
        self.twin_layers = {l.name: l.__class__.from_config(l.get_config()) for l in twin.layers[1:]}
        for name, layer in self.twin_layers.items():
            setattr(self, name, layer)

    def call(self, x, training=False):
        t = self.twin_layers
        for name in ("stem", "a"):
            x = t[f"{name}_relu"](t[f"{name}_bn"](t[f"{name}_conv"](x), training=training))
        branch = t["b_bn"](t["b_conv"](x), training=training)
        x = t["b_out"](t["b_add"]([x, branch]))
        x = t["gap"](t["post_bn"](x, training=training))
        return t["predictions"](x)


def test_vgg_like_grad_cam_is_the_last_conv_not_the_pool():
    keras.backend.clear_session()
    model = vgg_like()
    assert models.default_layer(model, "grad_cam") == "block2_conv2"
    assert models.default_layer(model, "embedding") == "fc2"  # CS231n's "CNN codes": fc7
    assert layer_graph.layer_graph(model).head == ["predictions", "fc2", "fc1", "flatten"]


def test_bn_nets_never_default_to_batchnorm_pooling_or_preactivation():
    keras.backend.clear_session()
    model = bn_residual()
    assert models.default_layer(model, "grad_cam") == "b_out"  # not post_bn, not gap
    assert models.default_layer(model, "embedding") == "gap"
    chosen = set()
    for role in ("grad_cam", "patches", "dream", "style", "content"):
        chosen.update(models.default_layers(model, role))
    kinds = {type(models.get_layer(model, path)[1]).__name__ for path in chosen}
    assert kinds <= {"ReLU", "Add"}, kinds
    assert "b_conv" not in layer_graph.layer_graph(model).meaningful  # followed by BN: pre-activation


def test_subclassed_twin_gets_the_same_defaults_and_the_same_maps():
    keras.backend.clear_session()
    functional = bn_residual()
    sub = SubclassedResidual(name="sub")
    sub(np.zeros((1, 32, 32, 3), np.float32))
    for layer in functional.layers[1:]:
        sub.twin_layers[layer.name].set_weights(layer.get_weights())
    for role in ("grad_cam", "embedding", "patches", "dream", "style", "content"):
        assert models.default_layers(sub, role) == models.default_layers(functional, role), role
    images = np.random.default_rng(0).uniform(0, 1, (3, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(kerasviz.grad_cam(sub, images, 1), kerasviz.grad_cam(functional, images, 1),
                               rtol=1e-4, atol=1e-6)


def test_all_convolutional_grad_cam_and_embedding_skip_the_class_map():
    keras.backend.clear_session()
    model = all_convolutional()
    graph = layer_graph.layer_graph(model)
    assert graph.head == ["probabilities", "gap", "class_map"]
    assert models.default_layer(model, "grad_cam") == "conv3"
    assert models.default_layer(model, "embedding") == "conv3"
    images = np.random.default_rng(1).uniform(0, 1, (4, 32, 32, 3)).astype(np.float32)
    codes = kerasviz.features(model, images)  # pooled over positions: one 16-D code per image
    assert codes.shape == (4, 16) and np.all(np.isfinite(codes))
    maps = kerasviz.grad_cam(model, images)
    assert maps.shape == (4, 32, 32) and maps.std() > 0


def test_grayscale_all_convolutional_defaults():
    keras.backend.clear_session()
    model = all_convolutional(channels=1)
    assert models.default_layer(model, "grad_cam") == "conv3"
    assert models.default_layer(model, "filters") == "conv1"
    grid = kerasviz.filter_grid(model)
    assert np.all(np.isfinite(grid.image))


def deep_narrow(size=24, depth=8):
    inputs = keras.Input((size, size, 3))
    x = inputs
    for i in range(depth):
        x = L.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=_init(i), name=f"c{i}")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(3, kernel_initializer=_init(99))(x), name="deep_narrow")


def test_top_patches_default_receptive_field_fits_inside_the_image():
    keras.backend.clear_session()
    model = deep_narrow()  # c7 sees 17x17 of 24x24: every "patch" of it is nearly the whole image
    path = models.default_layer(model, "patches")
    size = kerasviz.receptive_field(model, path).size
    assert max(size) <= 12 and path == "c4"  # 3 + 2 * 4 = 11 pixels; c5 would see 13
    images = np.random.default_rng(2).uniform(0, 1, (6, 24, 24, 3)).astype(np.float32)
    top = kerasviz.top_patches(model, images, channels=[0, 1], k=2)
    assert top.layer == "c4"


def test_defaults_are_logged(caplog):
    keras.backend.clear_session()
    model = vgg_like()
    with caplog.at_level("INFO", logger="kerasviz"):
        models.default_layer(model, "grad_cam")
    assert "block2_conv2" in caplog.text and "grad_cam" in caplog.text


def test_unknown_role_and_non_image_model():
    keras.backend.clear_session()
    with pytest.raises(ValueError, match="`role`"):
        models.default_layer(vgg_like(), "last_conv")
    dense = keras.Sequential([keras.Input((4,)), L.Dense(2)])
    with pytest.raises(ValueError, match="no layer for the default 'grad_cam'"):
        models.default_layer(dense, "grad_cam")
