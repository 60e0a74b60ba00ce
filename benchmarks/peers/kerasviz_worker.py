"""kerasviz's side of the peer benchmark (runs in the project's virtualenv, on whatever kerasviz is on disk).

Each method is kerasviz's public function with the driver's parameters; the
map saved is what the function returns. See `common.py` for the protocol.
"""

import numpy as np

import common

import kerasviz  # noqa: E402  (after common: TensorFlow's log level is set there)


def _p(setup, key):
    return setup.params[key]


def _vis(setup, fourier):
    classes = [setup.target] * len(setup.images)
    # The two recipes the peers have: CS231n's pixel ascent, and lucid's Fourier recipe at lucid's step.
    extra = ({"parameterization": "fourier", "transforms": "standard", "learning_rate": 0.05} if fourier
             else {"parameterization": None, "transforms": None})
    result = kerasviz.class_visualization(setup.model, classes, steps=_p(setup, "opt_steps"),
                                          value_range=(0.0, 255.0), seed=0, **extra)
    return {"map": result.image, "objective": float(np.mean(common.logit_of(setup, result.image)))}


def _cam(function, **extra):
    return lambda s: function(s.model, s.images, s.target, layer=_p(s, "layer"), **extra)


METHODS = {
    "saliency": lambda s: kerasviz.saliency(s.model, s.images, s.target),
    "smoothgrad": lambda s: kerasviz.smoothgrad(s.model, s.images, s.target, samples=_p(s, "samples"),
                                                noise=_p(s, "noise"), value_range=(0.0, 255.0), seed=0),
    "integrated_gradients": lambda s: kerasviz.integrated_gradients(s.model, s.images, s.target,
                                                                    steps=_p(s, "steps"), baseline=0.0),
    "occlusion": lambda s: kerasviz.occlusion(s.model, s.images, s.target, patch=_p(s, "patch"),
                                              stride=_p(s, "stride"), value=127.5),
    "grad_cam": _cam(kerasviz.grad_cam),
    "guided_backprop": lambda s: kerasviz.guided_backprop(s.model, s.images, s.target),
    "grad_cam_plus_plus": _cam(kerasviz.grad_cam_plus_plus),
    "score_cam": lambda s: kerasviz.score_cam(s.model, s.images, s.target, layer=_p(s, "layer"),
                                              max_channels=_p(s, "max_channels")),
    "layer_cam": _cam(kerasviz.layer_cam),
    "rise": lambda s: kerasviz.rise(s.model, s.images, s.target, masks=_p(s, "masks"), grid=_p(s, "grid"),
                                    keep=_p(s, "keep"), seed=0),
    "gradient_x_input": lambda s: kerasviz.gradient_x_input(s.model, s.images, s.target),
    "squaregrad": lambda s: kerasviz.smoothgrad_squared(s.model, s.images, s.target, samples=_p(s, "samples"),
                                                        noise=_p(s, "noise"), value_range=(0.0, 255.0), seed=0),
    "vargrad": lambda s: kerasviz.vargrad(s.model, s.images, s.target, samples=_p(s, "samples"),
                                          noise=_p(s, "noise"), value_range=(0.0, 255.0), seed=0),
    "xrai": lambda s: kerasviz.xrai(s.model, s.images, s.target, attribution=s.attribution),
    "guided_ig": lambda s: kerasviz.guided_integrated_gradients(s.model, s.images, s.target, steps=_p(s, "steps"),
                                                                baseline=0.0, fraction=0.25, max_dist=0.02),
    "blur_ig": lambda s: kerasviz.blur_integrated_gradients(s.model, s.images, s.target, steps=_p(s, "steps"),
                                                            max_sigma=_p(s, "max_sigma")),
    "class_visualization": lambda s: _vis(s, fourier=False),
    "class_visualization_fourier": lambda s: _vis(s, fourier=True),
}

if __name__ == "__main__":
    common.run(METHODS)
