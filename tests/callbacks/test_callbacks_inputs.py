"""`AttributionCallback` on a model with two inputs (an image and side values): a real `fit`, records read back."""

import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import callbacks
from tb_plugin import metadata
from tests.helpers.dense_models import shapes, side_values, two_input_model
from tests.helpers.events import read_events, steps

N = 3


@pytest.fixture(scope="module")
def trained():
    data = shapes(n=64, seed=1)
    x = {"image": data.images, "side": side_values(data.labels, 1)}
    return two_input_model(epochs=1), x, data.labels


def record(run_dir, tag, step):
    for event_step, value, _ in read_events(run_dir)[tag]:
        if event_step == step:
            blobs = tf.make_ndarray(value.tensor)
            return metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1])
    raise AssertionError(f"no record of {tag} at step {step}")


def test_one_epoch_of_fit_writes_a_series_per_attributed_input(trained, tmp_path):
    model, x, labels = trained
    probe = {"image": x["image"][:N], "side": x["side"][:N]}
    callback = callbacks.AttributionCallback(
        str(tmp_path), probe, labels[:N], methods=("saliency", ("integrated_gradients", {"attribute": "all",
                                                                                         "steps": 8})),
        class_names=[str(k) for k in range(5)], on_error="raise")
    model.fit(x, labels, batch_size=32, epochs=1, verbose=0, callbacks=[callback])
    run_dir = str(tmp_path / "kerasviz")
    assert steps(read_events(run_dir)) == {
        "kerasviz/attribution/saliency/input.image": [0],
        "kerasviz/attribution/saliency/input.image/overlay": [0],
        "kerasviz/attribution/integrated_gradients/input.image": [0],
        "kerasviz/attribution/integrated_gradients/input.image/overlay": [0],
        "kerasviz/attribution/integrated_gradients/input.side": [0]}
    header, arrays = record(run_dir, "kerasviz/attribution/integrated_gradients/input.side", 0)
    assert (header["input"], header["input_kind"], header["inputs"]) == ("side", "vector", ["image", "side"])
    expected = kerasviz.integrated_gradients(model, probe, attribute="all", steps=8)
    np.testing.assert_allclose(arrays["attributions"], expected["side"], rtol=1e-2, atol=1e-3 * np.abs(
        expected["side"]).max())
    np.testing.assert_allclose(arrays["values"], probe["side"], rtol=1e-3, atol=1e-3)
    header, arrays = record(run_dir, "kerasviz/attribution/saliency/input.image", 0)
    probabilities = model.predict(probe, verbose=0)
    assert header["labels"] == labels[:N].tolist()
    assert header["predictions"] == probabilities.argmax(-1).tolist()
    np.testing.assert_allclose(header["predicted_probability"], probabilities.max(-1), rtol=1e-4)
    assert arrays["images"].shape == (N, 24, 24, 3) and arrays["maps"].shape == (N, 24, 24)
    np.testing.assert_allclose(arrays["maps"], kerasviz.saliency(model, probe)["image"], rtol=1e-2,
                               atol=1e-3 * arrays["maps"].max())


def test_a_list_of_inputs_takes_the_models_input_names(trained, tmp_path):
    model, x, labels = trained
    order = [t.name for t in model.inputs]
    probe = [x[name][:2] for name in order]
    callback = callbacks.AttributionCallback(str(tmp_path), probe, methods=("saliency",), on_error="raise")
    model.fit(x, labels, batch_size=32, epochs=1, verbose=0, callbacks=[callback])
    assert sorted(steps(read_events(str(tmp_path / "kerasviz")))) == [
        "kerasviz/attribution/saliency/input.image", "kerasviz/attribution/saliency/input.image/overlay"]


def test_what_cannot_run_on_several_inputs_fails_before_the_first_step(trained, tmp_path):
    model, x, labels = trained
    probe = {"image": x["image"][:2], "side": x["side"][:2]}
    with pytest.raises(ValueError, match="metrics"):
        callbacks.AttributionCallback(str(tmp_path), probe, metrics=True)
    with pytest.raises(ValueError, match="`labels`"):
        callbacks.AttributionCallback(str(tmp_path), probe, labels[:1])
    with pytest.raises(ValueError, match="same number of examples"):
        callbacks.AttributionCallback(str(tmp_path), {"image": x["image"][:2], "side": x["side"][:3]})
    callback = callbacks.AttributionCallback(str(tmp_path), probe, methods=("guided_backprop",), on_error="raise")
    before = int(model.optimizer.iterations.numpy())
    with pytest.raises((ValueError, TypeError), match="guided_backprop"):
        model.fit(x, labels, batch_size=32, epochs=1, verbose=0, callbacks=[callback])
    assert int(model.optimizer.iterations.numpy()) == before  # refused before the first step
    wrong = callbacks.AttributionCallback(str(tmp_path), {"image": x["image"][:2], "other": x["side"][:2]},
                                          on_error="raise", run_name="wrong")
    with pytest.raises(ValueError, match="other"):
        model.fit(x, labels, batch_size=32, epochs=1, verbose=0, callbacks=[wrong])


def test_the_default_methods_are_those_that_take_several_inputs(trained, tmp_path):
    model, x, labels = trained
    callback = callbacks.AttributionCallback(str(tmp_path), {"image": x["image"][:1], "side": x["side"][:1]},
                                             on_error="raise")
    assert [entry.name for entry in callback.methods] == ["saliency", "grad_cam"]
    model.fit(x, labels, batch_size=64, epochs=1, verbose=0, callbacks=[callback])
    # the image input gets a map from each; the side input, held by default, none
    assert sorted(callback.tags()) == ["kerasviz/attribution/grad_cam/input.image",
                                       "kerasviz/attribution/saliency/input.image"]
