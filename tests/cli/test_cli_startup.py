"""The `kerasviz` command starts at once and quietly: no TensorFlow for `--help`, no TensorFlow log lines."""

import os
import re
import sys
import time

import keras
import numpy as np
import pytest
from PIL import Image

from tests.helpers.models import functional
from tests.helpers.processes import REPO, run


TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|cuInit", re.MULTILINE)


@pytest.mark.parametrize("args", [["--help"], ["attribute", "--help"], ["synthesize", "--help"]])
def test_help_is_quick_and_imports_no_tensorflow(tmp_path, args):
    code = ("import sys\nfrom kerasviz.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('tensorflow imported:', 'tensorflow' in sys.modules, 'keras imported:', 'keras' in sys.modules)")
    out = run([sys.executable, "-c", code, *args], tmp_path)
    assert "tensorflow imported: False keras imported: False" in out.stdout, out.stderr[-2000:]
    start = time.perf_counter()
    out = run([sys.executable, "-m", "kerasviz.cli", *args], tmp_path)
    elapsed = time.perf_counter() - start
    assert out.returncode == 0 and "usage: kerasviz" in out.stdout
    assert elapsed < 1.0, f"`kerasviz {' '.join(args)}` took {elapsed:.2f} s"


def test_value_range_presets_are_the_library_presets():
    from kerasviz import inputs
    from kerasviz.cli import common

    assert sorted(common.VALUE_RANGE_PRESETS) == sorted(inputs.VALUE_RANGE_PRESETS)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_startup")
    keras.backend.clear_session()
    functional().save(folder / "model.keras")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / "a.png")
    return folder


def _attribute(work, *extra, env=None):
    args = [sys.executable, "-m", "kerasviz.cli", "attribute", "model.keras", "a.png", "--methods", "saliency",
            "--out", "out", *extra]
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        return run(args, work)
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.parametrize("env", [{}, {"TF_CPP_MIN_LOG_LEVEL": "2"}, {"TF_CPP_MIN_LOG_LEVEL": "0"}])
def test_no_tensorflow_log_lines_unless_verbose(work, env):
    out = _attribute(work, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert not TF_LOG_LINE.search(out.stderr), out.stderr[-2000:]


def test_verbose_shows_them(work):
    out = _attribute(work, "--verbose", env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert TF_LOG_LINE.search(out.stderr), "expected TensorFlow's start-up lines with --verbose"


def test_the_benchmark_script_runs(tmp_path):
    out = run([sys.executable, os.path.join(REPO, "benchmarks", "cli_startup.py"), "--repeat", "2"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert re.search(r"kerasviz --help: best [\d.]+ s", out.stdout), out.stdout
