"""`kerasviz` answers every mistake in one line naming the argument or file: exit code 2, no traceback."""

import sys

import keras
import numpy as np
import pytest
from PIL import Image

from tests.helpers.models import functional
from tests.helpers.processes import run


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_errors")
    keras.backend.clear_session()
    functional().save(folder / "model.keras")
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    (folder / "notes.txt").write_text("not an image")
    (folder / "fake.keras").write_text("not a model")
    return folder


def _kerasviz(args, cwd):
    return run([sys.executable, "-m", "kerasviz.cli", *args], cwd)


@pytest.mark.parametrize("args, named", [
    (["attribute", "model.keras", "notes.txt"], "image 'notes.txt': cannot be read"),
    (["attribute", "model.keras", "nowhere.png"], "image 'nowhere.png': no such file"),
    (["attribute", "missing.keras", "img0.png"], "model 'missing.keras': no such file"),
    (["attribute", "fake.keras", "img0.png"], "model 'fake.keras': cannot be loaded"),
    (["attribute", "model.keras", "img0.png", "--methods", "magic"], "--methods: unknown method(s) magic"),
    (["attribute", "model.keras", "img0.png", "--value-range", "1", "0"], "--value-range: LOW must be below HIGH"),
    (["attribute", "model.keras", "img0.png", "--value-range", "imagenet"], "--value-range: expected two numbers"),
    (["attribute", "model.keras", "img0.png", "--target", "1", "2", "3"], "--target: expected one class or one per"),
    (["attribute", "model.keras", "img0.png", "--target", "x"], "argument --target: invalid int value: 'x'"),
    (["attribute", "model.keras", "img0.png", "--methods", "grad_cam", "--cam-layer", "nope"],
     "--cam-layer 'nope'"),
    (["attribute", "model.keras"], "the following arguments are required: images"),
    (["attribute", "model.keras", "img0.png", "--class-names", "notes.txt"],
     "--class-names 'notes.txt': 1 names (one a line), but the model 'func' has 4 classes"),
    (["attribute", "model.keras", "img0.png", "--class-names", "nowhere.txt"], "--class-names 'nowhere.txt': no such"),
    (["synthesize", "model.keras", "--class", "1", "--class-names", "notes.txt"],
     "--class-names 'notes.txt': 1 names (one a line), but the model 'func' has 4 classes"),
    (["activations", "model.keras", "img0.png", "img1.png", "--embedding-layer", "nope"], "--embedding-layer 'nope'"),
    (["activations", "model.keras", "img0.png", "--patches-layer", "nope"], "--patches-layer 'nope'"),
    (["activations", "model.keras", "img0.png", "--channels", "0"], "--channels: expected a positive number"),
    (["synthesize", "model.keras", "--fool", "img0.png"], "--fool needs --target-class"),
    (["synthesize", "model.keras", "--class", "1", "--steps", "0"], "--steps: expected a positive number"),
    (["synthesize", "model.keras", "--invert", "img0.png", "--layer", "nope"], "--layer 'nope'"),
    (["demo", "--epochs", "0", "--logdir", "never"], "--epochs: expected a positive number"),
    (["explian"], "invalid choice: 'explian'"),
])
def test_mistakes_get_one_line_and_exit_code_2(work, args, named):
    out = _kerasviz(args if args[0] in ("demo", "explian") else [*args, "--out", "never"], work)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr[-2000:]
    assert len(lines) == 1 and named in lines[0], out.stderr[-2000:]
    assert lines[0].startswith("kerasviz") and "Traceback" not in out.stderr
    assert not (work / "never").exists()


def test_debug_shows_the_traceback(work):
    out = _kerasviz(["attribute", "model.keras", "img0.png", "--value-range", "1", "0", "--debug"], work)
    assert out.returncode != 0
    assert "Traceback" in out.stderr and "UsageError" in out.stderr
