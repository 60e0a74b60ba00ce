"""The pictures people come for, on a real ImageNet classifier in its own 0-255 input range (issue 22).

`../shared/imagenet` holds a pretrained EfficientNet-Lite3 (280 x 280 RGB, raw pixels 0-255, softmax over the
1000 ImageNet classes). Each test is one call that proves a point the 64-px shapes model could not: step sizes
in units of the value range, no dead channels in feature visualization, DeepDream's octaves on a fixed-size
classifier, and a class visualization that the network still recognises after transforms it never saw.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import targets
from kerasviz.art import deepdream
from kerasviz.gradients import feature_visualization, synthesis
from tests.helpers.processes import REPO

FOLDER = os.path.join(REPO, "..", "shared", "imagenet")
MODEL = os.path.join(FOLDER, "efficientnet_lite3.keras")
RANGE = (0.0, 255.0)
BALD_EAGLE = 22

pytestmark = [
    pytest.mark.skipif(not os.path.exists(MODEL), reason=f"no ImageNet classifier at {MODEL} (../shared/imagenet)"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def model():
    keras.backend.clear_session()
    return keras.models.load_model(MODEL, compile=False)


def _photo(name, size=280):
    from PIL import Image

    with Image.open(os.path.join(FOLDER, "photos", name)) as image:
        image = image.convert("RGB")
        side = min(image.size)
        left, top = (image.size[0] - side) // 2, (image.size[1] - side) // 2
        image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
        return np.asarray(image, np.float32)[None]


def _probability(model, images, label):
    return model.predict(images, verbose=0)[:, label]


def test_the_same_steps_in_0_255_as_in_the_networks_0_1_twin(model):
    """Issue 22 finding 1: steps, L2, noise and the Fourier latent were in input units, 255x too small.

    The network's gradients are equal to float rounding, which the optimization then amplifies (Adam's
    first step is the gradient's sign): one step agrees to rounding, sixteen steps in contrast reached.
    """
    inputs = keras.Input((280, 280, 3))
    twin = keras.Model(inputs, model(keras.layers.Rescaling(255.0)(inputs)), name="unit_twin")
    for steps in (1, 16):
        raw = kerasviz.class_visualization(model, [BALD_EAGLE], steps=steps, value_range=RANGE).image / 255.0
        unit = kerasviz.class_visualization(twin, [BALD_EAGLE], steps=steps, value_range=(0.0, 1.0)).image
        if steps == 1:
            assert np.mean(np.abs(raw - unit)) < 2e-3 and np.max(np.abs(raw - unit)) < 1e-2
    contrast = [x.mean(axis=-1).std() for x in (raw, unit)]
    assert contrast[1] > 0.05 and abs(contrast[0] / contrast[1] - 1.0) < 0.15, contrast


def test_feature_visualization_excites_every_channel_of_its_default_layer(model):
    """Issue 22 finding 2: on the ReLU6 output the issue names, 5 of 6 channels stayed dead from a grey start."""
    result = kerasviz.feature_visualization(model, channels=4, steps=32, value_range=RANGE)
    assert result.layer == feature_visualization.default_layer(model)
    assert np.all(result.objectives > 0.1), result.objectives
    deep = "depthwise_conv_2d_72_act"  # a ReLU6 layer at 9 x 9, the old default
    fired = {pre: kerasviz.feature_visualization(model, deep, channels=4, steps=32, value_range=RANGE,
                                                 pre_activation=pre).objectives for pre in (True, False)}
    assert np.sum(fired[False] == 0.0) >= 2, fired  # after the rectifier: the grey start, no gradient
    assert np.sum(fired[True] > 0.1) >= 3 and np.sum(fired[True] > 0.1) > np.sum(fired[False] > 0.1), fired


def test_deep_dream_dreams_over_octaves_on_the_fixed_size_classifier(model):
    """Issue 22 finding 3: octaves were refused for a fixed input size, and one octave changed a photo by 7.7 levels."""
    photo = _photo("dog.jpg")
    result = kerasviz.deep_dream(model, photo, value_range=RANGE)
    assert result.image.shape == photo.shape and result.steps == 4 * 20
    layers = deepdream.default_dream_layers(model, photo.shape[1:])
    objective = sum((targets.LayerL2(layer) for layer in layers), 0)
    before, after = (synthesis.objective_values(model, objective, x)[0] for x in (photo, result.image))
    assert after > 1.5 * before
    assert np.sqrt(np.mean((result.image - photo) ** 2)) > 10.0  # grey levels of 255


def test_a_class_visualization_is_recognised_after_transforms_it_never_saw(model):
    """Issue 22 finding 4: with the defaults in the model's own range, p(target) >= 0.9, flipped and zoomed too."""
    result = kerasviz.class_visualization(model, BALD_EAGLE, value_range=RANGE)
    image = result.image
    flipped = image[:, :, ::-1]
    zoomed = tf.image.resize(image[:, 28:-28, 28:-28], (280, 280), method="bicubic").numpy().clip(*RANGE)
    for name, x in (("as made", image), ("flipped", flipped), ("zoomed 1.25x", zoomed)):
        assert _probability(model, x, BALD_EAGLE)[0] >= 0.9, name
    unit = image / 255.0
    assert unit.mean(axis=-1).std() > 0.08  # contrast: not a flat grey square
