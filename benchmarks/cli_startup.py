"""How long `kerasviz --help` takes, against importing TensorFlow (what it used to cost).

`kerasviz --help` builds the parser only: no Keras, no TensorFlow. The
reference line times `python -c "import tensorflow"` on the same machine, the
floor of any command that does run.

Usage:
    python benchmarks/cli_startup.py [--repeat 5]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _time(command, repeat):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="3")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command (default: 5)")
    args = parser.parse_args()
    script = shutil.which("kerasviz", path=os.path.dirname(sys.executable))
    command = [script, "--help"] if script else [sys.executable, "-m", "kerasviz.cli", "--help"]
    print(f"{args.repeat} runs each on {os.cpu_count()} CPU cores, {' '.join(command)}")
    for name, cmd in (("kerasviz --help", command),
                      ("kerasviz attribute --help", command[:-1] + ["attribute", "--help"]),
                      ("python -c 'import tensorflow' (reference)", [sys.executable, "-c", "import tensorflow"])):
        best, median = _time(cmd, args.repeat)
        print(f"{name}: best {best:.3f} s, median {median:.3f} s")


if __name__ == "__main__":
    main()
