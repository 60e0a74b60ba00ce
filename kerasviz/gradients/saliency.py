"""Vanilla gradients and guided backpropagation."""

from kerasviz.gradients import core, multi_input, multi_input_methods


def saliency(model, images, target=None, *, batch_size=None, signed=False, attribute=None):
    """Saliency map: how much each pixel moves the class score.

    The gradient of the unnormalized class score (the logit, also when the
    model ends in a softmax) with respect to the input pixels, reduced to one
    value per pixel by the maximum absolute value over channels (Simonyan et
    al., 2013, "Deep Inside Convolutional Networks", section 3.1). Costs one
    forward and one backward pass per image.

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target` (a neuron or
            channel of any layer, or a weighted sum).
        batch_size: at most this many images per compiled call (default: `model_cost.default_batch_size`);
            results do not depend on it.
        signed: return the raw gradient `[B, H, W, C]` instead of the map.
        attribute: for a model with several inputs (`images` a dict keyed by
            input name, or a list in the order of `model.inputs`): which
            inputs to attribute: None (every image input `[B, H, W, C]`;
            side inputs held at their values), `"all"`, or input names or
            indices. The result then has the structure of `images`: one map
            per attributed image input, the attributions (magnitudes unless
            `signed`) of an attributed side input, None (or no key) for the
            others. Must be None for a model with one input.

    Returns:
        float32 `[B, H, W]` (or `[B, H, W, C]` with `signed=True`).

    Raises:
        ValueError, TypeError: invalid `images`, `target` or `batch_size`.

    Example:

    >>> maps = kerasviz.saliency(model, images, target=labels)
    >>> maps.shape
    (8, 64, 64)
    """
    if multi_input.is_several(model, images):
        return multi_input_methods.saliency(model, images, target, batch_size=batch_size, signed=signed,
                                            attribute=attribute)
    multi_input.check_single_input_attribute(attribute)
    prepared = core.Prepared(model, images, target, batch_size)
    return core.input_gradients(prepared, reduce=not signed)


def guided_backprop(model, images, target=None, *, batch_size=None, signed=False):
    """Guided backpropagation: gradients passed only through positive signals.

    At every ReLU the backward signal is `g * [x > 0] * [g > 0]`: besides the
    usual gating by the forward activation, negative gradients are zeroed
    (Springenberg et al., 2015, "Striving for Simplicity: The All
    Convolutional Net", section 3.4). Implemented with `tf.custom_gradient` on
    fused `activation="relu"`/`"relu6"`, `Activation("relu")` and `ReLU` layers
    (including `max_value=6`, as in MobileNetV2), at any depth of nesting, in
    the layer's own dtype. ReLUs it cannot reach (e.g. `tf.nn.relu` called
    inside a subclassed model's `call`) keep their plain gradient, with a
    warning. The live weights are used, so maps follow training.

    Caution: guided backpropagation produces sharp, image-like maps that barely
    change when the model's weights are randomized: it fails the
    model-randomization sanity check (Adebayo et al., 2018; see
    `kerasviz.metrics.sanity_check`). It shows what the image contains more
    than what the model uses.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`, for example
            `Channel("conv3", 5)` to see what drives one channel.
        batch_size: at most this many images per compiled call (default: `model_cost.default_batch_size`).
        signed: return the raw guided gradient `[B, H, W, C]`.

    Returns:
        float32 `[B, H, W]` (or `[B, H, W, C]` with `signed=True`).

    Example:

    >>> maps = kerasviz.guided_backprop(model, images)
    """
    prepared = core.Prepared(model, images, target, batch_size)
    return core.input_gradients(prepared, rule="guided", reduce=not signed)
