"""`BuildingBlocksCallback`, `CraftCallback`, `TCAVCallback`: records of a real `fit`, read back through the plugin."""

import json
import os
import shutil
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kerasviz import callbacks, inside  # noqa: E402
from tests.helpers import providers  # noqa: E402
from tests.helpers.models import (CLASSES, SIZE, assert_model_unchanged, functional, layer_state,  # noqa: E402
                                  weights_snapshot)

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 1, (16, SIZE, SIZE, 3)).astype(np.float32)
Y = RNG.integers(0, CLASSES, 16)
BLOCKS = dict(groups=2, top=2, max_channels=2, steps=2)
CRAFT = dict(concepts=3, designs=8, shown=2)
BRIGHT = np.clip(X[:6] * 0.3 + 0.7, 0, 1)  # a concept: bright images
RANDOM = [RNG.uniform(0, 1, (6, SIZE, SIZE, 3)).astype(np.float32) for _ in range(3)]


def _model():
    keras.backend.clear_session()
    model = functional()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    return model


def _fit(cbs, epochs=2, model=None):
    model = model or _model()
    history = model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0, callbacks=cbs, shuffle=False)
    return model, history


def _get_json(client, route, **params):
    response = client.get("/data/plugin/kerasviz/" + route, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data())


def _client(logdir):
    return providers.plugin_client(providers.python_provider(str(logdir)), str(logdir))


def _steps(client, run, tag):
    return [s["step"] for s in _get_json(client, "steps", run=run, tag=tag)["steps"]]


def test_building_blocks_at_the_end_of_training_at_the_last_epochs_step(tmp_path):
    model, _ = _fit([callbacks.BuildingBlocksCallback(tmp_path, X[:2], "relu2", target=1, on_error="raise",
                                                      **BLOCKS)])
    client = _client(tmp_path)
    [run] = _get_json(client, "runs")["runs"]
    assert run["name"] == "blocks" and {t["family"] for t in run["tags"]} == {"blocks"}
    for i in range(2):
        tag = f"kerasviz/blocks/image_{i}"
        assert _steps(client, "blocks", tag) == [1]
        record = _get_json(client, "record", run="blocks", tag=tag, step=1)
        assert record["header"]["layer"] == "relu2" and record["header"]["target"] == 1
        assert record["arrays"]["amounts"]["shape"] == [2, SIZE, SIZE]
        # The record is building_blocks_of on the trained model (same seed): its dictionary is the same.
        expected = inside.building_blocks_of(model, X[i], "relu2", target=1, **BLOCKS)
        assert record["header"]["channels"] == expected.channels.tolist()
        assert record["arrays"]["top_channels"]["shape"] == list(expected.top_channels.shape)


def test_building_blocks_every_epoch_with_names(tmp_path):
    _fit([callbacks.BuildingBlocksCallback(tmp_path, X[:1], "relu2", names=["cat"], every=1, on_error="raise",
                                           **BLOCKS)])
    assert _steps(_client(tmp_path), "blocks", "kerasviz/blocks/cat") == [0, 1]


def test_craft_and_tcav_in_one_run(tmp_path):
    craft = callbacks.CraftCallback(tmp_path, X[:4], 2, "relu2", on_error="raise", **CRAFT)
    tcav = callbacks.TCAVCallback(tmp_path, X[:6], {"bright": BRIGHT}, RANDOM, targets=[0, 1], layer="relu2",
                                  every=1, on_error="raise")
    model, _ = _fit([craft, tcav])
    client = _client(tmp_path)
    assert _steps(client, "concepts", "kerasviz/concepts/class_2") == [1]
    assert _steps(client, "concepts", "kerasviz/concepts/tcav") == [0, 1]
    record = _get_json(client, "record", run="concepts", tag="kerasviz/concepts/class_2", step=1)
    assert record["header"]["target"] == 2 and record["header"]["layer"] == "relu2"
    assert record["arrays"]["total"]["shape"] == [3] and record["arrays"]["maps"]["shape"][:2] == [2, 3]
    bank = inside.craft_concepts(model, X[:4], "relu2", 3)  # same seed, trained weights: the same error
    assert record["header"]["reconstruction_error"] == pytest.approx(bank.error, rel=1e-4, abs=1e-6)
    header = _get_json(client, "record", run="concepts", tag="kerasviz/concepts/tcav", step=1)["header"]
    assert header["kind"] == "tcav" and header["layer"] == "relu2"
    assert sorted((r["concept"], r["class"]) for r in header["rows"]) == [("bright", 0), ("bright", 1)]
    test = inside.tcav_significance(model, X[:6], "relu2", BRIGHT, RANDOM, 1, comparisons=2)
    row = next(r for r in header["rows"] if r["class"] == 1)
    assert row["score"] == pytest.approx(test.score) and row["p_value"] == pytest.approx(test.p_value)


@pytest.mark.parametrize("make, error, match", [
    (lambda d: callbacks.BuildingBlocksCallback(d, X[0]), ValueError, "images"),
    (lambda d: callbacks.BuildingBlocksCallback(d, X[:2], names=["a"]), ValueError, "names"),
    (lambda d: callbacks.BuildingBlocksCallback(d, X[:2], groups=0), ValueError, "groups"),
    (lambda d: callbacks.BuildingBlocksCallback(d, X[:2], target="cat"), TypeError, "target"),
    (lambda d: callbacks.BuildingBlocksCallback(d, X[:2], every=0), ValueError, "every"),
    (lambda d: callbacks.CraftCallback(d, X[:2], None), TypeError, "target"),
    (lambda d: callbacks.CraftCallback(d, X[:2], 0, designs=6), ValueError, "designs"),
    (lambda d: callbacks.CraftCallback(d, X[:2], 0, patch_size=SIZE + 1), ValueError, "patch_size"),
    (lambda d: callbacks.CraftCallback(d, X[:2], 0, on_error="ignore"), ValueError, "on_error"),
    (lambda d: callbacks.TCAVCallback(d, X[:2], {}, RANDOM, 0), TypeError, "concepts"),
    (lambda d: callbacks.TCAVCallback(d, X[:2], {"b": BRIGHT}, RANDOM[:2], 0), ValueError, "random_sets"),
    (lambda d: callbacks.TCAVCallback(d, X[:2], {"b": BRIGHT}, RANDOM, []), ValueError, "targets"),
    (lambda d: callbacks.TCAVCallback(d, X[:2], {"b": BRIGHT}, RANDOM, 0, alpha=2), ValueError, "alpha"),
    (lambda d: callbacks.TCAVCallback(d, X[:2], {"b": "x"}, RANDOM, 0), TypeError, "concepts"),
])
def test_bad_arguments_fail_at_construction(tmp_path, make, error, match):
    with pytest.raises(error, match=match):
        make(tmp_path)


@pytest.mark.parametrize("make, match", [
    (lambda d: callbacks.BuildingBlocksCallback(d, X[:2], "logits"), "layer"),
    (lambda d: callbacks.BuildingBlocksCallback(d, X[:2], "conv2"), "non-negative"),  # before its ReLU
    (lambda d: callbacks.BuildingBlocksCallback(d, X[:2], "relu2", target=CLASSES), "target"),
    (lambda d: callbacks.CraftCallback(d, X[:2], 0, "relu2", concepts=9), "concepts"),
    (lambda d: callbacks.CraftCallback(d, X[:2] * 2, 0, "relu2"), "images"),
    (lambda d: callbacks.TCAVCallback(d, X[:2], {"b": BRIGHT[:, :8]}, RANDOM, 0, "relu2"), "concepts"),
    (lambda d: callbacks.TCAVCallback(d, X[:2], {"b": BRIGHT}, RANDOM, [0, CLASSES], "relu2"), "targets"),
])
def test_misconfiguration_fails_before_the_first_training_step(tmp_path, make, match):
    model = _model()
    before = weights_snapshot(model)
    with pytest.raises(ValueError, match=match):
        _fit([make(tmp_path)], epochs=1, model=model)
    assert model.optimizer.iterations.numpy() == 0
    for a, b in zip(weights_snapshot(model), before):
        np.testing.assert_array_equal(a, b)


def test_a_failed_write_warns_and_training_goes_on(tmp_path):
    run_dir = tmp_path / "blocks"

    def break_the_run_directory(epoch, logs):  # the callback's run directory becomes a file
        if epoch == 0:
            shutil.rmtree(run_dir, ignore_errors=True)
            run_dir.write_text("not a directory")

    breaker = keras.callbacks.LambdaCallback(on_epoch_end=break_the_run_directory)
    callback = callbacks.BuildingBlocksCallback(tmp_path, X[:1], "relu2", every=1, **BLOCKS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, history = _fit([breaker, callback], epochs=2)
    assert len(history.history["loss"]) == 2
    said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert said and all("Training goes on" in s for s in said) and any("BuildingBlocksCallback" in s for s in said)


def test_a_failing_computation_warns_once_and_training_goes_on(tmp_path):
    # One 16-pixel patch of one image cannot be factored into 2 concepts: known only when the patches are cut.
    callback = callbacks.CraftCallback(tmp_path, X[:1], 0, "relu2", concepts=2, designs=8, patch_size=SIZE, every=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, history = _fit([callback], epochs=2)
    assert len(history.history["loss"]) == 2
    said = [str(w.message) for w in caught if "CraftCallback could not visualize 'craft'" in str(w.message)]
    assert len(said) == 1 and "concepts=2" in said[0]


def test_the_callbacks_leave_the_model_unchanged(tmp_path):
    """Driven without a training step, each callback's write leaves the weights and layers as they were."""
    model = _model()
    model(X[:1])
    before, state = weights_snapshot(model), layer_state(model)
    made = [callbacks.BuildingBlocksCallback(tmp_path, X[:1], "relu2", every=1, on_error="raise", **BLOCKS),
            callbacks.CraftCallback(tmp_path, X[:2], 0, "relu2", every=1, on_error="raise", **CRAFT),
            callbacks.TCAVCallback(tmp_path, X[:4], {"bright": BRIGHT}, RANDOM, 0, "relu2", every=1,
                                   on_error="raise")]
    for callback in made:
        callback.set_model(model)
        callback.on_train_begin()
        callback.on_epoch_end(0)
        callback.on_train_end()
    assert_model_unchanged(model, before, state)
    client = _client(tmp_path)
    assert _steps(client, "blocks", "kerasviz/blocks/image_0") == [0]
    assert _steps(client, "concepts", "kerasviz/concepts/class_0") == [0]
    assert _steps(client, "concepts", "kerasviz/concepts/tcav") == [0]
