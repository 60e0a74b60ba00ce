"""Grad-CAM++ (Chattopadhyay et al., 2018) and LayerCAM (Jiang et al., 2021).

Both weight a spatial layer's activation `A [B, h, w, K]` by the gradient `G`
of the target score with respect to it, like Grad-CAM (`cam.py`, whose layer
rules, compiled function and upsampling they share), but not by the spatial
mean of `G`.
"""

import tensorflow as tf

from kerasviz import inputs
from kerasviz.gradients import cam, core, multi_input, multi_input_cam


def grad_cam_plus_plus_rule(gradients, activation):
    """Chattopadhyay et al., eqs. 10 and 19, for `Y^c = exp(S^c)`, divided by `exp(S^c)`.

    With `Y = exp(S)` and a piecewise-linear network, the k-th derivatives of
    `Y` are `exp(S) G^k`, so `alpha_k[i, j] = G^2 / (2 G^2 + sum_ab A_k[a, b]
    G^3)` (the `exp(S)` cancels) and `w_k = exp(S) sum_ij alpha_k[i, j]
    relu(G_k[i, j])`. The factor `exp(S)` is positive and the same for every
    channel and pixel of an image: it scales the map without changing it, and
    overflows float32 for scores above 88.7, so it is left out.
    """
    squared = tf.square(gradients)
    spatial_sum = tf.reduce_sum(activation, axis=[1, 2], keepdims=True)
    alpha = tf.math.divide_no_nan(squared, 2.0 * squared + spatial_sum * squared * gradients)
    weights = tf.reduce_sum(alpha * tf.nn.relu(gradients), axis=[1, 2], keepdims=True)
    return tf.reduce_sum(weights * activation, axis=-1, keepdims=True)


def layer_cam_rule(gradients, activation):
    """Jiang et al., eqs. 5-6: `sum_k relu(G_k[i, j]) A_k[i, j]`, a weight per location."""
    return tf.reduce_sum(tf.nn.relu(gradients) * activation, axis=-1, keepdims=True)


def _maps(model, images, target, layer, batch_size, attribute, rule, name):
    if multi_input.is_several(model, images):
        return multi_input_cam.gradient_cam(model, images, target, layer=layer, batch_size=batch_size,
                                            attribute=attribute, rule=rule, method=name)
    multi_input.check_single_input_attribute(attribute)
    prepared = core.Prepared(model, images, target, batch_size)
    path = cam.cam_layer(prepared.model, layer, prepared.images.shape[1:])
    return inputs.warn_if_constant(cam.class_activation_maps(prepared, path, rule), name)


def grad_cam_plus_plus(model, images, target=None, *, layer=None, batch_size=None, attribute=None):
    """Grad-CAM++: Grad-CAM with pixel-wise weights on the gradient, for several instances.

    Grad-CAM's channel weight, the spatial mean of the gradient, lets large
    weak regions outweigh small strong ones, so one of several objects of a
    class dominates the map. Grad-CAM++ weights each channel `A_k` by `w_k =
    sum_ij alpha_k[i, j] relu(G_k[i, j])`, with `alpha_k[i, j] = G^2 / (2 G^2 +
    sum_ab A_k[a, b] G^3)` from the higher-order derivatives of `exp(score)`
    (Chattopadhyay et al., 2018, "Grad-CAM++: Improved Visual Explanations
    for Deep Convolutional Networks", eqs. 10 and 19); the map is `relu(sum_k
    w_k A_k)`, upsampled bilinearly to the input. The paper's weights carry a
    factor `exp(score)`, positive and the same over an image: it is left out,
    so maps stay finite for any logit (the paper's form overflows float32
    above 88.7). Costs one forward and one backward pass per image.

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        layer: the layer to explain at (see `grad_cam`); default: the last
            feature block.
        batch_size: at most this many images per compiled call (default: `model_cost.default_batch_size`);
            results do not depend on it.
        attribute: as for `grad_cam` (a model with several inputs).

    Returns:
        float32 `[B, H, W]`, non-negative.

    Raises:
        ValueError, TypeError: as `grad_cam`.

    Example:

    >>> maps = kerasviz.grad_cam_plus_plus(model, images, target=labels)
    """
    return _maps(model, images, target, layer, batch_size, attribute, grad_cam_plus_plus_rule, "grad_cam_plus_plus")


def layer_cam(model, images, target=None, *, layer=None, batch_size=None, attribute=None):
    """LayerCAM: activations weighted location by location by their positive gradient.

    The map is `relu(sum_k relu(G_k[i, j]) A_k[i, j])`, upsampled bilinearly
    to the input (Jiang et al., 2021, "LayerCAM: Exploring Hierarchical Class
    Activation Maps for Localization", eqs. 5-6): a weight per location rather
    than per channel, so that shallow layers, where Grad-CAM's channel means
    blur everything together, give fine-grained maps too. Costs one forward
    and one backward pass per image.

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        layer: the layer to explain at (see `grad_cam`), any spatial layer;
            default: the last feature block.
        batch_size: at most this many images per compiled call (default: `model_cost.default_batch_size`);
            results do not depend on it.
        attribute: as for `grad_cam` (a model with several inputs).

    Returns:
        float32 `[B, H, W]`, non-negative.

    Raises:
        ValueError, TypeError: as `grad_cam`.

    Example:

    >>> maps = kerasviz.layer_cam(model, images, layer="conv1")
    """
    return _maps(model, images, target, layer, batch_size, attribute, layer_cam_rule, "layer_cam")
