"""`kerasviz attribute --unit K` (a regression output) and `--output NAME` (a model with several outputs)."""

import sys

import keras
import numpy as np
from PIL import Image

from tests.helpers.processes import run

SIZE = 16


def _images(folder, count=2):
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return [f"img{i}.png" for i in range(count)]


def _two_heads(folder):
    """A conv trunk, a 2-unit linear regression head `size` and a 3-class softmax head `kind`."""
    init = keras.initializers.GlorotUniform(seed=0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", kernel_initializer=init, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    size = keras.layers.Dense(2, kernel_initializer=init, name="size")(x)
    kind = keras.layers.Dense(3, activation="softmax", kernel_initializer=init, name="kind")(x)
    model = keras.Model(inputs, {"size": size, "kind": kind})
    model.save(folder / "heads.keras")
    keras.Model(inputs, size).save(folder / "regression.keras")
    return model


def test_attribute_explains_a_regression_unit_and_a_named_output(tmp_path):
    model = _two_heads(tmp_path)
    files = _images(tmp_path)
    out = run([sys.executable, "-m", "kerasviz.cli", "attribute", "regression.keras", *files, "--unit", "1",
               "--methods", "saliency", "integrated_gradients", "--value-range", "0", "255", "--out", "reg"],
              tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Scores of OutputUnit(1):" in out.stdout
    maps = np.load(tmp_path / "reg" / "attributions.npz")
    assert maps["saliency"].shape == (2, SIZE, SIZE) and np.abs(maps["saliency"]).max() > 0
    images = np.stack([np.asarray(Image.open(tmp_path / f), np.float32) for f in files])
    values = model(images)["size"].numpy()[:, 1]
    for value in values:
        assert f"{value:.4g}" in out.stdout
    out = run([sys.executable, "-m", "kerasviz.cli", "attribute", "heads.keras", *files, "--output", "kind",
               "--target", "2", "--methods", "saliency", "smoothgrad", "--value-range", "0", "255", "--out", "cls"],
              tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Scores of OnOutput('kind', ClassScore(2)):" in out.stdout
    assert np.load(tmp_path / "cls" / "attributions.npz")["smoothgrad"].shape == (2, SIZE, SIZE)


def test_attribute_names_a_wrong_output_or_a_missing_one(tmp_path):
    _two_heads(tmp_path)
    files = _images(tmp_path, 1)
    out = run([sys.executable, "-m", "kerasviz.cli", "attribute", "heads.keras", *files, "--output", "boxes",
               "--methods", "saliency"], tmp_path)
    assert out.returncode == 2 and "--output" in out.stderr and "'boxes'" in out.stderr and "kind" in out.stderr
    out = run([sys.executable, "-m", "kerasviz.cli", "attribute", "heads.keras", *files, "--methods", "saliency"],
              tmp_path)
    assert out.returncode == 2 and "has 2 outputs" in out.stderr and "OnOutput" in out.stderr
    out = run([sys.executable, "-m", "kerasviz.cli", "attribute", "heads.keras", *files, "--unit", "0",
               "--target", "1", "--methods", "saliency"], tmp_path)
    assert out.returncode == 2 and "--unit and --target" in out.stderr
