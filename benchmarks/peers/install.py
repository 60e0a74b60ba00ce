"""Creates the peers' virtualenv (`benchmarks/.peers-venv`, git-ignored) and installs the peers into it.

Never into the project's virtualenv: the peers pin old libraries, and kerasviz
must be measured on its own dependencies. The versions below were found to
work together on Python 3.11, all on Keras 3 (`TF_USE_LEGACY_KERAS` unset):

- TensorFlow 2.21.0 and Keras 3.15.1, the project's own, so both sides run the
  same kernels.
- tf-explain 0.3.1 (its last release, 2021) and tf-keras-vis 0.8.7: work on
  Keras 3 as installed (tf-explain's Grad-CAM needs `layer_name`, its layer
  inference reads `output_shape`, gone in Keras 3). tf-keras-vis's CAMs fail
  under tf-keras (`TF_USE_LEGACY_KERAS=1`: "Unable to determine penultimate
  `Conv` layer") on a model built there, and work on Keras 3.
- xplique 2.0.2: its metadata asks for `tensorflow[and-cuda]<=2.20.0` (and
  `ruff`, a linter), which conflicts with TensorFlow 2.21 and would pull the
  CUDA wheels; it is installed with `--no-deps` and its runtime dependencies
  by hand (opencv-python-headless for opencv-python: the same `cv2`, without
  GUI libraries). Every explainer and `optimize` used here runs on TF 2.21 /
  Keras 3. tensorflow-probability 0.25 (needed by xplique's HSIC module)
  imports tf-keras when Keras 3 is installed, so tf-keras 2.21.0 is installed
  for it only; no model here is a tf-keras model.
- PAIR saliency 0.2.1: framework-agnostic; its Guided IG calls
  `np.quantile(..., interpolation=)`, removed in NumPy 2.4, hence
  NumPy 2.3.5 here (the project has 2.4).

Usage:
    python benchmarks/peers/install.py            # create (or complete) the virtualenv
    python benchmarks/peers/install.py --recreate # from scratch
"""

import argparse
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, "benchmarks", ".peers-venv")

PACKAGES = [
    "tensorflow==2.21.0", "keras==3.15.1", "numpy==2.3.5", "psutil",
    "tf-explain==0.3.1", "tf-keras-vis==0.8.7", "saliency==0.2.1",
    # xplique's runtime dependencies (xplique itself below, without its TensorFlow pin)
    "einops", "deprecated", "matplotlib", "opencv-python-headless", "scikit-image<=0.25.2",
    "scikit-learn<=1.7.2", "scipy<=1.15.3", "tensorflow-probability==0.25.0", "tf-keras==2.21.0",
]
NO_DEPS = ["xplique==2.0.2"]
CHECK = ("import tf_explain, tf_keras_vis, xplique, saliency.core, tensorflow as tf, keras; "
         "print('peers ready: TensorFlow', tf.__version__, 'Keras', keras.__version__)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recreate", action="store_true", help="delete the virtualenv first")
    args = parser.parse_args()
    if args.recreate and os.path.exists(VENV):
        shutil.rmtree(VENV)
    if not os.path.exists(os.path.join(VENV, "bin", "python")):
        base = getattr(sys, "_base_executable", sys.executable)  # the interpreter behind the project's venv
        subprocess.run([base, "-m", "venv", VENV], check=True)
    pip = [os.path.join(VENV, "bin", "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + PACKAGES, check=True)
    subprocess.run(pip + ["--no-deps"] + NO_DEPS, check=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_USE_LEGACY_KERAS", None)
    subprocess.run([os.path.join(VENV, "bin", "python"), "-c", CHECK], check=True, env=env)


if __name__ == "__main__":
    main()
