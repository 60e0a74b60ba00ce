"""tf-explain 0.3.1's side of the peer benchmark (runs in benchmarks/.peers-venv).

Each method runs what tf-explain's `explain()` computes, in the same order
and with the same functions, up to the map: `explain()` itself ends by
drawing the maps into one grid picture (`grid_display`, `heatmap_display`),
display work no other tool does. tf-explain takes one `class_index` for the
whole batch, and reads the model's output as it is: only `VanillaGradients`
and `GradientsInputs` drop a final softmax layer (`get_score_model`);
SmoothGrad differentiates the cross-entropy of the probabilities,
Integrated Gradients differentiates the probability and returns the
*average* path gradient (not multiplied by the input), Grad-CAM uses guided
gradients by default and the probability. Occlusion: a grey (127.5) patch,
stride = patch (not configurable), one `model.predict` per image, map = 1 - p.
"""

import numpy as np
import tensorflow as tf

import common

from tf_explain.core.grad_cam import GradCAM  # noqa: E402
from tf_explain.core.gradients_inputs import GradientsInputs  # noqa: E402
from tf_explain.core.integrated_gradients import IntegratedGradients  # noqa: E402
from tf_explain.core.occlusion_sensitivity import OcclusionSensitivity  # noqa: E402
from tf_explain.core.smoothgrad import SmoothGrad  # noqa: E402
from tf_explain.core.vanilla_gradients import VanillaGradients  # noqa: E402
from tf_explain.utils.image import transform_to_normalized_grayscale  # noqa: E402


def _gradients(explainer, s):
    score_model = explainer.get_score_model(s.model)
    gradients = explainer.compute_gradients(s.images, score_model, s.target)
    return transform_to_normalized_grayscale(tf.abs(gradients)).numpy()


def _smoothgrad(s):
    np.random.seed(0)
    noisy = SmoothGrad.generate_noisy_images(s.images, s.params["samples"], s.params["noise"] * 255.0)
    gradients = SmoothGrad.get_averaged_gradients(noisy, s.model, s.target, s.params["samples"])
    return transform_to_normalized_grayscale(tf.abs(gradients)).numpy()


def _integrated(s):
    steps = s.params["steps"]
    path = IntegratedGradients.generate_interpolations(np.array(s.images), steps)
    gradients = IntegratedGradients.get_integrated_gradients(path, s.model, s.target, steps)
    return transform_to_normalized_grayscale(tf.abs(gradients)).numpy()


def _occlusion(s):
    explainer = OcclusionSensitivity()
    return np.array([explainer.get_sensitivity_map(s.model, image, s.target, s.params["patch"])
                     for image in s.images])


def _grad_cam(s):
    outputs, grads = GradCAM.get_gradients_and_filters(s.model, s.images, s.params["layer"], s.target, True)
    return np.array([cam.numpy() for cam in GradCAM.generate_ponderated_output(outputs, grads)])


METHODS = {
    "saliency": lambda s: _gradients(VanillaGradients(), s),
    "smoothgrad": _smoothgrad,
    "integrated_gradients": _integrated,
    "occlusion": _occlusion,
    "grad_cam": _grad_cam,
    "gradient_x_input": lambda s: _gradients(GradientsInputs(), s),
}

if __name__ == "__main__":
    common.run(METHODS)
