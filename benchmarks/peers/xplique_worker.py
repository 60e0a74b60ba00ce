"""xplique 2.0.2's side of the peer benchmark (runs in benchmarks/.peers-venv, Keras 3).

The explainers as documented: gradient methods on the logits model (xplique
asks for the model without its softmax), with `reducer=None` so the saved
values are the raw `[B, H, W, C]` attributions, which the driver reduces the
way kerasviz does (max |.| over channels). Occlusion and RISE read the
probabilities (the softmax model), as kerasviz's do. xplique's `noise` is an
absolute standard deviation: the driver's fraction of the value range times
255. `batch_size` is xplique's default (32) everywhere. Feature visualization:
`optimize(Objective.neuron(logits, target))` with the Fourier
parameterization (`use_fft=True`), xplique's default Adam(0.05), standard
transformations, `values_range=(0, 255)`.
"""

import numpy as np
import tensorflow as tf

import common

from xplique.attributions import (  # noqa: E402
    GradCAM, GradCAMPP, GradientInput, GuidedBackprop, IntegratedGradients, Occlusion, Rise, Saliency,
    SmoothGrad, SquareGrad, VarGrad)
from xplique.features_visualizations import Objective, optimize  # noqa: E402


def _targets(s):
    return tf.one_hot([s.target] * len(s.images), 10).numpy()


def _explain(cls, model="logits", **kwargs):
    def method(s):
        m = s.logits_model if model == "logits" else s.model
        return cls(m, **{k: (s.params[v] if isinstance(v, str) and v in s.params else v)
                         for k, v in kwargs.items()}).explain(s.images, _targets(s))
    return method


def _noisy(cls):
    return lambda s: cls(s.logits_model, reducer=None, nb_samples=s.params["samples"],
                         noise=s.params["noise"] * 255.0).explain(s.images, _targets(s))


def _fourier(s):
    n, size = len(s.images), s.images.shape[1]
    tf.random.set_seed(0)
    objective = Objective.neuron(s.logits_model, "logits", [s.target] * n)
    images, _ = optimize(objective, nb_steps=s.params["opt_steps"], use_fft=True, values_range=(0.0, 255.0),
                         custom_shape=(size, size), transformations="standard")
    final = images[-1].numpy()
    return {"map": final, "objective": float(np.mean(common.logit_of(s, final)))}


METHODS = {
    "saliency": _explain(Saliency, reducer=None),
    "smoothgrad": _noisy(SmoothGrad),
    "integrated_gradients": _explain(IntegratedGradients, reducer=None, steps="steps", baseline_value=0.0),
    "occlusion": _explain(Occlusion, model="probabilities", patch_size="patch", patch_stride="stride",
                          occlusion_value=127.5),
    "grad_cam": _explain(GradCAM, conv_layer="layer"),
    "guided_backprop": _explain(GuidedBackprop, reducer=None),
    "grad_cam_plus_plus": _explain(GradCAMPP, conv_layer="layer"),
    "rise": _explain(Rise, model="probabilities", nb_samples="masks", grid_size="grid",
                     preservation_probability="keep", mask_value=0.0),
    "gradient_x_input": _explain(GradientInput, reducer=None),
    "squaregrad": _noisy(SquareGrad),
    "vargrad": _noisy(VarGrad),
    "class_visualization_fourier": _fourier,
}

if __name__ == "__main__":
    common.run(METHODS)
