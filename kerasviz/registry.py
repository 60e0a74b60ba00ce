"""Every method by name: what the callbacks, the CLI and the invariant tests iterate over."""

from kerasviz.activations.occlusion import occlusion
from kerasviz.gradients.cam import grad_cam, guided_grad_cam
from kerasviz.gradients.integrated import integrated_gradients
from kerasviz.gradients.saliency import guided_backprop, saliency
from kerasviz.gradients.smoothgrad import smoothgrad
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
}

# The perturbation family (kerasviz/perturbation/).
ATTRIBUTION_METHODS.update({"rise": rise, "lime": lime, "kernel_shap": kernel_shap, "xrai": xrai})

# Methods whose maps are scores under perturbation: LOW values mark the regions that matter.
LOWER_IS_IMPORTANT = frozenset({"occlusion"})
