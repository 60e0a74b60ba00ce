"""`MicroscopeCallback`: the Microscope's pages written at the end of training, or every N epochs, each in its run."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kerasviz import callbacks  # noqa: E402
from kerasviz.inside import microscope_records  # noqa: E402
from tests.helpers import microscope as tiny  # noqa: E402
from tests.helpers.models import CLASSES, SIZE, functional  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 1, (16, SIZE, SIZE, 3)).astype(np.float32)
Y = RNG.integers(0, CLASSES, 16)
SMALL = dict(steps=2, facets=1, k=2, grid=2, samples=30, layout="pca", atlas_steps=2, effect_images=2)
EXPECTED = {(microscope_records.atlas_tag("relu2"), 0), (microscope_records.channel_tag("relu2"), 0),
            (microscope_records.channel_tag("relu2"), 1)}


def _fit(callback, epochs=2):
    keras.backend.clear_session()
    model = functional()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0, callbacks=[callback], shuffle=False)
    return model


def test_at_the_end_of_training_by_default(tmp_path):
    _fit(callbacks.MicroscopeCallback(tmp_path, X, ["relu2"], [0, 1], on_error="raise", **SMALL))
    assert sorted(os.listdir(tmp_path / "microscope")) == ["final"]
    assert set(tiny.read(tmp_path / "microscope" / "final")) == EXPECTED


def test_every_epoch_in_a_run_of_its_own_with_the_weights_of_that_epoch(tmp_path):
    _fit(callbacks.MicroscopeCallback(tmp_path, X, ["relu2"], [0, 1], every=1, on_error="raise", **SMALL))
    runs = sorted(os.listdir(tmp_path / "microscope"))
    assert runs == ["epoch_0000", "epoch_0001"]
    found = [tiny.read(tmp_path / "microscope" / run) for run in runs]
    assert all(set(f) == EXPECTED for f in found)
    fingerprints = [f[(microscope_records.atlas_tag("relu2"), 0)][0]["fingerprint"] for f in found]
    assert fingerprints[0] != fingerprints[1]  # the weights changed between the epochs


def test_a_bad_layer_fails_before_the_first_training_step(tmp_path):
    callback = callbacks.MicroscopeCallback(tmp_path, X, ["logits"], on_error="raise", **SMALL)
    with pytest.raises(ValueError, match="layers"):
        _fit(callback, epochs=1)
    assert not os.path.exists(tmp_path / "microscope")


def test_unknown_arguments_are_refused_at_construction(tmp_path):
    with pytest.raises(TypeError, match="stpes"):
        callbacks.MicroscopeCallback(tmp_path, X, stpes=3)
