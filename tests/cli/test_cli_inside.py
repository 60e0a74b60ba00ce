"""`kerasviz blocks` and `kerasviz concepts`: Building Blocks and CRAFT from the shell, into dashboard records.

Runs in this process (`kerasviz.cli.main`) on the saved tiny functional
model and seeded noise images, with few steps.
"""

import numpy as np
import pytest

from kerasviz import cli
from tb_plugin import metadata
from tests.helpers.events import read_events
from tests.helpers.models import saved_model_and_images


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_inside")
    return saved_model_and_images(folder, count=3, images_in="photos")


def _main(args, capsys):
    code = cli.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def _records(run_dir):
    found = {}
    for tag, entries in read_events(str(run_dir)).items():
        for _, value, _ in entries:
            blobs = np.asarray(value.tensor.string_val, dtype=object)
            found[tag] = (metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1]))
    return found


def test_blocks_writes_a_series_per_image_and_says_its_defaults(work, capsys, tmp_path):
    code, out, err = _main(["blocks", "--model", str(work / "model.keras"), "--images", str(work / "photos"),
                            "--logdir", str(tmp_path), "--groups", "2", "--steps", "2", "--max-channels", "2"], capsys)
    assert code == 0, err
    assert "Layer: 'relu2' (the default" in out and "Settings: 2 groups" in out
    found = _records(tmp_path / "blocks")
    assert sorted(found) == [f"kerasviz/blocks/img{i}" for i in range(3)]
    header, arrays = found["kerasviz/blocks/img0"]
    assert header["layer"] == "relu2" and arrays["group_images"].shape[0] == 2


def test_concepts_writes_the_class_concepts(work, capsys, tmp_path):
    code, out, err = _main(["concepts", "--model", str(work / "model.keras"), "--images", str(work / "photos"),
                            "--logdir", str(tmp_path), "--target", "1", "--concepts", "2", "--designs", "4",
                            "--layer", "relu2"], capsys)
    assert code == 0, err
    assert "Settings: 2 concepts of class 1 from 3 images" in out and "Concepts by importance" in out
    header, arrays = _records(tmp_path / "concepts")["kerasviz/concepts/class_1"]
    assert header["target"] == 1 and arrays["total"].shape == (2,)


@pytest.mark.parametrize("args, message", [
    (["blocks", "--groups", "0"], "--groups: expected a positive number"),
    (["concepts", "--target", "1", "--designs", "0"], "--designs: expected a positive number"),
    (["blocks", "--layer", "nope"], "--layer 'nope'"),
])
def test_mistakes_are_named(work, capsys, tmp_path, args, message):
    code, _, err = _main([*args, "--model", str(work / "model.keras"), "--images", str(work / "photos"),
                          "--logdir", str(tmp_path)], capsys)
    assert code == 2 and message in err, err
