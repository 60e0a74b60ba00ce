"""The synthesis family's callback: class visualizations written epoch by epoch."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import callbacks, compiled, image
from tb_plugin import metadata
from tests.helpers.events import read_events, steps
from tests.helpers.models import CLASSES, SIZE, compiled_model, functional
from tests.helpers.processes import run

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 1, (16, SIZE, SIZE, 3)).astype(np.float32)
Y = RNG.integers(0, CLASSES, 16)
TAG = "kerasviz/synthesis/class_visualization"


def _fit(model, cbs, epochs=2):
    model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0, callbacks=cbs)


class _Traces(callbacks.VisualizationCallback):
    """Records the tracing count after every epoch (after the visualization callback ran)."""

    def __init__(self, log_dir):
        super().__init__(log_dir, run_name="traces")
        self.counts = []

    def visualize(self, step):
        self.counts.append(compiled.tracing_count(self.model))


def test_records_every_epoch_decode_and_trace_once(tmp_path):
    model = compiled_model(functional)
    names = ["a", "b", "c", "<b>d</b>"]
    callback = callbacks.ClassVisualizationCallback(tmp_path, [1, 3], class_names=names, steps=12, snapshots=4,
                                                    on_error="raise")
    traces = _Traces(tmp_path)
    _fit(model, [callback, traces], epochs=3)
    events = read_events(os.path.join(tmp_path, "kerasviz"))
    assert steps(events) == {TAG: [0, 1, 2], TAG + "/images": [0, 1, 2]}
    assert traces.counts[0] >= 1 and traces.counts == [traces.counts[0]] * 3

    _, value, meta = events[TAG][-1]
    blobs = [bytes(b) for b in tf.make_ndarray(value.tensor)]
    header, arrays = metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1])
    assert header["family"] == "synthesis" and header["method"] == "class_visualization"
    assert header["class_names"] == names and header["classes"] == [1, 3] and header["steps"] == 12
    assert "3 (<b>d</b>)" in header["target"] and header["value_range"] == [0.0, 1.0]
    assert arrays["images"].dtype == np.uint8 and arrays["images"].shape == (2, SIZE, SIZE, 3)
    assert arrays["losses"].shape == (1, 12) and np.isfinite(arrays["losses"]).all()
    assert arrays["snapshots"].shape == (4, SIZE, 2 * SIZE + 1, 3)
    # The record is what class_visualization gives on the trained model with the same seed.
    expected = kerasviz.class_visualization(model, [1, 3], steps=12, seed=0)
    np.testing.assert_allclose(arrays["images"] / 255.0, image.to_display(expected.image), atol=1 / 255 + 1e-6)
    np.testing.assert_allclose(arrays["losses"][0], expected.losses, rtol=1e-4, atol=1e-5)
    # The last snapshot is the final image.
    np.testing.assert_array_equal(arrays["snapshots"][-1][:, :SIZE], arrays["images"][0])
    # Gradient ascent on the class score raises it.
    assert arrays["losses"][0, -1] > arrays["losses"][0, 0]


def test_same_seed_same_images_and_no_snapshots(tmp_path):
    model = compiled_model(functional)
    callback = callbacks.ClassVisualizationCallback(tmp_path, 2, steps=5, snapshots=0, every=2, on_error="raise")
    _fit(model, [callback], epochs=3)
    events = read_events(os.path.join(tmp_path, "kerasviz"))
    assert steps(events)[TAG] == [0, 2]
    arrays = metadata.decode_arrays(bytes(tf.make_ndarray(events[TAG][0][1].tensor)[1]))
    assert sorted(arrays) == ["images", "losses"] and arrays["images"].shape == (1, SIZE, SIZE, 3)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: callbacks.ClassVisualizationCallback(d, [0, CLASSES]), "classes"),
        (lambda d: callbacks.ClassVisualizationCallback(d, [-1]), "classes"),
        (lambda d: callbacks.ClassVisualizationCallback(d, [0], class_names=["a"]), "class_names"),
        (lambda d: callbacks.ClassVisualizationCallback(d, [0], value_range=(1, 0)), "value_range"),
        (lambda d: callbacks.ClassVisualizationCallback(d, [0], value_range=None), "value_range"),
        (lambda d: callbacks.ClassVisualizationCallback(d, "cat"), "classes"),
        (lambda d: callbacks.ClassVisualizationCallback(d, [0], steps=0), "steps"),
        (lambda d: callbacks.ClassVisualizationCallback(d, [0], momentum=0.9), "momentum"),
        # class_visualization's own checks, run for one step when fit starts (issue 12, finding 4).
        (lambda d: callbacks.ClassVisualizationCallback(d, [0], image_shape=(8, 8, 3)), "image_shape"),
        (lambda d: callbacks.ClassVisualizationCallback(d, [0], learning_rate=-1.0), "learning_rate"),
        (lambda d: callbacks.ClassVisualizationCallback(d, [0], blur_sigma=-1.0), "blur_sigma"),
    ],
)
def test_misconfiguration_fails_before_the_first_step(tmp_path, make, match):
    model = compiled_model(functional)
    with pytest.raises((ValueError, TypeError), match=match):
        _fit(model, [make(tmp_path)], epochs=1)
    assert not os.path.exists(os.path.join(tmp_path, "kerasviz")) or not any(
        f.startswith("events") and os.path.getsize(os.path.join(tmp_path, "kerasviz", f)) > 100
        for f in os.listdir(os.path.join(tmp_path, "kerasviz")))


# ---------------------------------------------------------------- the `kerasviz synthesize` command


def _cli(args, cwd):
    return run([sys.executable, "-m", "kerasviz.cli", "synthesize", "model.keras", *args], cwd)


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("synthesize")
    functional().save(folder / "model.keras")
    Image.fromarray(RNG.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / "x.png")
    return folder


@pytest.mark.parametrize("args, name, tiles", [
    (["--class", "0", "2", "--steps", "8"], "class_visualization.png", 2),
    (["--fool", "x.png", "--target-class", "1", "--steps", "40"], "fooling.png", 3),
    (["--invert", "x.png", "--layer", "conv1", "--steps", "8"], "inversion.png", 2),
])
def test_synthesize_command_writes_its_figure(cli_dir, args, name, tiles):
    from PIL import Image

    out_dir = f"out_{name[:-4]}"
    out = _cli([*args, "--value-range", "0", "1", "--out", out_dir], cli_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    assert os.listdir(cli_dir / out_dir) == [name]
    # Class visualizations are titled with their class (the tiles enlarged so that the words can be read).
    tile = image.titled(np.zeros((SIZE, SIZE, 3)), "class 0") if name == "class_visualization.png" else \
        np.zeros((SIZE, SIZE, 3))
    width, height = tiles * (tile.shape[1] + 2) - 2, tile.shape[0]
    factor = -(-256 // max(width, height))
    assert Image.open(cli_dir / out_dir / name).size == (width * factor, height * factor)
    assert "Wrote" in out.stdout


def test_synthesize_titles_classes_with_their_names(cli_dir):
    (cli_dir / "names.txt").write_text("circle\nsquare\ntriangle\nstar\n")
    out = _cli(["--class", "2", "--steps", "2", "--class-names", "names.txt", "--out", "named"], cli_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "class visualization of 2: triangle:" in out.stdout
    from PIL import Image

    picture = np.asarray(Image.open(cli_dir / "named" / "class_visualization.png").convert("L"), np.float32)
    strip = image.titled(np.zeros((SIZE, SIZE, 3)), "2: triangle").shape[0] - 6 * SIZE  # the title's rows
    factor = picture.shape[1] // (6 * SIZE)
    assert picture[:strip * factor].min() < 128  # dark words on the white strip


def test_synthesize_command_needs_its_companion_argument(cli_dir):
    out = _cli(["--fool", "x.png"], cli_dir)
    assert out.returncode != 0 and "--target-class" in out.stderr
    out = _cli(["--class", "0", "--fool", "x.png"], cli_dir)
    assert out.returncode != 0 and "not allowed with" in out.stderr
