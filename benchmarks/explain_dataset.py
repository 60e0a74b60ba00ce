"""explain_dataset at 1k and 10k images on the demo model: throughput against the model's limit, peak RSS, and
a 10k run killed in the middle and resumed, compared bit for bit with the uninterrupted run.

Each run is a fresh process (its peak RSS is its own). In it, the model's limit is timed in turns with nothing
else running: a compiled forward pass and a compiled forward+backward input gradient at the same batch (32),
medians of `--limit-repeats` timings (`benchmarks/limits.py`); then `explain_dataset(..., ["saliency"])` over a
stream of N images (the demo test set repeated: the input itself takes no memory that grows with N). Saliency
costs one forward (the probabilities) plus one forward+backward per image, so its limit is

    limit = 1 / (1 / forward rate + 1 / forward+backward rate)        images per second

and the ratio is images per second achieved / limit (1.0: no overhead; also given against the forward+backward
rate alone). The 1k runs include the one-time tracing of the compiled steps (the limit's warm-up call does
not count). Memory: the resident set before `explain_dataset` and its maximum during the call, sampled every
10 ms (the process's own high-water mark is set earlier, by loading the demo data). Both wall time and the
process's CPU time (all threads) are reported: the machine is shared, and CPU time measures the work far more
steadily. The sizes alternate over `--repeats` repetitions (1k, 10k, 1k,
10k, ...) and medians are reported.

`--alternate` measures instead, in one process, `explain_dataset` and its limit over the same stream in
alternating rounds (medians): the limit is the stream batched by 32 through a compiled saliency pass (one
forward+backward: the predicted class's logit gradient, max |.| over channels, maps and probabilities
copied to the host) and, separately, a compiled forward then that pass (what `explain_dataset` computes:
the probabilities, then the maps of the predicted class).

Usage:
    python benchmarks/explain_dataset.py                 # 1k and 10k, 2 repetitions, then the kill/resume check
    python benchmarks/explain_dataset.py --alternate --sizes 1000 10000 --repeats 3 [--clock cpu]
    python benchmarks/explain_dataset.py --sizes 1000 --repeats 3 --no-resume
"""

import argparse
import glob
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

BATCH = 32
SHARD = 256
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(n, out, limit_repeats):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import numpy as np
    import tensorflow as tf

    import kerasviz
    from kerasviz import models
    from limits import RssSampler

    model = kerasviz.demo.demo_model("shapes")
    test = kerasviz.demo.demo_data("shapes")[1]
    batch = tf.constant(test.images[:BATCH])

    @tf.function
    def forward(x):
        return models.run(model, x)[0]

    @tf.function
    def backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(models.run(model, x)[0][:, 0])
        return tape.gradient(score, x)

    forward(batch).numpy(), backward(batch).numpy()
    timings = {"forward": ([], []), "backward": ([], [])}
    for _ in range(limit_repeats):  # in turns, so that both see the same machine
        for name, function in (("forward", forward), ("backward", backward)):
            wall, cpu = time.perf_counter(), time.process_time()
            function(batch).numpy()
            timings[name][0].append(time.perf_counter() - wall)
            timings[name][1].append(time.process_time() - cpu)
    rates = {f"{name}_{clock}": BATCH / float(np.median(values[i]))
             for name, values in timings.items() for i, clock in enumerate(("wall", "cpu"))}
    stream = tf.data.Dataset.from_tensor_slices((test.images, test.labels)).repeat().take(n)
    rss = RssSampler()
    wall, cpu = time.perf_counter(), time.process_time()
    with rss:
        result = kerasviz.explain_dataset(model, stream, ["saliency"], out=out, batch_size=BATCH, shard_size=SHARD,
                                          value_range=(0, 1), verbose=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert len(result) == n
    report = {"n": n, "wall_s": wall, "cpu_s": cpu, "rss_before_mb": rss.before / 2**20,
              "peak_rss_mb": rss.peak / 2**20, "process_peak_rss_mb": resource.getrusage(
                  resource.RUSAGE_SELF).ru_maxrss / 1024}
    for clock in ("wall", "cpu"):
        rate = n / report[f"{clock}_s"]
        limit = 1 / (1 / rates[f"forward_{clock}"] + 1 / rates[f"backward_{clock}"])
        report.update({f"images_per_s_{clock}": rate, f"limit_{clock}": limit,
                       f"ratio_{clock}": rate / limit, f"ratio_fb_{clock}": rate / rates[f"backward_{clock}"]})
    print(json.dumps(report), flush=True)


def alternate(sizes, repeats, clock_name):
    """explain_dataset against compiled saliency passes over the same batches, in turns, in this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path[:0] = [ROOT, os.path.join(ROOT, "benchmarks")]  # this checkout's kerasviz, as in the child runs
    import tensorflow as tf

    import kerasviz
    import limits
    from kerasviz import models

    print(f"kerasviz from {os.path.dirname(kerasviz.__file__)}", flush=True)
    model = kerasviz.demo.demo_model("shapes")
    test = kerasviz.demo.demo_data("shapes")[1]

    @tf.function
    def forward(x):
        return tf.nn.softmax(models.run(model, x)[0])

    @tf.function
    def saliency_pass(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = models.run(model, x)[0]
            predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
            score = tf.reduce_sum(tf.gather(logits, predicted, batch_dims=1))
        return tf.reduce_max(tf.abs(tape.gradient(score, x)), axis=-1), tf.nn.softmax(logits)

    work = tempfile.mkdtemp(prefix="kerasviz-explain-alternate-")
    clock = time.process_time if clock_name == "cpu" else time.perf_counter
    print(f"load {os.getloadavg()[0]:.1f}; medians of {repeats} alternating rounds", flush=True)
    for n in sizes:
        stream = tf.data.Dataset.from_tensor_slices((test.images, test.labels)).repeat().take(n)
        runs = [0]

        def explain():
            runs[0] += 1
            kerasviz.explain_dataset(model, stream, ["saliency"], out=os.path.join(work, f"{n}-{runs[0]}"),
                                     batch_size=BATCH, shard_size=SHARD, value_range=(0, 1), verbose=0)

        def passes(with_forward):
            for x, _ in stream.batch(BATCH):
                if with_forward:
                    forward(x).numpy()
                maps, probabilities = saliency_pass(x)
                maps.numpy(), probabilities.numpy()

        functions = [explain, lambda: passes(False), lambda: passes(True)]
        rss = limits.RssSampler()
        with rss:
            times = limits.median_times(functions, repeats, clock=clock)
        print(f"{n:>6} images, {clock_name} s: explain_dataset {times[0]:6.2f}, saliency pass {times[1]:6.2f} "
              f"(ratio {times[1] / times[0]:4.2f}), forward + saliency pass {times[2]:6.2f} (ratio "
              f"{times[2] / times[0]:4.2f}); peak RSS {rss.peak / 2**20:5.0f} MiB (before {rss.before / 2**20:5.0f})",
              flush=True)


def _spawn(n, out, limit_repeats):
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", str(n), out,
                             "--limit-repeats", str(limit_repeats)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"))


def _run(n, out, limit_repeats):
    process = _spawn(n, out, limit_repeats)
    stdout, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"the run of {n} images failed (exit {process.returncode})")
    return json.loads(stdout.strip().splitlines()[-1])


def _same(a, b):
    import numpy as np

    names = sorted(os.path.relpath(p, a) for p in glob.glob(os.path.join(a, "shard-*", "*.npy")))
    if names != sorted(os.path.relpath(p, b) for p in glob.glob(os.path.join(b, "shard-*", "*.npy"))):
        return False, len(names)
    for name in names:
        x, y = np.load(os.path.join(a, name)), np.load(os.path.join(b, name))
        if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
            return False, len(names)
    return True, len(names)


def _median(values):
    import numpy as np

    return float(np.median(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("N", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--limit-repeats", type=int, default=30)
    parser.add_argument("--no-resume", action="store_true", help="skip the 10k kill/resume check")
    parser.add_argument("--alternate", action="store_true",
                        help="explain_dataset and its limit in turns in one process (see above)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="with --alternate: wall seconds, or this process's CPU seconds (a loaded machine)")
    args = parser.parse_args()
    if args.child:
        return child(int(args.child[0]), args.child[1], args.limit_repeats)
    if args.alternate:
        return alternate(args.sizes, args.repeats, args.clock)
    work = tempfile.mkdtemp(prefix="kerasviz-explain-bench-")
    reports = {n: [] for n in args.sizes}
    for r in range(args.repeats):
        for n in args.sizes:
            reports[n].append(_run(n, os.path.join(work, f"run{r}-{n}"), args.limit_repeats))
            print(f"  repetition {r}, {n} images: {reports[n][-1]['wall_s']:.1f} s wall", flush=True)
    print(f"\nexplain_dataset(saliency), demo model (64x64x3), batch {BATCH}, shards of {SHARD}; medians of "
          f"{args.repeats} runs, sizes alternating; limit = compiled forward + forward+backward")
    print(f"{'images':>7} {'wall s':>7} {'img/s':>7} {'limit':>7} {'ratio':>6} {'vs f+b':>6} | {'cpu s':>7} "
          f"{'ratio':>6} {'vs f+b':>6} | {'RSS before':>10} {'peak in run':>11}")
    for n, runs in reports.items():
        m = {k: _median([r[k] for r in runs]) for k in runs[0]}
        print(f"{n:>7} {m['wall_s']:>7.1f} {m['images_per_s_wall']:>7.0f} {m['limit_wall']:>7.0f} "
              f"{m['ratio_wall']:>6.2f} {m['ratio_fb_wall']:>6.2f} | {m['cpu_s']:>7.1f} {m['ratio_cpu']:>6.2f} "
              f"{m['ratio_fb_cpu']:>6.2f} | {m['rss_before_mb']:>10.0f} {m['peak_rss_mb']:>11.0f}")
    if args.no_resume:
        return
    n = max(args.sizes)
    reference = os.path.join(work, f"run0-{n}")
    out = os.path.join(work, f"killed-{n}")
    shards = -(-n // SHARD)
    process = _spawn(n, out, 2)
    while len(glob.glob(os.path.join(out, "shard-*"))) < shards // 2:
        if process.poll() is not None:
            raise SystemExit("the run to be killed ended first")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = len(glob.glob(os.path.join(out, "shard-*")))
    _run(n, out, 2)
    same, files = _same(reference, out)
    print(f"\n{n} images killed (SIGKILL) after {killed_at} of {shards} shards, resumed: "
          f"{'identical' if same else 'DIFFERENT'} to the uninterrupted run ({files} arrays compared byte for byte)")


if __name__ == "__main__":
    main()
