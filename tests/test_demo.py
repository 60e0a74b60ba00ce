"""Tests for `kerasviz.demo`: embedded datasets, sample photos, the demo model."""

import os
import subprocess
import sys
import time
import warnings

import keras
import numpy as np
import pytest

from kerasviz import demo

SHAPES_N = 2000


@pytest.fixture(scope="module")
def shapes():
    start = time.perf_counter()
    result = demo.load_shapes()
    return result, time.perf_counter() - start


@pytest.fixture(scope="module")
def shapes_model(tmp_path_factory):
    """The shapes demo model, trained once per module into a fresh cache dir."""
    keras.backend.clear_session()
    cache_dir = tmp_path_factory.mktemp("kerasviz_cache")
    start = time.perf_counter()
    model = demo.demo_model("shapes", cache_dir=str(cache_dir))
    return model, cache_dir, time.perf_counter() - start


# --- import -----------------------------------------------------------------


def test_import_builds_nothing():
    # Load the module file alone (not the package) in a fresh interpreter.
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('d', {demo.__file__!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert module.load_shapes(n=5, size=16).images.shape == (5, 16, 16, 3)\n"
        "bad = [m for m in ('tensorflow', 'keras', 'sklearn', 'PIL') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- shapes -----------------------------------------------------------------


def test_shapes_arrays(shapes):
    d, seconds = shapes
    assert d.images.shape == (SHAPES_N, 64, 64, 3) and d.images.dtype == np.float32
    assert d.labels.shape == (SHAPES_N,) and d.labels.dtype == np.int64
    assert d.masks.shape == (SHAPES_N, 64, 64) and d.masks.dtype == bool
    assert d.images.min() >= 0.0 and d.images.max() <= 1.0
    assert d.class_names == ("circle", "square", "triangle", "cross", "ring")
    assert seconds < 5.0  # about 1 s on two cores; generous for loaded CI


def test_shapes_classes_balanced(shapes):
    d, _ = shapes
    counts = np.bincount(d.labels, minlength=len(d.class_names))
    assert len(counts) == 5 and counts.min() >= 0.9 * SHAPES_N / 5


def test_shapes_masks(shapes):
    d, _ = shapes
    area = d.masks.mean(axis=(1, 2))
    assert area.min() > 0.005 and area.max() < 0.15
    for m in d.masks[:200]:
        rows, cols = np.nonzero(m)
        extent = max(np.ptp(rows), np.ptp(cols)) + 1
        assert 0.12 * 64 <= extent <= 0.36 * 64


def test_shapes_object_stands_out_and_mask_is_exact(shapes):
    d, _ = shapes
    x, m = d.images[:300], d.masks[:300, ..., None]
    inside = (x * m).sum((1, 2)) / m.sum((1, 2))
    outside = (x * ~m).sum((1, 2)) / (~m).sum((1, 2))
    assert np.linalg.norm(inside - outside, axis=-1).min() > 0.25
    # The object is one flat colour plus faint noise: the mask holds nothing else.
    var_inside = ((x - inside[:, None, None]) ** 2 * m).sum((1, 2)) / m.sum((1, 2))
    assert np.sqrt(var_inside).max() < 0.08


def test_shapes_colour_does_not_give_class_away(shapes):
    d, _ = shapes
    m = d.masks[..., None]
    colour = (d.images * m).sum((1, 2)) / m.sum((1, 2))
    means = np.stack([colour[d.labels == k].mean(0) for k in range(5)])
    nearest = np.argmin(((colour[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (nearest == d.labels).mean() < 0.4  # chance is 0.2


def test_shapes_seeded():
    a = demo.load_shapes(n=50, size=32, seed=3)
    b = demo.load_shapes(n=50, size=32, seed=3)
    c = demo.load_shapes(n=50, size=32, seed=4)
    for x, y in zip(a[:2] + a[3:], b[:2] + b[3:]):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.images, c.images)
    assert a.images.shape == (50, 32, 32, 3)


# --- digits and photos --------------------------------------------------------


def test_digits():
    d = demo.load_digits()
    assert d.images.shape == (1797, 32, 32, 1) and d.images.dtype == np.float32
    assert d.images.min() >= 0.0 and d.images.max() <= 1.0 and d.images.max() > 0.9
    assert d.labels.dtype == np.int64 and set(d.labels.tolist()) == set(range(10))
    assert d.class_names == tuple(str(i) for i in range(10)) and d.masks is None
    from sklearn.datasets import load_digits

    np.testing.assert_array_equal(d.labels, load_digits().target)
    small = demo.load_digits(size=8)  # identity resize
    np.testing.assert_allclose(small.images[..., 0], load_digits().images / 16.0, atol=1e-6)


def test_sample_images():
    photos = demo.sample_images()
    assert set(photos) == {"china", "flower"}
    for img in photos.values():
        assert img.shape == (427, 640, 3) and img.dtype == np.float32
        assert img.min() >= 0.0 and img.max() <= 1.0 and img.std() > 0.05
    cropped = demo.sample_images(size=100)
    for key, img in cropped.items():
        assert img.shape == (100, 100, 3) and img.dtype == np.float32
        assert img.min() >= 0.0 and img.max() <= 1.0
        # A centre crop keeps roughly the centre's colours.
        centre = photos[key][:, 107:533].mean((0, 1))
        np.testing.assert_allclose(img.mean((0, 1)), centre, atol=0.03)


def test_demo_data_split(shapes):
    train, test = demo.demo_data("shapes")
    assert len(train.labels) == 1600 and len(test.labels) == 400
    np.testing.assert_array_equal(test.images, shapes[0].images[1600:])
    np.testing.assert_array_equal(test.masks, shapes[0].masks[1600:])
    train, test = demo.demo_data("digits")
    assert len(train.labels) + len(test.labels) == 1797 and len(test.labels) == 359
    assert test.masks is None


# --- demo model ---------------------------------------------------------------


def test_demo_model_architecture(shapes_model):
    model, _, _ = shapes_model
    assert model.inputs[0].name == "image"
    names = [layer.name for layer in model.layers]
    for name in ("conv1", "pool1", "conv2", "pool2", "conv3", "fc", "logits", "probabilities"):
        assert name in names
    for name in ("conv1", "conv2", "conv3", "fc"):
        assert model.get_layer(name).activation is keras.activations.relu
    assert model.get_layer("logits").activation is keras.activations.linear
    assert model.get_layer("conv1").kernel_size == (3, 3)
    out = model.layers[-1]
    assert out.name == "probabilities" and isinstance(out, keras.layers.Activation)
    assert out.activation is keras.activations.softmax


def test_demo_model_accuracy(shapes_model):
    model, _, seconds = shapes_model
    _, test = demo.demo_data("shapes")
    probs = model.predict(test.images, verbose=0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    accuracy = (probs.argmax(-1) == test.labels).mean()
    print(f"shapes demo model: trained in {seconds:.1f} s, test accuracy {accuracy:.3f}")
    assert accuracy >= 0.9
    assert model.evaluate(test.images[:64], test.labels[:64], verbose=0)[1] >= 0.8


def test_demo_model_cache(shapes_model, monkeypatch):
    model, cache_dir, train_seconds = shapes_model
    files = os.listdir(cache_dir)
    expected = f"demo_shapes_s0_e6_v{demo.ARCHITECTURE_VERSION}_k{keras.__version__}.keras"
    assert files == [expected]  # no temporary files left behind
    start = time.perf_counter()
    again = demo.demo_model("shapes", cache_dir=cache_dir)
    load_seconds = time.perf_counter() - start
    assert load_seconds < train_seconds / 3
    x = demo.demo_data("shapes")[1].images[:32]
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    # The environment variable is the default cache directory.
    monkeypatch.setenv("KERASVIZ_CACHE_DIR", str(cache_dir))
    start = time.perf_counter()
    demo.demo_model("shapes")
    assert time.perf_counter() - start < train_seconds / 3


def test_demo_model_corrupt_cache_is_retrained_and_deterministic(tmp_path):
    keras.backend.clear_session()
    first = demo.demo_model("digits", epochs=1, cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 3])
    with pytest.warns(UserWarning, match="training it again"):
        second = demo.demo_model("digits", epochs=1, cache_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert path.stat().st_size > len(blob) // 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        demo.demo_model("digits", epochs=1, cache_dir=tmp_path)  # loads cleanly
    # Same seed, same training: the retrained model matches the first one.
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert second.input_shape == (None, 32, 32, 1) and second.output_shape == (None, 10)


# --- bad arguments ------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: demo.load_shapes(n=0), ValueError, ["`n`", "0"]),
        (lambda: demo.load_shapes(size=-3), ValueError, ["`size`", "-3"]),
        (lambda: demo.load_shapes(size=8), ValueError, ["`size`", "8", ">= 16"]),
        (lambda: demo.load_shapes(seed=-1), ValueError, ["`seed`", "-1"]),
        (lambda: demo.load_shapes(n=2.5), TypeError, ["`n`", "2.5"]),
        (lambda: demo.load_shapes(n=True), TypeError, ["`n`", "True"]),
        (lambda: demo.load_digits(size=0), ValueError, ["`size`", "0", "positive int"]),
        (lambda: demo.load_digits(size="32"), TypeError, ["`size`", "'32'"]),
        (lambda: demo.sample_images(size=-1), ValueError, ["`size`", "-1"]),
        (lambda: demo.demo_data("cifar"), ValueError, ["`name`", "cifar", "shapes", "digits"]),
        (lambda: demo.demo_model("cifar"), ValueError, ["`name`", "cifar", "shapes", "digits"]),
        (lambda: demo.demo_model(epochs=0), ValueError, ["`epochs`", "0"]),
        (lambda: demo.demo_model(seed=-2), ValueError, ["`seed`", "-2"]),
        (lambda: demo.demo_model(cache_dir=3), TypeError, ["`cache_dir`", "3"]),
    ],
)
def test_bad_arguments(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_kerasviz_data_is_a_deprecated_name_of_kerasviz_demo():
    import kerasviz
    import kerasviz.data

    with pytest.warns(DeprecationWarning, match="kerasviz.demo.load_digits"):
        assert kerasviz.data.load_digits is demo.load_digits
    assert kerasviz.demo is demo
    with pytest.raises(AttributeError):
        kerasviz.data.no_such_name
