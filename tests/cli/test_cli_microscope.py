"""`kerasviz microscope`: the precompute from the shell, with the defaults said, resumable; mistakes named.

Runs in this process (`kerasviz.cli.main`) on the saved tiny functional
model and seeded noise images, with few steps.
"""

import keras
import pytest

from kerasviz import cli
from kerasviz.inside import microscope_records
from tests.helpers import microscope as tiny
from tests.helpers.models import saved_model_and_images

SMALL = ["--steps", "2", "--facets", "1", "--k", "2", "--grid", "2", "--samples", "40", "--layout", "pca",
         "--atlas-steps", "2", "--effect-images", "2"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_microscope")
    return saved_model_and_images(folder, count=3, images_in="photos")


def _main(args, capsys):
    code = cli.main(["microscope", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_defaults_are_said_and_a_rerun_resumes(work, capsys, tmp_path):
    args = ["--model", str(work / "model.keras"), "--data", str(work / "photos"), "--logdir", str(tmp_path),
            "--augment", *SMALL]
    code, out, err = _main(args, capsys)
    assert code == 0, err
    assert "Layers: 'relu2' (the default" in out
    assert "Channels: the first 8 of each layer (the default)" in out
    assert "Data: 3 image files, each also flipped and cropped twice (4 images each)" in out
    assert "Wrote 9 records" in out and "(0 already there)" in out
    found = tiny.read(tmp_path / "microscope")
    assert sorted(step for tag, step in found if tag == microscope_records.channel_tag("relu2")) == list(range(8))
    atlas_header, _ = found[(microscope_records.atlas_tag("relu2"), 0)]
    h, w = keras.models.load_model(work / "model.keras", compile=False).get_layer("relu2").output.shape[1:3]
    assert atlas_header["seen"] == 3 * 4 * h * w  # 3 files x 4 versions, every position of each
    code, out, err = _main(args, capsys)
    assert code == 0, err
    assert "Wrote 0 records" in out and "(9 already there)" in out


@pytest.mark.parametrize("extra, message", [
    (["--steps", "0"], "--steps: expected a positive number"),
    (["--layers", "nope"], "--layers 'nope'"),
    (["--channels", "-1"], "--channels: expected channel indices >= 0"),
])
def test_mistakes_are_one_line_naming_the_option(work, capsys, tmp_path, extra, message):
    code, out, err = _main(["--model", str(work / "model.keras"), "--data", str(work / "photos"),
                            "--logdir", str(tmp_path), *SMALL, *extra], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
