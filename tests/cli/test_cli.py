"""The `kerasviz` command and the example scripts, run as a user runs them."""

import os
import sys

import numpy as np
from PIL import Image

import kerasviz
from tests.helpers.models import MODEL_FORMS, SIZE
from tests.helpers.processes import REPO, run


def test_help_lists_the_commands(tmp_path):
    out = run([sys.executable, "-m", "kerasviz.cli", "--help"], tmp_path)
    assert out.returncode == 0
    assert "demo" in out.stdout and "attribute" in out.stdout


def test_attribute_on_a_saved_model_and_image_files(tmp_path):
    MODEL_FORMS["functional"]().save(tmp_path / "model.keras")
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(tmp_path / f"img{i}.png")
    out = run([sys.executable, "-m", "kerasviz.cli", "attribute", "model.keras", "img0.png", "img1.png",
               "--methods", "saliency", "grad_cam", "occlusion", "--target", "2", "--out", "out"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    figure = np.asarray(Image.open(tmp_path / "out" / "attributions.png").convert("RGB"))
    # Titled: the enlarged tiles of image.comparison_figure with words, 4 columns (input + 3 methods), 2 rows.
    reference = kerasviz.image.comparison_figure(np.zeros((2, SIZE, SIZE, 3)), {m: np.zeros((2, SIZE, SIZE)) for m in "abc"},
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
    out = run([sys.executable, "-m", "kerasviz.cli", "attribute", "model.keras", "x.png", "--methods", "magic"], tmp_path)
    assert out.returncode != 0 and "unknown method" in out.stderr


def test_example_script_runs(tmp_path, shapes_model):
    out = run([sys.executable, os.path.join(REPO, "examples", "attributions.py"), "--out", "fig.png"], tmp_path)
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
    out = run([sys.executable, "-m", "kerasviz.cli", "activations", "model.keras", *names, "--channels", "3",
               "--out", "act"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    written = sorted(os.listdir(tmp_path / "act"))
    assert written == ["filters.png", "neighbors.png", "pca_grid.png", "top_patches.png"]
    assert max(Image.open(tmp_path / "act" / "filters.png").size) >= 256  # small filters are enlarged


def test_activations_example_runs(tmp_path, shapes_model):
    out = run([sys.executable, os.path.join(REPO, "examples", "activations.py"), "--out", "act"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "neighbours in feature space sharing the query's class" in out.stdout
    assert sorted(os.listdir(tmp_path / "act")) == ["filters.png", "neighbors.png", "top_patches.png", "tsne_grid.png"]


def test_images_are_centre_cropped_to_the_models_aspect_ratio(tmp_path):
    from kerasviz import files
    from kerasviz.cli import common

    model = MODEL_FORMS["functional"]()  # 16 x 16 input
    wide = np.zeros((20, 40, 3), np.uint8)  # red | green (the middle 20 x 20) | blue
    wide[:, :10, 0], wide[:, 10:30, 1], wide[:, 30:, 2] = 255, 255, 255
    Image.fromarray(wide).save(tmp_path / "wide.png")
    cropped = common.load_image(str(tmp_path / "wide.png"), model, (0, 1))[0]
    assert cropped.shape == (SIZE, SIZE, 3)
    np.testing.assert_allclose(cropped, np.broadcast_to([0, 1, 0], cropped.shape), atol=1e-6)  # undistorted green
    stretched = common.load_image(str(tmp_path / "wide.png"), model, (0, 1), stretch=True)[0]
    assert stretched[:, 0, 0].min() > 0.9 and stretched[:, -1, 2].min() > 0.9  # the whole width, squeezed
    # Masks (evaluate --masks) are cut the same way: the object in the middle of a wide mask fills the crop.
    mask = Image.fromarray(np.where(wide[..., 1] > 0, 255, 0).astype(np.uint8))
    assert np.asarray(files.fit_picture(mask, (SIZE, SIZE), resample=Image.NEAREST)).min() == 255
    tall = files.fit_picture(Image.fromarray(np.zeros((90, 30), np.uint8)), (10, 20))  # a wide model, a tall photo
    assert tall.size == (20, 10)
    assert "centre crop" in common.fit_note((SIZE, SIZE, 3), False) and "--stretch" in common.fit_note((8, 8), True)


def _said_seconds(text):
    """`"~1.5 s"` or `"~2.0 min"` -> seconds."""
    number, unit = text.lstrip("~").split()
    return float(number) * (60 if unit == "min" else 1)


def test_attribute_default_set_says_its_time_first_and_names_the_classes(tmp_path):
    from kerasviz.cli.attribute import DEFAULT_METHODS

    MODEL_FORMS["functional"]().save(tmp_path / "model.keras")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "names.txt").write_text("circle\nsquare\ntriangle\nstar\n\n")  # a trailing empty line is no class
    out = run([sys.executable, "-m", "kerasviz.cli", "attribute", "model.keras", "a.png", "--class-names",
               "names.txt", "--out", "out"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert sorted(np.load(tmp_path / "out" / "attributions.npz").files) == sorted(DEFAULT_METHODS)
    lines = out.stdout.splitlines()
    # The estimate comes before the first method runs: a line per method, then the total.
    first_run = lines.index("saliency ...")
    table = lines[[i for i, line in enumerate(lines) if line.startswith("Estimated time")][0] + 1:first_run]
    assert [line.split()[0] for line in table] == [*DEFAULT_METHODS, "total"]
    assert "226 forward" in table[DEFAULT_METHODS.index("occlusion")]  # 15 x 15 positions at 16 px, + the class
    estimated = _said_seconds(table[-1].split()[-2] + " " + table[-1].split()[-1])
    spent = sum(_said_seconds(line.split(": ")[1].split(" (")[0]) for line in lines if "(estimated ~" in line)
    assert estimated > 0 and spent > 0
    assert 1 / 20 < estimated / spent < 20, (estimated, spent)  # the order of magnitude, not a timing test
    predicted = [line.strip() for line in lines if line.strip().startswith("a.png pred ")]
    assert len(predicted) == 1 and predicted[0].split(": ")[1].split()[0] in ("circle", "square", "triangle", "star")
    assert "centre crop" in out.stdout


def test_attribute_figure_shows_xrai_as_its_top_regions(tmp_path):
    from kerasviz.cli.attribute import write_figure

    pictures = np.random.default_rng(6).uniform(0.2, 1.0, (1, SIZE, SIZE, 3)).astype(np.float32)
    regions = np.zeros((1, SIZE, SIZE), np.float32)
    regions[:, :, :SIZE // 4] = 1.0  # the left quarter: XRAI's densest region
    write_figure(str(tmp_path / "f.png"), pictures, {"xrai": regions}, ["a.png"])
    figure = np.asarray(Image.open(tmp_path / "f.png").convert("RGB"), np.float32) / 255
    expected = kerasviz.image.comparison_figure(pictures, {"xrai": regions}, titles=True, labels=["a.png"], regions={"xrai"})
    np.testing.assert_allclose(figure, expected, atol=1 / 255)
    washed = kerasviz.image.comparison_figure(pictures, {"xrai": regions}, titles=True, labels=["a.png"])
    assert np.abs(expected - washed).max() > 0.2
