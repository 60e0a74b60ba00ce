"""Explaining a model from several threads never changes what it computes for anyone else.

The races that matter happen while a kerasviz graph is *traced* (that is when
its patches exist), so every round uses a fresh copy of the model: nothing is
cached, and every method traces while the others trace and while a user thread
calls `model(x)` and takes gradient steps on the same layer objects. Every
result must equal the single-threaded one, and the layers must be exactly as
they were afterwards.
"""

import itertools
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import patching, registry
from tests.helpers import method_settings
from tests.helpers.models import CLASSES, SIZE, functional, layer_state, nested

SETTINGS = method_settings.TINY_SETTINGS
# Every method races all the others at once; pairwise, the perturbation family (forward passes through
# the same `models.run`) is left out to bound the test's time.
PAIRED = sorted(set(SETTINGS) - method_settings.PERTURBATION)
IMAGES = np.random.default_rng(1).uniform(0, 1, (4, SIZE, SIZE, 3)).astype(np.float32)
LABELS = np.arange(4) % CLASSES


def _method(name):
    if name in SETTINGS:
        return lambda model: registry.ATTRIBUTION_METHODS[name](model, IMAGES, target=1, **SETTINGS[name])
    if name == "features":
        return lambda model: kerasviz.features(model, IMAGES, layer="fc")
    if name == "top_patches":
        return lambda model: kerasviz.top_patches(model, IMAGES, "conv2", channels=range(4), k=2).scores
    raise KeyError(name)


ALL = sorted(SETTINGS) + ["features", "top_patches"]


def _copy(make, weights):
    model = make(0)
    model.set_weights(weights)
    return model


def _user_gradients(model):
    """What a user's own training step sees: loss gradients of the live model, eagerly."""
    with tf.GradientTape() as tape:
        probs = model(IMAGES, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(LABELS, probs)
    return [np.array(g) for g in tape.gradient(loss, model.trainable_weights)]


def _race(model, names, user_rounds=40):
    """Runs `names` concurrently on `model` while a user thread reads it; returns results and what the user saw."""
    results, errors = {}, []
    start = threading.Barrier(len(names) + 1)
    done = threading.Event()
    seen = {"outputs": [], "grads": []}

    def explain(name):
        try:
            start.wait()
            results[name] = _method(name)(model)
        except BaseException as error:  # noqa: BLE001 (reported by the test)
            errors.append((name, error))

    def user():
        start.wait()
        for _ in range(user_rounds):
            seen["outputs"].append(np.array(model(IMAGES, training=False)))
            if len(seen["grads"]) < 3:
                seen["grads"].append(_user_gradients(model))
            if done.is_set():
                break

    threads = [threading.Thread(target=explain, args=(n,)) for n in names]
    user_thread = threading.Thread(target=user)
    for t in threads + [user_thread]:
        t.start()
    for t in threads:
        t.join(timeout=300)
    done.set()
    user_thread.join(timeout=300)
    assert not errors, errors
    return results, seen


@pytest.fixture(scope="module")
def reference():
    """Single-threaded results of every method, and the model's own outputs and gradients."""
    keras.backend.clear_session()
    base = functional(0)
    weights = base.get_weights()
    results = {name: _method(name)(_copy(functional, weights)) for name in ALL}
    return weights, results, np.array(base(IMAGES, training=False)), _user_gradients(base)


def _check(model, before_state, results, seen, ref_results, ref_outputs, ref_grads):
    for name, value in results.items():
        np.testing.assert_allclose(value, ref_results[name], rtol=1e-4, atol=1e-6, err_msg=name)
    for outputs in seen["outputs"]:
        # Probabilities, never logits, and the same values as without kerasviz.
        np.testing.assert_allclose(outputs, ref_outputs, rtol=1e-5, atol=1e-6)
    for grads in seen["grads"]:
        for g, r in zip(grads, ref_grads):
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6)
    assert layer_state(model) == before_state
    assert patching.installed_count() == 0


def test_every_method_at_once_while_the_user_reads_the_model(reference):
    weights, ref_results, ref_outputs, ref_grads = reference
    for _ in range(2):
        model = _copy(functional, weights)
        before = layer_state(model)
        results, seen = _race(model, ALL)
        _check(model, before, results, seen, ref_results, ref_outputs, ref_grads)


@pytest.mark.parametrize(
    "pair", list(itertools.combinations(PAIRED, 2)) + [("features", "top_patches")], ids="+".join
)
def test_every_pair(reference, pair):
    weights, ref_results, ref_outputs, ref_grads = reference
    model = _copy(functional, weights)
    before = layer_state(model)
    results, seen = _race(model, pair, user_rounds=10)
    _check(model, before, results, seen, ref_results, ref_outputs, ref_grads)


def test_training_after_concurrent_guided_traces_is_unchanged(reference):
    """A `fit` step after racing guided traces trains exactly as a model kerasviz never read."""
    weights = reference[0]
    touched, pristine = _copy(functional, weights), _copy(functional, weights)
    _race(touched, ["guided_backprop", "grad_cam", "guided_grad_cam", "saliency"], user_rounds=5)
    for model in (touched, pristine):
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        model.fit(IMAGES, LABELS, epochs=1, batch_size=4, verbose=0, shuffle=False)
    for a, b in zip(touched.get_weights(), pristine.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_nested_model_shared_backbone_from_two_threads():
    """Two methods on a nested model, with the user calling the backbone itself meanwhile."""
    keras.backend.clear_session()
    weights = nested(0).get_weights()
    reference_model = _copy(nested, weights)
    expected = {n: _method(n)(reference_model) for n in ("guided_backprop", "grad_cam")}
    model = _copy(nested, weights)
    backbone = model.get_layer("backbone")
    backbone_ref = np.array(backbone(IMAGES))
    before = layer_state(model)
    results, errors = {}, []

    def explain(name):
        try:
            results[name] = _method(name)(model)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=explain, args=(n,)) for n in expected]
    for t in threads:
        t.start()
    backbone_seen = [np.array(backbone(IMAGES)) for _ in range(20)]
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    for name in expected:
        np.testing.assert_allclose(results[name], expected[name], rtol=1e-4, atol=1e-6)
    for seen in backbone_seen:
        np.testing.assert_allclose(seen, backbone_ref, rtol=1e-5, atol=1e-6)
    assert layer_state(model) == before


def test_patches_act_only_in_the_thread_that_traces():
    """Inside a guided, logits-bypassing frame, another thread's eager call is the plain model."""
    keras.backend.clear_session()
    model = functional(0)
    expected = np.array(model(IMAGES))
    inside, seen = threading.Event(), threading.Event()
    other = {}

    def user():
        inside.wait(30)
        other["outputs"] = np.array(model(IMAGES))
        seen.set()

    thread = threading.Thread(target=user)
    thread.start()
    with kerasviz.models.patched(model, rule="guided", logits=True, capture=("conv1",)) as captured:
        logits = np.array(model(IMAGES))  # this thread sees the patched model (eagerly here)
        inside.set()
        seen.wait(30)
        assert "conv1" in captured
    thread.join()
    np.testing.assert_allclose(other["outputs"], expected, rtol=1e-6)
    assert not np.allclose(logits, expected)  # logits, not probabilities
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert patching.installed_count() == 0
