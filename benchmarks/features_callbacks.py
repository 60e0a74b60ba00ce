"""What one epoch-end write of the features callbacks costs, against the demo model's own limit.

On the trained demo model (`kerasviz.demo.demo_model("shapes")`), with the
demo's settings (conv3, 8 channels, 32 optimization steps; 4 probe images),
times `on_epoch_end` of `FeatureVisualizationCallback` (which runs `steps`
forward+backward passes of a batch of 8) and of `FeatureMapsCallback` (one
forward pass of 4 images), each including its record, PNG and verified event
file write. The limits are measured in the same run on the same batches:
`benchmarks/limits.py`'s compiled forward+backward for the former, a compiled
forward for the latter. Repetitions alternate (limit, one callback, the
other) so that load from other processes hits all alike; medians are
reported. The first write (the trace) is paid before timing and shown alone.

Run: `python benchmarks/features_callbacks.py [--rounds 7]`.
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from limits import forward_backward_rate  # noqa: E402

from kerasviz import callbacks, demo as data  # noqa: E402

CHANNELS, STEPS, PROBES = 8, 32, 4


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    model = data.demo_model("shapes")
    _, test = data.demo_data("shapes")
    probes = test.images[:PROBES]
    logdir = tempfile.mkdtemp(prefix="kerasviz_features_bench_")
    fv = callbacks.FeatureVisualizationCallback(logdir, "conv3", channels=CHANNELS, steps=STEPS, on_error="raise")
    fm = callbacks.FeatureMapsCallback(logdir, probes, layer="conv3", max_channels=CHANNELS, on_error="raise",
                                       run_name="kerasviz_maps")
    forward = tf.function(lambda x: model(x, training=False))
    batch8 = tf.constant(np.random.default_rng(0).uniform(0, 1, (CHANNELS, *probes.shape[1:])).astype(np.float32))
    batch4 = tf.constant(probes)
    forward(batch4).numpy()
    first = {}
    for name, cb in (("feature visualization", fv), ("feature maps", fm)):
        cb.set_model(model)
        cb.on_train_begin()
        first[name] = timed(lambda: cb.on_epoch_end(0))
    rows = {"fb limit (batch 8)": [], "forward limit (batch 4)": [], "feature visualization": [], "feature maps": []}
    for epoch in range(1, args.rounds + 1):
        rows["fb limit (batch 8)"].append(1.0 / forward_backward_rate(model, batch8.numpy(), 3, np.median))
        rows["forward limit (batch 4)"].append(timed(lambda: forward(batch4).numpy()))
        rows["feature visualization"].append(timed(lambda: fv.on_epoch_end(epoch)))
        rows["feature maps"].append(timed(lambda: fm.on_epoch_end(epoch)))
    for cb in (fv, fm):
        cb.on_train_end()
    median = {name: float(np.median(times)) for name, times in rows.items()}
    print(f"{args.rounds} alternating rounds, medians (first write, with its trace: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in first.items()) + ")")
    for name, value in median.items():
        print(f"  {name:<26} {value * 1000:8.1f} ms")
    fv_limit = STEPS * median["fb limit (batch 8)"]
    print(f"feature visualization write: {median['feature visualization'] / fv_limit:.2f}x its limit "
          f"({STEPS} forward+backward passes of batch {CHANNELS}: {fv_limit * 1000:.1f} ms)")
    print(f"feature maps write: {median['feature maps'] / median['forward limit (batch 4)']:.2f}x its limit "
          f"(one forward pass of batch {PROBES}: {median['forward limit (batch 4)'] * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
