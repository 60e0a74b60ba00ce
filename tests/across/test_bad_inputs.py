"""Bad inputs fail early and clearly; degenerate outputs are said (issue 11 findings 7 and 9, issue 12 finding 6).

One table of bad inputs -> the exception type and a message fragment naming the argument (and echoing
the value received).
"""

import warnings

import keras
import numpy as np
import pytest

import kerasviz
from kerasviz import image, registry
from kerasviz.activations.embeddings import embedding_grid
from tests.helpers import method_settings
from tests.helpers.models import CLASSES, SIZE, initializer, sequential

TINY_SETTINGS = method_settings.TINY_SETTINGS


# Maps averaged over random masks or fitted to random coalitions: a constant score leaves noise, not zeros.
SAMPLED_MAPS = {"rise", "lime"}


def _images(n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny():
    keras.backend.clear_session()
    return sequential()


def two_output_model():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=initializer(0), name="conv1")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=initializer(1), name="conv2")(x)
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, [keras.layers.Dense(CLASSES, name="a")(pooled), keras.layers.Dense(2, name="b")(pooled)])


def constant_model():
    """Gives the same output for every input: the convs have zero kernels, the logits are the bias."""
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu", kernel_initializer="zeros", name="conv1"),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer="zeros", name="conv2"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(CLASSES, bias_initializer=keras.initializers.RandomNormal(seed=0)),
    ])
    return model


# ------------------------------------------------------------- finding 7: constant maps are said


def test_every_registered_method_has_settings_here():
    assert sorted(registry.ATTRIBUTION_METHODS) == sorted(TINY_SETTINGS)


@pytest.mark.parametrize("name", sorted(TINY_SETTINGS))
def test_a_constant_model_warns_naming_the_method(name):
    keras.backend.clear_session()
    model = constant_model()
    with pytest.warns(RuntimeWarning, match=rf"^{name}: the .* of 2 of 2 images is constant"):
        maps = registry.ATTRIBUTION_METHODS[name](model, _images(), **TINY_SETTINGS[name])
    if name in SAMPLED_MAPS:  # the map is the masks' sampling noise: the warning is about the score
        assert np.all(np.isfinite(maps))
    else:
        np.testing.assert_array_equal(image.normalize(maps), 0.0)  # still shown as zeros, never NaN


@pytest.mark.parametrize("name", sorted(TINY_SETTINGS))
def test_a_working_model_does_not_warn(tiny, name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry.ATTRIBUTION_METHODS[name](tiny, _images(), target=1, **TINY_SETTINGS[name])
    assert not [w for w in caught if "is constant" in str(w.message)]


def test_occlusion_names_the_constant_score():
    keras.backend.clear_session()
    with pytest.warns(RuntimeWarning, match="occlusion: the score under occlusion of 2 of 2"):
        kerasviz.occlusion(constant_model(), _images(), patch=4)


# ------------------------------------------------------------- issue 12 finding 6: a two-output model, up front


TWO_OUTPUT_CALLS = {
    **{name: (lambda m, x, name=name: registry.ATTRIBUTION_METHODS[name](m, x, **TINY_SETTINGS[name]))
       for name in TINY_SETTINGS},
    "features": lambda m, x: kerasviz.features(m, x, "conv2"),
    "top_patches": lambda m, x: kerasviz.top_patches(m, x, "conv2"),
    "class_visualization": lambda m, x: kerasviz.class_visualization(m, 1, init=x, steps=1),
    "fooling_image": lambda m, x: kerasviz.fooling_image(m, x, 1),
    "fgsm": lambda m, x: kerasviz.fgsm(m, x),
    "invert_features": lambda m, x: kerasviz.invert_features(m, x, "conv2", steps=1),
    "optimize": lambda m, x: kerasviz.optimize(m, 1, x, steps=1),
    "deep_dream": lambda m, x: kerasviz.deep_dream(m, x, "conv2", octaves=1, steps_per_octave=1),
    "texture_synthesis": lambda m, x: kerasviz.texture_synthesis(m, x, ["conv1"], steps=1),
    "style_transfer": lambda m, x: kerasviz.style_transfer(m, x, x, "conv2", ["conv1"], steps=1),
}


@pytest.mark.parametrize("name", sorted(TWO_OUTPUT_CALLS))
def test_a_two_output_model_is_refused_before_tracing(name):
    keras.backend.clear_session()
    model = two_output_model()
    with pytest.raises(ValueError, match=r"has 2 outputs; kerasviz explains models with a single output") as info:
        TWO_OUTPUT_CALLS[name](model, _images())
    assert "in user code" not in str(info.value)
    assert kerasviz.compiled.tracing_count(model) == 0


# ------------------------------------------------------------- the table


BAD_INPUTS = [
    # (id, call(tiny), exception, message fragment)
    ("target 2**64", lambda m: kerasviz.saliency(m, _images(), target=2**64), ValueError,
     r"`target`: 18446744073709551616"),
    ("target [2**64]", lambda m: kerasviz.saliency(m, _images(1), target=[2**64]), ValueError,
     r"`target`: 18446744073709551616"),
    ("target -1", lambda m: kerasviz.saliency(m, _images(), target=-1), ValueError, r"`target`: -1"),
    ("target 1.5", lambda m: kerasviz.saliency(m, _images(), target=1.5), TypeError, r"`target`.*target=1\.5"),
    ("target floats", lambda m: kerasviz.saliency(m, _images(), target=[1.0, 2.0]), TypeError,
     r"`target`.*target=\[1\.0, 2\.0\]"),
    ("target np.float64", lambda m: kerasviz.grad_cam(m, _images(), target=np.float64(1)), TypeError,
     r"`target`.*target=.*1\.0"),
    ("target_class 2**64", lambda m: kerasviz.fooling_image(m, _images(), 2**64), ValueError,
     r"`target_class`: 18446744073709551616"),
    ("target_class floats", lambda m: kerasviz.fgsm(m, _images(), target_class=[0.5, 1.0]), TypeError,
     r"`target_class`.*target_class=\[0\.5, 1\.0\]"),
    ("image_shape size", lambda m: kerasviz.class_visualization(m, 1, image_shape=(8, 8, 3)), ValueError,
     r"`image_shape`: \(8, 8, 3\).*\(16, 16, 3\)"),
    ("image_shape rank", lambda m: kerasviz.class_visualization(m, 1, image_shape=(16, 16)), ValueError,
     r"`image_shape`: \(16, 16\)"),
    ("image_shape type", lambda m: kerasviz.class_visualization(m, 1, image_shape=(16, 16, "3")), ValueError,
     r"`image_shape`: \(16, 16, '3'\)"),
    ("dense style layer", lambda m: kerasviz.style_transfer(m, _images(1), _images(1), "conv2", ["conv1", "fc"]),
     ValueError, r"`style_layers`: the layers \['fc'\] have outputs of shape \[\(12,\)\]"),
    ("dense texture layer", lambda m: kerasviz.texture_synthesis(m, _images(1), ["logits"]), ValueError,
     r"`layers`: the layers \['logits'\]"),
    ("tile pad", lambda m: image.tile(np.zeros((5, 4, 4)), pad=10**6), ValueError, r"`pad=1000000`.*GiB"),
    ("tile cols", lambda m: image.tile(np.zeros((5, 4, 4)), cols=10**9), ValueError, r"`cols=1000000000`"),
    ("grid cells", lambda m: embedding_grid(np.zeros((5, 4, 4)), np.zeros((5, 2)), grid=10**5), ValueError,
     r"`grid`: 100000; its 10000000000 cells"),
    ("grid canvas", lambda m: embedding_grid(np.zeros((5, 4, 4)), np.zeros((5, 2)), cell=10**5), ValueError,
     r"`cell=100000`.*GiB"),
    ("grid inf", lambda m: embedding_grid(np.full((2, 4, 4), np.inf), np.zeros((2, 2))), ValueError,
     r"NaN or inf values in `images`"),
    ("grid 0-255 floats", lambda m: embedding_grid(np.full((2, 4, 4), 200.0), np.zeros((2, 2))), ValueError,
     r"`images` with values from 200 to 200.*to_display"),
    ("smoothgrad magnitude", lambda m: kerasviz.smoothgrad(m, _images(), magnitude="l1"), ValueError,
     r"`magnitude`: 'l1'"),
    ("value_range name", lambda m: kerasviz.fgsm(m, _images(), value_range="imagenet"), ValueError,
     r"`value_range`: 'imagenet'.*'caffe'"),
    ("stop result", lambda m: kerasviz.optimize(m, 1, _images(), stop=lambda *a: [True]), TypeError,
     r"`stop` to return a bool or 2 bools"),
]


# Found on the first forward pass (the layers' features, the first step), before any optimization.
AFTER_A_FORWARD_PASS = {"dense style layer", "dense texture layer", "stop result"}


@pytest.mark.parametrize("name, call, error, fragment", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_inputs_name_the_argument(name, call, error, fragment):
    keras.backend.clear_session()
    model = sequential()
    with pytest.raises(error, match=fragment):
        call(model)
    if name not in AFTER_A_FORWARD_PASS:
        assert kerasviz.compiled.tracing_count(model) == 0


# ------------------------------------------------------------- what used to be silently wrong


def test_embedding_grid_reads_uint8_as_pixels():
    pictures = np.random.default_rng(0).integers(0, 256, (4, 3, 3, 3)).astype(np.uint8)
    coords = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float64)
    result = embedding_grid(pictures, coords)
    for i, (r, c) in enumerate(result.cells):
        np.testing.assert_allclose(result.image[r * 3:r * 3 + 3, c * 3:c * 3 + 3], pictures[i] / 255.0, rtol=1e-6)
    assert result.image.mean() < 0.9  # not whitened: the old clip to [0, 1] made every uint8 pixel >= 1 white


def test_deep_dream_fixed_size_hint_uses_the_models_channels():
    keras.backend.clear_session()
    gray = keras.Sequential([keras.Input((SIZE, SIZE, 1)),
                             keras.layers.Conv2D(4, 3, activation="relu", name="conv1"),
                             keras.layers.Conv2D(4, 3, activation="relu", name="conv2")])
    with pytest.raises(ValueError, match=r"input_shape=\(None, None, 1\)"):
        kerasviz.deep_dream(gray, np.full((1, SIZE, SIZE, 1), 0.5, np.float32), "conv2", octaves=2)


def test_gram_matrix_is_public():
    from kerasviz.art import style

    assert kerasviz.gram_matrix is style.gram_matrix and "gram_matrix" in kerasviz.__all__
