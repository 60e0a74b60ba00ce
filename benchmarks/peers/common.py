"""The harness every worker of the peer benchmark runs in (either virtualenv: numpy, TensorFlow, Keras only).

A worker is called as

    python <tool>_worker.py DATA_DIR OUT_DIR METHODS_JSON PARAMS_JSON

loads `DATA_DIR/model.keras`, `images.npy` and `meta.json` (the target class),
checks that its copy of the model gives the driver's logits, and for each
method it knows:

1. calls it once (warm-up: tracing and first-call costs are not throughput);
2. times, in turns, the model's compiled forward pass and its compiled
   forward+backward input gradient (of the target logit), both at the same
   batch, then the method, then the two limits again: the limit is the mean
   of the timings just before and just after the method, in the same
   process, on the same machine state;
3. samples the process's resident memory every 2 ms during the timed call
   (peak, and peak minus the value at the call's start);
4. saves the map (`OUT_DIR/<method>.npy`) and appends a JSON line to
   `OUT_DIR/results.jsonl`. A method that raises is recorded with its exact
   error, and the worker goes on with the next.

`benchmarks/limits.py` is not imported here: it reads the model through
kerasviz, which the peers' virtualenv does not have. The limit below is the
same measurement (a compiled `tf.function` of the logits, after a warm-up),
written once for both environments.
"""

import json
import os
import sys
import threading
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    """The resident set size of this process now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class PeakMemory:
    """Samples the resident set size in a thread while the block runs (every 2 ms)."""

    def __enter__(self):
        self.start = rss_bytes()
        self.peak = self.start
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._done.wait(0.002):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        return False


class Setup:
    """What a worker's methods read: the model, its logits model, images, target class, parameters."""

    def __init__(self, data_dir, params):
        self.model = keras.models.load_model(os.path.join(data_dir, "model.keras"), compile=False)
        self.logits_model = keras.Model(self.model.inputs, self.model.get_layer("logits").output)
        self.images = np.load(os.path.join(data_dir, "images.npy"))
        with open(os.path.join(data_dir, "meta.json")) as f:
            self.meta = json.load(f)
        self.target = int(self.meta["target"])
        self.attribution = np.load(os.path.join(data_dir, "attribution.npy"))  # XRAI's input, the same for all
        self.params = params
        expected = np.load(os.path.join(data_dir, "logits.npy"))
        got = self.logits_model(self.images, training=False).numpy()
        error = float(np.max(np.abs(got - expected)))
        if error > 1e-3 * max(1.0, float(np.max(np.abs(expected)))):
            raise RuntimeError(f"this process's copy of the model gives other logits (max |diff| {error:.3g})")

    def limits(self, batch):
        """`(forward, backward)`: compiled callables at `batch` that return when the device is done."""
        logits_model = self.logits_model
        target = self.target

        @tf.function
        def forward(x):
            return logits_model(x, training=False)

        @tf.function
        def backward(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = tf.reduce_sum(logits_model(x, training=False)[:, target])
            return tape.gradient(score, x)

        x = tf.constant(batch)
        return (lambda: forward(x).numpy()), (lambda: backward(x).numpy())


def _timed(function):
    start = time.perf_counter()
    out = function()
    return time.perf_counter() - start, out


def run(methods, argv=None):
    """Runs the methods named in argv (a dict name -> `fn(setup) -> result`) and records them.

    A method returns its map (a numpy array), or a dict with `"map"` and
    extra JSON-able fields (class visualization: the objective reached).
    """
    data_dir, out_dir, names, params = (argv or sys.argv)[1:5]
    names, params = json.loads(names), json.loads(params)
    os.makedirs(out_dir, exist_ok=True)
    results = os.path.join(out_dir, "results.jsonl")
    setup = Setup(data_dir, params)
    forward, backward = setup.limits(setup.images)
    forward(), backward()
    versions = {"tensorflow": tf.__version__, "keras": keras.__version__}
    for name in names:
        record = {"method": name, **versions}
        if name not in methods:
            record["error"] = "not offered by this tool"
        else:
            try:
                methods[name](setup)  # warm-up
                record["forward_s"], _ = _timed(forward)
                record["backward_s"], _ = _timed(backward)
                with PeakMemory() as memory:
                    record["seconds"], result = _timed(lambda: methods[name](setup))
                record["forward_s"] = (record["forward_s"] + _timed(forward)[0]) / 2  # mean of before and after
                record["backward_s"] = (record["backward_s"] + _timed(backward)[0]) / 2
                record["peak_rss_mb"] = memory.peak / 2**20
                record["added_rss_mb"] = (memory.peak - memory.start) / 2**20
                if isinstance(result, dict):
                    extra = dict(result)
                    result = extra.pop("map")
                    record.update(extra)
                result = np.asarray(result, dtype=np.float32)
                record["finite"] = bool(np.all(np.isfinite(result)))
                np.save(os.path.join(out_dir, f"{name}.npy"), result)
            except Exception as error:  # the benchmark reports a failing method and goes on
                record["error"] = f"{type(error).__name__}: {error}".strip()[:600]
                record["traceback"] = traceback.format_exc(limit=-4)[-1500:]
        with open(results, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps({k: v for k, v in record.items() if k != "traceback"}), flush=True)


def logit_of(setup, images):
    """The target logit of each image `[B]` (the class-visualization objective, read the same for every tool)."""
    values = setup.logits_model(tf.constant(np.asarray(images, np.float32)), training=False).numpy()
    return values[:, setup.target]
