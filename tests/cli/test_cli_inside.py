"""`kerasviz blocks` and `kerasviz concepts`: Building Blocks, CRAFT and TCAV from the shell, into dashboard records.

Runs in this process (`kerasviz.cli.main`) on the saved tiny functional
model and seeded noise images, with few steps.
"""

import numpy as np
import pytest

from kerasviz import cli, inside
from kerasviz.cli import common
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


def _image_folder(folder, count, seed, low=0, high=255):
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(low, high, (20, 20, 3), dtype=np.uint8)).save(folder / f"x{i}.png")
    return folder


@pytest.fixture(scope="module")
def concept_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_tcav")
    concepts = [_image_folder(root / "bright", 6, 1, 200, 255), _image_folder(root / "dark", 6, 2, 0, 50)]
    randoms = [_image_folder(root / f"random{i}", 6, 10 + i) for i in range(3)]
    return concepts, randoms


def test_concepts_tcav_tests_the_folders_concepts(work, concept_folders, capsys, tmp_path):
    concepts, randoms = concept_folders
    code, out, err = _main(["concepts", "--model", str(work / "model.keras"), "--images", str(work / "photos"),
                            "--logdir", str(tmp_path), "--target", "1", "--layer", "relu2",
                            "--tcav", *map(str, concepts), "--random", *map(str, randoms)], capsys)
    assert code == 0, err
    assert "Settings: TCAV of 2 concepts (bright: 6 images, dark: 6 images) for class 1 on 3 images" in out
    header, _ = _records(tmp_path / "concepts")["kerasviz/concepts/tcav"]
    assert header["kind"] == "tcav" and header["layer"] == "relu2"
    assert [(r["concept"], r["class"]) for r in header["rows"]] == [("bright", 1), ("dark", 1)]
    # The same test through the library, on the same images as the command loads them.
    model = common.load_model(str(work / "model.keras"))
    load = lambda folder: common.load_images(sorted(str(p) for p in folder.iterdir()), model, (0.0, 1.0))  # noqa: E731
    images = load(work / "photos")
    for row, folder in zip(header["rows"], concepts):
        test = inside.tcav_significance(model, images, "relu2", load(folder), [load(r) for r in randoms], 1,
                                        comparisons=2)
        assert row["score"] == pytest.approx(test.score) and row["p_value"] == pytest.approx(test.p_value)
        assert row["significant"] == test.significant
        assert f"{row['concept']}: TCAV score {test.score:.3f}" in out


@pytest.mark.parametrize("args, message", [
    (["concepts", "--target", "1", "--tcav", "{c}"], "--random: expected at least 3 directories with --tcav; received 0"),
    (["concepts", "--target", "1", "--tcav", "{c}", "--random", "{r}", "{r}"], "--random: expected at least 3"),
    (["concepts", "--target", "1", "--random", "{r}", "{r}", "{r}"], "--random: only with --tcav"),
    (["concepts", "--target", "1", "--tcav", "{c}/x0.png", "--random", "{r}", "{r}", "{r}"], "not a directory"),
    (["concepts", "--target", "1", "--tcav", "{c}", "{c}", "--random", "{r}", "{r}", "{r}"], "share a name"),
    (["concepts", "--target", "9", "--tcav", "{c}", "--random", "{r}", "{r}", "{r}"], "--target: expected a class"),
])
def test_tcav_mistakes_are_named(work, concept_folders, capsys, tmp_path, args, message):
    concepts, randoms = concept_folders
    args = [a.format(c=concepts[0], r=randoms[0]) for a in args]
    code, _, err = _main([*args, "--model", str(work / "model.keras"), "--images", str(work / "photos"),
                          "--logdir", str(tmp_path)], capsys)
    assert code == 2 and message in err, err


@pytest.mark.parametrize("args, message", [
    (["blocks", "--groups", "0"], "--groups: expected a positive number"),
    (["concepts", "--target", "1", "--designs", "0"], "--designs: expected a positive number"),
    (["blocks", "--layer", "nope"], "--layer 'nope'"),
])
def test_mistakes_are_named(work, capsys, tmp_path, args, message):
    code, _, err = _main([*args, "--model", str(work / "model.keras"), "--images", str(work / "photos"),
                          "--logdir", str(tmp_path)], capsys)
    assert code == 2 and message in err, err
