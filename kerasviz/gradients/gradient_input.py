"""Gradient x Input (Shrikumar et al., 2016)."""

from kerasviz.gradients import core, multi_input, multi_input_methods


def gradient_x_input(model, images, target=None, *, batch_size=None, signed=False, attribute=None):
    """Gradient x Input: the input gradient multiplied by the input itself.

    The attribution of pixel `i` is `x_i * dS / dx_i` (Shrikumar et al.,
    2016, "Not Just a Black Box: Learning Important Features Through
    Propagating Activation Differences"; Ancona et al., 2018, "Towards
    Better Understanding of Gradient-Based Attribution Methods for Deep
    Neural Networks", section 2.2): the first-order Taylor term of the score
    around the all-zeros input, exact for a linear model, where the
    attributions sum to `score(x) - score(0)`. The zero input means black
    only where the model's input space maps 0 to black. Costs one forward and
    one backward pass per image.

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
        signed: return the signed products `[B, H, W, C]` instead of the map.
        attribute: for a model with several inputs (`images` a dict keyed by
            input name, or a list in the order of `model.inputs`): which
            inputs to attribute: None (every image input `[B, H, W, C]`;
            side inputs held at their values), `"all"`, or input names or
            indices. The result then has the structure of `images`: one map
            per attributed image input, the attributions (magnitudes unless
            `signed`) of an attributed side input, None (or no key) for the
            others. Must be None for a model with one input.

    Returns:
        float32 `[B, H, W]`: the maximum over channels of the absolute
        product (or the products `[B, H, W, C]` with `signed=True`).

    Raises:
        ValueError, TypeError: invalid `images`, `target` or `batch_size`.

    Example:

    >>> maps = kerasviz.gradient_x_input(model, images, target=labels)
    """
    if multi_input.is_several(model, images):
        return multi_input_methods.gradient_x_input(model, images, target, batch_size=batch_size, signed=signed,
                                                    attribute=attribute)
    multi_input.check_single_input_attribute(attribute)
    prepared = core.Prepared(model, images, target, batch_size)
    return core.input_gradients(prepared, reduce=not signed, times_input=True, name="gradient_x_input")
