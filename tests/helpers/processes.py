"""The repository root, and commands run as a user runs them (a subprocess that imports this checkout)."""

import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(args, cwd, timeout=300):
    """Runs `args` in `cwd` with this checkout first on `PYTHONPATH`; returns the `CompletedProcess` (text output)."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
