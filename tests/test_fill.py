"""One policy for what hidden pixels become (`kerasviz.fill`): its forms, its refusals, each method's default."""

import ast
import inspect
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import fill, metrics
from kerasviz.activations.occlusion import occlusion
from kerasviz.gradients.guided_ig import guided_integrated_gradients
from kerasviz.gradients.integrated import integrated_gradients
from kerasviz.perturbation.lime import kernel_shap, lime
from kerasviz.perturbation.rise import rise
from tests.helpers.models import SIZE, sequential

SHAPE = (2, SIZE, SIZE, 3)
X = np.random.default_rng(0).uniform(0, 1, SHAPE).astype(np.float32)
MEANS = X.mean(axis=(1, 2), keepdims=True, dtype=np.float64).astype(np.float32)
IMAGE = np.random.default_rng(1).uniform(0, 1, SHAPE[1:]).astype(np.float32)
FORMS = "a float, 3 floats (one per channel), an image [H, W, C] = (16, 16, 3), images [B, H, W, C] = (2, 16, 16, 3)"
NAMED = '"mean" (each image\'s mean colour) or "blur" (the image blurred)'


@pytest.fixture
def model():
    keras.backend.clear_session()
    return sequential()


# ---------------------------------------------------------------- the forms


@pytest.mark.parametrize("value, expected", [
    (0.5, np.full(SHAPE, 0.5)),
    (2, np.full(SHAPE, 2.0)),
    (np.float32(0.25), np.full(SHAPE, 0.25)),
    (np.array(-1.0), np.full(SHAPE, -1.0)),
    (tf.constant(0.75), np.full(SHAPE, 0.75)),
    ([0.1, 0.2, 0.3], np.broadcast_to([0.1, 0.2, 0.3], SHAPE)),
    (tf.constant([0.1, 0.2, 0.3]), np.broadcast_to([0.1, 0.2, 0.3], SHAPE)),
    (IMAGE, np.broadcast_to(IMAGE, SHAPE)),
    (IMAGE[None], np.broadcast_to(IMAGE, SHAPE)),
    (X[::-1], X[::-1]),
    (MEANS, np.broadcast_to(MEANS, SHAPE)),
    ("mean", np.broadcast_to(MEANS, SHAPE)),
    ("blur", fill.blur(X)),
], ids=["float", "int", "float32", "0-d", "tensor", "channels", "channel-tensor", "image", "image[None]",
        "images", "colour-per-image", "mean", "blur"])
def test_every_accepted_form(value, expected):
    result = fill.baselines(value, X)
    assert result.dtype == np.float32 and result.shape == SHAPE and result.flags.c_contiguous
    np.testing.assert_allclose(result, expected, rtol=1e-6)


def test_none_stands_for_the_methods_default_only_where_it_is_one():
    np.testing.assert_array_equal(fill.baselines(None, X, none="mean"), fill.baselines("mean", X))
    with pytest.raises(TypeError, match=r"`baseline`: None \(of type NoneType\)"):
        fill.baselines(None, X)


@pytest.mark.parametrize("value, expected", [
    (None, MEANS.reshape(2, 3)),
    (0.5, np.full((2, 3), 0.5)),
    ((0.1, 0.5, 0.9), np.broadcast_to([0.1, 0.5, 0.9], (2, 3))),
    (np.full((1, 1, 3), 0.2), np.full((2, 3), 0.2)),
    (MEANS[::-1], MEANS[::-1].reshape(2, 3)),
])
def test_colours_one_per_image(value, expected):
    result = fill.colours(value, X)
    assert result.dtype == np.float32 and result.shape == (2, 3)
    np.testing.assert_allclose(result, expected, rtol=1e-6)


def test_blur_keeps_a_constant_image_and_smooths_the_others():
    np.testing.assert_allclose(fill.blur(np.full(SHAPE, 0.3, np.float32)), 0.3, rtol=1e-5)
    assert fill.blur(X).std() < X.std() / 2
    assert metrics.blur is fill.blur  # the public name of the metrics stays


def test_black_is_the_low_end_of_the_value_range():
    assert fill.black("tf") == -1.0 and fill.black((0, 255)) == 0.0 and fill.black((0.0, 1.0)) == 0.0
    np.testing.assert_allclose(fill.black("caffe"), [-103.939, -116.779, -123.68], rtol=1e-6)  # BGR
    assert fill.black("torch").shape == (3,)
    with pytest.raises(ValueError, match=r"`value_range`: None"):
        fill.black(None)
    with pytest.raises(ValueError, match=r"`value_range`: 'rgb'"):
        fill.black("rgb")


# ---------------------------------------------------------------- the refusals


@pytest.mark.parametrize("value, kwargs, error, message", [
    (None, {}, TypeError, f"`baseline`: None (of type NoneType). Expected {FORMS}, {NAMED}."),
    (True, {}, TypeError, f"`baseline`: True (of type bool). Expected {FORMS}, {NAMED}."),
    (b"0", {}, TypeError, f"`baseline`: b'0' (of type bytes). Expected {FORMS}, {NAMED}."),
    ({"a": 1}, {}, TypeError, f"`baseline`: {{'a': 1}} (of type dict, dtype object). Expected {FORMS}, {NAMED}."),
    ([[1, 2], [3]], {}, TypeError, "`baseline`: [[1, 2], [3]] (of type list, dtype object)."),
    (np.array(["a"]), {}, TypeError, "`baseline`: array(['a'], dtype='<U1') (of type ndarray, dtype <U1)."),
    ("blur", {"names": ()}, TypeError,
     f"`baseline`: 'blur' (a str). Expected {FORMS.replace(', images', ' or images')}."),
    ("grey", {}, ValueError, f"`baseline`: 'grey'. Expected {FORMS}, {NAMED}."),
    ("mean", {"names": ("blur",)}, ValueError,
     f"`baseline`: 'mean'. Expected {FORMS} or \"blur\" (the image blurred)."),
    (np.zeros((16, 16, 1)), {}, ValueError, "`baseline`: an array of shape (16, 16, 1) and dtype float64. Expected"),
    (np.zeros((3, 16, 16, 3)), {}, ValueError, "`baseline`: an array of shape (3, 16, 16, 3) and dtype float64."),
    (np.zeros((1, 2, 16, 16, 3)), {}, ValueError, "`baseline`: an array of shape (1, 2, 16, 16, 3)"),
    (np.zeros((3, 3)), {}, ValueError, "`baseline`: an array of shape (3, 3) and dtype float64."),
    ([0.1, 0.2], {}, ValueError, f"`baseline`: [0.1, 0.2] (shape (2,)). Expected {FORMS}, {NAMED}."),
    (float("inf"), {}, ValueError, "`baseline`: inf (not finite). Expected finite values."),
    (1e39, {}, ValueError, "`baseline`: 1e+39 (not finite). Expected finite values."),
    ([0.1, float("nan"), 0.2], {}, ValueError, "`baseline`: [0.1, nan, 0.2] (1 of 3 values NaN or inf). Expected"),
    (np.full((16, 16, 3), np.nan), {}, ValueError,
     "`baseline`: an array of shape (16, 16, 3) and dtype float64 (768 of 768 values NaN or inf)."),
])
def test_every_refused_form_names_the_argument_and_echoes_the_value(value, kwargs, error, message):
    with pytest.raises(error) as raised:
        fill.baselines(value, X, **kwargs)
    assert str(raised.value).startswith("Received an invalid value for " + message.split(" Expected")[0])
    assert message in str(raised.value)


@pytest.mark.parametrize("value, error, message", [
    ("grey", TypeError, "`value`: 'grey' (a str)"),
    ((0.1, 0.2), ValueError, "`value`: (0.1, 0.2) (shape (2,)). Expected None (each image's mean colour), a "
                             "float, 3 floats (one per channel) or one colour per image [B, 1, 1, C] = (2, 1, 1, 3)."),
    (IMAGE, ValueError, "`value`: an array of shape (16, 16, 3) and dtype float32. Expected None"),
    (float("nan"), ValueError, "`value`: nan (not finite)."),
])
def test_colours_refusals(value, error, message):
    with pytest.raises(error, match="^Received an invalid value for ") as raised:
        fill.colours(value, X)
    assert message in str(raised.value)


BASELINE_METHODS = {
    "rise": lambda m, x, b: rise(m, x, masks=2, baseline=b),
    "lime": lambda m, x, b: lime(m, x, samples=2, segments=np.zeros(x.shape[:3], int), baseline=b),
    "kernel_shap": lambda m, x, b: kernel_shap(m, x, samples=2, segments=np.zeros(x.shape[:3], int), baseline=b),
    "integrated_gradients": lambda m, x, b: integrated_gradients(m, x, steps=2, baseline=b),
    "guided_integrated_gradients": lambda m, x, b: guided_integrated_gradients(m, x, steps=2, baseline=b),
    "deletion": lambda m, x, b: metrics.deletion(m, x, np.zeros(x.shape[:3]), steps=2, baseline=b),
    "insertion": lambda m, x, b: metrics.insertion(m, x, np.zeros(x.shape[:3]), steps=2, baseline=b),
    "mufidelity": lambda m, x, b: metrics.mufidelity(m, x, np.zeros(x.shape[:3]), samples=2, baseline=b),
}


@pytest.mark.parametrize("name", sorted(BASELINE_METHODS))
def test_the_same_bad_baseline_gets_the_same_message_from_every_method(model, name):
    call = BASELINE_METHODS[name]
    with pytest.raises(ValueError) as raised:
        call(model, X, np.zeros((SIZE, SIZE, 1)))
    message = str(raised.value)
    assert message.startswith("Received an invalid value for `baseline`: an array of shape (16, 16, 1) and dtype "
                              "float64. Expected ")  # then None (where it means "mean") and the forms
    assert "a float, 3 floats (one per channel), an image [H, W, C] = (16, 16, 3)" in message
    with pytest.raises(ValueError, match=r"^Received an invalid value for `baseline`: nan \(not finite\)\."):
        call(model, X, float("nan"))


def test_guided_ig_no_longer_offers_blur_in_its_refusal(model):
    """The bug: Guided IG refused "blur" with IG's message, 'Expected `baseline` to be a float, an array of
    images or "blur"', offering the very value it had just refused."""
    with pytest.raises(TypeError) as raised:
        guided_integrated_gradients(model, X, steps=2, baseline="blur")
    assert str(raised.value) == ("Received an invalid value for `baseline`: 'blur' (a str). Expected a float, "
                                 "3 floats (one per channel), an image [H, W, C] = (16, 16, 3) or images "
                                 "[B, H, W, C] = (2, 16, 16, 3).")


# ---------------------------------------------------------------- each method's default, unchanged


def test_the_documented_defaults():
    defaults = {
        occlusion: ("value", None), rise: ("baseline", 0.0), lime: ("baseline", None),
        kernel_shap: ("baseline", None), integrated_gradients: ("baseline", 0.0),
        guided_integrated_gradients: ("baseline", 0.0), metrics.deletion: ("baseline", 0.0),
        metrics.insertion: ("baseline", "blur"), metrics.mufidelity: ("baseline", 0.0),
    }
    for method, (argname, default) in defaults.items():
        assert inspect.signature(method).parameters[argname].default == default, method.__name__


def test_occlusion_defaults_to_each_images_mean_colour(model):
    default = occlusion(model, X, patch=4, stride=4)
    np.testing.assert_allclose(default, occlusion(model, X, patch=4, stride=4, value=MEANS), atol=1e-6)
    assert not np.allclose(default, occlusion(model, X, patch=4, stride=4, value=0.0), atol=1e-4)


def test_rise_defaults_to_zeros(model):
    default = rise(model, X, masks=6, seed=2)
    np.testing.assert_allclose(default, rise(model, X, masks=6, seed=2, baseline=np.zeros(SHAPE)), atol=1e-6)
    with_mean = rise(model, X, masks=6, seed=2, baseline="mean")
    np.testing.assert_allclose(with_mean, rise(model, X, masks=6, seed=2, baseline=MEANS), atol=1e-6)


@pytest.mark.parametrize("method", [lime, kernel_shap])
def test_lime_and_kernel_shap_default_to_each_images_mean_colour(model, method):
    quadrants = (np.arange(SIZE) // 8)[:, None] * 2 + np.arange(SIZE)[None] // 8
    segments = np.broadcast_to(quadrants, SHAPE[:3]).astype(np.int32)
    run = lambda **kwargs: method(model, X, samples=12, segments=segments, **kwargs)  # noqa: E731
    default = run()
    np.testing.assert_allclose(default, run(baseline="mean"), atol=1e-6)
    np.testing.assert_allclose(default, run(baseline=MEANS), atol=1e-6)


@pytest.mark.parametrize("method", [integrated_gradients, guided_integrated_gradients])
def test_path_methods_default_to_the_all_zeros_input(model, method):
    default = method(model, X, steps=3, signed=True)
    np.testing.assert_allclose(default, method(model, X, steps=3, signed=True, baseline=np.zeros(SHAPE)), atol=1e-7)
    per_channel = method(model, X, steps=3, signed=True, baseline=[-1.0, -1.0, -1.0])  # a form new to them
    np.testing.assert_allclose(per_channel, method(model, X, steps=3, signed=True, baseline=fill.black("tf")),
                               atol=1e-7)


def test_deletion_insertion_and_mufidelity_defaults(model):
    maps = X.sum(-1)
    deletion = metrics.deletion(model, X, maps, steps=4)
    np.testing.assert_array_equal(deletion.scores, metrics.deletion(model, X, maps, steps=4,
                                                                    baseline=np.zeros(SHAPE)).scores)
    insertion = metrics.insertion(model, X, maps, steps=4)
    np.testing.assert_array_equal(insertion.scores, metrics.insertion(model, X, maps, steps=4,
                                                                      baseline=fill.blur(X)).scores)
    fidelity = metrics.mufidelity(model, X, maps, samples=8)
    np.testing.assert_array_equal(fidelity, metrics.mufidelity(model, X, maps, samples=8, baseline=np.zeros(SHAPE)))


# ---------------------------------------------------------------- one home


POLICY_USERS = ["fill.py", "activations/occlusion.py", "perturbation/rise.py", "perturbation/lime.py",
                "perturbation/masked.py", "perturbation/xrai.py", "gradients/integrated.py",
                "gradients/guided_ig.py", "gradients/baselines.py", "metrics/faithfulness.py",
                "metrics/mufidelity.py", "metrics/robustness.py"]


@pytest.mark.parametrize("path", POLICY_USERS)
def test_no_private_names_across_modules_and_no_imports_in_functions(path):
    tree = ast.parse((pathlib.Path(kerasviz.__file__).parent / path).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert not any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(node)), node.name
        if isinstance(node, ast.ImportFrom):
            assert not any(a.name.startswith("_") for a in node.names), node.module
            assert not any(part.startswith("_") for part in node.module.split(".")), node.module
            imported.update(a.asname or a.name for a in node.names)
        if isinstance(node, ast.Import):
            imported.update((a.asname or a.name).split(".")[0] for a in node.names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imported:
            assert not (node.attr.startswith("_") and not node.attr.startswith("__")), f"{node.value.id}.{node.attr}"
