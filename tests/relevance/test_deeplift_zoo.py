"""DeepLIFT (Rescale and RevealCancel) and conductance on the `keras.applications` zoo (weights=None, 32 px):
residual sums (ResNet50), depthwise blocks and squeeze-and-excitation products (MobileNetV3Small,
EfficientNetB0), concatenations and max pooling (DenseNet121); ConvNeXt's LayerNormalization is refused by name.

BatchNormalization statistics are set from a batch (momentum 0 for one training-mode call) so that the
randomly initialized nets' activations neither vanish nor explode. Summation-to-delta is checked against
the float32 rounding of the contributions themselves (`|sum - delta| <= 1e-5 * sum |contributions|`).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import compiled, models

pytestmark = pytest.mark.slow

A = keras.applications
SIZE = 32
ZOO = {  # name -> (constructor, value range of its input)
    "ResNet50": (A.ResNet50, (-124.0, 152.0)),
    "MobileNetV3Small": (A.MobileNetV3Small, (0.0, 255.0)),
    "EfficientNetB0": (A.EfficientNetB0, (0.0, 255.0)),
    "DenseNet121": (A.DenseNet121, (-2.2, 2.7)),
}


def _build(make, value_range):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = make(weights=None, input_shape=(SIZE, SIZE, 3), classes=5)
    images = np.random.default_rng(0).uniform(*value_range, (8, SIZE, SIZE, 3)).astype(np.float32)
    norms = [layer for _, layer in models.iter_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    model(images, training=True)
    return model, images


@pytest.mark.parametrize("name", sorted(ZOO))
def test_deeplift_sums_to_delta_on_the_zoo(name):
    model, images = _build(*ZOO[name])
    x, x0 = images[:2], images[2:4]
    contributions = kerasviz.deeplift(model, x, target=1, baseline=x0, signed=True).astype(np.float64)
    logits = lambda z: np.asarray(models.run(model, tf.constant(z))[0], np.float64)[:, 1]  # noqa: E731
    delta = logits(x) - logits(x0)
    total = contributions.sum(axis=(1, 2, 3))
    assert np.all(np.abs(total - delta) <= 1e-5 * np.abs(contributions).sum(axis=(1, 2, 3)) + 1e-6), (total, delta)
    # RevealCancel cancels less (its contributions' magnitudes are far smaller), so the rounding of the network's
    # own differences, which Rescale's error measures, bounds it: it must be as exact as Rescale on the same net. It
    # also runs [x; x0] in one batch, whose forward rounds differently from batches of 2 (1e-4 of EfficientNet's
    # logits of 100; measured errors: ResNet50 3e-4 for Rescale and RevealCancel; EfficientNetB0 4e-4 for
    # Rescale, 0.016 for RevealCancel, the batched forward's rounding 0.004).
    revealed = kerasviz.deeplift(model, x, target=1, baseline=x0, rule="reveal_cancel", signed=True)
    both = logits(np.concatenate([x, x0]))
    rounding = np.abs(both[:2] - logits(x)) + np.abs(both[2:] - logits(x0))
    error = np.abs(revealed.astype(np.float64).sum(axis=(1, 2, 3)) - delta)
    assert np.all(error <= 3 * (np.abs(total - delta) + rounding) + 1e-5 * np.abs(revealed).sum(axis=(1, 2, 3))
                  + 1e-6), (error, total - delta, rounding)


def test_convnext_is_refused_naming_its_layer_norms():
    keras.backend.clear_session()
    model = A.ConvNeXtTiny(weights=None, input_shape=(SIZE, SIZE, 3), classes=5)
    with pytest.raises(ValueError, match=r"convnext_tiny_stem_layernorm' \(LayerNormalization\)"):
        kerasviz.deeplift(model, np.zeros((1, SIZE, SIZE, 3), np.float32), target=0)
    assert compiled.tracing_count(model) == 0


def test_layer_conductance_is_integrated_gradients_total_on_mobilenet():
    model, images = _build(lambda **kw: A.MobileNetV2(alpha=0.35, **kw), (-1.0, 1.0))
    x = images[:2]
    channels = kerasviz.layer_conductance(model, x, target=3, steps=4, output="channels")  # the Grad-CAM layer
    ig = kerasviz.integrated_gradients(model, x, target=3, steps=4, signed=True)
    np.testing.assert_allclose(channels.sum(axis=1), ig.sum(axis=(1, 2, 3)), rtol=1e-3,
                               atol=1e-5 * np.abs(ig).sum())
