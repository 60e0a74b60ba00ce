"""kerasviz against its peers, side by side in one run: speed as a ratio to the model's own limit, memory, agreement.

The peers (tf-explain, tf-keras-vis, xplique, PAIR saliency) live in their own
virtualenv (`benchmarks/.peers-venv`, made by `benchmarks/peers/install.py`),
never in the project's; kerasviz runs in the project's virtualenv, on whatever
kerasviz is on disk. For each model the driver

1. writes the model (`model.keras`), 16 images in [0, 255] (`images.npy`), the
   class every tool explains (the one the batch leans to) and XRAI's input
   attribution into a work directory (`data.py`);
2. runs one worker process per tool and repetition, in turns (kerasviz,
   tf-explain, tf-keras-vis, xplique, PAIR; then again), each on the same files
   and parameters. In its own process each worker times every method after a
   warm-up call, next to the model's compiled forward and forward+backward
   pass at the same batch (16), and samples its resident memory during the
   call (`common.py`);
3. prints one table per model: seconds (median over repetitions), the
   method's nominal work in limit passes (SmoothGrad with N samples = N
   forward+backward batches, occlusion with P positions = P forward batches,
   ...), the ratio of its time to that many limit passes (median of the
   per-process ratios; 1.0 = no overhead, lower is better), peak resident
   memory, and the agreement of each peer's map with kerasviz's (per-image
   Pearson and Spearman correlation, medians over the 16 images, maps brought
   to a common size; the relative max |difference| where both maps have the
   same shape and the same definition). Where a peer's definition differs (normalization, score read,
   absolute value, baseline), the note says so instead of forcing agreement.

It is run by hand, not by CI. On two quiet cores, one repetition of every
tool takes about 2.3 minutes for the VGG-style net and 4.3 for MobileNetV2
(mostly tracing and warm-up calls); under a load average of 15-20 it took
18 and 40. `--methods` limits the tables to the methods it names.
Each process times each method once: read the numbers as indications, and
the medians of several repetitions over any one of them.

Usage:
    python benchmarks/peers/install.py                 # once: the peers' virtualenv
    python benchmarks/peers/run.py                     # both models, 3 repetitions
    python benchmarks/peers/run.py --models vgg --repeats 1 --methods saliency grad_cam
    python benchmarks/peers/run.py --tools kerasviz xplique
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
from scipy import ndimage, stats

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEERS_PYTHON = os.path.join(ROOT, "benchmarks", ".peers-venv", "bin", "python")
TOOLS = ("kerasviz", "tf_explain", "tf_keras_vis", "xplique", "saliency")
TOOL_NAMES = {"kerasviz": "kerasviz", "tf_explain": "tf-explain", "tf_keras_vis": "tf-keras-vis",
              "xplique": "xplique", "saliency": "PAIR saliency"}

# Every method and the tools that offer it (the workers' METHODS say the same).
METHODS = {
    "saliency": ("kerasviz", "tf_explain", "tf_keras_vis", "xplique", "saliency"),
    "smoothgrad": ("kerasviz", "tf_explain", "tf_keras_vis", "xplique", "saliency"),
    "integrated_gradients": ("kerasviz", "tf_explain", "xplique", "saliency"),
    "occlusion": ("kerasviz", "tf_explain", "xplique"),
    "grad_cam": ("kerasviz", "tf_explain", "tf_keras_vis", "xplique", "saliency"),
    "guided_backprop": ("kerasviz", "xplique"),
    "grad_cam_plus_plus": ("kerasviz", "tf_keras_vis", "xplique"),
    "score_cam": ("kerasviz", "tf_keras_vis"),
    "layer_cam": ("kerasviz", "tf_keras_vis"),
    "rise": ("kerasviz", "xplique"),
    "gradient_x_input": ("kerasviz", "tf_explain", "xplique"),
    "squaregrad": ("kerasviz", "xplique"),
    "vargrad": ("kerasviz", "xplique"),
    "xrai": ("kerasviz", "saliency"),
    "guided_ig": ("kerasviz", "saliency"),
    "blur_ig": ("kerasviz", "saliency"),
    "class_visualization": ("kerasviz", "tf_keras_vis"),
    "class_visualization_fourier": ("kerasviz", "xplique"),
}

# Shared parameters; small, so that a run fits a loaded two-core machine.
# Occlusion: 16 positions per image (stride = patch, the only stride tf-explain has).
PARAMS = {"samples": 8, "noise": 0.15, "steps": 8, "masks": 32, "grid": 7, "keep": 0.5, "max_channels": 8,
          "opt_steps": 16}
MODEL_PARAMS = {
    "vgg": {"layer": "block3_conv2", "patch": 16, "stride": 16, "max_sigma": 50.0 * 64 / 224},
    "mobilenet": {"layer": "out_relu", "patch": 32, "stride": 32, "max_sigma": 50.0 * 128 / 224},
}

# Where a peer computes something else than kerasviz (said in the table, not forced into agreement).
NOTES = {
    ("tf_explain", "saliency"): "sum |grad| over RGB, normalized to 0-255",
    ("tf_explain", "smoothgrad"): "grad of cross-entropy of probabilities; sum |.| over RGB, 0-255",
    ("tf_explain", "integrated_gradients"): "mean path grad of the probability, not x input; endpoints incl.",
    ("tf_explain", "occlusion"): "1 - p, stride = patch, model.predict per image, resized",
    ("tf_explain", "grad_cam"): "guided weights, probability score, no ReLU",
    ("tf_explain", "gradient_x_input"): "sum |.| over RGB, normalized to 0-255",
    ("tf_keras_vis", "saliency"): "normalized to [0, 1] per image",
    ("tf_keras_vis", "smoothgrad"): "noise from each image's range; normalized",
    ("tf_keras_vis", "grad_cam"): "normalized, resized to the input",
    ("tf_keras_vis", "grad_cam_plus_plus"): "exp-score form; normalized, resized",
    ("tf_keras_vis", "score_cam"): "probability scores (softmax model); normalized",
    ("tf_keras_vis", "layer_cam"): "normalized, resized",
    ("tf_keras_vis", "class_visualization"): "its default regularizers and input modifiers",
    ("xplique", "integrated_gradients"): "its own path points (endpoints)",
    ("xplique", "occlusion"): "p(image) - p(occluded), averaged per pixel",
    ("xplique", "grad_cam"): "resized to the input",
    ("xplique", "grad_cam_plus_plus"): "resized to the input",
    ("xplique", "rise"): "its own mask sampling (other masks)",
    ("xplique", "smoothgrad"): "other noise draws",
    ("xplique", "squaregrad"): "other noise draws",
    ("xplique", "vargrad"): "other noise draws",
    ("saliency", "smoothgrad"): "noise from each image's range; other draws",
    ("saliency", "grad_cam"): "PAIR's ReLU'd map at layer size",
    ("saliency", "xrai"): "same input attribution; PAIR's own segment rules",
    ("saliency", "integrated_gradients"): "left Riemann rule (kerasviz: midpoint)",
    ("saliency", "blur_ig"): "its own sigma schedule and rule",
    ("kerasviz", "occlusion"): "score under the occluder (agreement: negated)",
}


def work(method, params, size):
    """`(passes, kind)`: the method's nominal work in limit batches, or None (no model passes)."""
    if method in ("smoothgrad", "squaregrad", "vargrad"):
        return params["samples"], "backward"
    if method in ("integrated_gradients", "guided_ig", "blur_ig"):
        return params["steps"], "backward"
    if method in ("class_visualization", "class_visualization_fourier"):
        return params["opt_steps"], "backward"
    if method == "occlusion":
        return ((size - params["patch"]) // params["stride"] + 1) ** 2, "forward"
    if method == "rise":
        return params["masks"], "forward"
    if method == "score_cam":
        return 1 + params["max_channels"], "forward"
    if method == "xrai":
        return None
    return 1, "backward"


def _python(tool, peers_python):
    return sys.executable if tool == "kerasviz" else peers_python


def prepare(name, directory):
    code = ("import sys, json; sys.path.insert(0, %r); import data; "
            "print(json.dumps(data.prepare(%r, %r)))" % (HERE, name, directory))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_worker(tool, data_dir, out_dir, methods, params, peers_python, timeout):
    """Runs one worker; returns its records (a crashed or timed-out worker: one error record per method)."""
    os.makedirs(out_dir, exist_ok=True)
    results = os.path.join(out_dir, "results.jsonl")
    if os.path.exists(results):
        os.remove(results)
    command = [_python(tool, peers_python), os.path.join(HERE, f"{tool}_worker.py"), data_dir, out_dir,
               json.dumps(methods), json.dumps(params)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=HERE)
    env.pop("TF_USE_LEGACY_KERAS", None)  # every peer runs on Keras 3 (see install.py)
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE)
        failure = None if proc.returncode == 0 else f"worker exited {proc.returncode}: {proc.stderr[-600:]}"
    except subprocess.TimeoutExpired:
        failure = f"worker timed out after {timeout} s"
    records = {}
    if os.path.exists(results):
        with open(results) as f:
            for line in f:
                record = json.loads(line)
                records[record["method"]] = record
    for method in methods:
        if method not in records:
            records[method] = {"method": method, "error": failure or "no record"}
    print(f"  {TOOL_NAMES[tool]:14s} {time.perf_counter() - start:7.1f} s", flush=True)
    return records


def _as_map(values):
    """A tool's output as `[B, H, W]`: channels reduced the kerasviz way (max |.|)."""
    values = np.asarray(values, np.float64)
    if values.ndim == 4:
        values = values[..., 0] if values.shape[-1] == 1 else np.max(np.abs(values), axis=-1)
    return values


def _resize(maps, shape):
    if maps.shape[1:] == shape:
        return maps
    factors = (1.0, shape[0] / maps.shape[1], shape[1] / maps.shape[2])
    return ndimage.zoom(maps, factors, order=1)


def agreement(method, reference, other):
    """`(pearson, spearman, relative max |diff|)` of `other` against kerasviz's `reference` maps."""
    a, b = _as_map(reference), _as_map(other)
    if method == "occlusion":
        a = -a  # kerasviz: the score under the occluder; the peers: its drop
    same_shape = a.shape == b.shape
    shape = min(a.shape[1:], b.shape[1:])
    a, b = _resize(a, shape), _resize(b, shape)
    pearson, spearman = [], []
    for x, y in zip(a.reshape(len(a), -1), b.reshape(len(b), -1)):
        if np.std(x) > 0 and np.std(y) > 0:
            pearson.append(stats.pearsonr(x, y)[0])
            spearman.append(stats.spearmanr(x, y)[0])
    diff = float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30)) if same_shape else None
    median = (lambda v: float(np.median(v)) if v else float("nan"))
    return median(pearson), median(spearman), diff


def _fmt(value, spec):
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def table(name, meta, params, runs, work_dir, methods=tuple(METHODS)):
    """The markdown table of one model from `runs[tool][rep][method]` records, rows for `methods` only."""
    lines = [f"### {name} ({meta['size']}x{meta['size']}, batch {meta['batch']}, class {meta['target']})", "",
             "| method | tool | seconds | work (limit passes) | ratio to limit | peak RSS MB | +RSS MB "
             "| Pearson | Spearman | rel. max diff | objective | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for method, tools in METHODS.items():
        if method not in methods:
            continue
        nominal = work(method, params, meta["size"])
        for tool in tools:
            if tool not in runs:
                continue
            records = [runs[tool][rep].get(method, {}) for rep in sorted(runs[tool])]
            good = [r for r in records if "seconds" in r]
            if not good:
                error = next((r.get("error") for r in records if r.get("error")), "not run")
                lines.append(f"| {method} | {TOOL_NAMES[tool]} | failed | | | | | | | | | {error[:300]} |")
                continue
            seconds = float(np.median([r["seconds"] for r in good]))
            ratio, label = None, "-"
            if nominal:
                passes, kind = nominal
                ratio = float(np.median([r["seconds"] / (passes * r[f"{kind}_s"]) for r in good]))
                label = f"{passes} x {'F' if kind == 'forward' else 'F+B'}"
            peak = float(np.median([r["peak_rss_mb"] for r in good]))
            added = float(np.median([r["added_rss_mb"] for r in good]))
            pearson = spearman = diff = None
            objective = None
            if "objective" in good[0]:
                objective = f"{np.median([r['objective'] for r in good]):.3g} ({seconds / params['opt_steps']:.3f} s/step)"
            elif tool != "kerasviz" and "kerasviz" in runs:
                mine = os.path.join(work_dir, "kerasviz", "rep0", f"{method}.npy")
                theirs = os.path.join(work_dir, tool, "rep0", f"{method}.npy")
                if os.path.exists(mine) and os.path.exists(theirs):
                    pearson, spearman, diff = agreement(method, np.load(mine), np.load(theirs))
            note = NOTES.get((tool, method), "")
            if note or (("kerasviz", method) in NOTES):
                diff = None  # a max difference means something only where the definitions are the same
            if len(good) < len(records):
                note += f" ({len(records) - len(good)} of {len(records)} runs failed)"
            if not all(r.get("finite", True) for r in good):
                note += " NON-FINITE OUTPUT"
            lines.append(f"| {method} | {TOOL_NAMES[tool]} | {seconds:.3f} | {label} | {_fmt(ratio, '.2f')} | "
                         f"{peak:.0f} | {added:.0f} | {_fmt(pearson, '.3f')} | {_fmt(spearman, '.3f')} | "
                         f"{_fmt(diff, '.2e')} | {objective or '-'} | {note} |")
    limits = [r for tool in runs for rep in runs[tool].values() for r in rep.values() if "backward_s" in r]
    if limits:
        lines.append("")
        lines.append(f"Limit at batch {meta['batch']} (median over every timing of every process): forward "
                     f"{np.median([r['forward_s'] for r in limits]) * 1e3:.1f} ms, forward+backward "
                     f"{np.median([r['backward_s'] for r in limits]) * 1e3:.1f} ms.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODEL_PARAMS), choices=list(MODEL_PARAMS))
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=list(TOOLS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work-dir", default=os.path.join("/tmp", "kerasviz-peers"))
    parser.add_argument("--peers-python", default=PEERS_PYTHON)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per worker process")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, received {args.repeats}")
    if any(t != "kerasviz" for t in args.tools) and not os.path.exists(args.peers_python):
        parser.error(f"no peers' virtualenv at {args.peers_python}: run benchmarks/peers/install.py first")
    tables = []
    for name in args.models:
        model_dir = os.path.join(args.work_dir, name)
        data_dir = os.path.join(model_dir, "data")
        meta = prepare(name, data_dir)
        params = dict(PARAMS, **MODEL_PARAMS[name])
        print(f"{name}: {json.dumps(meta)}", flush=True)
        runs = {}
        for rep in range(args.repeats):
            print(f" repetition {rep + 1}/{args.repeats}", flush=True)
            for tool in args.tools:
                methods = [m for m in args.methods if tool in METHODS[m]]
                if methods:
                    runs.setdefault(tool, {})[rep] = run_worker(
                        tool, data_dir, os.path.join(model_dir, tool, f"rep{rep}"), methods, params,
                        args.peers_python, args.timeout)
            # after every repetition: a run stopped early still leaves the tables of what it measured
            with open(os.path.join(model_dir, "records.json"), "w") as f:
                json.dump({t: {str(k): v for k, v in reps.items()} for t, reps in runs.items()}, f, indent=1)
            with open(os.path.join(model_dir, "table.md"), "w") as f:
                f.write(table(name, meta, params, runs, model_dir, args.methods) + f"\n\n{rep + 1} repetition(s).\n")
        tables.append(table(name, meta, params, runs, model_dir, args.methods))
        print("\n" + tables[-1] + "\n", flush=True)
    print(f"Parameters: {json.dumps(PARAMS)}; per model: {json.dumps(MODEL_PARAMS)}")
    print("Times are medians over alternated repetitions on a shared machine; ratio = seconds / (work x the "
          "model's compiled limit measured in the same process).")


if __name__ == "__main__":
    main()
