"""Tiny keyword settings for every registered attribution method, shared by the registry-driven tests.

Adding a method to `kerasviz.registry` means adding one line here (and its
output shape in `test_invariants.py` if it is not `[B, H, W]`).
"""

TINY_SETTINGS = {
    "saliency": {},
    "guided_backprop": {},
    "smoothgrad": {"samples": 3},
    "integrated_gradients": {"steps": 4},
    "grad_cam": {},
    "guided_grad_cam": {},
    "occlusion": {"patch": 4, "stride": 4},
    "gradient_x_input": {},
    "deconvnet": {},
    "smoothgrad_squared": {"samples": 3},
    "vargrad": {"samples": 3},
    "grad_cam_plus_plus": {},
    "layer_cam": {},
    "score_cam": {"max_channels": 5},
    "blur_integrated_gradients": {"steps": 4},
    "expected_gradients": {"samples": 4},
    "gradient_shap": {"samples": 4},
    "guided_integrated_gradients": {"steps": 4},
    # The perturbation family.
    "rise": {"masks": 8, "grid": 4},
    "lime": {"samples": 16},
    "kernel_shap": {"samples": 16},
    "xrai": {"steps": 4},
    # The relevance family.
    "lrp": {},
    "deeplift": {},
    "deeplift_shap": {"samples": 3},
    # Attribution to a layer's units.
    "layer_gradient_x_activation": {},
    "layer_integrated_gradients": {"steps": 4},
    "layer_conductance": {"steps": 4},
    "neuron_conductance": {"steps": 4},
}
PERTURBATION = frozenset({"rise", "lime", "kernel_shap", "xrai"})
