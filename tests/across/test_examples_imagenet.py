"""`examples/imagenet.py`, the README's pictures of a real network, as a user runs it: a subprocess, `--quick`.

Runs on the EfficientNet-Lite3 of `../shared/imagenet` (skipped without it) and checks that every figure
is written as a real picture: a PNG of figure size (about 1000-1150 px wide), not a constant image, small
enough for a README; and that the script says the layer each default picked and the time of each stage.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.helpers.processes import REPO

SCRIPT = os.path.join(REPO, "examples", "imagenet.py")
SHARED = os.path.join(REPO, "..", "shared", "imagenet")
FIGURES = ("attributions", "class_visualizations", "feature_visualization", "deep_dream", "top_patches")

pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(SHARED, "efficientnet_lite3.keras")),
                       reason=f"no ImageNet classifier at {SHARED} (../shared/imagenet from the repository root)"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Runs the script once with `--quick` (every figure, a few steps each) and returns `(out folder, stdout)`."""
    out = tmp_path_factory.mktemp("imagenet")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, SCRIPT, "--quick", "--out", str(out)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, done.stdout


@pytest.mark.parametrize("name", FIGURES)
def test_each_figure_is_a_real_picture_of_readme_size(run, name):
    out, _ = run
    path = out / f"imagenet_{name}.png"
    assert path.exists(), sorted(os.listdir(out))
    assert 10_000 < path.stat().st_size <= 600_000
    with Image.open(path) as picture:
        pixels = np.asarray(picture.convert("RGB"), np.float32) / 255.0
    height, width = pixels.shape[:2]
    assert 900 <= width <= 1400 and 250 <= height <= 1400, (width, height)
    assert pixels.std() > 0.1  # photos, maps and titles: far from a constant image
    body = pixels[height // 4:]  # below the titles: many distinct colours, not a blank canvas
    assert len(np.unique((body * 31).astype(np.int32).reshape(-1, 3), axis=0)) > 16


def test_it_says_the_layers_it_picked_and_the_time_of_each_stage(run):
    _, stdout = run
    for said in (r"Grad-CAM's layer \(the default: the last feature block\): conv_2d_90_act",
                 r"Layer \(the default: [^)]+\): \w+_act; 4 steps",  # feature visualization's
                 r"Photos: kite, scream; layer \(the default\): \w+_act",  # DeepDream's
                 r"\(the middle rectified layer of the middle resolution stage\): depthwise_conv_2d_19_act, "
                 r"receptive field 75 px",
                 r"dog: 249: malamute 82\.\d%",
                 r"Times: attributions \d+ s, class_visualizations \d+ s, feature_visualization \d+ s, "
                 r"deep_dream \d+ s, top_patches \d+ s; in all \d+ s"):
        assert re.search(said, stdout), (said, stdout)
    assert stdout.count("\nwrote ") == len(FIGURES)
