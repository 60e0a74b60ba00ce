"""Embeddings at scale: the libraries considered for PCA, t-SNE and neighbours, and streamed features.

Each case runs in its own fresh Python process (so its peak RSS is its own,
read from `getrusage` when it ends), on seeded synthetic features: 20 Gaussian
clusters (unit spread, centres drawn with spread 4), 128-D for PCA and
neighbours, 50-D for t-SNE (the PCA-to-50 every t-SNE recipe does first).
Reported per case: wall seconds of the call alone (data generation excluded),
peak RSS of the process and its RSS before the call (imports + data), and a
quality number that could be wrong:

- PCA: the variance the 2 components capture, as a fraction of what the exact
  top-2 eigenvectors of the covariance capture (1.000 = exact).
- t-SNE: 5-NN cluster agreement in the 2-D map (fraction of each point's 5
  nearest map neighbours from its own cluster; the features' own 5-NN
  agreement is ~1.0 for these clusters).
- neighbours (k=5, every point its own query, self left out): recall against
  exact neighbours by plain numpy on 500 sampled queries.

A case that runs past `--timeout` seconds is killed and reported as "> T".
Cases of one size run one after the other, library by library, `--repeats`
times in alternation (median reported); the 100k cases run once. The machine
is shared (2 cores, other processes running), so seconds are loaded-machine
seconds.

`--features` measures `kerasviz.features(..., out=path)` on the demo model
streaming synthetic 64x64 images from a `tf.data` pipeline at 1k, 10k and 100k
images: throughput as a ratio to the model's own compiled forward pass at the
same batch (timed alternately in the same process) and peak RSS, which must
stay flat in N.

Usage:
    python benchmarks/embeddings.py                      # libraries at 1k, 10k, 100k (takes ~an hour)
    python benchmarks/embeddings.py --sizes 1000 10000 --only tsne
    python benchmarks/embeddings.py --features
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

CLUSTERS = 20
TSNE_DIMS = 50
DIMS = 128
K = 5

CASES = {
    "pca": ["sklearn-randomized", "sklearn-incremental", "kerasviz"],
    "tsne": ["sklearn-barnes-hut", "opentsne-bh", "opentsne-fft", "kerasviz"],
    "neighbors": ["sklearn-brute", "sklearn-kd_tree", "faiss-flat", "hnswlib", "faiss-hnsw", "kerasviz"],
}
SLOW = {("tsne", "opentsne-bh", 100_000), ("neighbors", "sklearn-kd_tree", 100_000)}  # known > timeout


def clusters(n, d, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (CLUSTERS, d))
    labels = rng.integers(0, CLUSTERS, n)
    return (centres[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pca(lib, x):
    if lib == "sklearn-randomized":
        from sklearn.decomposition import PCA
        return PCA(2, svd_solver="randomized", random_state=0).fit_transform(x)
    if lib == "sklearn-incremental":
        from sklearn.decomposition import IncrementalPCA
        return IncrementalPCA(2, batch_size=4096).fit_transform(x)
    from kerasviz.activations.projections import project
    return project(x, "pca")


def _pca_quality(x, y):
    mean = x.mean(0, dtype=np.float64)
    cov = np.cov(x[:20000].T.astype(np.float64)) if len(x) > 20000 else np.cov(x.T.astype(np.float64))
    best = np.linalg.eigvalsh(cov)[-2:].sum()
    del mean
    return float(np.var(y, axis=0, ddof=1).sum() / best)


def _tsne(lib, x):
    if lib == "sklearn-barnes-hut":
        from sklearn.manifold import TSNE
        return TSNE(2, init="pca", learning_rate="auto", max_iter=1000, random_state=0).fit_transform(x)
    if lib.startswith("opentsne"):
        from openTSNE import TSNE
        method = "fft" if lib.endswith("fft") else "bh"
        return np.asarray(TSNE(2, n_jobs=os.cpu_count(), negative_gradient_method=method,
                               random_state=0).fit(x))
    from kerasviz.activations.projections import project
    return project(x, "tsne")


def _tsne_quality(y, labels):
    from sklearn.neighbors import KDTree
    _, idx = KDTree(y).query(y, K + 1)
    return float((labels[idx[:, 1:]] == labels[:, None]).mean())


def _neighbors(lib, x):
    k = K + 1  # self comes back first; dropped below
    if lib.startswith("sklearn"):
        from sklearn.neighbors import NearestNeighbors
        idx = NearestNeighbors(n_neighbors=k, algorithm=lib.split("-")[1]).fit(x).kneighbors(x)[1]
    elif lib == "faiss-flat":
        import faiss
        index = faiss.IndexFlatL2(x.shape[1])
        index.add(x)
        idx = index.search(x, k)[1]
    elif lib == "faiss-hnsw":
        import faiss
        index = faiss.IndexHNSWFlat(x.shape[1], 16)
        index.hnsw.efConstruction, index.hnsw.efSearch = 200, 64
        index.add(x)
        idx = index.search(x, k)[1]
    elif lib == "hnswlib":
        import hnswlib
        index = hnswlib.Index(space="l2", dim=x.shape[1])
        index.init_index(max_elements=len(x), ef_construction=200, M=16, random_seed=0)
        index.set_num_threads(os.cpu_count())
        index.add_items(x)
        index.set_ef(64)
        idx = index.knn_query(x, k)[0]
    else:
        from kerasviz.activations.neighbours import nearest_neighbors
        return nearest_neighbors(x, None, K, exclude_self=True)[0]
    return np.asarray(idx)[:, 1:]


def _recall(x, idx):
    rng = np.random.default_rng(1)
    queries = rng.choice(len(x), min(500, len(x)), replace=False)
    hits = 0
    for q in queries:
        d = ((x - x[q]) ** 2).sum(1)
        d[q] = np.inf
        hits += len(set(np.argpartition(d, K)[:K]) & set(idx[q].tolist()))
    return hits / (K * len(queries))


def _import(lib):
    import sklearn.decomposition  # noqa: F401
    import sklearn.manifold  # noqa: F401
    import sklearn.neighbors  # noqa: F401
    if lib.startswith("opentsne"):
        import openTSNE  # noqa: F401
    if lib.startswith("faiss"):
        import faiss  # noqa: F401
    if lib == "hnswlib":
        import hnswlib  # noqa: F401
    if lib == "kerasviz":
        import kerasviz.activations.embeddings  # noqa: F401


def child(op, lib, n):
    """One case, in this process: prints a JSON line."""
    x, labels = clusters(n, TSNE_DIMS if op == "tsne" else DIMS)
    _import(lib)  # imports are not the call's cost
    before = _rss_mb()
    start = time.perf_counter()
    y = {"pca": _pca, "tsne": _tsne, "neighbors": _neighbors}[op](lib, x)
    seconds = time.perf_counter() - start
    peak = _rss_mb()
    quality = {"pca": lambda: _pca_quality(x, y), "tsne": lambda: _tsne_quality(np.asarray(y), labels),
               "neighbors": lambda: _recall(x, np.asarray(y))}[op]()
    print(json.dumps({"seconds": seconds, "rss_before": before, "peak_rss": peak, "quality": quality}), flush=True)


def _run_case(op, lib, n, timeout):
    command = [sys.executable, os.path.abspath(__file__), "--child", op, lib, str(n)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    except subprocess.TimeoutExpired:
        return None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return json.loads(lines[-1])


def libraries(sizes, ops, repeats, timeout, only_libs=None):
    print(f"{'op':10s} {'library':22s} {'N':>7s} {'seconds':>9s} {'peak MB':>8s} {'before':>7s} {'quality':>8s}")
    for n in sizes:
        reps = repeats if n < 100_000 else 1
        for op in ops:
            results = {lib: [] for lib in CASES[op] if not only_libs or lib in only_libs}
            for _ in range(reps):  # alternate libraries within each repetition
                for lib in results:
                    if (op, lib, n) in SLOW:
                        continue
                    results[lib].append(_run_case(op, lib, n, timeout))
            for lib, runs in results.items():
                if not runs:
                    print(f"{op:10s} {lib:22s} {n:7d} {'not run':>9s} (known slower than {timeout} s)", flush=True)
                elif any(r is None for r in runs):
                    print(f"{op:10s} {lib:22s} {n:7d} {'> ' + str(timeout):>9s}", flush=True)
                elif any("error" in r for r in runs):
                    print(f"{op:10s} {lib:22s} {n:7d} error: {runs[0].get('error')}", flush=True)
                else:
                    med = {key: float(np.median([r[key] for r in runs])) for key in runs[0]}
                    print(f"{op:10s} {lib:22s} {n:7d} {med['seconds']:9.2f} {med['peak_rss']:8.0f} "
                          f"{med['rss_before']:7.0f} {med['quality']:8.3f}", flush=True)


def features_child(n, repeats):
    """`features(..., out=path)` over a synthetic tf.data stream of n images, in this process."""
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    import kerasviz
    from kerasviz import models

    batch = 64
    model = kerasviz.demo.demo_model("shapes")
    shape = model.input_shape[1:]
    dataset = tf.data.Dataset.range(n).batch(batch).map(
        lambda i: tf.random.stateless_uniform([tf.shape(i)[0], *shape], seed=[0, 1])).prefetch(2)

    @tf.function
    def forward(x):
        return models.run(model, x, logits=False)[0]

    probe = tf.random.stateless_uniform([batch, *shape], seed=[0, 1])
    forward(probe).numpy()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "codes.npy")
        kerasviz.features(model, dataset.take(2), out=path)  # warm-up (tracing)
        before = _rss_mb()
        limit_times, times = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(-(-n // batch)):  # the limit: the model alone on tensors already made
                forward(probe).numpy()
            limit_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            codes = kerasviz.features(model, dataset, out=path, batch_size=batch)
            times.append(time.perf_counter() - start)
            assert codes.shape[0] == n
            del codes
    print(json.dumps({"rate": n / float(np.median(times)), "limit": n / float(np.median(limit_times)),
                      "rss_before": before, "peak_rss": _rss_mb()}), flush=True)


def features_table(sizes, repeats, timeout):
    print("features(model, tf.data stream, out=path) on the demo model (64x64, batch 64); limit: its compiled "
          "forward on one tensor batch, alternated, medians")
    print(f"{'N':>7s} {'img/s':>8s} {'limit':>8s} {'ratio':>6s} {'peak MB':>8s} {'before':>7s}")
    for n in sizes:
        command = [sys.executable, os.path.abspath(__file__), "--features-child", str(n), str(repeats)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        except subprocess.TimeoutExpired:
            print(f"{n:7d} > {timeout} s", flush=True)
            continue
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(f"{n:7d} error: {done.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        r = json.loads(lines[-1])
        print(f"{n:7d} {r['rate']:8.0f} {r['limit']:8.0f} {r['rate'] / r['limit']:6.2f} {r['peak_rss']:8.0f} "
              f"{r['rss_before']:7.0f}", flush=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.path.insert(0, os.getcwd())
        return child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    if len(sys.argv) > 1 and sys.argv[1] == "--features-child":
        sys.path.insert(0, os.getcwd())
        return features_child(int(sys.argv[2]), int(sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--only", choices=sorted(CASES), nargs="+")
    parser.add_argument("--libs", nargs="+", help="only these libraries (names as in the table)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("--features", action="store_true", help="streamed features instead of the libraries")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at start")
    if args.features:
        return features_table(args.sizes, args.repeats, args.timeout)
    return libraries(args.sizes, args.only or list(CASES), args.repeats, args.timeout, args.libs)


if __name__ == "__main__":
    main()
