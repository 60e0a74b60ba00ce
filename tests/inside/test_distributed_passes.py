"""The dataset passes of `kerasviz.inside` under tf.distribute: `dissect`, `sample_activations` and
`build_microscope` over a MirroredStrategy of 2 logical CPU devices, and over a MultiWorkerMirroredStrategy of
2 worker processes on 127.0.0.1 (there also `build_microscope`, written by the chief alone), each equal to the
single-device run; and the merges of their partial states.

The processes (`tests/helpers/inside_worker.py`) start together, so their TensorFlow start-ups overlap.
"""

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kerasviz.datasets import shards  # noqa: E402
from kerasviz.inside import resumable, sampling  # noqa: E402
from kerasviz.inside.quantiles import TailQuantiles  # noqa: E402
from tests.helpers import inside_worker as worker  # noqa: E402
from tests.helpers.microscope import read  # noqa: E402
from tests.helpers.processes import REPO, free_ports, json_report, worker_env  # noqa: E402

WORKER = [sys.executable, "-m", worker.__name__]  # run from the repository root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Starts the mirrored process and the two workers at once, runs the single device here meanwhile."""
    base = tmp_path_factory.mktemp("inside_distributed")
    outs = {name: str(base / str(name)) for name in ("mirrored", 0, 1)}
    state_dir, logs = str(base / "state"), str(base / "logs")
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    processes = {"mirrored": subprocess.Popen([*WORKER, "mirrored", outs["mirrored"]], env=worker_env(), cwd=REPO,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)}
    for i in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        processes[i] = subprocess.Popen([*WORKER, "worker", outs[i], state_dir, logs], env=worker_env(TF_CONFIG=config),
                                        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        reference = worker.run()
        single = worker.microscope(str(base / "single"))
        reports = {name: json_report(p) for name, p in processes.items()}
    finally:
        for p in processes.values():
            if p.poll() is None:
                p.kill()
    results = {name: dict(np.load(os.path.join(out, "result.npz"))) for name, out in outs.items()}
    return dict(reference=reference, reports=reports, results=results, state_dir=state_dir, logs=logs,
                single=single)


def _differences(a, b):
    assert sorted(a) == sorted(b)
    return [k for k in a if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes()]


def test_the_reference_is_a_real_check():
    """The settings make the sketch compact and the top tail stay exact: the case the merge must get right."""
    reference = worker.run()
    assert bool(reference["dissect.exact"]) and reference["dissect.positions"] == worker.N_IMAGES * worker.SIZE ** 2
    assert reference["dissect.detector"].all() and len(reference["sample.vectors"]) == worker.SAMPLE["samples"]


def test_mirrored_over_two_logical_devices_equals_a_single_device(runs):
    assert runs["reports"]["mirrored"] == {"devices": 2, "worker": 0, "workers": 1, "chief": True,
                                           "turns": ["CPU:0", "CPU:1", "CPU:0"]}
    assert _differences(runs["reference"], runs["results"]["mirrored"]) == []


def test_two_workers_each_return_the_single_device_result(runs):
    reports = runs["reports"]
    assert [(reports[i]["worker"], reports[i]["workers"], reports[i]["chief"]) for i in range(2)] == \
        [(0, 2, True), (1, 2, False)]
    for i in range(2):
        assert _differences(runs["reference"], runs["results"][i]) == [], i


def _same_records(a, b):
    """The microscope records of two run directories: the same tags, headers and arrays."""
    a, b = read(a), read(b)
    assert sorted(a) == sorted(b) and a
    for key in a:
        assert a[key][0] == b[key][0], key
        assert sorted(a[key][1]) == sorted(b[key][1]), key
        for name in a[key][1]:
            np.testing.assert_array_equal(a[key][1][name], b[key][1][name], err_msg=f"{key} {name}")


def test_only_the_chief_writes_the_microscope_of_two_workers(runs):
    reports = runs["reports"]
    assert [tuple(w) for w in reports[0]["written"]] == runs["single"].written and reports[1]["written"] == []
    assert os.listdir(runs["logs"]) == ["microscope"]
    assert len([n for n in os.listdir(os.path.join(runs["logs"], "microscope")) if "tfevents" in n]) == 1
    _same_records(runs["single"].run_dir, os.path.join(runs["logs"], "microscope"))
    # the data passes of each layer under their own state folders
    folders = os.listdir(os.path.join(runs["state_dir"], "microscope"))
    assert len(folders) == 1 and folders[0].startswith("mix-")
    assert sorted(os.listdir(os.path.join(runs["state_dir"], "microscope", folders[0]))) == ["atlas", "dissection"]


def test_several_workers_without_a_state_dir_raise_a_named_error(runs):
    for i in range(2):
        message = runs["reports"][i]["without_state_dir"]
        assert "`state_dir=None`" in message and "2 workers" in message


def test_worker_i_folds_the_shards_i_mod_w_into_its_own_folder(runs):
    images, ids = worker.data()
    size = worker.SETTINGS["shard_size"]
    digests = [shards.digest(*arrays) for arrays in resumable.shards_of((images, ids), size, parts=2)]
    sample_digests = [shards.digest(*arrays) for arrays in resumable.shards_of(images, size)]
    assert len(digests) == 7
    for name, expected in (("dissect", digests), ("sample", sample_digests)):
        root = os.path.join(runs["state_dir"], name)
        assert sorted(os.listdir(root)) == ["worker-0-of-2", "worker-1-of-2"]
        for i in range(2):
            passes = ("quantiles", "tally") if name == "dissect" else ("sample",)
            for pass_name in passes:
                saved = resumable.latest_state(resumable.worker_folder(root, i, 2), pass_name)
                assert saved[0] == expected[i::2], (name, i, pass_name)


def _sketch(values, capacity, seed=0):
    sketch = TailQuantiles(values.shape[0], capacity, seed)
    for a in range(0, values.shape[1], 300):
        sketch.update(values[:, a:a + 300])
    return sketch


@pytest.mark.parametrize("capacity", [4096, 512])
def test_merged_sketches_of_a_split_stream_give_the_whole_stream_quantiles(capacity):
    values = np.random.default_rng(1).standard_normal((3, 2400)).astype(np.float32)
    whole = _sketch(values, capacity)
    merged = _sketch(values[:, :900], capacity, 1).merge(_sketch(values[:, 900:1500], capacity, 2)).merge(
        _sketch(values[:, 1500:], capacity, 3))
    assert merged.count == whole.count == 2400
    weights = sum(level.shape[1] * 2 ** i for i, level in enumerate(merged.levels))
    assert weights == 2400  # every value counted once, by its weight
    for q in (0.9, 0.995):  # the upper tail fits the exact part: the exact quantile, as the whole stream's
        assert merged.is_exact(q) and whole.is_exact(q)
        exact = np.quantile(values, q, axis=1, method="inverted_cdf").astype(np.float32)
        np.testing.assert_array_equal(merged.quantile(q), exact)
        np.testing.assert_array_equal(whole.quantile(q), exact)
    if capacity == 4096:  # no compaction: the merged sketch holds the whole stream
        assert merged.compactions == 0 and len(merged.levels) == 1
        np.testing.assert_array_equal(np.sort(merged.levels[0], axis=1), np.sort(values, axis=1))
        np.testing.assert_array_equal(merged.quantile(0.3), whole.quantile(0.3))
    else:
        assert merged.compactions > 0 and max(level.shape[1] for level in merged.levels) <= capacity


def test_merging_sketches_of_other_shapes_raises():
    with pytest.raises(ValueError, match="3 units and capacity 8"):
        TailQuantiles(2, 8).merge(TailQuantiles(3, 8))


def _bottom_k(keys, vectors, samples):
    state = (np.empty(0), (np.empty((0, 0), np.float32), np.empty(0, np.int64), np.empty((0, 2), np.int64)), 0)
    for a in range(0, len(keys), 7):
        part = (keys[a:a + 7], (vectors[a:a + 7], np.arange(a, min(a + 7, len(keys))),
                                np.zeros((len(keys[a:a + 7]), 2), np.int64)), len(keys[a:a + 7]))
        state = sampling.merge_samples(state, part, samples)
    return state


def test_merged_samples_of_a_split_stream_are_the_whole_stream_sample():
    rng = np.random.default_rng(2)
    keys, vectors = rng.random(100), rng.standard_normal((100, 4)).astype(np.float32)
    whole = _bottom_k(keys, vectors, 20)
    first, second = _bottom_k(keys[:42], vectors[:42], 20), _bottom_k(keys[42:], vectors[42:], 20)
    second = (second[0], (second[1][0], second[1][1] + 42, second[1][2]), second[2])
    merged = sampling.merge_samples(first, second, 20)
    smallest = np.sort(np.argsort(keys)[:20])
    for state in (whole, merged):
        order = np.argsort(state[1][1])
        np.testing.assert_array_equal(state[1][1][order], smallest)
        np.testing.assert_array_equal(state[1][0][order], vectors[smallest])
        np.testing.assert_array_equal(state[0][order], keys[smallest])
        assert state[2] == 100
