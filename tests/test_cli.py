"""The `kerasviz` command and the example scripts, run as a user runs them."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import MODEL_FORMS, SIZE
from PIL import Image

import kerasviz

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, cwd, timeout=300):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_help_lists_the_commands(tmp_path):
    out = _run([sys.executable, "-m", "kerasviz.cli", "--help"], tmp_path)
    assert out.returncode == 0
    assert "demo" in out.stdout and "attribute" in out.stdout


def test_attribute_on_a_saved_model_and_image_files(tmp_path):
    MODEL_FORMS["functional"]().save(tmp_path / "model.keras")
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(tmp_path / f"img{i}.png")
    out = _run([sys.executable, "-m", "kerasviz.cli", "attribute", "model.keras", "img0.png", "img1.png",
                "--methods", "saliency", "grad_cam", "occlusion", "--target", "2", "--out", "out"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    figure = np.asarray(Image.open(tmp_path / "out" / "attributions.png").convert("RGB"))
    # Titled: the enlarged tiles of image.compare with words, 4 columns (input + 3 methods), 2 rows.
    reference = kerasviz.image.compare(np.zeros((2, SIZE, SIZE, 3)), {m: np.zeros((2, SIZE, SIZE)) for m in "abc"},
                                       titles=True)
    assert figure.shape[1] == reference.shape[1] and figure.shape[0] >= reference.shape[0] > 2 * SIZE
    assert "titled with the predicted class" in out.stdout
    strip = figure[:8].reshape(-1, 3)
    assert len(np.unique(strip, axis=0)) > 2  # text was drawn over the first row
    maps = np.load(tmp_path / "out" / "attributions.npz")
    assert sorted(maps.files) == ["grad_cam", "occlusion", "saliency"]
    assert maps["saliency"].shape == (2, SIZE, SIZE)


def test_attribute_rejects_unknown_methods(tmp_path):
    MODEL_FORMS["sequential"]().save(tmp_path / "model.keras")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "x.png")
    out = _run([sys.executable, "-m", "kerasviz.cli", "attribute", "model.keras", "x.png", "--methods", "magic"], tmp_path)
    assert out.returncode != 0 and "unknown method" in out.stderr


def test_example_script_runs(tmp_path, shapes_model):
    out = _run([sys.executable, os.path.join(REPO, "examples", "attributions.py"), "--out", "fig.png"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "deletion AUC of saliency" in out.stdout
    assert (tmp_path / "fig.png").stat().st_size > 1000


def test_activations_on_a_saved_model_and_image_files(tmp_path):
    MODEL_FORMS["functional"]().save(tmp_path / "model.keras")
    rng = np.random.default_rng(1)
    names = []
    for i in range(5):
        names.append(f"img{i}.png")
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(tmp_path / names[-1])
    out = _run([sys.executable, "-m", "kerasviz.cli", "activations", "model.keras", *names, "--channels", "3",
                "--out", "act"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    written = sorted(os.listdir(tmp_path / "act"))
    assert written == ["filters.png", "neighbors.png", "pca_grid.png", "top_patches.png"]
    assert max(Image.open(tmp_path / "act" / "filters.png").size) >= 256  # small filters are enlarged


def test_activations_example_runs(tmp_path, shapes_model):
    out = _run([sys.executable, os.path.join(REPO, "examples", "activations.py"), "--out", "act"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "neighbours in feature space sharing the query's class" in out.stdout
    assert sorted(os.listdir(tmp_path / "act")) == ["filters.png", "neighbors.png", "top_patches.png", "tsne_grid.png"]
