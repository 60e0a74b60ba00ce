"""Attribution to a layer's units: gradient x activation and layer Integrated Gradients.

How much each unit (position and channel) of a layer contributes to the
target score, returned as a pixel map like the CAMs' (`output="pixels"`:
the layer's per-position attribution summed over channels, upsampled to the
image), the raw values (`output="layer"`: `[B, h, w, K]`, or `[B, K]` for a
dense layer), or one total per channel (`output="channels"`: `[B, K]`, "how
much does each channel of block 4 contribute"). Layer conductance and neuron
conductance are in `kerasviz.relevance.conductance`.
"""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, fill, inputs, models, progress
from kerasviz.gradients import core, integrated

OUTPUTS = ("pixels", "layer", "channels")


def check_output(output):
    if isinstance(output, str) and output in OUTPUTS:
        return output
    raise ValueError(f"Received an invalid value for `output`: {output!r}. Expected one of {OUTPUTS}: a pixel map "
                     "[B, H, W], the layer's values [B, h, w, K], or one total per channel [B, K].")


def attribution_layer(model, layer, image_shape, output):
    """The canonical path of the layer to attribute to: `layer`, or the Grad-CAM default.

    Raises:
        ValueError: the layer is not in the model, or `output="pixels"` at a
            layer whose output is not `[B, h, w, K]`.
    """
    if layer is None:
        return models.default_layer(model, "grad_cam", image_shape)
    path, _ = models.get_layer(model, layer)
    shape = models.output_shape(model, path)
    if output == "pixels" and shape is not None and len(shape) != 3:
        raise ValueError(
            f"Received an invalid value for `layer`: {path!r}, whose output has shape {(None, *shape)}. A pixel "
            "map (`output=\"pixels\"`) needs a spatial layer [B, h, w, K]; pass `output=\"channels\"` or "
            f"`output=\"layer\"` for its units' values. Spatial layers: {models.spatial_layers(model) or 'none'}.")
    return path


def finish(values, output, image_size, name):
    """Layer attributions `[B, h, w, K]` (or `[B, K]`) as `output` asks, float32, a constant one said."""
    values = np.asarray(values, np.float32)
    if output == "layer":
        result = values
    elif output == "channels":
        result = values.reshape(len(values), -1, values.shape[-1]).sum(axis=1, dtype=np.float64)
    else:
        if values.ndim != 4:
            raise ValueError(f"{name}: `output=\"pixels\"` needs a spatial layer; it has values of shape "
                             f"{values.shape}. Pass `output=\"channels\"` or `output=\"layer\"`.")
        per_position = values.sum(axis=-1, keepdims=True, dtype=np.float64).astype(np.float32)
        share = values.shape[1] * values.shape[2] / float(image_size[0] * image_size[1])
        result = tf.image.resize(per_position, image_size, method="bilinear").numpy()[..., 0] * share
    return inputs.warn_if_constant(np.asarray(result, np.float32), name)


def layer_gradient_x_activation(model, images, target=None, *, layer=None, batch_size=None, output="pixels"):
    """Gradient x activation at a layer: each unit's activation times the score's gradient there.

    The first-order contribution `A * dS/dA` of each unit of `layer`
    (Shrikumar et al., 2016, "Not Just a Black Box: Learning Important
    Features Through Propagating Activation Differences", gradient x input,
    taken at a hidden layer as in captum's LayerGradientXActivation). On a
    network that is linear from the layer on, and without biases, the units'
    values sum to the score. Costs one forward and one backward pass (down
    to the layer only) per image.

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        layer: the layer to attribute to: a name, a path into nested models
            (`"backbone/Conv_1"`), an int index into `model.layers` or a layer
            object. Default: the Grad-CAM layer (the last feature block).
        batch_size: at most this many images per compiled call (default:
            `model_cost.default_batch_size`); results do not depend on it.
        output: `"pixels"`: `[B, H, W]` signed, each position's sum over
            channels upsampled bilinearly and scaled by `hw / HW`, so the
            map adds up to about the layer's total; `"layer"`: the values
            `[B, h, w, K]` (`[B, K]` for a dense layer); `"channels"`: one
            total per channel, `[B, K]`.

    Returns:
        float32 `[B, H, W]`, `[B, h, w, K]` or `[B, K]` (see `output`), signed.

    Raises:
        ValueError: `layer` is not in the model (or not spatial with
            `output="pixels"`); invalid `images`, `target`, `batch_size` or
            `output`.

    Example:

    >>> totals = kerasviz.layer_gradient_x_activation(model, images, layer="conv4_block6_out", output="channels")
    >>> totals.shape  # how much each channel of block 4 contributes
    (8, 1024)
    """
    output = check_output(output)
    prepared = core.Prepared(model, images, target, batch_size)
    path = attribution_layer(prepared.model, layer, prepared.images.shape[1:], output)
    values = gradient_x_activation(prepared, path)
    return finish(values, output, prepared.images.shape[1:3], "layer_gradient_x_activation")


def gradient_x_activation(prepared, path):
    """`A * dS/dA` at the layer `path` for `prepared`'s images, float32 `[B, ...]` (one compiled function)."""
    def build(model_ref):
        step = core.gradient_step(model_ref, prepared.target, prepared.capture, wrt_layer=path)

        def gradient_x_activation(images, class_idx):
            _, gradients, activation = step(images, class_idx)
            return gradients * activation

        return gradient_x_activation

    function = compiled.compiled_function(
        prepared.model, prepared.key("layer_gradient_x_activation", path), build, prepared.signature())
    return core.run_chunks(function, prepared, prepared.images, prepared.class_idx)


def reference_activations(prepared, path, references):
    """The activations `[N, ...]` of the layer `path` for `references` (a forward pass to the layer, compiled)."""
    def build(model_ref):
        def layer_outputs(images):
            return tf.cast(models.run_layers(model_ref(), images, (path,))[path], tf.float32)

        return layer_outputs

    signature = [tf.TensorSpec([None, *prepared.images.shape[1:]], tf.float32)]
    function = compiled.compiled_function(
        prepared.model, ("layer_outputs", path, prepared.images.shape[1:]), build, signature)
    return core.run_chunks(function, prepared, references)


def path_setup(model, images, target, batch_size, baseline, steps, rule, verbose, output):
    """The checked arguments of a path method at a layer: `(prepared, baselines, points, verbose)`.

    The class of `target=None` is left to `core.predicted_classes`, once the layer is checked too.
    """
    steps = inputs.check_positive_int(steps, "steps")
    rule = integrated.check_rule(rule)
    verbose = progress.check_verbose(verbose)
    if output is not None:
        check_output(output)
    prepared = core.Prepared(model, images, target, batch_size)
    baselines = fill.baselines(baseline, prepared.images, names=())
    return prepared, baselines, integrated.path_points(rule, steps), verbose


def layer_integrated_gradients(
    model, images, target=None, *, layer=None, batch_size=None, baseline=0.0, steps=50, rule="midpoint",
    output="pixels", verbose=0,
):
    """Layer Integrated Gradients: Integrated Gradients in a layer's activations.

    The layer's activation is moved along the straight line from its value
    for the baseline `A'` to its value for the image `A`, the rest of the
    network computing the score from there, and each unit gets `(A - A')`
    times the average gradient along the way (Sundararajan et al., 2017,
    "Axiomatic Attribution for Deep Networks", applied at a hidden layer as
    in captum's LayerIntegratedGradients). When every path from the input to
    the score passes through the layer (a block output), the units' values
    sum to `score(x) - score(x')` up to the quadrature's error (*completeness*);
    a skip connection around the layer keeps the image's own values. The
    class for `target=None` is the one predicted for the clean image. Costs
    `steps` forward and backward passes per image (`steps + 1` for the
    trapezoidal rule), one forward pass to the layer for the baselines and
    one for the class of `target=None`.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        layer: the layer to attribute to (see `layer_gradient_x_activation`).
        batch_size: at most this many path points per compiled call;
            results do not depend on it.
        baseline: the baseline input, in the model's input space
            (`kerasviz.fill`): a float, one float per channel, an image
            `[H, W, C]` or images `[B, H, W, C]`. Default 0.0.
        steps: the number of intervals on the path.
        rule: `"midpoint"`, `"left"`, `"right"` or `"trapezoid"`.
        output: `"pixels"`, `"layer"` or `"channels"` (see
            `layer_gradient_x_activation`).
        verbose: 0 (silent, the default) or 1: a Keras progress bar.

    Returns:
        float32 `[B, H, W]`, `[B, h, w, K]` or `[B, K]` (see `output`), signed.

    Raises:
        ValueError, TypeError: invalid `layer`, `images`, `target`,
            `batch_size`, `baseline`, `steps`, `rule` or `output`.

    Example:

    >>> per_channel = kerasviz.layer_integrated_gradients(model, images, layer="block4_pool", output="channels")
    >>> per_channel.sum(axis=1)  # about score(images) - score(baseline)
    """
    prepared, baselines, points, verbose = path_setup(
        model, images, target, batch_size, baseline, steps, rule, verbose, output)
    images = prepared.images
    path = attribution_layer(prepared.model, layer, images.shape[1:], output)
    class_idx = core.predicted_classes(prepared)
    starts = reference_activations(prepared, path, baselines)

    def build(model_ref):
        target, capture = prepared.target, tuple(dict.fromkeys(prepared.capture + (path,)))

        def layer_path_sums(images, class_idx, starts, alphas, weights, local):
            points = tf.gather(images, local)
            start = tf.gather(starts, local)
            alpha = tf.reshape(alphas, [-1] + [1] * (starts.shape.rank - 1))
            ends = []

            def interpolate(end):
                ends.append(tf.cast(end, tf.float32))
                return tf.cast(start + alpha * (ends[0] - start), end.dtype)

            with tf.GradientTape() as tape:
                tape.watch(points)
                logits, activations = models.run(model_ref(), points, capture=capture,
                                                 overrides=models.replacing_output(model_ref(), path, interpolate))
                scores = target.score(logits, activations, tf.gather(class_idx, local))
            gradients = tf.cast(tape.gradient(scores, activations[path]), tf.float32)
            weights = tf.reshape(weights, tf.shape(alpha))
            return tf.math.unsorted_segment_sum(weights * gradients * (ends[0] - start), local, tf.shape(images)[0])

        return layer_path_sums

    signature = prepared.signature(tf.TensorSpec([None, *starts.shape[1:]], tf.float32),
                                   tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.float32),
                                   tf.TensorSpec([None], tf.int32))
    function = compiled.compiled_function(
        prepared.model, prepared.key("layer_integrated_gradients", path), build, signature)
    sums = integrated.path_sums(function, prepared, class_idx, starts, points, verbose)
    return finish(sums, output, images.shape[1:3], "layer_integrated_gradients")
