"""kerasviz: see inside Keras ConvNets.

Attribution maps, filters, embeddings, feature visualization and art, as
functions, Keras callbacks and a TensorBoard dashboard. Importing kerasviz
creates no TensorFlow ops and allocates no device memory.
"""

import json as _json
import os as _os


def _configured_backend():
    """The Keras backend asked for, read the way Keras reads it, before importing Keras."""
    if "KERAS_BACKEND" in _os.environ:
        return _os.environ["KERAS_BACKEND"]
    home = _os.environ.get("KERAS_HOME", _os.path.join(_os.path.expanduser("~"), ".keras"))
    try:
        with open(_os.path.join(home, "keras.json")) as config:
            return _json.load(config).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def _require_tensorflow_backend(backend):
    if backend != "tensorflow":
        raise ImportError(
            "kerasviz runs on Keras's TensorFlow backend, but Keras is set to the "
            f"{backend!r} backend. Set the environment variable KERAS_BACKEND=tensorflow "
            '(or "backend": "tensorflow" in ~/.keras/keras.json) before importing keras.'
        )


_require_tensorflow_backend(_configured_backend())

import keras as _keras  # noqa: E402

_require_tensorflow_backend(_keras.backend.backend())

from kerasviz import callbacks, data, display, image, metrics, models, summary, targets  # noqa: E402
from kerasviz.art.deepdream import deep_dream  # noqa: E402
from kerasviz.art.style import gram_matrix, style_transfer, texture_synthesis  # noqa: E402
from kerasviz.activations.embeddings import (  # noqa: E402
    embedding_grid,
    features,
    nearest_neighbors,
    neighbors_figure,
    project,
)
from kerasviz.activations.filters import filter_grid  # noqa: E402
from kerasviz.activations.occlusion import occlusion, occlusion_to_input  # noqa: E402
from kerasviz.activations.patches import patches_grid, top_patches  # noqa: E402
from kerasviz.activations.receptive_field import receptive_field  # noqa: E402
from kerasviz.gradients.adversarial import fgsm, fooling_image  # noqa: E402
from kerasviz.gradients.baselines import blur_integrated_gradients, expected_gradients  # noqa: E402
from kerasviz.gradients.cam import grad_cam, guided_grad_cam  # noqa: E402
from kerasviz.gradients.cam_variants import grad_cam_plus_plus, layer_cam  # noqa: E402
from kerasviz.gradients.deconvnet import deconvnet  # noqa: E402
from kerasviz.gradients.gradient_input import gradient_x_input  # noqa: E402
from kerasviz.gradients.guided_ig import guided_integrated_gradients  # noqa: E402
from kerasviz.gradients.class_visualization import class_visualization  # noqa: E402
from kerasviz.gradients.integrated import integrated_gradients  # noqa: E402
from kerasviz.gradients.inversion import invert_features  # noqa: E402
from kerasviz.gradients.saliency import guided_backprop, saliency  # noqa: E402
from kerasviz.gradients.noise_tunnel import noise_tunnel  # noqa: E402
from kerasviz.gradients.score_cam import score_cam  # noqa: E402
from kerasviz.gradients.smoothgrad import smoothgrad, smoothgrad_squared, vargrad  # noqa: E402
from kerasviz.gradients.synthesis import optimize  # noqa: E402
from kerasviz.perturbation.lime import kernel_shap, lime  # noqa: E402
from kerasviz.perturbation.rise import rise  # noqa: E402
from kerasviz.perturbation.superpixels import superpixels  # noqa: E402
from kerasviz.perturbation.xrai import xrai  # noqa: E402
from kerasviz.display import show  # noqa: E402
from kerasviz.targets import Channel, ClassScore, LayerL2, Neuron  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Channel",
    "ClassScore",
    "LayerL2",
    "Neuron",
    "callbacks",
    "class_visualization",
    "data",
    "deep_dream",
    "display",
    "embedding_grid",
    "features",
    "fgsm",
    "filter_grid",
    "fooling_image",
    "grad_cam",
    "gram_matrix",
    "guided_backprop",
    "guided_grad_cam",
    "image",
    "integrated_gradients",
    "kernel_shap",
    "lime",
    "invert_features",
    "metrics",
    "models",
    "nearest_neighbors",
    "neighbors_figure",
    "occlusion",
    "occlusion_to_input",
    "optimize",
    "patches_grid",
    "project",
    "receptive_field",
    "rise",
    "saliency",
    "show",
    "smoothgrad",
    "style_transfer",
    "summary",
    "superpixels",
    "targets",
    "texture_synthesis",
    "top_patches",
    "xrai",
    "blur_integrated_gradients",
    "deconvnet",
    "expected_gradients",
    "grad_cam_plus_plus",
    "gradient_x_input",
    "guided_integrated_gradients",
    "layer_cam",
    "noise_tunnel",
    "score_cam",
    "smoothgrad_squared",
    "vargrad",
]
