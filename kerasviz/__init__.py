"""kerasviz: see inside Keras ConvNets.

Attribution maps, filters, embeddings, feature visualization and art, as
functions, Keras callbacks and a TensorBoard dashboard. Importing kerasviz
creates no TensorFlow ops and allocates no device memory.
"""

import keras as _keras

if _keras.backend.backend() != "tensorflow":
    raise ImportError(
        "kerasviz runs on Keras's TensorFlow backend, but Keras is set to the "
        f"{_keras.backend.backend()!r} backend. Set the environment variable "
        "KERAS_BACKEND=tensorflow (or \"backend\": \"tensorflow\" in ~/.keras/keras.json) "
        "before importing keras."
    )

from kerasviz import data, image, models, targets  # noqa: E402
from kerasviz.gradients.saliency import guided_backprop, saliency  # noqa: E402
from kerasviz.targets import Channel, ClassScore, LayerL2, Neuron  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Channel",
    "ClassScore",
    "LayerL2",
    "Neuron",
    "data",
    "guided_backprop",
    "image",
    "models",
    "saliency",
    "targets",
]
