"""DeconvNet (Zeiler & Fergus, 2014), as a gradient with a changed ReLU backward."""

from kerasviz.gradients import core


def deconvnet(model, images, target=None, *, batch_size=None, signed=False):
    """DeconvNet: the target's signal projected back to the pixels through rectified ReLUs.

    Zeiler & Fergus (2014, "Visualizing and Understanding Convolutional
    Networks", section 2.1) map a unit back to the input by transposed
    convolutions, max-pooling "switches" and a ReLU applied to the
    reconstructed signal. That is the gradient of the score with every
    rectifier's backward replaced by `relu(dy)`: the sign of the upstream
    signal alone decides, and the forward pass's mask (which units were
    active) is ignored, where the plain gradient keeps only the mask and
    guided backpropagation keeps both (Springenberg et al., 2015, section 3.4,
    Figure 1). Transposed convolutions and switches are exactly the gradients
    of convolutions and max pooling. The ReLUs are changed with a
    `tf.custom_gradient` during kerasviz's own trace only, as guided
    backpropagation's are. Costs one forward and one backward pass per image.

    Caution: like guided backpropagation, DeconvNet maps are largely
    independent of the class and of the upper layers' weights (Adebayo et al.,
    2018, "Sanity Checks for Saliency Maps"; Nie et al., 2018): they show
    what the image contains more than what the model uses.

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        batch_size: at most this many images per compiled call (default: `model_cost.default_batch_size`);
            results do not depend on it.
        signed: return the raw signal `[B, H, W, C]` instead of the map.

    Returns:
        float32 `[B, H, W]` (or `[B, H, W, C]` with `signed=True`).

    Raises:
        ValueError, TypeError: invalid `images`, `target` or `batch_size`.

    Example:

    >>> maps = kerasviz.deconvnet(model, images)
    """
    prepared = core.Prepared(model, images, target, batch_size)
    return core.input_gradients(prepared, rule="deconvnet", reduce=not signed)
