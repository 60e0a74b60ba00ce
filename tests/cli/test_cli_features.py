"""`kerasviz features`: the feature visualization grid, and with images the feature maps grid.

The command runs in this process (`kerasviz.cli.main`, the console script's
entry point) on a saved tiny model; one subprocess checks the console path
end to end. Mistakes answer one line naming the argument, exit code 2.
"""

import sys

import keras
import numpy as np
import pytest
from PIL import Image

from kerasviz import cli
from tests.helpers.models import functional, saved_model_and_images
from tests.helpers.processes import run


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_features")
    return saved_model_and_images(folder)


def _main(args, work, capsys):
    code = cli.main(["features", str(work / "model.keras"), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _png(path):
    return np.asarray(Image.open(path))


def test_without_images_only_the_feature_visualization_and_the_default_layer_is_said(work, capsys, tmp_path):
    code, out, err = _main(["--steps", "3", "--out", str(tmp_path)], work, capsys)
    assert code == 0, err
    assert "layer 'relu2' (the default: a block of the second-deepest stage, or at 80% of the depth)" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feature_visualization.png"]
    picture = _png(tmp_path / "feature_visualization.png")
    assert picture.ndim == 3 and min(picture.shape[:2]) >= 256  # 8 channels of 16x16, titled, enlarged
    assert picture.std() > 5  # not a blank page


def test_with_images_both_grids_for_the_layer_and_channels_given(work, capsys, tmp_path):
    images = [str(work / "img0.png"), str(work / "img1.png")]
    code, out, err = _main([*images, "--layer", "conv2", "--channels", "1", "6", "--steps", "3",
                            "--out", str(tmp_path)], work, capsys)
    assert code == 0, err
    assert "layer 'conv2'" in out and "default" not in out
    assert "2 image(s)" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feature_maps.png", "feature_visualization.png"]
    picture = _png(tmp_path / "feature_maps.png")
    assert picture.ndim == 3 and picture.std() > 5


def test_the_maps_figure_has_a_row_per_image_with_the_image_first(work):
    import kerasviz
    from kerasviz.cli import features

    keras.backend.clear_session()
    model = functional()
    images = np.random.default_rng(1).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    maps = kerasviz.feature_maps(model, images, "conv2", channels=[1, 6])
    one = features.maps_figure(maps._replace(grids=maps.grids[:1]), images[:1])
    two = features.maps_figure(maps, images)
    row = maps.grids.shape[1]  # each row is as tall as its grid (the enlarged image fits in it)
    assert two.shape[0] - one.shape[0] == row + 6 and two.shape[1] == one.shape[1]
    top = one.shape[0] - row  # the title strip
    factor = max(1, row // 32)
    np.testing.assert_allclose(two[top:top + 16 * factor:factor, :16 * factor:factor], images[0], atol=1e-6)
    np.testing.assert_allclose(two[top + row + 6:top + row + 6 + 16 * factor:factor, :16 * factor:factor],
                               images[1], atol=1e-6)


@pytest.mark.parametrize("args, named", [
    (["--layer", "nope"], "--layer 'nope'"),
    (["--steps", "0"], "--steps: expected a positive number; received 0"),
    (["--channels", "-1"], "--channels: expected channel indices >= 0"),
    (["--layer", "conv1", "--channels", "9", "--steps", "1"], "channel"),
    (["nowhere.png"], "image 'nowhere.png': no such file"),
    (["img0.png", "--layer", "fc", "--steps", "1"], "layer"),
])
def test_mistakes_are_one_line_exit_2(work, capsys, tmp_path, monkeypatch, args, named):
    monkeypatch.chdir(work)
    code, _, err = _main([*args, "--out", str(tmp_path)], work, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kerasviz features: ") and named in lines[0], err


def test_the_console_command_lists_features(work):
    done = run([sys.executable, "-m", "kerasviz.cli", "features", "--help"], work)
    assert done.returncode == 0 and "--channels" in done.stdout and "IMAGES" in done.stdout.upper()
