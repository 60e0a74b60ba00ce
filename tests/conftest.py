"""Shared fixtures for every test folder: the tiny models of `tests/helpers/models.py` in every form, images.

Helpers that tests import live in `tests/helpers/`; this file holds only
fixtures and pytest hooks.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.helpers.models import MODEL_FORMS, SIZE  # noqa: E402


@pytest.fixture(params=sorted(MODEL_FORMS))
def model_form(request):
    """`(form name, model)` for every model form."""
    keras.backend.clear_session()
    return request.param, MODEL_FORMS[request.param]()


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(0, 1, (5, SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="session")
def shapes_model():
    """The trained demo model on the shapes dataset (cached on disk across runs) and its test split."""
    import kerasviz

    return kerasviz.demo.demo_model("shapes"), kerasviz.demo.demo_data("shapes")[1]


@pytest.fixture(scope="module")
def screenshots():
    """Where browser tests save their screenshots: `$KERASVIZ_SCREENSHOTS` or a temporary directory."""
    import sys
    import tempfile

    folder = os.environ.get("KERASVIZ_SCREENSHOTS") or tempfile.mkdtemp(prefix="kerasviz_screenshots_")
    os.makedirs(folder, exist_ok=True)
    print(f"screenshots in {folder}", file=sys.stderr)
    return folder


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject's addopts): one worker per core, at most 4 (each is a TensorFlow process of a GB or more).

    Files are the unit of distribution (`--dist loadfile`), so a module's
    fixtures are built once. On two cores most of the suite's time is
    single-threaded (tracing, subprocesses starting TensorFlow), which two
    workers overlap.
    """
    return max(1, min(os.cpu_count() or 1, 4))
