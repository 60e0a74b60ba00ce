"""Score-CAM (Wang et al., 2020): channels weighted by the score of the image they mask.

No gradient is used: each channel of a spatial layer, upsampled and scaled to
[0, 1], masks the image, and the target's score for the masked image weights
the channel. Two compiled functions: one forward pass records the layer, then
the `(image, channel)` pairs are scored in chunks of `batch_size`, each mask
built inside the graph from the low-resolution activation (never all masks at
once).
"""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, layer_graph, models
from kerasviz.gradients import cam, core, multi_input, multi_input_score_cam, score_cam_weights


def channel_count(model, image_shape, layer=None, max_channels=None):
    """How many channels `score_cam` scores per image of `image_shape` (its registry cost)."""
    path = cam.cam_layer(model, layer, image_shape)
    channels = layer_graph.layer_graph(model, image_shape).by_path[path].shape[-1]
    max_channels = score_cam_weights.check_max_channels(max_channels)
    return channels if max_channels is None else min(channels, max_channels)


def _layer_activations(prepared, path):
    """`(activation [B, h, w, K], class_idx)`: the layer `path`'s float32 output and the classes explained.

    One forward pass gives both: `-1` (predicted) entries of the class
    indices are filled from its logits, as `core.predicted_classes` would.
    """
    model = prepared.model

    def build(model_ref):
        def forward(images):
            logits, captured = models.run(model_ref(), images, capture=(path,))
            if captured[path].shape.rank != 4:
                raise cam.not_spatial(model_ref(), path, tuple(captured[path].shape))
            if isinstance(logits, list):  # several outputs: `core.predicted_classes` reads each term's own
                return tf.cast(captured[path], tf.float32), tf.zeros(tf.shape(images)[:1], tf.int32)
            return tf.cast(captured[path], tf.float32), tf.argmax(logits, axis=-1, output_type=tf.int32)

        return forward

    signature = [tf.TensorSpec([None, *prepared.images.shape[1:]], tf.float32)]
    function = compiled.compiled_function(
        model, ("layer_activation_and_class", path, prepared.images.shape[1:]), build, signature
    )
    activation, predicted = core.run_chunks(function, prepared, prepared.images)
    class_idx = prepared.class_idx
    if models.output_count(model) > 1:
        class_idx = core.predicted_classes(prepared)
    elif prepared.target.class_terms():
        class_idx = np.where(class_idx < 0, predicted[:, None], class_idx)
    return activation, class_idx


def _masked_scores(prepared, path):
    """The compiled `(images, class_idx, activations, channels, local) -> scores [P]` of the pairs."""
    model, target, capture = prepared.model, prepared.target, prepared.capture
    size = prepared.images.shape[1:3]

    def build(model_ref):  # holds no strong reference to the model (`prepared` has one)
        def scores(images, class_idx, activations, channels, local):
            by_channel = tf.transpose(activations, [0, 3, 1, 2])  # [b, K, h, w]
            channel_maps = tf.gather_nd(by_channel, tf.stack([local, channels], axis=1))
            masked = tf.gather(images, local) * score_cam_weights.normalized_masks(channel_maps, size)
            logits, captured = models.run(model_ref(), masked, capture=capture)
            return target.score(logits, captured, tf.gather(class_idx, local))

        return scores

    signature = prepared.signature(
        tf.TensorSpec([None, None, None, None], tf.float32),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.int32),
    )
    return compiled.compiled_function(model, prepared.key("score_cam", path), build, signature)


def score_cam(model, images, target=None, *, layer=None, batch_size=None, max_channels=None, attribute=None):
    """Score-CAM: each channel of a layer weighted by the score of the image it masks.

    Each channel `A_k` of a spatial layer is upsampled bilinearly to the
    input, scaled to [0, 1] (`(M - min M) / (max M - min M)`; a constant
    channel masks everything) and multiplied with the image; the channel's
    weight is the softmax, over the channels, of the target's score (the
    pre-softmax logit for a class) for these masked images, and the map is
    `relu(sum_k alpha_k A_k)`, upsampled to the input (Wang et al., 2020,
    "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
    Networks", eq. 3 and Algorithm 1). Gradient-free: no saturated or noisy
    gradient enters the weights. The class for `target=None` is the one
    predicted for the clean image.

    Costs one forward pass per image for the layer's activation (and the
    predicted class) plus one per channel scored (the K channels of the
    layer: 2048 for a ResNet-50's last block). `max_channels` bounds it as Faster
    Score-CAM does: only the channels of highest spatial variance on each
    image are scored, and the others get weight 0.

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        layer: the layer to explain at (see `grad_cam`); default: the last
            feature block.
        batch_size: at most this many model evaluations (masked images) per
            compiled call (default: `model_cost.default_batch_size`); results do not depend on it.
        max_channels: `None` (every channel) or a positive int: score only
            this many channels per image, those of highest spatial variance.
        attribute: as for `grad_cam` (a model with several inputs: each image
            input mapped is masked in turn, the other inputs held).

    Returns:
        float32 `[B, H, W]`, non-negative.

    Raises:
        ValueError, TypeError: as `grad_cam`; an invalid `max_channels`.

    Example:

    >>> maps = kerasviz.score_cam(model, images, max_channels=64)
    """
    if multi_input.is_several(model, images):
        return multi_input_score_cam.score_cam(model, images, target, layer=layer, batch_size=batch_size,
                                               max_channels=max_channels, attribute=attribute)
    multi_input.check_single_input_attribute(attribute)
    max_channels = score_cam_weights.check_max_channels(max_channels)
    prepared = core.Prepared(model, images, target, batch_size, cost="forward")
    path = cam.cam_layer(prepared.model, layer, prepared.images.shape[1:])
    activations, class_idx = _layer_activations(prepared, path)
    channels = score_cam_weights.top_channels(activations, max_channels)
    per_image = channels.shape[1]
    function = _masked_scores(prepared, path)
    scores = np.zeros(len(activations) * per_image, np.float64)
    for first, last, pair_ids, local in core.pair_chunks(len(activations), per_image, prepared.batch_size):
        part = slice(first, last + 1)
        scores[pair_ids] = function(
            tf.constant(prepared.images[part]),
            tf.constant(class_idx[part]),
            tf.constant(activations[part]),
            tf.constant(channels.reshape(-1)[pair_ids]),
            tf.constant(local),
        ).numpy()
    maps = score_cam_weights.weighted_channels(activations, channels, scores.reshape(-1, per_image),
                                               prepared.images.shape[1:3])
    return inputs.warn_if_constant(maps, "score_cam")
