"""The networks users bring: `keras.applications` architectures with `weights=None`, at small sizes.

Every architecture's default layers are checked against the table below
(bare with its classifier, and nested as a backbone inside a head: the same
feature layers), and Grad-CAM runs with its defaults on each. Every family
(attribution, activations, synthesis, art, the callbacks) runs with its
defaults on MobileNetV2 (ReLU6, depthwise convs, residual `Add`), and guided
backprop is checked on the smooth-rectifier nets (swish, hard-swish, GELU).
The heaviest architectures run one representative method each, to keep the
suite within its time budget.

BatchNormalization statistics are set from one batch (momentum 0 for one
training-mode call) so that activations of the randomly initialized deep nets
neither vanish nor explode.
"""

import warnings

import keras
import numpy as np
import pytest

import kerasviz
from kerasviz import models, registry

A = keras.applications

# name -> (constructor, image size, value range of its input, expected defaults of the bare classifier)
ZOO = {
    "VGG16": (A.VGG16, 64, (-124.0, 152.0), {
        "grad_cam": "block5_conv3", "embedding": "fc2", "patches": "block3_conv2",
        "style": ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"),
        "content": "block4_conv2"}),
    "ResNet50V2": (A.ResNet50V2, 64, (-1.0, 1.0), {
        "grad_cam": "post_relu", "embedding": "avg_pool", "patches": "conv2_block3_1_relu"}),
    "InceptionV3": (A.InceptionV3, 139, (-1.0, 1.0), {
        "grad_cam": "mixed10", "embedding": "avg_pool"}),
    "Xception": (A.Xception, 71, (-1.0, 1.0), {
        "grad_cam": "block14_sepconv2_act", "embedding": "avg_pool", "patches": "block3_sepconv2_act"}),
    "MobileNetV2": (lambda **kw: A.MobileNetV2(alpha=0.35, **kw), 64, (-1.0, 1.0), {
        "grad_cam": "out_relu", "embedding": "global_average_pooling2d", "patches": "block_4_expand_relu"}),
    "MobileNetV3Small": (A.MobileNetV3Small, 64, (0.0, 255.0), {  # its activations are auto-numbered
        "grad_cam": ("feeds", "global_average_pooling2d"), "embedding": ("feeds", "dropout")}),
    "EfficientNetB0": (A.EfficientNetB0, 64, (0.0, 255.0), {
        "grad_cam": "top_activation", "embedding": "avg_pool", "patches": "block3a_expand_activation"}),
    "DenseNet121": (A.DenseNet121, 64, (-2.2, 2.7), {
        "grad_cam": "relu", "embedding": "avg_pool", "patches": "conv2_block3_1_relu"}),
    "ConvNeXtTiny": (A.ConvNeXtTiny, 64, (0.0, 255.0), {
        "grad_cam": ("feeds", "convnext_tiny_head_gap"), "embedding": "convnext_tiny_head_layernorm",
        "patches": ("feeds", "convnext_tiny_stage_0_block_1_depthwise_conv")}),  # the first residual add
}
ROLE_KINDS = {  # what each default may be: rectified or block outputs, never BN, pooling or the head
    "grad_cam": {"Activation", "ReLU", "Add", "Concatenate", "Conv2D"},
    "patches": {"Activation", "ReLU", "Add", "Concatenate", "Conv2D", "Multiply"},
}


def _calibrate(model, images):
    """Moving BatchNormalization statistics := those of `images` (one training-mode call, momentum 0).

    ConvNeXt's layer scales start at 1e-6, so its residual branches (where the
    GELUs are) do nothing until trained: they are set to 1, as training makes
    them matter.
    """
    for _, layer in models.iter_layers(model):
        if type(layer).__name__ == "LayerScale":
            layer.set_weights([np.ones_like(w) for w in layer.get_weights()])
    norms = [l for _, l in models.iter_layers(model) if isinstance(l, keras.layers.BatchNormalization)]
    momenta = [l.momentum for l in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(images, training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum


def _images(size, value_range, n=2, seed=0):
    low, high = value_range
    return np.random.default_rng(seed).uniform(low, high, (n, size, size, 3)).astype(np.float32)


def build(name, nested=False):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)  # weights=None draws the initial weights: the same ones every run
    make, size, value_range, _ = ZOO[name]
    if nested:
        backbone = make(weights=None, input_shape=(size, size, 3), include_top=False)
        model = keras.Sequential([keras.Input((size, size, 3)), backbone, keras.layers.GlobalAveragePooling2D(),
                                  keras.layers.Dense(5, activation="softmax")], name=f"{name}_head")
    else:
        model = make(weights=None, input_shape=(size, size, 3), classes=5)
    images = _images(size, value_range)
    _calibrate(model, images)
    return model, images


def _matches(model, path, expected):
    """`expected` is a layer name, or `("feeds", name)`: the layer whose output the (last) layer named so reads.

    Auto-numbered names ('activation_11', 'add_17') depend on what the process
    built before; Keras's own graph tells which layer they are.
    """
    if isinstance(expected, str):
        return path.split("/")[-1] == expected
    _, name = expected
    consumer = [l for _, l in models.iter_layers(model) if l.name.startswith(name)][-1]
    return consumer.input._keras_history.operation.name == path.split("/")[-1]


@pytest.mark.parametrize("name", sorted(ZOO))
def test_defaults_and_grad_cam_on_every_architecture(name):
    model, images = build(name)
    expected = ZOO[name][3]
    found = {}
    for role, want in expected.items():
        got = models.default_layers(model, role)
        if role == "style":
            found[role] = got
            assert len(got) == len(want) and all(_matches(model, g, w) for g, w in zip(got, want)), (role, got)
        else:
            found[role] = got[0]
            assert len(got) == 1 and _matches(model, got[0], want), (role, got)
    for role, kinds in ROLE_KINDS.items():
        for path in models.default_layers(model, role):
            assert type(models.get_layer(model, path)[1]).__name__ in kinds | {"Add"}, (role, path)
    codes = kerasviz.features(model, images)
    assert codes.ndim == 2 and np.all(np.isfinite(codes))
    maps = kerasviz.grad_cam(model, images)  # the predicted class
    assert maps.shape == images.shape[:3] and np.all(np.isfinite(maps))
    assert maps.std() > 0, "constant Grad-CAM map"
    print(name, found)


@pytest.mark.parametrize("name", ["VGG16", "MobileNetV2", "EfficientNetB0", "ConvNeXtTiny"])
def test_nested_backbone_gets_the_same_feature_defaults(name):
    bare, _ = build(name)
    bare_defaults = {r: models.default_layers(bare, r) for r in ("grad_cam", "style")}
    model, images = build(name, nested=True)
    backbone = model.layers[0].name
    for role, paths in bare_defaults.items():
        got = models.default_layers(model, role)
        assert all(g.startswith(backbone + "/") for g in got), (role, got)
        assert [g.split("/")[-1].rpartition("_")[0] or g for g in got] == \
            [p.split("/")[-1].rpartition("_")[0] or p for p in paths], role
    assert models.default_layer(model, "embedding") == model.layers[1].name  # the head's pooling


@pytest.mark.parametrize("name", ["EfficientNetB0", "MobileNetV3Small", "ConvNeXtTiny"])
def test_guided_backprop_on_smooth_rectifiers(name):
    """swish / hard-swish / GELU are guided like ReLUs (rectified upstream x own derivative), without warnings."""
    model, images = build(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        guided = kerasviz.guided_backprop(model, images, 0)
    plain = kerasviz.saliency(model, images, 0)
    assert np.all(np.isfinite(guided)) and guided.std() > 0
    r = np.corrcoef(guided.ravel(), plain.ravel())[0, 1]
    assert r < 0.99, f"guided backprop equals plain gradients (r={r:.3f}): nothing was guided"


def test_every_family_with_defaults_on_mobilenet_v2(tmp_path):
    model, images = build("MobileNetV2")
    weights = [w.numpy() for w in model.weights]
    value_range = (-1.0, 1.0)
    for name, method in registry.ATTRIBUTION_METHODS.items():
        settings = {"smoothgrad": {"samples": 2}, "integrated_gradients": {"steps": 4},
                    "occlusion": {"patch": 16, "stride": 16}, "smoothgrad_squared": {"samples": 2},
                    "vargrad": {"samples": 2}, "score_cam": {"max_channels": 8},
                    "blur_integrated_gradients": {"steps": 4}, "expected_gradients": {"samples": 4},
                    "guided_integrated_gradients": {"steps": 4}, "rise": {"masks": 32},
                    "lime": {"samples": 64}, "kernel_shap": {"samples": 64}, "xrai": {"steps": 4},
                    "deeplift_shap": {"samples": 2}, "gradient_shap": {"samples": 4},
                    "layer_integrated_gradients": {"steps": 4}, "layer_conductance": {"steps": 4},
                    "neuron_conductance": {"steps": 4}}.get(name, {})
        result = method(model, images, 0, **settings)
        assert np.all(np.isfinite(result)) and result.std() > 0, name
    top = kerasviz.top_patches(model, images, channels=[0, 1], k=2)
    assert top.layer.endswith("block_4_expand_relu")
    assert np.all(np.isfinite(kerasviz.filter_grid(model).image))
    vis = kerasviz.class_visualization(model, 1, steps=3, value_range=value_range)
    assert np.all(np.isfinite(vis.image))
    dream = kerasviz.deep_dream(model, images[:1], octaves=1, steps_per_octave=2, value_range=value_range)
    assert np.all(np.isfinite(dream.image))
    texture = kerasviz.texture_synthesis(model, images[:1], steps=2, value_range=value_range)
    assert np.all(np.isfinite(texture.image))
    styled = kerasviz.style_transfer(model, images[:1], images[1:], steps=2, value_range=value_range)
    assert np.all(np.isfinite(styled.image))
    for a, b in zip(model.weights, weights):  # every family left the model as it was
        np.testing.assert_array_equal(a.numpy(), b)
    labels = np.array([0, 1])
    callbacks = [
        kerasviz.callbacks.AttributionCallback(str(tmp_path), images, labels, value_range=value_range, on_error="raise"),
        kerasviz.callbacks.EmbeddingCallback(str(tmp_path), images, labels, k=1, on_error="raise"),
        kerasviz.callbacks.PatchesCallback(str(tmp_path), images, on_error="raise", run_name="patches"),
    ]
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    model.fit(images, labels, epochs=1, verbose=0, callbacks=callbacks)  # on_error="raise": each wrote
