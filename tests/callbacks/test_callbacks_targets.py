"""`AttributionCallback` with the other targets: a regression unit, a named output, a detector's box."""

import keras
import numpy as np
import tensorflow as tf

import kerasviz
from kerasviz import callbacks
from tb_plugin import metadata
from tests.helpers.events import read_events, steps

SIZE = 12
RNG = np.random.default_rng(0)
X = RNG.uniform(0, 1, (16, SIZE, SIZE, 3)).astype(np.float32)
SALIENCY = "kerasviz/attribution/saliency"


def _trunk(inputs):
    init = keras.initializers.GlorotUniform(seed=0)
    x = keras.layers.Conv2D(4, 3, activation="relu", kernel_initializer=init, name="conv")(inputs)
    return keras.layers.GlobalAveragePooling2D()(x)


def _record(run_dir):
    events = read_events(run_dir)
    blobs = tf.make_ndarray(events[SALIENCY][-1][1].tensor)
    return events, metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1])


def test_a_regression_unit_during_training(tmp_path):
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, keras.layers.Dense(2, name="size")(_trunk(inputs)))
    model.compile(optimizer="adam", loss="mse")
    callback = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=("saliency",),
                                             target=kerasviz.OutputUnit(1), on_error="raise")
    model.fit(X, RNG.uniform(0, 1, (16, 2)), batch_size=8, epochs=2, verbose=0, callbacks=[callback])
    events, header, arrays = _record(str(tmp_path / "kerasviz"))
    assert steps(events)[SALIENCY] == [0, 1] and header["target"] == "OutputUnit(1)"
    expected = kerasviz.saliency(model, X[:2], kerasviz.OutputUnit(1))
    np.testing.assert_allclose(arrays["maps"], expected, rtol=1e-2, atol=1e-3 * expected.max())


def test_a_named_output_and_a_detectors_box_during_training(tmp_path):
    inputs = keras.Input((SIZE, SIZE, 3))
    features = _trunk(inputs)
    boxes = keras.layers.Reshape((2, 4), name="boxes")(keras.layers.Dense(8, activation="sigmoid")(features))
    scores = keras.layers.Softmax(name="scores")(keras.layers.Reshape((2, 3))(keras.layers.Dense(6)(features)))
    kind = keras.layers.Dense(3, activation="softmax", name="kind")(features)
    model = keras.Model(inputs, {"boxes": boxes, "scores": scores, "kind": kind})
    model.compile(optimizer="adam", loss={"boxes": "mse", "scores": "sparse_categorical_crossentropy",
                                          "kind": "sparse_categorical_crossentropy"})
    y = {"boxes": RNG.uniform(0, 1, (16, 2, 4)), "scores": RNG.integers(0, 3, (16, 2)), "kind": RNG.integers(0, 3, 16)}
    for name, target in [("kind", kerasviz.OnOutput("kind")),
                         ("box", kerasviz.Detection([0, 1], 2))]:
        callback = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=("saliency",), target=target,
                                                 run_name=name, on_error="raise")
        model.fit(X, y, batch_size=8, epochs=1, verbose=0, callbacks=[callback])
        _, header, arrays = _record(str(tmp_path / name))
        expected = kerasviz.saliency(model, X[:2], target)
        np.testing.assert_allclose(arrays["maps"], expected, rtol=1e-2, atol=1e-3 * expected.max())
        if name == "kind":
            assert header["predictions"] == model(X[:2])["kind"].numpy().argmax(-1).tolist()
        else:
            assert header.get("predictions") is None and header["target"] == "Detection(box=[0, 1], index=[2, 2])"
