"""TensorFlow's start-up lines, kept off the terminal of our commands.

Importing TensorFlow prints C++ log lines on stderr (oneDNN, CUDA stubs, CPU
features, and on a CPU-only machine `E0000 ... failed call to cuInit`). Most
come from Abseil before it is initialized, so `TF_CPP_MIN_LOG_LEVEL` does not
hide them; they are written to file descriptor 2 directly. `import_quietly`
sets `TF_CPP_MIN_LOG_LEVEL=3` (for what comes later, the cuInit error among
it) and imports TensorFlow and Keras with descriptor 2 pointed at a temporary
file, then writes back every captured line that is not such a log line, so a
real import error is still seen.
"""

import os
import re
import sys
import tempfile

_STARTUP_LINE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]"
    r"|To enable the following instructions:"
)


def import_quietly():
    """Imports TensorFlow and Keras without their start-up log lines (see the module docstring)."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines()
                    if line.strip() and not _STARTUP_LINE.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)
