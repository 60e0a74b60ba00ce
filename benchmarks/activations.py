"""Forward-only (activations) methods: throughput and cost, measured in one run.

Features: `kerasviz.features` is counted in images per second and reported as a
ratio to the model's own compiled forward pass on the same batch size, timed
right before it (ratio 1.0 = no overhead beyond the forward pass), for numpy
input and for a `tf.data` pipeline.

Projections: wall time of `project` (PCA and t-SNE), `nearest_neighbors` and
`embedding_grid` on random float32 features (4096-D, the size of AlexNet's fc7).

Usage:
    python benchmarks/activations.py                  # everything (10k-point t-SNE takes minutes)
    python benchmarks/activations.py --quick          # skip the 10k-point t-SNE and MobileNetV2
    python benchmarks/activations.py --only features
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasviz  # noqa: E402
from kerasviz import models  # noqa: E402
from kerasviz.activations.embeddings import (  # noqa: E402
    embedding_grid, features, nearest_neighbors, project)

BATCH = 32


def _time_once(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def _features_case(name, model, images, layer, repeats):
    @tf.function
    def forward(x):
        return models.run(model, x, logits=False)[0]

    batches = [tf.constant(images[i:i + BATCH]) for i in range(0, len(images), BATCH)]
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(BATCH)

    def limit():
        for batch in batches:
            forward(batch).numpy()

    cases = [("numpy array", lambda: features(model, images, layer, batch_size=BATCH)),
             ("tf.data.Dataset", lambda: features(model, dataset, layer, batch_size=BATCH))]
    for label, method in cases:
        limit(), method()  # warm-up: tracing and first-call costs are not throughput
        limit_times, method_times = [], []
        for _ in range(repeats):  # interleaved, so both see the same machine load
            limit_times.append(_time_once(limit)[0])
            method_times.append(_time_once(method)[0])
        limit_rate, rate = len(images) / min(limit_times), len(images) / min(method_times)
        print(f"{name:28s} {label:16s} {limit_rate:12.1f} {rate:12.1f} {rate / limit_rate:6.2f}", flush=True)


def bench_features(quick=False, repeats=5):
    """`features` throughput as a ratio to the compiled forward pass at batch 32."""
    print(f"\nfeatures of 512 images in batches of {BATCH}; the compiled forward pass on the same "
          "batches (already tensors) is the limit, timed alternately with the method, best of the repeats")
    print(f"{'model':28s} {'input':16s} {'limit img/s':>12s} {'feat img/s':>12s} {'ratio':>6s}")
    model = kerasviz.demo.demo_model("shapes")
    images = np.concatenate([kerasviz.demo.demo_data("shapes")[1].images] * 2)[:512]
    _features_case("demo (shapes, 64x64, fc)", model, images, None, repeats)
    if not quick:
        model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None)
        images = np.random.default_rng(0).uniform(-1, 1, (512, 96, 96, 3)).astype(np.float32)
        _features_case("MobileNetV2 96x96 (out_relu)", model, images, "out_relu", repeats)


def bench_projection(quick=False):
    """Wall time of PCA, t-SNE, neighbours and grids on random 4096-D features."""
    print("\nprojection and layout on random float32 features, 4096 dims (one run each)")
    print(f"{'operation':44s} {'seconds':>8s}")
    rng = np.random.default_rng(0)
    for n in (1000, 10000):
        x = rng.normal(size=(n, 4096)).astype(np.float32)
        seconds, _ = _time_once(lambda: project(x, "pca"))
        print(f"{f'project pca, {n} points':44s} {seconds:8.2f}", flush=True)
        seconds, _ = _time_once(lambda: nearest_neighbors(x, None, 5, exclude_self=True))
        print(f"{f'nearest_neighbors k=5, {n} x {n}':44s} {seconds:8.2f}", flush=True)
        thumbs = rng.uniform(size=(n, 8, 8, 3)).astype(np.float32)
        mode = "exact" if n <= 2000 else "greedy"
        seconds, _ = _time_once(lambda: embedding_grid(thumbs, rng.normal(size=(n, 2))))
        print(f"{f'embedding_grid ({mode}), {n} points':44s} {seconds:8.2f}", flush=True)
        if n > 1000 and quick:
            print(f"{f'project tsne, {n} points':44s} skipped (--quick)")
            continue
        seconds, _ = _time_once(lambda: project(x, "tsne"))
        print(f"{f'project tsne (PCA to 50 first), {n} points':44s} {seconds:8.2f}", flush=True)
    coords = rng.normal(size=(2000, 2))
    seconds, _ = _time_once(lambda: embedding_grid(np.zeros((2000, 8, 8, 3)), coords))
    print(f"{'embedding_grid (exact), 2000 points':44s} {seconds:8.2f}", flush=True)


def bench_top_patches(quick=False, repeats=3):
    """`top_patches` over 10,000 images (8 channels, k=9) as a ratio to the compiled forward pass."""
    from kerasviz.activations.patches import top_patches

    n = 2000 if quick else 10000
    model = kerasviz.demo.demo_model("shapes")
    test = kerasviz.demo.demo_data("shapes")[1].images
    images = np.concatenate([test] * -(-n // len(test)))[:n]

    @tf.function
    def forward(x):
        return models.run(model, x, logits=False)[0]

    batches = [tf.constant(images[i:i + BATCH]) for i in range(0, n, BATCH)]

    def limit():
        for batch in batches:
            forward(batch).numpy()

    def method():
        return top_patches(model, images, "conv3", list(range(8)), k=9, batch_size=BATCH)

    limit(), method()
    limit_times, method_times = [], []
    for _ in range(repeats):
        limit_times.append(_time_once(limit)[0])
        method_times.append(_time_once(method)[0])
    limit_rate, rate = n / min(limit_times), n / min(method_times)
    print(f"\ntop_patches on {n} images (demo model, conv3, 8 channels, k=9), batch {BATCH}")
    print(f"{'limit img/s':>12s} {'method img/s':>12s} {'ratio':>6s}")
    print(f"{limit_rate:12.1f} {rate:12.1f} {rate / limit_rate:6.2f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the 10k-point t-SNE and MobileNetV2")
    parser.add_argument("--only", choices=["features", "projection", "top_patches"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores")
    if args.only in (None, "features"):
        bench_features(args.quick, args.repeats)
    if args.only in (None, "top_patches"):
        bench_top_patches(args.quick)
    if args.only in (None, "projection"):
        bench_projection(args.quick)


if __name__ == "__main__":
    main()
