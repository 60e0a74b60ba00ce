"""`kerasviz synthesize --dream/--texture/--style` and the synthesis and art examples, run as a user runs them."""

import os
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from tests.helpers.models import functional
from tests.helpers.processes import REPO, run


def _fully_convolutional():
    init = keras.initializers.GlorotUniform
    inputs = keras.Input((None, None, 3), name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", kernel_initializer=init(0), name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=init(1), name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=init(2), name="conv3")(x)
    return keras.Model(inputs, x, name="fcn")


@pytest.fixture(scope="module")
def art_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("art")
    keras.backend.clear_session()
    _fully_convolutional().save(folder / "fcn.keras")
    functional().save(folder / "fixed.keras")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / "b.png")
    (folder / "broken.png").write_text("not an image")
    return folder


def _cli(model, args, cwd):
    return run([sys.executable, "-m", "kerasviz.cli", "synthesize", model, *args], cwd)


def _expected_size(widths, height):
    """The figure's size: pictures in a row with 2-pixel gaps, enlarged to at least 256 pixels."""
    width = sum(widths) + 2 * (len(widths) - 1)
    factor = max(1, -(-256 // max(width, height)))
    return width * factor, height * factor


@pytest.mark.parametrize("args, name, widths, height, printed", [
    # A model that takes any size: 4 octaves by default, the figure at the image's own size.
    (["--dream", "a.png", "--layers", "conv1", "conv3", "--steps", "3"], "deep_dream.png", [32, 32], 24,
     "4 octave(s)"),
    (["--texture", "b.png", "--layers", "conv1", "conv2", "--steps", "4"], "texture.png", [20, 20], 20,
     "texture synthesis"),
    (["--style", "a.png", "b.png", "--content-layer", "conv2", "--style-layers", "conv1", "conv3", "--steps", "4"],
     "style_transfer.png", [32, 20, 32], 24, "style transfer"),
])
def test_art_modes_write_their_figure(art_dir, args, name, widths, height, printed):
    out_dir = f"out_{name[:-4]}_{len(args)}"
    out = _cli("fcn.keras", [*args, "--out", out_dir], art_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    assert os.listdir(art_dir / out_dir) == [name]
    assert Image.open(art_dir / out_dir / name).size == _expected_size(widths, height)
    assert printed in out.stdout and f"Wrote {os.path.join(out_dir, name)}" in out.stdout


def test_dream_on_a_fixed_size_model(art_dir):
    # Octaves by default: the layers up to conv2 run at every scale; the figure at the model's input size.
    out = _cli("fixed.keras", ["--dream", "a.png", "--layers", "conv2", "--steps", "2", "--out", "fixed"], art_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "4 octave(s)" in out.stdout and "over 8 steps" in out.stdout
    assert Image.open(art_dir / "fixed" / "deep_dream.png").size == _expected_size([16, 16], 16)
    out = _cli("fixed.keras", ["--dream", "a.png", "--octaves", "9", "--out", "fixed_octaves"], art_dir)
    assert out.returncode != 0 and "use fewer octaves" in out.stderr and "Traceback" not in out.stderr
    assert not (art_dir / "fixed_octaves" / "deep_dream.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--dream", "broken.png"], "image 'broken.png': cannot be read"),
    (["--dream", "a.png", "--layers", "nope"], "no layer named 'nope'"),
    (["--style", "a.png", "b.png", "--content-layer", "nope"], "content_layer"),
    (["--dream", "a.png", "--octaves", "9"], "use fewer octaves"),
])
def test_bad_input_exits_with_a_clear_message(art_dir, args, message):
    out = _cli("fcn.keras", [*args, "--out", "bad"], art_dir)
    assert out.returncode != 0
    assert message in out.stderr and "Traceback" not in out.stderr


def test_synthesis_example_runs(tmp_path, shapes_model):
    out = run([sys.executable, os.path.join(REPO, "examples", "synthesis.py"), "--out", "out", "--quick"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("class_visualizations.png", "fooling.png", "fgsm.png", "inversion.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000, name
    assert "predicted class before" in out.stdout and "FGSM flips" in out.stdout
    assert all(f"inversion from {layer}: pixel MSE" in out.stdout for layer in ("conv1", "conv2", "conv3"))


def test_art_example_runs(tmp_path, shapes_model):
    out = run([sys.executable, os.path.join(REPO, "examples", "art.py"), "--out", "out", "--quick"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    dream = Image.open(tmp_path / "out" / "deep_dream.png")
    assert dream.size == (2 * 192 + 2, 192)
    for name in ("texture.png", "style_transfer.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000, name
    assert out.stdout.count("loss") >= 3
