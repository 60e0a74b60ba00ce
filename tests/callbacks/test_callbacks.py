"""Tests for kerasviz.callbacks: real training runs, event files read back, errors before the first step."""

import gc
import json
import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasviz
from kerasviz import callbacks, compiled
from kerasviz import eventfile
from kerasviz.gradients import saliency as saliency_module
from tb_plugin import metadata
from tests.helpers.events import read_events, steps
from tests.helpers.models import CLASSES, SIZE, compiled_model, mixed_precision, sequential
from tests.helpers.processes import REPO

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 1, (16, SIZE, SIZE, 3)).astype(np.float32)
Y = RNG.integers(0, CLASSES, 16)
SALIENCY = "kerasviz/attribution/saliency"


def fit(model, callback, epochs=2, **kwargs):
    return model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0, callbacks=[callback], **kwargs)


def layered(model, images, target=None, *, batch_size=None, layer=None):
    """Saliency with a `layer` parameter, to check how layers are validated and recorded."""
    return saliency_module.saliency(model, images, target, batch_size=batch_size)


def broken(model, images, target=None, *, batch_size=None):
    """Runs on the untrained model (the check when `fit` starts), fails once training has begun."""
    if int(model.optimizer.iterations.numpy()) > 0:
        raise ValueError("boom")
    return saliency_module.saliency(model, images, target, batch_size=batch_size)


def interrupted(model, images, target=None, *, batch_size=None):
    raise KeyboardInterrupt


@pytest.mark.parametrize("build", [sequential, mixed_precision], ids=["fused_softmax", "mixed_float16"])
def test_writes_expected_tags_steps_and_records(tmp_path, build):
    model = compiled_model(build)
    callback = callbacks.AttributionCallback(
        str(tmp_path), X[:3], Y[:3], methods=("saliency", (layered, {"layer": "conv2"})), every=2,
        class_names="abcd", on_error="raise")
    model.fit(X, Y, batch_size=8, epochs=5, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(str(tmp_path)), callback])
    assert sorted(os.listdir(tmp_path)) == ["kerasviz", "train"]
    run_dir = str(tmp_path / "kerasviz")
    assert os.path.abspath(run_dir) not in eventfile._FILES  # given back at on_train_end
    events = read_events(run_dir)
    layered_tag = "kerasviz/attribution/layered"
    assert steps(events) == {tag: [0, 2, 4] for tag in (SALIENCY, SALIENCY + "/overlay",
                                                        layered_tag, layered_tag + "/overlay")}
    blobs = tf.make_ndarray(events[layered_tag][-1][1].tensor)
    header, arrays = metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1])
    probs = model.predict(X[:3], verbose=0).astype(np.float64)
    assert header["layer"] == "conv2" and header["params"] == {"layer": "conv2"}
    assert header["labels"] == Y[:3].tolist() and header["class_names"] == list("abcd")
    assert header["predictions"] == probs.argmax(-1).tolist() and header["target"] == "predicted class"
    np.testing.assert_allclose(header["true_probability"], probs[np.arange(3), Y[:3]], atol=1e-2)
    expected = kerasviz.saliency(model, X[:3])
    assert arrays["maps"].shape == (3, SIZE, SIZE) and np.all(np.isfinite(arrays["maps"]))
    np.testing.assert_allclose(arrays["maps"], expected, rtol=1e-2, atol=1e-3 * expected.max())
    np.testing.assert_array_equal(arrays["images"], kerasviz.image.to_uint8(X[:3]))


def test_metrics_occlusion_and_grad_cam(tmp_path):
    model = compiled_model()
    callback = callbacks.AttributionCallback(str(tmp_path), X[:2], Y[:2], target=Y, metrics=True, on_error="raise",
                                             methods=(("occlusion", {"patch": 8}), "grad_cam"))
    fit(model, callback, epochs=1)
    events = read_events(str(tmp_path / "kerasviz"))
    assert steps(events) == {f"kerasviz/attribution/{m}{suffix}": [0] for m in ("occlusion", "grad_cam")
                             for suffix in ("", "/overlay", "/deletion_auc", "/insertion_auc")}
    headers = {}
    for name in ("occlusion", "grad_cam"):
        blobs = tf.make_ndarray(events[f"kerasviz/attribution/{name}"][0][1].tensor)
        headers[name], maps = metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1])["maps"]
        assert headers[name]["target"] == Y[:2].tolist()
        assert maps.shape == ((2, 3, 3) if name == "occlusion" else (2, SIZE, SIZE))
    assert headers["occlusion"]["params"] == {"patch": 8, "stride": 4, "value": None, "verbose": 0,
                                            "inference": "auto", "attribute": None}
    assert headers["occlusion"]["lower_is_important"] and not headers["grad_cam"]["lower_is_important"]
    assert headers["grad_cam"]["layer"] == "relu2" and headers["grad_cam"]["params"] == {"layer": None, "attribute": None}
    cam_maps = kerasviz.grad_cam(model, X[:2], Y[:2])
    for curve in ("deletion", "insertion"):
        expected = getattr(kerasviz.metrics, curve)(model, X[:2], cam_maps, Y[:2]).auc.mean()
        written = float(tf.make_ndarray(events[f"kerasviz/attribution/grad_cam/{curve}_auc"][0][1].tensor))
        assert written == pytest.approx(expected, abs=1e-5)
    heat = kerasviz.occlusion(model, X[:2], Y[:2], patch=8)
    pixels = -kerasviz.occlusion_to_input(heat, (SIZE, SIZE), patch=8, stride=4)
    expected = kerasviz.metrics.deletion(model, X[:2], pixels, Y[:2]).auc.mean()
    written = float(tf.make_ndarray(events["kerasviz/attribution/occlusion/deletion_auc"][0][1].tensor))
    assert written == pytest.approx(expected, abs=1e-5)
    assert [m[0] for m in callbacks.AttributionCallback(str(tmp_path), X[:1]).methods] == ["saliency", "grad_cam"]



def test_occlusion_record_says_the_default_geometry_it_ran(tmp_path):
    model = compiled_model()
    callback = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=("occlusion",), on_error="raise")
    fit(model, callback, epochs=1)
    blobs = tf.make_ndarray(read_events(str(tmp_path / "kerasviz"))["kerasviz/attribution/occlusion"][0][1].tensor)
    header, maps = metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1])["maps"]
    patch, stride = kerasviz.occlusion_geometry(SIZE, SIZE)  # 2 and 1 at 16 px
    assert (header["params"]["patch"], header["params"]["stride"]) == (patch, stride)
    # The dashboard places the grid from these two numbers (attribution_parts.js `placement`).
    assert maps.shape == (2, (SIZE - patch) // stride + 1, (SIZE - patch) // stride + 1)


def test_chosen_metrics_are_per_epoch_scalars_equal_to_the_metric_functions(tmp_path):
    model = compiled_model()
    masks = np.zeros((2, SIZE, SIZE), bool)
    masks[:, 4:12, 4:12] = True
    chosen = ("mufidelity", "sparseness", "complexity", "pointing_game", "random_logit")
    callback = callbacks.AttributionCallback(str(tmp_path), X[:2], Y[:2], metrics=chosen, masks=masks,
                                             methods=("saliency",), on_error="raise")
    fit(model, callback, epochs=2)
    events = read_events(str(tmp_path / "kerasviz"))
    assert set(steps(events)) == {SALIENCY, f"{SALIENCY}/overlay"} | {f"{SALIENCY}/{m}" for m in chosen}
    assert steps(events)[f"{SALIENCY}/mufidelity"] == [0, 1]
    maps = kerasviz.saliency(model, X[:2])  # the weights after the last epoch: step 1
    expected = {
        "mufidelity": kerasviz.metrics.mufidelity(model, X[:2], maps),
        "sparseness": kerasviz.metrics.sparseness(maps),
        "complexity": kerasviz.metrics.complexity(maps),
        "pointing_game": kerasviz.metrics.pointing_game(maps, masks),
        "random_logit": kerasviz.metrics.random_logit(model, X[:2], kerasviz.saliency).correlations,
    }
    for metric, values in expected.items():
        written = float(tf.make_ndarray(events[f"{SALIENCY}/{metric}"][1][1].tensor))
        assert written == pytest.approx(float(np.mean(values)), abs=1e-5), metric


def _misconfigured():
    cases = [
        (dict(methods=("no_such_method",)), ValueError, "`methods`.*no_such_method"),
        (dict(methods=(("saliency", {"bogus": 1}),)), TypeError, "`methods`.*bogus"),
        (dict(methods=((layered, {"layer": "conv9"}),)), ValueError, "`layer`.*conv9"),
        (dict(methods=("saliency", "saliency")), ValueError, "twice in `methods`"),
        (dict(methods="saliency"), TypeError, "`methods`"),
        (dict(target=7), ValueError, "class index in `target`: 7"),
        (dict(images=np.zeros((2, 8, 8, 3))), ValueError, "`images`"),
        (dict(labels=[0, 9]), ValueError, "`labels`"),
        (dict(labels=[0, 1, 2]), ValueError, "`labels`"),
        (dict(class_names="abc"), ValueError, "`class_names`"),
        (dict(log_dir="FILE/logs"), ValueError, "`log_dir`.*is a file"),
        (dict(run_name="train"), ValueError, "`run_name`"),
        (dict(run_name="../elsewhere"), ValueError, "`run_name`"),
        (dict(every=0), ValueError, "`every`"),
        (dict(every_n_batches=-1), ValueError, "`every_n_batches`"),
        (dict(on_error="ignore"), ValueError, "`on_error`"),
        (dict(max_images=0), ValueError, "`max_images`"),
        (dict(value_range=(1, 0)), ValueError, "`value_range`"),
        (dict(colormap="rainbow"), ValueError, "`colormap`"),
        (dict(batch_size=0), ValueError, "`batch_size`"),
        (dict(methods=(("grad_cam", {"layer": "fc"}),)), ValueError, "`layer`.*'fc'"),
        (dict(metrics=True, target=kerasviz.Channel("conv2", 0)), ValueError, "metrics=.*class target"),
        (dict(metrics=("bogus",)), ValueError, "`metrics`.*bogus"),
        (dict(metrics="sparseness"), TypeError, "`metrics`"),
        (dict(metrics=("pointing_game",)), ValueError, "`masks`"),
        (dict(metrics=("sparseness",), masks=np.zeros((2, 4, 4), bool)), ValueError, "`masks`"),
        # Each method's own checks, run on a probe image when fit starts (issue 12, finding 4).
        (dict(methods=(("occlusion", {"patch": 32}),)), ValueError, "'occlusion' in `methods`.*`patch`: 32"),
        (dict(methods=(("smoothgrad", {"samples": 0}),)), ValueError, "'smoothgrad' in `methods`.*`samples`"),
        (dict(methods=(("integrated_gradients", {"baseline": np.zeros((3, 3, 3))}),)), ValueError, "`baseline`"),
        (dict(methods=(("occlusion", {"value": [0.5, 0.5]}),)), ValueError, "`value`"),
    ]
    return cases


@pytest.fixture(scope="module")
def shared_model():
    return compiled_model()


@pytest.mark.parametrize("kwargs, error, match", _misconfigured())
def test_misconfiguration_fails_before_the_first_step(tmp_path, shared_model, kwargs, error, match):
    (tmp_path / "FILE").write_text("not a directory")
    arguments = dict(log_dir=str(tmp_path), images=X[:2], labels=Y[:2], methods=("saliency",), on_error="warn")
    arguments.update(kwargs)
    if arguments["log_dir"] == "FILE/logs":
        arguments["log_dir"] = str(tmp_path / "FILE" / "logs")
    with pytest.raises(error, match=match):
        fit(shared_model, callbacks.AttributionCallback(**arguments), epochs=1)
    assert int(shared_model.optimizer.iterations.numpy()) == 0
    assert sorted(os.listdir(tmp_path)) == ["FILE"]


def test_a_failing_method_warns_once_and_training_goes_on(tmp_path):
    model = compiled_model()
    callback = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=("saliency", broken))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(model, callback, epochs=3)
    ours = [w for w in caught if "AttributionCallback" in str(w.message)]
    assert len(ours) == 1 and issubclass(ours[0].category, RuntimeWarning)
    assert "'broken'" in str(ours[0].message) and "ValueError: boom" in str(ours[0].message)
    assert len(history.history["loss"]) == 3
    assert steps(read_events(str(tmp_path / "kerasviz"))) == {SALIENCY: [0, 1, 2], SALIENCY + "/overlay": [0, 1, 2]}


def test_on_error_raise_propagates(tmp_path):
    callback = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=(broken,), on_error="raise")
    with pytest.raises(ValueError, match="boom"):
        fit(compiled_model(), callback)


def test_keyboard_interrupt_is_never_swallowed(tmp_path):
    callback = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=(interrupted,), on_error="warn")
    with pytest.raises(KeyboardInterrupt):
        fit(compiled_model(), callback)


def test_steps_stay_monotonic_across_fits_and_resumes(tmp_path):
    model = compiled_model()
    callback = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=("saliency",), on_error="raise")
    fit(model, callback, epochs=2)  # epochs 0, 1
    fit(model, callback, epochs=2)  # restarts at epoch 0: continues at 2, 3
    fit(model, callback, epochs=6, initial_epoch=4)  # a resume past the last step: 4, 5
    resumed = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=("saliency",), on_error="raise")
    fit(model, resumed, epochs=8, initial_epoch=6)  # a new callback resuming: 6, 7
    assert steps(read_events(str(tmp_path / "kerasviz")))[SALIENCY] == list(range(8))


def test_only_epoch_hooks_unless_batch_frequency_is_asked(tmp_path):
    by_epoch = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=("saliency",))
    by_batch = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=("saliency",), every_n_batches=3,
                                             run_name="batches", on_error="raise")
    # Keras's own test for async batch dispatch (`CallbackList._configure_async_dispatch`, which the TF
    # backend skips as it is not thread-safe): every batch hook still the base class's `@default` one.
    hooks = ("on_batch_end", "on_train_batch_end", "on_test_batch_end", "on_predict_batch_end")
    assert all(keras.src.utils.is_default(getattr(by_epoch, hook)) for hook in hooks)
    assert not keras.src.utils.is_default(by_batch.on_train_batch_end)
    fit(compiled_model(), by_batch, epochs=2)  # 2 batches per epoch: iterations 1 .. 4
    assert steps(read_events(str(tmp_path / "batches")))[SALIENCY] == [3]


@pytest.mark.parametrize("cluster, task_type, task_id, chief", [
    ({}, None, None, True),
    ({"worker": ["a:1", "b:1"]}, "worker", 0, True),
    ({"worker": ["a:1", "b:1"]}, "worker", 1, False),
    ({"chief": ["c:1"], "worker": ["a:1"]}, "chief", 0, True),
    ({"chief": ["c:1"], "worker": ["a:1"]}, "worker", 0, False),
    ({"worker": ["a:1"], "ps": ["p:1"]}, "ps", 0, False),
    ({"worker": ["a:1"], "evaluator": ["e:1"]}, "evaluator", 0, False),
])
def test_chief_of_cluster_resolvers(cluster, task_type, task_id, chief):
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)
    assert callbacks.chief_of(resolver) is chief


MIRRORED = textwrap.dedent("""
    import json, sys, tempfile
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from kerasviz import callbacks
    from tests.helpers.events import read_events, steps
    from tests.helpers.models import functional
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = functional()
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(size=(16, 16, 16, 3)).astype("float32")
    y = np.arange(16) % 4
    logdir = tempfile.mkdtemp()
    callback = callbacks.AttributionCallback(logdir, x[:2], y[:2], methods=("saliency",), on_error="raise")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[callback])
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "chief": callback._chief,
                      "steps": steps(read_events(logdir + "/kerasviz"))}))
""")


def test_mirrored_strategy_in_a_subprocess():
    env = dict(os.environ, PYTHONPATH=REPO,
               TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    result = subprocess.run([sys.executable, "-c", MIRRORED], env=env, capture_output=True, text=True,
                            timeout=240, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {"replicas": 2, "chief": True,
                     "steps": {SALIENCY: [0, 1], SALIENCY + "/overlay": [0, 1]}}


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _live_models():
    return sum(isinstance(o, keras.Model) for o in gc.get_objects())


class Probe(keras.callbacks.Callback):
    """Records traces, live models and RSS after each epoch (runs after the callback under test)."""

    def __init__(self, model):
        super().__init__()
        self.traces, self.rss, self.models = [], [], {}
        self._model = model

    def on_epoch_end(self, epoch, logs=None):
        self.traces.append(compiled.tracing_count(self._model))
        self.rss.append(_rss_bytes())
        if epoch in (1, 19):
            gc.collect()
            self.models[epoch] = _live_models()


def test_twenty_epochs_traced_once_and_memory_flat(tmp_path):
    model = compiled_model()
    probe = Probe(model)
    callback = callbacks.AttributionCallback(str(tmp_path), X[:2], Y[:2], methods=("saliency", "guided_backprop"),
                                             on_error="raise")
    model.fit(X[:8], Y[:8], batch_size=8, epochs=20, verbose=0, callbacks=[callback, probe])
    assert probe.traces[0] > 0 and len(set(probe.traces)) == 1, probe.traces
    assert probe.models[1] == probe.models[19]
    growth = probe.rss[-1] - probe.rss[4]
    assert growth < 16 * 2**20, [r // 2**20 for r in probe.rss]
    assert steps(read_events(str(tmp_path / "kerasviz")))[SALIENCY] == list(range(20))
