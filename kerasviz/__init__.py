"""kerasviz: see inside Keras ConvNets.

Attribution maps, filters, embeddings, feature visualization and art, as
functions, Keras callbacks and a TensorBoard dashboard. Importing kerasviz
creates no TensorFlow ops and allocates no device memory; it does not even
import TensorFlow until a public name is first used.
"""

import importlib as _importlib
import json as _json
import os as _os
import sys as _sys


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

if "keras" in _sys.modules:  # Keras is imported already: its backend is decided.
    _require_tensorflow_backend(_sys.modules["keras"].backend.backend())

# The public names and where they live, imported on first use (PEP 562): `import kerasviz` alone imports
# neither Keras nor TensorFlow, so the `kerasviz` command's `--help` answers at once. A new public name
# goes here and in `__all__`, not in an import at the top (tests/cli/test_cli_startup.py would catch it).
_SUBMODULES = ('callbacks', 'data', 'demo', 'display', 'image', 'inside', 'metrics', 'models', 'relevance',
               'summary', 'targets')
_EXPORTS = {
    "deep_dream": "kerasviz.art.deepdream",
    "gram_matrix": "kerasviz.art.style",
    "style_transfer": "kerasviz.art.style",
    "texture_synthesis": "kerasviz.art.style",
    "embedding_grid": "kerasviz.activations.embeddings",
    "features": "kerasviz.activations.embeddings",
    "nearest_neighbors": "kerasviz.activations.embeddings",
    "neighbors_figure": "kerasviz.activations.embeddings",
    "project": "kerasviz.activations.embeddings",
    "feature_maps": "kerasviz.activations.feature_maps",
    "filter_grid": "kerasviz.activations.filters",
    "occlusion": "kerasviz.activations.occlusion",
    "occlusion_to_input": "kerasviz.activations.occlusion",
    "occlusion_plan": "kerasviz.activations.occlusion",
    "occlusion_geometry": "kerasviz.activations.occlusion",
    "occlusion_coarse_to_fine": "kerasviz.activations.coarse_to_fine",
    "patches_grid": "kerasviz.activations.patches",
    "top_patches": "kerasviz.activations.patches",
    "receptive_field": "kerasviz.activations.receptive_field",
    "fgsm": "kerasviz.gradients.adversarial",
    "fooling_image": "kerasviz.gradients.adversarial",
    "blur_integrated_gradients": "kerasviz.gradients.baselines",
    "expected_gradients": "kerasviz.gradients.baselines",
    "gradient_shap": "kerasviz.gradients.baselines",
    "grad_cam": "kerasviz.gradients.cam",
    "guided_grad_cam": "kerasviz.gradients.cam",
    "grad_cam_plus_plus": "kerasviz.gradients.cam_variants",
    "layer_cam": "kerasviz.gradients.cam_variants",
    "deconvnet": "kerasviz.gradients.deconvnet",
    "gradient_x_input": "kerasviz.gradients.gradient_input",
    "guided_integrated_gradients": "kerasviz.gradients.guided_ig",
    "class_visualization": "kerasviz.gradients.class_visualization",
    "feature_visualization": "kerasviz.gradients.feature_visualization",
    "integrated_gradients": "kerasviz.gradients.integrated",
    "invert_features": "kerasviz.gradients.inversion",
    "guided_backprop": "kerasviz.gradients.saliency",
    "saliency": "kerasviz.gradients.saliency",
    "noise_tunnel": "kerasviz.gradients.noise_tunnel",
    "score_cam": "kerasviz.gradients.score_cam",
    "smoothgrad": "kerasviz.gradients.smoothgrad",
    "smoothgrad_squared": "kerasviz.gradients.smoothgrad",
    "vargrad": "kerasviz.gradients.smoothgrad",
    "optimize": "kerasviz.gradients.synthesis",
    "kernel_shap": "kerasviz.perturbation.lime",
    "lime": "kerasviz.perturbation.lime",
    "rise": "kerasviz.perturbation.rise",
    "superpixels": "kerasviz.perturbation.superpixels",
    "xrai": "kerasviz.perturbation.xrai",
    "lrp": "kerasviz.relevance.lrp",
    "show": "kerasviz.display",
    "FeatureMapsCallback": "kerasviz.callbacks.features",
    "FeatureVisualizationCallback": "kerasviz.callbacks.features",
    "Channel": "kerasviz.targets",
    "ClassScore": "kerasviz.targets",
    "Direction": "kerasviz.targets",
    "Diversity": "kerasviz.targets",
    "LayerL2": "kerasviz.targets",
    "Region": "kerasviz.targets",
    "OutputUnit": "kerasviz.output_targets",
    "WeightedUnits": "kerasviz.output_targets",
    "OnOutput": "kerasviz.output_targets",
    "Detection": "kerasviz.detection_target",
    "Neuron": "kerasviz.targets",
    "deeplift": "kerasviz.relevance.deeplift",
    "layer_gradient_x_activation": "kerasviz.relevance.layer_attribution",
    "layer_integrated_gradients": "kerasviz.relevance.layer_attribution",
    "layer_conductance": "kerasviz.relevance.conductance",
    "neuron_conductance": "kerasviz.relevance.conductance",
    "deeplift_shap": "kerasviz.relevance.deeplift",
    "explain_dataset": "kerasviz.datasets.explain",
    "load_explanations": "kerasviz.datasets.reader",
    "explain_regions": "kerasviz.regions",
    "explain_detections": "kerasviz.regions",
}


def __getattr__(name):
    if name in _SUBMODULES:
        return _importlib.import_module(f"kerasviz.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module 'kerasviz' has no attribute {name!r}")
    import keras

    _require_tensorflow_backend(keras.backend.backend())
    value = getattr(_importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


__version__ = "0.1.0"

__all__ = [
    "Channel",
    "FeatureMapsCallback",
    "FeatureVisualizationCallback",
    "ClassScore",
    "Detection",
    "Direction",
    "Diversity",
    "LayerL2",
    "Neuron",
    "OnOutput",
    "OutputUnit",
    "Region",
    "WeightedUnits",
    "callbacks",
    "class_visualization",
    "data",
    "demo",
    "inside",
    "deep_dream",
    "display",
    "embedding_grid",
    "feature_maps",
    "feature_visualization",
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
    "occlusion_plan",
    "occlusion_geometry",
    "occlusion_coarse_to_fine",
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
    "explain_dataset",
    "load_explanations",
    "lrp",
    "relevance",
    "deeplift",
    "deeplift_shap",
    "gradient_shap",
    "layer_gradient_x_activation",
    "layer_integrated_gradients",
    "layer_conductance",
    "neuron_conductance",
    "explain_regions",
    "explain_detections",
]
