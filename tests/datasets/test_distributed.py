"""explain_dataset and the callbacks under tf.distribute: MirroredStrategy over 2 logical CPU devices, and
MultiWorkerMirroredStrategy with 2 worker processes on 127.0.0.1, each equal to a single-process run.

The processes (`tests/helpers/distributed_worker.py`) start together, so their TensorFlow start-ups overlap.
"""

import glob
import json
import os
import subprocess
import sys

import pytest

from kerasviz.datasets import shards
from tests.helpers import distributed_worker as worker
from tests.helpers.events import read_events, steps
from tests.helpers.processes import REPO, free_ports, json_report, worker_env

WORKER = [sys.executable, "-m", worker.__name__]  # run from the repository root
SALIENCY = "kerasviz/attribution/saliency"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Starts the mirrored process and the two workers at once; yields their outputs and reports."""
    base = tmp_path_factory.mktemp("distributed")
    paths = {name: str(base / name) for name in ("mirrored", "workers", "logs")}
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = {"mirrored": subprocess.Popen([*WORKER, "mirrored", paths["mirrored"]], env=worker_env(),
                                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)}
    for i in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        processes[i] = subprocess.Popen([*WORKER, "worker", paths["workers"], paths["logs"]],
                                        env=worker_env(TF_CONFIG=config), cwd=REPO, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
    try:
        reference = worker.reference(str(tmp_path_factory.getbasetemp()))
        reports = {name: json_report(p) for name, p in processes.items()}
    finally:
        for p in processes.values():
            if p.poll() is None:
                p.kill()
    return dict(paths, reference=reference, reports=reports)


def test_mirrored_over_two_logical_devices_equals_a_single_device(runs):
    assert runs["reports"]["mirrored"] == {"n": worker.N_IMAGES, "replicas": 2}
    assert worker.differences(runs["reference"], runs["mirrored"]) == []


def test_two_workers_split_the_shards_and_equal_a_single_process(runs):
    reports = runs["reports"]
    assert [reports[i]["n"] for i in range(2)] == [worker.N_IMAGES] * 2
    assert [reports[i]["replicas"] for i in range(2)] == [2, 2]
    out = runs["workers"]
    written = {k: shards.read_meta(out, k)["worker"] for k in shards.finished_shards(out)}
    assert written == {k: k % 2 for k in range(-(-worker.N_IMAGES // worker.SETTINGS["shard_size"]))}
    assert worker.differences(runs["reference"], out) == []
    manifest = shards.read_manifest(out)
    assert manifest["complete"] and manifest["n_items"] == worker.N_IMAGES
    assert manifest["shards"] == shards.read_manifest(runs["reference"])["shards"]


def test_callback_under_multi_worker_fit_writes_on_the_chief_only_each_epoch_once(runs):
    reports = runs["reports"]
    assert [reports[i]["chief"] for i in range(2)] == [True, False]
    assert reports[0]["weights"] == reports[1]["weights"]  # one training, mirrored
    logs = runs["logs"]
    assert sorted(os.listdir(logs)) == ["dataset", "kerasviz"]
    assert len(glob.glob(os.path.join(logs, "kerasviz", "events.out.tfevents.*"))) == 1
    found = steps(read_events(os.path.join(logs, "kerasviz")))
    assert found[SALIENCY] == [0, 1, 2]
    assert set(found) >= {SALIENCY, "kerasviz/attribution/grad_cam"}
    assert all(v == [0, 1, 2] for v in found.values()), found


def test_the_dataset_summary_is_written_by_the_chief_only(runs):
    reports = runs["reports"]
    assert [reports[i]["summary_written"] for i in range(2)] == [True, False]
    found = steps(read_events(os.path.join(runs["logs"], "dataset")))
    assert found == {"kerasviz/dataset/explanations": [0]}
