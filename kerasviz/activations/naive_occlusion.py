"""Naive occlusion: every occluded image, built inside the graph, through the whole model."""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, models


def _chunk_function(prepared):
    """The compiled `(images, class_idx, fill, starts_y, starts_x, patch, pair_ids) -> scores`."""
    model, target, capture = prepared.model, prepared.target, prepared.capture
    with_classes = bool(target.class_terms())

    def build(model_ref):
        activation = models.output_activation(model_ref())

        def scores(images, class_idx, fill, starts_y, starts_x, patch, pair_ids):
            n_x = tf.size(starts_x, out_type=tf.int64)
            n_positions = tf.size(starts_y, out_type=tf.int64) * n_x
            image_ids = pair_ids // n_positions
            position = pair_ids % n_positions
            top = tf.gather(starts_y, position // n_x)[:, None]
            left = tf.gather(starts_x, position % n_x)[:, None]
            rows = tf.range(tf.shape(images)[1])[None, :]
            cols = tf.range(tf.shape(images)[2])[None, :]
            in_rows = (rows >= top) & (rows < top + patch)  # [n, H]
            in_cols = (cols >= left) & (cols < left + patch)  # [n, W]
            mask = in_rows[:, :, None, None] & in_cols[:, None, :, None]
            occluded = tf.where(
                mask, tf.gather(fill, image_ids)[:, None, None, :], tf.gather(images, image_ids)
            )
            logits, activations = models.run(model_ref(), occluded, capture=capture)
            outputs = models.probabilities(logits, activation) if with_classes else logits
            return target.score(outputs, activations, tf.gather(class_idx, image_ids))

        return scores

    channels = prepared.images.shape[-1]
    signature = prepared.signature(
        tf.TensorSpec([None, channels], tf.float32),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([], tf.int32),
        tf.TensorSpec([None], tf.int64),
    )
    return compiled.compiled_function(model, prepared.key("occlusion"), build, signature)



class NaiveScorer:
    """Scores of occluder positions, each occluded image through the whole model."""

    def __init__(self, prepared, class_idx, fill, starts_y, starts_x, patch):
        self.function = _chunk_function(prepared)
        self.constants = [
            tf.convert_to_tensor(a)
            for a in (prepared.images, class_idx, fill, starts_y, starts_x, np.int32(patch))
        ]
        self.n_x, self.n_positions = len(starts_x), len(starts_y) * len(starts_x)

    def scores(self, b, iy, ix):
        pair_ids = b * self.n_positions + np.asarray(iy, np.int64) * self.n_x + np.asarray(ix, np.int64)
        return self.function(*self.constants, tf.convert_to_tensor(pair_ids)).numpy()
