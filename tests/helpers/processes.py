"""The repository root, commands run as a user runs them (a subprocess that imports this checkout), and the
helpers of the tests that start several TensorFlow processes at once (the tf.distribute workers)."""

import json
import os
import socket
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(args, cwd, timeout=300):
    """Runs `args` in `cwd` with this checkout first on `PYTHONPATH`; returns the `CompletedProcess` (text output)."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def worker_env(**extra):
    """The environment of a worker process: this checkout, TensorFlow quiet, Keras on TensorFlow, plus `extra`."""
    return dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow", **extra)


def free_ports(n):
    """`n` TCP ports on 127.0.0.1 free at the time of the call (for a `TF_CONFIG` cluster)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def json_report(process, timeout=400):
    """The JSON object a worker `process` (a `Popen` with text pipes) printed last; fails the test on its error."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-4000:]
    return json.loads(out.strip().splitlines()[-1])
