"""Feature visualizations of directions of a layer's channel space (atlas cells, neuron groups, channels)."""

import numpy as np
import tensorflow as tf

from kerasviz import inputs, models
from kerasviz.gradients import feature_visualization, synthesis
from kerasviz.gradients import parameterization as parameterizations
from kerasviz.inside import streams


def _objective(power):
    """The mean over positions of `a . v`, weighted by `max(cos(a, v), 0.1) ** power` when `power`."""

    def objective(logits, activations, vectors):
        values = tf.cast(next(iter(activations.values())), tf.float32)
        dots = tf.einsum("byxc,bc->byx", values, vectors)
        if power:
            cosine = dots / (tf.norm(values, axis=-1) + 1e-6)
            dots = dots * tf.maximum(cosine, 0.1) ** power
        return tf.reduce_mean(tf.reshape(dots, [tf.shape(dots)[0], -1]), axis=1)

    return objective


def render_directions(model, layer, vectors, *, steps: int = 128, image_shape=None, value_range=(0.0, 1.0),
                      cosine_power: float = 0.0, seed: int = 0, verbose: int = 0) -> np.ndarray:
    """Draws what a layer sees along each direction of its channel space: float32 `[len(vectors), H, W, C]`.

    Each image maximizes the mean over positions of `a . v` (`v` the
    direction, unit length: the `kerasviz.targets.Direction` objective, and
    a one-hot `v` renders a channel), weighted by `max(cos(a, v), 0.1) **
    cosine_power` as the Activation Atlas article's renders are (Carter et
    al., 2019; 0: unweighted), through the engine of
    `kerasviz.gradients.feature_visualization` (Fourier parameterization,
    standard transforms, Adam). All directions in one batch: `steps` forward
    and backward passes of `len(vectors)` images, traced once per (model,
    layer, power, image shape), the vectors passed as tensors.

    Args:
        model: a built Keras image model.
        layer: the layer (name, path, index or object).
        vectors: `[n, C]`, one direction per row (not all zero).
        steps: optimization steps.
        image_shape: `(H, W, C)` where the model's input size is free.
        value_range: the model's input range.
        cosine_power: the cosine weighting's power (0: none).
        seed: seeds the start and the transforms.
        verbose: 1 shows a progress bar.

    Raises:
        ValueError, TypeError: an invalid argument.
    """
    models.check_model(model)
    path = streams.layer_path(model, layer)
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True) if vectors.ndim == 2 else None
    if norms is None or not len(vectors) or not np.all(np.isfinite(vectors)) or not np.all(norms > 0):
        raise ValueError(f"Received an invalid value for `vectors` of shape {vectors.shape}: expected [n, channels] "
                         "finite directions, none all zero.")
    if isinstance(cosine_power, bool) or not isinstance(cosine_power, (int, float)) or cosine_power < 0:
        raise ValueError(f"Received an invalid value for `cosine_power`: {cosine_power!r}. Expected a number >= 0.")
    shape = inputs.check_image_shape(model, image_shape)
    checked_range = inputs.check_value_range(value_range, shape[-1])
    if checked_range is None:
        raise ValueError("Received `value_range=None`: rendering needs the model's input range.")
    start = parameterizations.random_images("fourier", len(vectors), shape, checked_range, inputs.check_seed(seed))
    return synthesis.optimize(
        model, _objective(float(cosine_power)), start, layers=(path,), extras=(vectors / norms,),
        objective_key=("directions", path, float(cosine_power)), reads_logits=False,
        steps=inputs.check_positive_int(steps, "steps"), learning_rate=feature_visualization.LEARNING_RATE,
        value_range=checked_range, seed=seed, parameterization="fourier", transforms="standard",
        verbose=verbose).image
