"""Progress and what is left out: bars on long stages (CLI and `verbose=1`), skipped outputs said."""

import os
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import kerasviz
from kerasviz import inputs, progress
from kerasviz.activations.occlusion import occlusion_positions
from kerasviz.cli import common
from tests.helpers.models import SIZE, functional, saved_model_and_images
from tests.helpers.processes import run


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_progress")
    return saved_model_and_images(folder)


def test_attribute_shows_progress_of_the_long_methods(work):
    out = run([sys.executable, "-m", "kerasviz.cli", "attribute", "model.keras", "img0.png", "img1.png",
               "--methods", "occlusion", "integrated_gradients", "--value-range", "tf", "--out", "out"], work)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "/image" in out.stdout and "/point" in out.stdout  # Keras's "ms/image", "ms/point"
    assert (work / "out" / "attributions.png").exists()


def test_activations_says_what_it_leaves_out(work):
    out = run([sys.executable, "-m", "kerasviz.cli", "activations", "model.keras", "img0.png", "img1.png",
               "--out", "act"], work)
    assert out.returncode == 0, out.stderr[-2000:]
    assert ("Skipped neighbors.png and the embedding grid: they need at least 3 images; received 2."
            in out.stdout)
    assert sorted(os.listdir(work / "act")) == ["filters.png", "top_patches.png"]
    assert "/image" in out.stdout  # top patches' bar


def test_library_calls_are_silent_by_default_and_show_a_bar_on_request(capsys):
    keras.backend.clear_session()
    model = functional()
    images = np.random.default_rng(0).random((2, SIZE, SIZE, 3)).astype(np.float32)
    quiet = kerasviz.occlusion(model, images, patch=4)
    assert capsys.readouterr().out == ""
    loud = kerasviz.occlusion(model, images, patch=4, verbose=1)
    n = 2 * len(occlusion_positions(SIZE, 4, 2)) ** 2
    assert f"{n}/{n}" in capsys.readouterr().out
    np.testing.assert_array_equal(quiet, loud)
    codes = np.random.default_rng(1).random((40, 8)).astype(np.float32)
    kerasviz.project(codes, "tsne", perplexity=5.0)
    assert capsys.readouterr().out == ""
    kerasviz.project(codes, "tsne", perplexity=5.0, verbose=1)
    printed = capsys.readouterr().out
    assert "1000/1000" in printed and "[t-SNE]" not in printed  # scikit-learn's log became the bar


def test_verbose_is_checked():
    with pytest.raises(ValueError, match="`verbose`: True"):
        progress.check_verbose(True)
    assert list(progress.track(range(3), 3, 0)) == [0, 1, 2]


def test_caffe_preset_maps_pixels_to_bgr_minus_the_mean(tmp_path):
    keras.backend.clear_session()
    model = functional()
    pixels = np.random.default_rng(2).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    loaded = common.load_image(str(tmp_path / "a.png"), model, "caffe")[0]
    low = inputs.check_value_range("caffe", 3).low
    np.testing.assert_allclose(loaded, pixels[..., ::-1].astype(np.float32) + low, atol=1e-3)


def test_demo_says_how_long_each_stage_took(tmp_path):
    out = run([sys.executable, "-m", "kerasviz.cli", "demo", "--epochs", "1", "--no-tensorboard",
               "--logdir", "logs"], tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    table = out.stdout.split("Stage timings:")[1]
    for stage in ("data", "training", "attribution figure", "filters", "embeddings", "top patches",
                  "class visualizations", "fooling image", "feature inversion from conv1, conv2, conv3",
                  "DeepDream of a sample photo", "total"):
        assert f"  {stage} " in table, stage
    for name in ("attributions.png", "filters.png", "neighbors.png", "tsne_grid.png", "top_patches.png",
                 "class_visualizations.png", "fooling.png", "inversion.png", "deep_dream.png"):
        assert (tmp_path / "logs" / name).exists(), name
