"""Value ranges: the `keras.applications` presets, and images outside the range are an error, never clipped.

Issue 11 finding 5: with the default `(0, 1)` on a [-1, 1] model, `fooling_image` reported success after
changing 91% of the pixels by up to 1.0 (clipping), and `fgsm` at epsilon 0.007 changed 41% of them.
"""

import keras
import numpy as np
import pytest
from keras.applications import imagenet_utils

import kerasviz
from kerasviz import image, inputs
from kerasviz.gradients import synthesis
from tests.helpers.models import SIZE, sequential


@pytest.fixture(scope="module")
def tiny():
    keras.backend.clear_session()
    return sequential()


def _pixels(n=2, seed=0, size=SIZE):
    """uint8-valued RGB pixels in [0, 255] (float32), with the extremes 0 and 255 present."""
    x = np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)).astype(np.float32)
    x[:, 0, 0], x[:, 0, 1] = 0.0, 255.0
    return x


# ------------------------------------------------------------- the presets, against Keras's own preprocessing


@pytest.mark.parametrize("mode", ["tf", "torch", "caffe"])
def test_presets_are_the_range_of_keras_preprocess_input(mode):
    black, white = np.zeros((1, 1, 1, 3), np.float32), np.full((1, 1, 1, 3), 255.0, np.float32)
    low = imagenet_utils.preprocess_input(black.copy(), mode=mode).reshape(3)
    high = imagenet_utils.preprocess_input(white.copy(), mode=mode).reshape(3)
    resolved = inputs.check_value_range(mode, 3)
    np.testing.assert_allclose(np.broadcast_to(resolved.low, 3), low, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.broadcast_to(resolved.high, 3), high, rtol=1e-6, atol=1e-6)
    assert resolved.bgr == (mode == "caffe")
    # Real preprocessed images (float32 rounding included) are inside; a little beyond is not.
    processed = imagenet_utils.preprocess_input(_pixels(), mode=mode)
    inputs.check_in_range(processed, resolved, "images")
    beyond = processed.copy()
    beyond[0, 0, 0, 1] = np.broadcast_to(resolved.high, 3)[1] + 1e-3 * resolved.span
    with pytest.raises(ValueError, match=rf"`images`.*`value_range={mode!r}`"):
        inputs.check_in_range(beyond, resolved, "images")


def test_plain_pairs_and_per_channel_pairs():
    assert inputs.check_value_range((0, 255)).span == 255.0
    low, high = inputs.check_value_range((0, 255))  # unpacks like the pair it was
    assert (low, high) == (0.0, 255.0) and tuple(inputs.check_value_range("tf")) == (-1.0, 1.0)
    assert inputs.check_value_range([0, 1]).span == 1.0
    per_channel = inputs.check_value_range(((0, -1, 0), (1, 1, 255)), 3)
    np.testing.assert_array_equal(per_channel.low, [0, -1, 0])
    for bad in [(1, 0), (0,), "imagenet", (0, np.inf), ((0, 0), (1, 1, 1)), ((0, 2, 0), (1, 1, 1))]:
        with pytest.raises(ValueError, match="value_range"):
            inputs.check_value_range(bad)
    with pytest.raises(ValueError, match=r"`value_range='torch'`.*3 channels.*1 channels"):
        inputs.check_value_range("torch", 1)


def test_to_display_reads_the_presets():
    pixels = _pixels()
    for mode in ("tf", "torch", "caffe"):
        processed = imagenet_utils.preprocess_input(pixels.copy(), mode=mode)
        np.testing.assert_allclose(image.to_display(processed, mode), pixels / 255.0, atol=1e-5, err_msg=mode)


# ------------------------------------------------------------- never clipped silently


def _tf_images(n=2):
    return np.random.default_rng(1).uniform(-1, 1, (n, SIZE, SIZE, 3)).astype(np.float32)


ENTRY_POINTS = [
    ("fooling_image", lambda m, x: kerasviz.fooling_image(m, x, 1), "image"),
    ("fgsm", lambda m, x: kerasviz.fgsm(m, x), "images"),
    ("class_visualization", lambda m, x: kerasviz.class_visualization(m, 1, init=x), "init"),
    ("invert_features", lambda m, x: kerasviz.invert_features(m, x, "conv1"), "image_or_features"),
    ("invert_features init", lambda m, x: kerasviz.invert_features(m, np.abs(x), "conv1", init=x), "init"),
    ("optimize", lambda m, x: kerasviz.optimize(m, 1, x), "init"),
    ("deep_dream", lambda m, x: kerasviz.deep_dream(m, x, "conv2", octaves=1), "image"),
    ("texture_synthesis", lambda m, x: kerasviz.texture_synthesis(m, x, ["conv1"]), "texture"),
    ("texture_synthesis init", lambda m, x: kerasviz.texture_synthesis(m, np.abs(x), ["conv1"], init=x), "init"),
    ("style_transfer content", lambda m, x: kerasviz.style_transfer(m, x, np.abs(x), "conv2", ["conv1"]), "content"),
    ("style_transfer style", lambda m, x: kerasviz.style_transfer(m, np.abs(x), x, "conv2", ["conv1"]), "style"),
    ("smoothgrad", lambda m, x: kerasviz.smoothgrad(m, x, value_range=(0, 1)), "images"),
]


@pytest.mark.parametrize("name, call, argname", ENTRY_POINTS, ids=[e[0] for e in ENTRY_POINTS])
def test_images_outside_the_range_raise_naming_both(tiny, name, call, argname):
    with pytest.raises(ValueError, match=rf"`{argname}` with values outside `value_range=\(0.0, 1.0\)`.*-0\.9"):
        call(tiny, _tf_images())


def test_the_reported_cases_work_with_the_right_range(tiny):
    images = _tf_images(3)
    goal = (tiny.predict(images, verbose=0).argmax(-1) + 1) % 4
    result = kerasviz.fooling_image(tiny, images, goal, value_range="tf")
    assert result.fooled
    assert np.abs(result.perturbation).max() < 0.2  # measured: 0.084 (the old clipping to (0, 1): up to 1.0)
    adversarial = kerasviz.fgsm(tiny, images, epsilon=0.007, value_range="tf")
    step = np.abs(adversarial - images)
    assert step.max() <= 0.014 + 1e-6  # 0.7% of the width 2, nothing clipped to the wrong range


def test_per_channel_ranges_keep_each_channel_in_its_own():
    keras.backend.clear_session()
    model = sequential()
    start = imagenet_utils.preprocess_input(_pixels(1), mode="caffe")
    result = synthesis.optimize(model, 1, start, steps=5, learning_rate=200.0, value_range="caffe")
    low, high = inputs.check_value_range("caffe").low, inputs.check_value_range("caffe").high
    flat = result.image.reshape(-1, 3)
    assert np.all(flat >= low - 1e-3) and np.all(flat <= high + 1e-3)
    # The steps were large enough to reach each channel's own bounds, which differ by channel.
    np.testing.assert_allclose(flat.min(0), low, atol=1e-3)
    np.testing.assert_allclose(flat.max(0), high, atol=1e-3)


# ------------------------------------------------------------- every optimization in units of the value range


def _twins():
    """One network taking [0, 1], and the same network behind a rescaling to take [0, 255] and [-1, 1]."""
    keras.backend.clear_session()
    base = sequential()
    wrapped = {}
    for name, (low, high) in {"0-255": (0.0, 255.0), "-1-1": (-1.0, 1.0)}.items():
        x = keras.Input((SIZE, SIZE, 3))
        unit = keras.layers.Rescaling(1.0 / (high - low), offset=-low / (high - low))(x)
        wrapped[name] = (keras.Model(x, base(unit), name=f"twin_{name.replace('-', '_')}"), (low, high))
    return {"0-1": (base, (0.0, 1.0)), **wrapped}


_RECIPES = {
    "class (pixels)": lambda m, p, vr: kerasviz.class_visualization(
        m, [1, 2], steps=12, value_range=vr, parameterization=None, transforms=None).image,
    "class (fourier)": lambda m, p, vr: kerasviz.class_visualization(
        m, [1, 2], steps=12, value_range=vr, parameterization="fourier", transforms="standard").image,
    "features": lambda m, p, vr: kerasviz.feature_visualization(
        m, f"{p}conv2", channels=2, steps=12, value_range=vr).images,
    "dream": lambda m, p, vr: kerasviz.deep_dream(
        m, vr[0] + (vr[1] - vr[0]) * _unit_images(), f"{p}conv2", octaves=1, steps_per_octave=6, value_range=vr).image,
    "inversion": lambda m, p, vr: kerasviz.invert_features(
        m, vr[0] + (vr[1] - vr[0]) * _unit_images(), f"{p}conv1", steps=12, value_range=vr).image,
    "texture": lambda m, p, vr: kerasviz.texture_synthesis(
        m, vr[0] + (vr[1] - vr[0]) * _unit_images()[:1], [f"{p}conv1", f"{p}conv2"], steps=12, value_range=vr).image,
}


def _unit_images():
    return np.random.default_rng(3).uniform(0.1, 0.9, (2, SIZE, SIZE, 3)).astype(np.float32)


@pytest.mark.parametrize("recipe", sorted(_RECIPES))
def test_the_same_seed_gives_the_same_picture_in_every_input_convention(recipe):
    """A [0, 255] model and its [0, 1] and [-1, 1] twins get the same images, up to the affine map."""
    units = {}
    for name, (model, (low, high)) in _twins().items():
        prefix = "" if name == "0-1" else "seq/"
        units[name] = (_RECIPES[recipe](model, prefix, (low, high)) - low) / (high - low)
    assert 0.0 <= units["0-1"].min() and units["0-1"].max() <= 1.0
    assert np.std(units["0-1"]) > 1e-3  # something was drawn
    for name in ("0-255", "-1-1"):
        np.testing.assert_allclose(units[name], units["0-1"], atol=2e-3, err_msg=f"{recipe}: {name} vs 0-1")
