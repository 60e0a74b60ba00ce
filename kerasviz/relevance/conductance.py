"""Conductance: Integrated Gradients' attribution, as it flows through a layer's units (Dhamdhere et al., 2018).

On the straight path `x(a) = x' + a (x - x')` of Integrated Gradients, the
conductance of a hidden unit `y` is `int_0^1 dS/dy (x(a)) * dy(x(a))/da da`:
the part of the score's change that flows through `y`. Here `dy/da`, the
derivative of the unit along the path, is a Jacobian-vector product carried
forward with the model's own pass, layer by layer
(`kerasviz.relevance.tangents`; TensorFlow's forward-mode autodiff where a
layer on the way has no rule there), so each path point costs one forward
(with its tangent) and one backward pass down to the layer, and summed over
a layer that every path crosses the conductances are, point by point,
Integrated Gradients' total.
"""

import logging
import numbers
import weakref

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, models
from kerasviz.gradients import core, integrated
from kerasviz.relevance import layer_attribution, tangents


def _path_sums(prepared, path, baselines, class_idx, points, verbose, name, body, masks=None):
    """Per image, `sum_k w_k body(...)` over the path points, float64 `[B, ...]`.

    `masks`, one per image, reach `body` as its last argument (one per point).
    """
    images = prepared.images

    def build(model_ref):
        target, capture = prepared.target, tuple(dict.fromkeys(prepared.capture + (path,)))

        def conductance_sums(images, class_idx, baselines, alphas, weights, local, *masks):
            start = tf.gather(baselines, local)
            tangent = tf.gather(images, local) - start
            on_path = start + tf.reshape(alphas, [-1, 1, 1, 1]) * tangent
            values = body(model_ref(), target, capture, on_path, tangent, tf.gather(class_idx, local),
                          *[tf.gather(mask, local) for mask in masks])
            weights = tf.reshape(weights, [-1] + [1] * (values.shape.rank - 1))
            return tf.math.unsorted_segment_sum(weights * values, local, tf.shape(images)[0])

        return conductance_sums

    signature = prepared.signature(tf.TensorSpec([None, *images.shape[1:]], tf.float32),
                                   tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.float32),
                                   tf.TensorSpec([None], tf.int32),
                                   *([] if masks is None else [tf.TensorSpec([None, *masks.shape[1:]], tf.float32)]))
    function = compiled.compiled_function(prepared.model, prepared.key(name, path), build, signature)
    function.get_concrete_function()  # traced before the progress bar starts (a trace may refuse: `by_hand`)
    return integrated.path_sums(function, prepared, class_idx, baselines, points, verbose,
                                *([] if masks is None else [masks]))


def _layer_shape(prepared, path):
    """The output shape of the layer `path` without the batch (a subclassed model's: from one image's pass)."""
    shape = models.output_shape(prepared.model, path)
    if shape is None or any(d is None for d in shape):
        shape = layer_attribution.reference_activations(prepared, path, prepared.images[:1]).shape[1:]
    return tuple(int(d) for d in shape)


def layer_conductance(
    model, images, target=None, *, layer=None, batch_size=None, baseline=0.0, steps=50, rule="midpoint",
    output="pixels", verbose=0,
):
    """Layer conductance: how much of Integrated Gradients' attribution flows through each unit of a layer.

    For each unit `y` of `layer`, `int_0^1 dS/dy * dy/da da` along the
    straight path from the baseline `x'` to the image `x` (Dhamdhere et al.,
    2018, "How Important Is a Neuron?", eq. 2, summed over the inputs). The
    integral uses Integrated Gradients' quadrature `rule`, and `dy/da` is
    exact (forward-mode differentiation, by hand through the layers that
    `kerasviz.relevance.tangents` knows, by TensorFlow's
    `ForwardAccumulator` otherwise), so for a layer that every path from
    the input to the score crosses (a block output, the Grad-CAM layer), the
    units' conductances sum to Integrated Gradients' total with the same
    `steps` and `rule` (*completeness*), which is `score(x) - score(x')` up
    to the quadrature's error. Unlike layer Integrated Gradients, the path
    is the image's, not the activation's: a skip connection around the
    layer carries no conductance through it. The class for `target=None`
    is the one predicted for the clean image. Costs `steps` forward (with a
    tangent) and backward passes per image (`steps + 1` for the trapezoidal
    rule), plus one forward pass when `target=None`.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        layer: the layer to attribute to (see
            `layer_gradient_x_activation`); default the Grad-CAM layer.
        batch_size: at most this many path points per compiled call;
            results do not depend on it.
        baseline: the baseline input, as `integrated_gradients`' (a float,
            one per channel, an image or images). Default 0.0.
        steps: the number of intervals on the path.
        rule: `"midpoint"`, `"left"`, `"right"` or `"trapezoid"`.
        output: `"pixels"` (`[B, H, W]`, each position's sum over channels,
            upsampled and scaled to keep the total), `"layer"` (`[B, h, w,
            K]`, or `[B, K]` for a dense layer) or `"channels"` (`[B, K]`).
        verbose: 0 (silent, the default) or 1: a Keras progress bar.

    Returns:
        float32 `[B, H, W]`, `[B, h, w, K]` or `[B, K]` (see `output`), signed.

    Raises:
        ValueError, TypeError: invalid `layer`, `images`, `target`,
            `batch_size`, `baseline`, `steps`, `rule` or `output`.

    Example:

    >>> per_channel = kerasviz.layer_conductance(model, images, layer="conv4_block6_out", output="channels")
    """
    prepared, baselines, points, verbose = layer_attribution.path_setup(
        model, images, target, batch_size, baseline, steps, rule, verbose, output)
    path = layer_attribution.attribution_layer(prepared.model, layer, prepared.images.shape[1:], output)
    class_idx = core.predicted_classes(prepared)

    def by_hand(model, target, capture, points, tangent, class_idx):
        carried = tangents.Tangents(model, points, tangent)
        with tf.GradientTape() as tape:
            tape.watch(points)
            logits, activations = models.run(model, points, capture=capture, overrides=carried.add_overrides)
            scores = target.score(logits, activations, class_idx)
        along_path = carried.of(activations[path])
        if along_path is None:  # found while tracing: nothing has run
            raise tangents.UnknownTangent(path)
        return tf.cast(tape.gradient(scores, activations[path]), tf.float32) * along_path

    def by_autodiff(model, target, capture, points, tangent, class_idx):
        with tf.autodiff.ForwardAccumulator(points, tangent) as accumulator:
            with tf.GradientTape() as tape:
                tape.watch(points)
                logits, activations = models.run(model, points, capture=capture)
                scores = target.score(logits, activations, class_idx)
        along_path = tf.cast(accumulator.jvp(activations[path]), tf.float32)
        return tf.cast(tape.gradient(scores, activations[path]), tf.float32) * along_path

    unknown = _UNKNOWN_TANGENTS.setdefault(prepared.model, set())
    sums = None
    if path not in unknown:
        try:
            sums = _path_sums(prepared, path, baselines, class_idx, points, verbose, "layer_conductance", by_hand)
        except tangents.UnknownTangent:  # a layer on the way without a tangent rule: forward-mode autodiff
            unknown.add(path)
    if sums is None:
        sums = _path_sums(prepared, path, baselines, class_idx, points, verbose, "layer_conductance_autodiff",
                          by_autodiff)
    return layer_attribution.finish(sums, output, prepared.images.shape[1:3], "layer_conductance")


# model -> the layers whose tangent `kerasviz.relevance.tangents` cannot carry (found by a trace that stopped)
_UNKNOWN_TANGENTS = weakref.WeakKeyDictionary()


def _check_neuron(neuron, shape, path):
    """`neuron` as a tuple indexing the layer's output: `(channel,)` for an int, else its own indices."""
    indices = (neuron,) if isinstance(neuron, numbers.Integral) else neuron
    if not isinstance(indices, (tuple, list)) or not all(
            isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in indices) \
            or len(indices) not in (1, len(shape)) or isinstance(neuron, bool):
        raise TypeError(f"Expected `neuron` to be an int channel or a tuple of {len(shape)} ints indexing the "
                        f"output {shape} of the layer {path!r}. Received: neuron={neuron!r}.")
    dims = shape[-1:] if len(indices) == 1 else shape
    if not all(-d <= i < d for i, d in zip(indices, dims)):
        raise ValueError(f"Received an invalid value for `neuron`: {neuron!r}, outside the output {shape} of the "
                         f"layer {path!r}.")
    return tuple(int(i) % d for i, d in zip(indices, dims))


def neuron_conductance(
    model, images, target=None, *, neuron=None, layer=None, batch_size=None, baseline=0.0, steps=50,
    rule="midpoint", signed=False, verbose=0,
):
    """Neuron conductance: how much of each pixel's attribution flows through one neuron (or channel).

    For input `i` and the unit `y` of `layer` at `neuron`, `(x_i - x'_i)
    int_0^1 dS/dy * dy/dx_i da` along the straight path from the baseline to
    the image (Dhamdhere et al., 2018, "How Important Is a Neuron?", eq. 3).
    Summed over the pixels it is the neuron's `layer_conductance`; an int
    `neuron` takes a channel, all its positions at once (the sum of their
    conductances). The class for `target=None` is the one predicted for the
    clean image. Costs `steps` forward and two backward passes per image
    (the score's to the layer, the neuron's to the image; `steps + 1` for
    the trapezoidal rule), plus one forward pass when `target=None`.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        neuron: an int, a channel of `layer` (all its positions), or a tuple
            indexing one unit of its output without the batch (`(row,
            column, channel)` for a spatial layer). Default None: for each
            image, the channel with the largest gradient x activation at
            the layer (one more backward pass; logged, logger "kerasviz").
        layer: the layer of the neuron (see `layer_gradient_x_activation`);
            default the Grad-CAM layer. Any layer, dense ones too.
        batch_size: at most this many path points per compiled call;
            results do not depend on it.
        baseline: the baseline input, as `integrated_gradients`'. Default 0.0.
        steps: the number of intervals on the path.
        rule: `"midpoint"`, `"left"`, `"right"` or `"trapezoid"`.
        signed: return the attributions `[B, H, W, C]` instead of the map.
        verbose: 0 (silent, the default) or 1: a Keras progress bar.

    Returns:
        float32 `[B, H, W]`: the maximum over channels of the absolute
        attribution (or the attributions `[B, H, W, C]` with `signed=True`).

    Raises:
        ValueError: `neuron` outside the layer; invalid `layer`,
            `images`, `target`, `batch_size`, `baseline`, `steps` or `rule`.
        TypeError: `neuron` of the wrong type.

    Example:

    >>> maps = kerasviz.neuron_conductance(model, images, neuron=(3, 4, 17), layer="block4_conv3")
    """
    prepared, baselines, points, verbose = layer_attribution.path_setup(
        model, images, target, batch_size, baseline, steps, rule, verbose, None)
    path = layer_attribution.attribution_layer(prepared.model, layer, prepared.images.shape[1:], "layer")
    shape = _layer_shape(prepared, path)
    indices = None if neuron is None else _check_neuron(neuron, shape, path)
    class_idx = core.predicted_classes(prepared)
    masks = np.zeros((len(prepared.images), *shape), np.float32)
    if indices is None:  # each image's channel that contributes most (gradient x activation), said
        values = layer_attribution.gradient_x_activation(prepared, path)
        channels = values.reshape(len(values), -1, values.shape[-1]).sum(axis=1).argmax(axis=1)
        masks[np.arange(len(masks)), ..., channels] = 1.0
        logging.getLogger("kerasviz").info("neuron_conductance: neuron=None, the channels of %r with the largest "
                                           "gradient x activation: %s.", path, channels.tolist())
    else:
        masks[(slice(None), Ellipsis, *indices) if len(indices) == 1 else (slice(None), *indices)] = 1.0

    def body(model, target, capture, points, tangent, class_idx, mask):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(points)
            logits, activations = models.run(model, points, capture=capture)
            scores = target.score(logits, activations, class_idx)
        unit = activations[path]
        through = tape.gradient(scores, unit) * tf.cast(mask, unit.dtype)
        return tf.cast(tape.gradient(unit, points, output_gradients=through), tf.float32) * tangent

    sums = _path_sums(prepared, path, baselines, class_idx, points, verbose, "neuron_conductance", body,
                      masks=masks)
    attributions = sums.astype(np.float32)
    return inputs.warn_if_constant(attributions if signed else core.reduce_map(attributions), "neuron_conductance")
