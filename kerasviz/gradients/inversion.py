"""Feature inversion: an image whose features at a layer match given ones."""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, models
from kerasviz.gradients import regularizers, synthesis


def _features(model, path, images):
    """The activations of layer `path` for `images`, compiled once per (model, layer, shape)."""

    def build(model_ref):
        def forward(x):
            return tf.cast(models.run_layers(model_ref(), x, (path,))[path], tf.float32)

        return forward

    signature = [tf.TensorSpec([None, *images.shape[1:]], tf.float32)]
    function = compiled.compiled_function(model, ("features", path, images.shape[1:]), build, signature)
    return np.concatenate(
        [function(tf.constant(images[a:b])).numpy() for a, b in inputs.batches(len(images), 32)]
    )


def _layer_shape(model, layer_object):
    try:
        return tuple(layer_object.output.shape[1:])
    except (AttributeError, ValueError):
        return None


class _FeatureMatch:
    """`-||phi(x) - phi0||^2 / ||phi0||^2` per image, for one layer (the negative of eq. 1's loss)."""

    def __init__(self, path):
        self.path = path

    def __call__(self, logits, activations, reference):
        phi = tf.cast(activations[self.path], tf.float32)
        axes = list(range(1, len(reference.shape)))
        distance = tf.reduce_sum(tf.square(phi - reference), axis=axes)
        return -distance / (tf.reduce_sum(tf.square(reference), axis=axes) + 1e-12)


def invert_features(
    model,
    image_or_features,
    layer,
    *,
    steps=200,
    learning_rate=None,
    tv=0.05,
    l2=0.0,
    value_range=(0.0, 1.0),
    init=None,
    seed=0,
    callback=None,
    verbose=0,
) -> synthesis.Synthesis:
    """Reconstructs an image from its representation at a layer.

    Finds `x` minimizing `||phi(x) - phi0||^2 / ||phi0||^2 + tv * TV(x)`
    (+ `l2 * ||x - centre||^2`) by normalized gradient descent from a
    near-blank start, `phi` being the layer's activation (Mahendran &
    Vedaldi, 2015, "Understanding Deep Image Representations by Inverting
    Them", eq. 1 with the total-variation prior of eq. 4, beta = 2, per pixel
    and in units of the value range; their alpha-norm prior is `l2` with
    alpha = 2). The learning rate decays linearly to 10% over the steps, as
    their decaying schedule does. Deeper layers keep less of the image: their
    reconstructions are blurrier and less faithful. Costs `steps` forward and
    backward passes per image (plus one forward pass for an image).

    Args:
        model: a built Keras image model.
        image_or_features: images `[B, H, W, C]` in the model's input space
            (their features are the reference), or the reference features
            `[B, ...]` of `layer` themselves.
        layer: the layer (name, path, index or object) whose features to match.
        steps: the number of descent steps.
        learning_rate: the mean absolute per-pixel step at the start, in
            units of the value range (`kerasviz.optimize`); default 0.02.
        tv: weight of the total variation prior.
        l2: weight of the squared distance to the range's centre.
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`) or `(min, max)`; images (and
            `init`) must lie in it (else ValueError) and the reconstruction
            stays in it. `None`: no range.
        init: starting images; default the centre of `value_range` plus
            Gaussian noise (std 2% of the range) from `seed`.
        seed: an int seeding the start noise.
        callback: `callback(step, image, loss)` after each step.
        verbose: 1 shows a progress bar.

    Returns:
        A `Synthesis(image, losses, steps)`; `losses` are the negative
        normalized feature distances (they rise toward 0).

    Raises:
        ValueError, TypeError: an invalid argument (named in the message).

    Example:

    >>> result = invert_features(model, images[:1], "conv2", steps=300)
    """
    models.check_model(model)
    path, layer_object = models.get_layer(model, layer)
    value_range = inputs.check_value_range(value_range)
    seed = inputs.check_seed(seed)
    steps = inputs.check_positive_int(steps, "steps")
    given = np.asarray(image_or_features.numpy() if hasattr(image_or_features, "numpy") else image_or_features)
    expected = inputs.model_input_shape(model)
    feature_shape = _layer_shape(model, layer_object)
    is_image = given.ndim == 4 and expected is not None and all(
        e is None or e == g for e, g in zip(expected, given.shape[1:])
    )
    if is_image:
        images = inputs.check_images(model, given, "image_or_features")
        inputs.check_in_range(images, inputs.check_value_range(value_range, images.shape[-1]),
                              "image_or_features")
        reference = _features(model, path, images)
        shape = images.shape[1:]
    else:
        if feature_shape is None or given.ndim < 2 or tuple(given.shape[1:]) != feature_shape:
            raise ValueError(
                f"Received an invalid value for `image_or_features`: shape {given.shape}. Expected "
                f"images [B, {', '.join(map(str, expected or ('H', 'W', 'C')))}] or features of "
                f"the layer {path!r}: [B, {', '.join(map(str, feature_shape or ('...',)))}]."
            )
        reference = inputs.check_finite(given.astype(np.float32), "image_or_features")
        shape = expected
    if init is None:
        if shape is None or None in shape:
            raise ValueError("Received features for a model of unknown input size: pass `init`.")
        init = synthesis.grey_start(len(reference), shape, value_range, seed)
    if learning_rate is None:
        learning_rate = 0.02
    rate = regularizers.check_learning_rate(learning_rate)
    schedule = lambda step: rate(step) * (1.0 - 0.9 * step / steps)  # noqa: E731
    return synthesis.optimize(
        model, _FeatureMatch(path), init, layers=(path,), extras=(reference,),
        objective_key=("invert_features", path), reads_logits=False, steps=steps, learning_rate=schedule,
        value_range=value_range, l2=l2, tv=tv, seed=seed, callback=callback, verbose=verbose,
    )
