"""Two writers of one (run, tag): refused in one fit; a new callback re-running written epochs goes on after them.

Read back through both of TensorBoard's data servers (the Python multiplexer
and the Rust data server): each step must hold one record, the same on both.
"""

import os

import numpy as np
import pytest
from tensorboard import context

from kerasviz import callbacks
from tb_plugin import metadata
from tests.helpers.events import read_events, steps
from tests.helpers.models import CLASSES, SIZE, compiled_model
from tests.helpers.providers import python_provider, rust_provider

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 1, (16, SIZE, SIZE, 3)).astype(np.float32)
Y = RNG.integers(0, CLASSES, 16)
SALIENCY = "kerasviz/attribution/saliency"


def fit(model, cbs, epochs=3):
    model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0, callbacks=cbs)


def test_two_callbacks_of_one_fit_writing_one_series_are_refused_before_the_first_step(tmp_path):
    model = compiled_model()
    first = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=("saliency",))
    second = callbacks.AttributionCallback(str(tmp_path), X[2:4], methods=("grad_cam", "saliency"))
    with pytest.raises(ValueError, match=f"run_name='kerasviz'.*{SALIENCY!r}.*another `run_name`"):
        fit(model, [first, second])
    assert int(model.optimizer.iterations.numpy()) == 0
    assert not os.path.exists(tmp_path / "kerasviz")
    # Distinct run names, or distinct tags in one run, are fine.
    other = callbacks.AttributionCallback(str(tmp_path), X[2:4], methods=("saliency",), run_name="other")
    filters = callbacks.FilterCallback(str(tmp_path), layers=["conv1"])
    fit(model, [first, other, filters], epochs=1)
    assert steps(read_events(str(tmp_path / "kerasviz"))) == {
        SALIENCY: [0], SALIENCY + "/overlay": [0],
        "kerasviz/activations/filters/conv1": [0], "kerasviz/activations/filters/conv1/grid": [0]}


def _records(provider):
    """`{step: header}` of the saliency series, asserting one record per step."""
    ctx = context.RequestContext()
    series = provider.read_blob_sequences(ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME,
                                          downsample=1000, run_tag_filter=None)
    data = series["kerasviz"][SALIENCY]
    assert len({d.step for d in data}) == len(data), [d.step for d in data]
    return {d.step: metadata.decode_header(provider.read_blob(ctx, blob_key=d.values[0].blob_key)) for d in data}


def test_a_new_callback_rerunning_written_epochs_continues_after_them_on_both_data_servers(tmp_path, request):
    model = compiled_model()
    fit(model, [callbacks.AttributionCallback(str(tmp_path), X[:2], methods=("saliency",), on_error="raise")])
    rerun = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=("saliency",), on_error="raise")
    fit(model, [rerun])  # epochs 0, 1, 2 again: written as steps 3, 4, 5
    assert steps(read_events(str(tmp_path / "kerasviz")))[SALIENCY] == [0, 1, 2, 3, 4, 5]
    python = _records(python_provider(str(tmp_path)))
    rust = _records(rust_provider(str(tmp_path), request, expected=1))
    assert sorted(python) == sorted(rust) == [0, 1, 2, 3, 4, 5]
    assert python == rust
