"""tf-keras-vis 0.8.7's side of the peer benchmark (runs in benchmarks/.peers-venv, Keras 3).

The documented calls: `ReplaceToLinear()` as the model modifier (the softmax
bypassed; the model is cloned once, as tf-keras-vis does, at construction,
which is outside the timed call), `CategoricalScore(class)`, the maps as
returned (normalized to [0, 1] per image: `normalize_map`/`normalize_cam`
default True). SmoothGrad's `smooth_noise` is, like kerasviz's `noise`, a
fraction of the value range (tf-keras-vis takes each image's own max - min).
Score-CAM runs on the softmax model (tf-keras-vis says so) with
`max_N` = kerasviz's `max_channels` (both keep the channels of highest
spatial variance). Activation maximization: `input_range=(0, 255)`, the
default regularizers and input modifiers, `steps` as the driver's.
"""

import numpy as np
import tensorflow as tf

import common

from tf_keras_vis.activation_maximization import ActivationMaximization  # noqa: E402
from tf_keras_vis.gradcam import Gradcam  # noqa: E402
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus  # noqa: E402
from tf_keras_vis.layercam import Layercam  # noqa: E402
from tf_keras_vis.saliency import Saliency  # noqa: E402
from tf_keras_vis.scorecam import Scorecam  # noqa: E402
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear  # noqa: E402
from tf_keras_vis.utils.scores import CategoricalScore  # noqa: E402

_CACHE = {}


def _tool(cls, s, linear=True):
    """One visualizer per class, built once (its model clone is set-up, not per-call work)."""
    if cls not in _CACHE:
        _CACHE[cls] = cls(s.model, model_modifier=ReplaceToLinear(), clone=True) if linear else cls(s.model)
    return _CACHE[cls]


def _score(s):
    return CategoricalScore([s.target] * len(s.images))


def _cam(cls, linear=True, **extra):
    return lambda s: _tool(cls, s, linear)(_score(s), s.images, penultimate_layer=s.params["layer"], **extra)


def _activation_maximization(s):
    tf.random.set_seed(0)
    seed = tf.random.uniform(s.images.shape, 0.0, 255.0, seed=0)
    images = _tool(ActivationMaximization, s)(_score(s), seed_input=seed, steps=s.params["opt_steps"],
                                              input_range=(0.0, 255.0))
    return {"map": images, "objective": float(np.mean(common.logit_of(s, images)))}


METHODS = {
    "saliency": lambda s: _tool(Saliency, s)(_score(s), s.images),
    "smoothgrad": lambda s: _tool(Saliency, s)(_score(s), s.images, smooth_samples=s.params["samples"],
                                               smooth_noise=s.params["noise"]),
    "grad_cam": _cam(Gradcam),
    "grad_cam_plus_plus": _cam(GradcamPlusPlus),
    "score_cam": lambda s: _tool(Scorecam, s, linear=False)(_score(s), s.images, penultimate_layer=s.params["layer"],
                                                           max_N=s.params["max_channels"]),
    "layer_cam": _cam(Layercam),
    "class_visualization": _activation_maximization,
}

if __name__ == "__main__":
    common.run(METHODS)
