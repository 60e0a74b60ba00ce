"""Grad-CAM and guided Grad-CAM (Selvaraju et al., 2017), and the machinery of the gradient CAMs.

A gradient CAM weights the activation `A [B, h, w, K]` of a spatial layer by
the target score's gradient `G` with respect to it; the rules differ only in
how (a *rule*): Grad-CAM here, Grad-CAM++ and LayerCAM in `cam_variants`.
"""

import tensorflow as tf

from kerasviz import compiled, inputs, models
from kerasviz.gradients import core, multi_input, multi_input_cam


def _static_shape(layer):
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def not_spatial(model, path, shape):
    """The error for a CAM layer whose output is not `[B, h, w, K]`."""
    return ValueError(
        f"Received an invalid value for `layer`: {path!r}, whose output has shape {shape}. "
        "Grad-CAM needs a layer with a spatial output [B, h, w, K] (a conv layer or one "
        f"after it). Spatial layers of the model {model.name!r}: "
        f"{models.spatial_layers(model) or 'none'}."
    )


def cam_layer(model, layer, image_shape=None):
    """The canonical path of the Grad-CAM layer: `layer`, or the default, the last feature block.

    The default is the deepest meaningful layer (a rectified or block output)
    before the classifier head with a spatial extent above 1x1 for images of
    `image_shape` (`kerasviz.layer_graph`), as Selvaraju et al. (2017) use the
    last convolutional layer.

    Raises:
        ValueError: the layer is not in the model, or its output is known and
            not `[B, h, w, K]`.
    """
    if layer is None:
        return models.default_layer(model, "grad_cam", image_shape)
    path, found = models.get_layer(model, layer)
    shape = _static_shape(found)
    if shape is not None and len(shape) != 4:
        raise not_spatial(model, path, shape)
    return path


def grad_cam_rule(gradients, activation):
    """Selvaraju et al., eqs. 1-2: `sum_k alpha_k A_k` with `alpha_k = mean_ij G_k[i, j]`.

    A rule maps `(G, A)`, both `[B, h, w, K]`, to the map `[B, h, w, 1]`
    before the final ReLU.
    """
    weights = tf.reduce_mean(gradients, axis=[1, 2], keepdims=True)  # alpha_k, [B, 1, 1, K]
    return tf.reduce_sum(weights * activation, axis=-1, keepdims=True)


def _cam_graph(model, step, path, images, class_idx, size, rule=grad_cam_rule):
    """Inside a graph: CAM maps `[B, H, W]` by `rule` from a `core.gradient_step` at `path`."""
    _, gradients, activation = step(images, class_idx)
    if activation.shape.rank != 4:
        raise not_spatial(model, path, tuple(activation.shape))
    maps = tf.nn.relu(rule(gradients, activation))
    maps = tf.image.resize(maps, size, method="bilinear")
    return tf.cast(maps[..., 0], tf.float32)


def class_activation_maps(prepared, path, rule=grad_cam_rule):
    """CAM maps `[B, H, W]` float32 of `prepared` at the layer `path` by `rule` (one compiled function)."""
    model = prepared.model
    height, width = prepared.images.shape[1:3]

    def build(model_ref):
        step = core.gradient_step(model_ref, prepared.target, prepared.capture, wrt_layer=path)

        def cam(images, class_idx):
            return _cam_graph(model_ref(), step, path, images, class_idx, (height, width), rule)

        return cam

    function = compiled.compiled_function(
        model, prepared.key(rule.__name__.removesuffix("_rule"), path), build, prepared.signature()
    )
    return core.run_chunks(function, prepared, prepared.images, prepared.class_idx)


def grad_cam(model, images, target=None, *, layer=None, batch_size=None, attribute=None):
    """Grad-CAM: where in the image a conv layer sees evidence for the target.

    Each channel `A_k` of a spatial layer is weighted by the spatial mean of
    the target score's gradient with respect to it, `alpha_k = mean_ij dS /
    dA_k[i, j]`; the map is `relu(sum_k alpha_k A_k)`, upsampled bilinearly
    (in the graph, `tf.image.resize`) from the layer's `h x w` to the input's
    `H x W` (Selvaraju et al., 2017, "Grad-CAM: Visual Explanations from Deep
    Networks via Gradient-based Localization", eqs. 1-2). The score is the
    pre-softmax logit. Maps are not normalized: `kerasviz.image` does that for
    display. Costs one forward and one backward pass (down to `layer` only
    where the graph allows) per image.

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        layer: the layer to explain at: a name (searched at every depth), a
            path into nested models (`"backbone/Conv_1"`), an int index into
            `model.layers` or a layer object. Its output must be
            `[B, h, w, K]`. Default: the last layer with a spatial output,
            also inside a nested backbone (for a subclassed model, whose
            layers have no symbolic outputs: the last layer with a 4-D kernel).
        batch_size: at most this many images per compiled call (default: `model_cost.default_batch_size`);
            results do not depend on it.
        attribute: for a model with several inputs (`images` a dict keyed by
            input name, or a list in the order of `model.inputs`): which image
            inputs to map: None (those `layer` depends on; with `layer=None`
            every image input, each at its own branch's last feature block),
            or input names or indices. `layer` may then also be a dict
            `{input name: layer}`. The result has the structure of `images`: a
            map per mapped image input, resized to it, None (or no key) for the
            others; side inputs are held at their values. Must be None for a
            model with one input.

    Returns:
        float32 `[B, H, W]`, non-negative.

    Raises:
        ValueError: `layer` is not in the model or has no spatial output (on
            a model with several inputs: depends on no image input);
            invalid `images`, `target` or `batch_size`.
        TypeError: `layer` or `target` of the wrong type.

    Example:

    >>> maps = kerasviz.grad_cam(model, images, target=labels, layer="conv5_block3_out")
    >>> maps.shape
    (8, 224, 224)
    """
    if multi_input.is_several(model, images):
        return multi_input_cam.gradient_cam(model, images, target, layer=layer, batch_size=batch_size,
                                            attribute=attribute, rule=grad_cam_rule, method="grad_cam")
    multi_input.check_single_input_attribute(attribute)
    prepared = core.Prepared(model, images, target, batch_size)
    return inputs.warn_if_constant(class_activation_maps(prepared, cam_layer(prepared.model, layer, prepared.images.shape[1:])), "grad_cam")


def guided_grad_cam(model, images, target=None, *, layer=None, batch_size=None, signed=False, attribute=None):
    """Guided Grad-CAM: guided backpropagation masked by the Grad-CAM map.

    The guided-backpropagation gradient `[B, H, W, C]` (Springenberg et al.,
    2015) multiplied pixelwise by the upsampled Grad-CAM map (Selvaraju et
    al., 2017, section 3.1): fine detail from the former, class
    discrimination from the latter. Costs two forward and two backward passes
    per image: the Grad-CAM weights need the plain gradient at `layer` while
    the pixel gradient is guided; both run in one compiled function.

    Caution: like guided backpropagation, guided Grad-CAM fails the
    model-randomization sanity check (Adebayo et al., 2018): its maps stay
    image-like when the upper layers' weights are randomized. Prefer plain
    Grad-CAM to judge what the model uses.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        layer: the Grad-CAM layer (see `grad_cam`).
        batch_size: at most this many images per compiled call (default: `model_cost.default_batch_size`).
        signed: return the signed product `[B, H, W, C]` instead of the map
            (maximum absolute value over channels).
        attribute: as for `grad_cam` (a model with several inputs).

    Returns:
        float32 `[B, H, W]` (or `[B, H, W, C]` with `signed=True`).

    Raises:
        ValueError: as `grad_cam`.

    Example:

    >>> maps = kerasviz.guided_grad_cam(model, images, layer="conv2")
    """
    if multi_input.is_several(model, images):
        return multi_input_cam.guided_grad_cam(model, images, target, layer=layer, batch_size=batch_size,
                                               signed=signed, attribute=attribute, rule=grad_cam_rule)
    multi_input.check_single_input_attribute(attribute)
    prepared = core.Prepared(model, images, target, batch_size)
    path = cam_layer(prepared.model, layer, prepared.images.shape[1:])
    size = prepared.images.shape[1:3]

    def build(model_ref):
        plain = core.gradient_step(model_ref, prepared.target, prepared.capture, wrt_layer=path)
        guided = core.gradient_step(model_ref, prepared.target, prepared.capture, rule="guided")

        def guided_cam(images, class_idx):
            with tf.name_scope(models.PLAIN_SCOPE):
                maps = _cam_graph(model_ref(), plain, path, images, class_idx, size)
            product = guided(images, class_idx)[1] * maps[..., None]
            return product if signed else core.reduce_map_graph(product)

        return guided_cam

    function = compiled.compiled_function(
        prepared.model, prepared.key("guided_grad_cam", path, signed), build, prepared.signature()
    )
    result = core.run_chunks(function, prepared, prepared.images, prepared.class_idx)
    core.warn_once_unreached(function, prepared.model, prepared)
    return inputs.warn_if_constant(result, "guided_grad_cam")
