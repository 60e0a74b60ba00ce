"""The features family's callbacks: feature visualizations and feature maps written epoch by epoch.

Real `model.fit` on the tiny seeded model of `tests/helpers/models.py`; what was written is
read back through TensorBoard's data provider (the Python multiplexer) and our
plugin's routes (`tests/helpers/providers.py`' werkzeug client), and checked against
references computed separately: the channels' mean activations from a plain
Keras sub-model, the maps from it too.
"""

import io
import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

import kerasviz
from kerasviz import callbacks
from tests.helpers import providers
from tests.helpers.events import read_events, steps
from tests.helpers.models import CLASSES, SIZE, functional, nested

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 1, (16, SIZE, SIZE, 3)).astype(np.float32)
Y = RNG.integers(0, CLASSES, 16)
FV = "kerasviz/features/feature_visualization/relu2"
FM = "kerasviz/features/feature_maps/conv2"


def _model(build=functional, learning_rate=0.5):
    keras.backend.clear_session()
    model = build()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="sparse_categorical_crossentropy")
    return model


def _fit(model, cbs, epochs=2):
    model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0, callbacks=cbs, shuffle=False)  # the same run in any process


def _client(logdir):
    return providers.plugin_client(providers.python_provider(str(logdir)), str(logdir))


def _get_json(client, route, **params):
    response = client.get("/data/plugin/kerasviz/" + route, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data())


def _get_png(client, **params):
    response = client.get("/data/plugin/kerasviz/image", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return np.asarray(Image.open(io.BytesIO(response.get_data())))


def _dequantize(encoded):
    shape = encoded["shape"]
    q = np.asarray(encoded["data"], np.float64).reshape((-1,) + tuple(shape[-2:]))
    lo, hi = np.asarray(encoded["lo"])[:, None, None], np.asarray(encoded["hi"])[:, None, None]
    return (lo + q / 255 * (hi - lo)).reshape(shape), (np.asarray(encoded["hi"]) - np.asarray(encoded["lo"])).max()


def _activations(model, layer, images):
    """The layer's output for `images`, from a plain Keras sub-model (the reference)."""
    return keras.Model(model.inputs, model.get_layer(layer).output)(images).numpy()


def test_feature_visualization_every_epoch_through_tensorboard(tmp_path):
    model = _model()
    callback = callbacks.FeatureVisualizationCallback(tmp_path, channels=[1, 4, 5], steps=12, on_error="raise")
    _fit(model, [callback], epochs=2)
    client = _client(tmp_path)
    (run,) = _get_json(client, "runs")["runs"]
    assert run["name"] == "kerasviz"
    assert [(t["tag"], t["family"], t["method"]) for t in run["tags"]] == [(FV, "features", "feature_visualization")]
    assert [s["step"] for s in _get_json(client, "steps", run="kerasviz", tag=FV)["steps"]] == [0, 1]

    record = _get_json(client, "record", run="kerasviz", tag=FV, step=1)
    header = record["header"]
    assert header["layer"] == "relu2"  # the default, said
    assert header["channels"] == [1, 4, 5] and header["steps"] == 12 and header["seed"] == 0
    assert header["value_range"] == [0.0, 1.0]
    assert record["arrays"]["images"]["shape"] == [3, SIZE, SIZE, 3]
    assert record["arrays"]["losses"]["shape"] == [1, 12]
    # The last record is the engine's result on the trained model, same seed ...
    expected = kerasviz.feature_visualization(model, "relu2", [1, 4, 5], steps=12, seed=0)
    shown = np.stack([_get_png(client, run="kerasviz", tag=FV, step=1, index=i) for i in range(3)])
    np.testing.assert_allclose(shown / 255.0, kerasviz.image.to_display(expected.images), atol=1 / 255 + 1e-6)
    # ... and its objectives are each channel's mean activation on its own image (plain Keras).
    reference = _activations(model, "relu2", expected.images).mean(axis=(1, 2))[np.arange(3), [1, 4, 5]]
    np.testing.assert_allclose(header["objectives"], reference, rtol=1e-4, atol=1e-6)
    losses, _ = _dequantize(record["arrays"]["losses"])
    assert losses[0, -1] > losses[0, 0]  # the ascent raises the objective

    events = read_events(os.path.join(tmp_path, "kerasviz"))
    assert steps(events) == {FV: [0, 1], FV + "/grid": [0, 1]}
    grid = Image.open(io.BytesIO(events[FV + "/grid"][-1][1].tensor.string_val[2]))
    np.testing.assert_array_equal(np.asarray(grid), kerasviz.image.to_uint8(expected.grid))


def test_feature_visualization_same_seed_same_images_while_weights_stand_still(tmp_path):
    model = _model(nested, learning_rate=0.0)  # training that changes nothing: every epoch must be equal
    before = [w.copy() for w in model.get_weights()]
    callback = callbacks.FeatureVisualizationCallback(tmp_path, "backbone/conv2", channels=2, steps=4,
                                                      on_error="raise")
    _fit(model, [callback], epochs=2)
    client = _client(tmp_path)
    tag = "kerasviz/features/feature_visualization/backbone__conv2"
    images = [[_get_png(client, run="kerasviz", tag=tag, step=s, index=i) for i in range(2)] for s in (0, 1)]
    np.testing.assert_array_equal(images[0], images[1])
    headers = [_get_json(client, "record", run="kerasviz", tag=tag, step=s)["header"] for s in (0, 1)]
    assert headers[0]["channels"] == [0, 1] and headers[0]["objectives"] == headers[1]["objectives"]
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)  # the user's model is unchanged


def test_feature_maps_channels_fixed_at_the_first_write(tmp_path):
    model = _model()
    probe = X[:3]
    callback = callbacks.FeatureMapsCallback(tmp_path, probe, layer="conv2", max_channels=4, on_error="raise")
    first = {}

    class Snapshot(keras.callbacks.Callback):  # the weights right after epoch 0's write
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                first["conv2"] = _activations(self.model, "conv2", probe)
                # Silence the most active channel, so that a re-ranking callback would drop it.
                top = int(np.argmax(first["conv2"].mean(axis=(0, 1, 2))))
                layer = self.model.get_layer("conv2")
                kernel, bias = (w.numpy() for w in layer.weights)
                kernel[..., top], bias[top] = 0.0, -1.0
                layer.set_weights([kernel, bias])

    _fit(model, [callback, Snapshot()], epochs=3)
    ranked = np.argsort(-first["conv2"].mean(axis=(0, 1, 2)), kind="stable")[:4].tolist()
    client = _client(tmp_path)
    assert [s["step"] for s in _get_json(client, "steps", run="kerasviz", tag=FM)["steps"]] == [0, 1, 2]
    final = _activations(model, "conv2", probe)
    for step in (0, 2):
        record = _get_json(client, "record", run="kerasviz", tag=FM, step=step)
        header = record["header"]
        assert header["layer"] == "conv2" and header["channels"] == ranked  # the same channels every epoch
        assert "first write" in header["chosen"]
        maps, span = _dequantize(record["arrays"]["maps"])
        assert maps.shape == (3, 4, SIZE, SIZE)
        reference = np.moveaxis((first["conv2"] if step == 0 else final)[..., ranked], -1, 1)
        np.testing.assert_allclose(maps, reference, atol=span / 400 + 1e-6)
        np.testing.assert_allclose(header["means"], reference.mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(_get_png(client, run="kerasviz", tag=FM, step=1, index=2),
                                  np.round(probe[2] * 255).astype(np.uint8))
    # At the end the ranking has changed, but the record kept the first one.
    assert np.argsort(-final.mean(axis=(0, 1, 2)), kind="stable")[:4].tolist() != ranked
    events = read_events(os.path.join(tmp_path, "kerasviz"))
    assert steps(events)[FM + "/grid"] == [0, 1, 2]


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: callbacks.FeatureVisualizationCallback(d, steps=0), "steps"),
        (lambda d: callbacks.FeatureVisualizationCallback(d, value_range=None), "value_range"),
        (lambda d: callbacks.FeatureVisualizationCallback(d, momentum=0.9), "momentum"),
        (lambda d: callbacks.FeatureMapsCallback(d, X[:2], max_channels=0), "max_channels"),
        (lambda d: callbacks.FeatureMapsCallback(d, X[0]), "images"),
        (lambda d: callbacks.FeatureMapsCallback(d, X[:2], every=0), "every"),
    ],
)
def test_bad_arguments_fail_at_construction(tmp_path, make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make(tmp_path)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: callbacks.FeatureVisualizationCallback(d, "nope"), "layer"),
        (lambda d: callbacks.FeatureVisualizationCallback(d, "conv1", [0, 6]), "channel"),
        (lambda d: callbacks.FeatureVisualizationCallback(d, learning_rate=-1.0), "learning_rate"),
        (lambda d: callbacks.FeatureMapsCallback(d, X[:2], layer="fc"), "layer"),
        (lambda d: callbacks.FeatureMapsCallback(d, X[:2], channels=[8]), "channels"),
        (lambda d: callbacks.FeatureMapsCallback(d, X[:2, :8, :8]), "images|shape"),
    ],
)
def test_misconfiguration_fails_before_the_first_step(tmp_path, make, match):
    model = _model()
    with pytest.raises((ValueError, TypeError), match=match):
        _fit(model, [make(tmp_path)], epochs=1)
    assert model.optimizer.iterations.numpy() == 0
