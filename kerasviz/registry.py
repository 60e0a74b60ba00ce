"""Every method by name: what the callbacks, the CLI and the invariant tests iterate over."""

import inspect
import typing

from kerasviz import layer_graph
from kerasviz.activations.occlusion import occlusion, occlusion_geometry, occlusion_positions
from kerasviz.gradients.baselines import blur_integrated_gradients, expected_gradients
from kerasviz.gradients.cam import cam_layer, grad_cam, guided_grad_cam
from kerasviz.gradients.cam_variants import grad_cam_plus_plus, layer_cam
from kerasviz.gradients.deconvnet import deconvnet
from kerasviz.gradients.gradient_input import gradient_x_input
from kerasviz.gradients.guided_ig import guided_integrated_gradients
from kerasviz.gradients.integrated import integrated_gradients, path_points
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


class Cost(typing.NamedTuple):
    """What a method costs per image, in passes of the model over one image.

    Attributes:
        forward: forward passes alone (occlusion's positions, RISE's masks,
            LIME's samples, Score-CAM's channels, and the pass that finds
            the predicted class before the others).
        backward: forward and backward passes (a gradient each: SmoothGrad's
            samples, Integrated Gradients' path points).
    """

    forward: int = 0
    backward: int = 0


def _occlusion_positions(image_shape, p):
    height, width = image_shape[:2]
    patch, stride = occlusion_geometry(height, width, p["patch"], p["stride"])
    return len(occlusion_positions(height, patch, stride)) * len(occlusion_positions(width, patch, stride))


def _score_cam_channels(model, image_shape, p):
    path = cam_layer(model, p["layer"], image_shape)
    channels = layer_graph.layer_graph(model, image_shape).by_path[path].shape[-1]
    return channels if p["max_channels"] is None else min(channels, p["max_channels"])


def _path_points(p):
    return len(path_points(p["rule"], p["steps"])[0])


_ONE_GRADIENT = lambda model, shape, p: Cost(backward=1)  # noqa: E731 - the class read from the same pass
# The methods of many passes first find the class of `target=None` with one forward pass.
_SAMPLED = lambda model, shape, p: Cost(forward=1, backward=p["samples"])  # noqa: E731
_PATH = lambda model, shape, p: Cost(forward=1, backward=_path_points(p))  # noqa: E731

# Each method's passes of the model per image, `COSTS[name](model, image_shape, params) -> Cost`, `params` holding
# every parameter (the method's defaults filled in, as `cost` does), with `target=None` (the class found first).
# tests/test_invariants.py counts the images each method runs through the model against these.
COSTS = {
    "saliency": _ONE_GRADIENT,
    "guided_backprop": _ONE_GRADIENT,
    "smoothgrad": _SAMPLED,
    "integrated_gradients": _PATH,
    "grad_cam": _ONE_GRADIENT,  # the backward pass stops at the layer
    "guided_grad_cam": lambda model, shape, p: Cost(backward=2),  # Grad-CAM and guided backprop
    # Every occluder position and the clean image (naive inference; incremental inference computes less).
    "occlusion": lambda model, shape, p: Cost(forward=_occlusion_positions(shape, p) + 1),
    "gradient_x_input": _ONE_GRADIENT,
    "deconvnet": _ONE_GRADIENT,
    "smoothgrad_squared": _SAMPLED,
    "vargrad": _SAMPLED,
    "grad_cam_plus_plus": _ONE_GRADIENT,
    "layer_cam": _ONE_GRADIENT,
    "score_cam": lambda model, shape, p: Cost(forward=1 + _score_cam_channels(model, shape, p)),  # + each channel
    "blur_integrated_gradients": _PATH,
    "expected_gradients": _SAMPLED,
    "guided_integrated_gradients": lambda model, shape, p: Cost(forward=1, backward=p["steps"]),
    "rise": lambda model, shape, p: Cost(forward=1 + p["masks"]),
    "lime": lambda model, shape, p: Cost(forward=1 + p["samples"]),
    "kernel_shap": lambda model, shape, p: Cost(forward=1 + p["samples"] + 2),  # + all on and all off
    # Integrated Gradients by default (a given `attribution` costs what it costs), plus host-side segmentations.
    "xrai": lambda model, shape, p: Cost(forward=1, backward=p["steps"]) if p["attribution"] is None else Cost(1),
}


def cost(name: str, model, image_shape, params=None) -> Cost:
    """The passes of `model` per image that the method `name` makes with `params`.

    The method's defaults fill in the parameters not in `params`; the
    layer-reading methods resolve their default layer for `image_shape` (as
    they do when called). Multiply by the seconds of one pass (for instance
    `kerasviz.model_cost.time_passes`) for the method's time.

    Args:
        name: a method of `ATTRIBUTION_METHODS`.
        model: the Keras model the method would run.
        image_shape: the images' `(H, W, C)`.
        params: the method's keyword arguments, as it would be called with.

    Returns:
        A `Cost` (forward passes, forward and backward passes).

    Raises:
        ValueError: an unknown `name`, or parameters the method itself would
            refuse (an occluder larger than the image, an unknown layer).

    Example:

    >>> kerasviz.registry.cost("smoothgrad", model, (224, 224, 3), {"samples": 50})
    Cost(forward=1, backward=50)
    """
    if name not in COSTS:
        raise ValueError(f"Received an unknown method name: {name!r}. Available: {sorted(COSTS)}.")
    defaults = {k: p.default for k, p in inspect.signature(ATTRIBUTION_METHODS[name]).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return COSTS[name](model, tuple(image_shape), defaults | dict(params or {}))
