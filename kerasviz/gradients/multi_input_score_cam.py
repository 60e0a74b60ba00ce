"""Score-CAM (Wang et al., 2020) on a model with several inputs.

Each attributed image input is masked in turn by the upsampled channels of
its CAM layer (`kerasviz.gradients.multi_input_cam` says which), the other
inputs held at their values; the channels' weights are the softmax of the
target's scores of the masked inputs, as in `score_cam`.
"""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, models
from kerasviz.gradients import core, multi_input, multi_input_cam, score_cam_weights


def _activations(prepared, paths):
    """The float32 outputs `{path: [B, h, w, K]}` of the layers `paths`, one forward pass per image."""
    structure, names, n = prepared.structure, tuple(prepared.names), len(prepared.arrays)

    def build(model_ref):
        def forward(*xs):
            _, captured = models.run(model_ref(), multi_input_cam.pack(structure, names, xs), capture=paths)
            return tuple(tf.cast(captured[p], tf.float32) for p in paths)

        return forward

    signature = multi_input_cam.signature(prepared)[:n]
    function = compiled.compiled_function(prepared.model, ("multi_input_activations", paths) + tuple(
        tuple(a.shape[1:]) for a in prepared.arrays), build, signature)
    parts = [function(*[tf.constant(a[s:e]) for a in prepared.arrays])
             for s, e in inputs.batches(len(prepared.arrays[0]), prepared.batch_size)]
    return {p: np.concatenate([np.asarray(part[i]) for part in parts]) for i, p in enumerate(paths)}


def _masked_scores(prepared, k, path):
    """The compiled `(xs..., class_idx, activations, channels, local) -> scores [P]`, input `k` masked."""
    target, capture, n = prepared.target, prepared.capture, len(prepared.arrays)
    structure, names, size = prepared.structure, tuple(prepared.names), tuple(prepared.arrays[k].shape[1:3])

    def build(model_ref):
        def scores(*args):
            xs, (class_idx, activations, channels, local) = args[:n], args[n:]
            by_channel = tf.transpose(activations, [0, 3, 1, 2])  # [b, K, h, w]
            channel_maps = tf.gather_nd(by_channel, tf.stack([local, channels], axis=1))
            points = [tf.gather(x, local) for x in xs]
            points[k] = points[k] * score_cam_weights.normalized_masks(channel_maps, size)
            logits, captured = models.run(model_ref(), multi_input_cam.pack(structure, names, points), capture=capture)
            return target.score(logits, captured, tf.gather(class_idx, local))

        return scores

    signature = multi_input_cam.signature(prepared) + [tf.TensorSpec([None, None, None, None], tf.float32),
                                        tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32)]
    key = multi_input_cam.key(prepared, "score_cam", {k: path})
    return compiled.compiled_function(prepared.model, key, build, signature)


def score_cam(model, images, target, *, layer, batch_size, max_channels, attribute):
    """Score-CAM on a model with several inputs: each image input masked by its layer's channels in turn."""
    max_channels = score_cam_weights.check_max_channels(max_channels)
    prepared, layers = multi_input_cam.prepare(model, images, target, batch_size, attribute, layer, "score_cam")
    activations = _activations(prepared, tuple(dict.fromkeys(layers.values())))
    class_idx = multi_input.predicted_classes(prepared)
    maps = {}
    for k, path in layers.items():
        channels = score_cam_weights.top_channels(activations[path], max_channels)
        per_image = channels.shape[1]
        function = _masked_scores(prepared, k, path)
        scores = np.zeros(len(class_idx) * per_image, np.float64)
        for first, last, pair_ids, local in core.pair_chunks(len(class_idx), per_image, prepared.batch_size):
            part = slice(first, last + 1)
            scores[pair_ids] = function(
                *[tf.constant(a[part]) for a in prepared.arrays], tf.constant(class_idx[part]),
                tf.constant(activations[path][part]), tf.constant(channels.reshape(-1)[pair_ids]),
                tf.constant(local)).numpy()
        maps[k] = score_cam_weights.weighted_channels(activations[path], channels, scores.reshape(-1, per_image),
                                              prepared.arrays[k].shape[1:3])
    return prepared.result(maps, signed=True)
