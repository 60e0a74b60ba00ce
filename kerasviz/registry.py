"""Every method by name: what the callbacks, the CLI and the invariant tests iterate over."""

from kerasviz.activations.occlusion import occlusion
from kerasviz.gradients.baselines import blur_integrated_gradients, expected_gradients
from kerasviz.gradients.cam import grad_cam, guided_grad_cam
from kerasviz.gradients.cam_variants import grad_cam_plus_plus, layer_cam
from kerasviz.gradients.deconvnet import deconvnet
from kerasviz.gradients.gradient_input import gradient_x_input
from kerasviz.gradients.guided_ig import guided_integrated_gradients
from kerasviz.gradients.integrated import integrated_gradients
from kerasviz.gradients.saliency import guided_backprop, saliency
from kerasviz.gradients.score_cam import score_cam
from kerasviz.gradients.smoothgrad import smoothgrad, smoothgrad_squared, vargrad
from kerasviz.perturbation.lime import kernel_shap, lime
from kerasviz.perturbation.rise import rise
from kerasviz.perturbation.xrai import xrai

ATTRIBUTION_METHODS = {
    "saliency": saliency,
    "guided_backprop": guided_backprop,
    "smoothgrad": smoothgrad,
    "integrated_gradients": integrated_gradients,
    "grad_cam": grad_cam,
    "guided_grad_cam": guided_grad_cam,
    "occlusion": occlusion,
    "gradient_x_input": gradient_x_input,
    "deconvnet": deconvnet,
    "smoothgrad_squared": smoothgrad_squared,
    "vargrad": vargrad,
    "grad_cam_plus_plus": grad_cam_plus_plus,
    "layer_cam": layer_cam,
    "score_cam": score_cam,
    "blur_integrated_gradients": blur_integrated_gradients,
    "expected_gradients": expected_gradients,
    "guided_integrated_gradients": guided_integrated_gradients,
}

# The perturbation family (kerasviz/perturbation/).
ATTRIBUTION_METHODS.update({"rise": rise, "lime": lime, "kernel_shap": kernel_shap, "xrai": xrai})

# Methods whose maps are scores under perturbation: LOW values mark the regions that matter.
LOWER_IS_IMPORTANT = frozenset({"occlusion"})

# Methods whose maps rank whole regions: figures show the image kept in its top regions and dimmed elsewhere
# (`kerasviz.image.top_regions`, as the XRAI paper and PAIR's saliency library draw XRAI), not a colour wash.
SHOWN_AS_REGIONS = frozenset({"xrai"})

# Methods that explain at a spatial layer (`layer=`, default `models.default_layer(model, "grad_cam", ...)`).
CAM_METHODS = frozenset({"grad_cam", "guided_grad_cam", "grad_cam_plus_plus", "layer_cam", "score_cam"})
