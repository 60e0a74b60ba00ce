"""The engine of LIME, KernelSHAP and MuFidelity: scores of images with some segments hidden.

A *coalition* says, per segment of an image, whether the segment keeps the
image's pixels (1) or takes the baseline's (0; `kerasviz.fill.baselines` says
what a baseline may be). The perturbed images are built inside the compiled
graph from the segment labels and the coalitions, at most `batch_size` at a
time; only the coalitions (one value per segment) travel from the host.
"""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, models
from kerasviz.gradients import core


def _function(prepared, probabilities):
    model, target, capture = prepared.model, prepared.target, prepared.capture
    read_probabilities = probabilities and bool(target.class_terms())

    def build(model_ref):
        activation = models.output_activation(model_ref())

        def scores(images, class_idx, segments, baselines, keep, local):
            # Row r's segment s is entry r * K + s of the flattened coalitions: one plain gather.
            rows = tf.range(tf.shape(local)[0]) * tf.shape(keep)[1]
            mask = tf.gather(tf.reshape(keep, [-1]), tf.gather(segments, local) + rows[:, None, None])
            start = tf.gather(baselines, local)
            perturbed = start + mask[..., None] * (tf.gather(images, local) - start)
            logits, activations = models.run(model_ref(), perturbed, capture=capture)
            outputs = models.probabilities(logits, activation) if read_probabilities else logits
            return target.score(outputs, activations, tf.gather(class_idx, local))

        return scores

    shape = prepared.images.shape[1:]
    signature = prepared.signature(
        tf.TensorSpec([None, *shape[:2]], tf.int32),
        tf.TensorSpec([None, *shape], tf.float32),
        tf.TensorSpec([None, None], tf.float32),
        tf.TensorSpec([None], tf.int32),
    )
    return compiled.compiled_function(model, prepared.key("segment_scores", read_probabilities), build,
                                      signature)


def segment_scores(prepared, class_idx, segments, baselines, coalitions, *, probabilities=False, verbose=0):
    """The target's score for every coalition of every image.

    Args:
        prepared: the call's `core.Prepared`.
        class_idx: int32 `[B, terms]` with the predicted classes filled in.
        segments: int32 `[B, H, W]` segment labels, `0..K_b - 1` per image.
        baselines: float32 `[B, H, W, C]`, what hidden segments show.
        coalitions: `B` arrays `[S, K_b]` of 0/1 (the same `S` for every image); values in
            between blend the image and the baseline.
        probabilities: class terms read the probability (softmax or sigmoid
            of the logits) instead of the logit.
        verbose: 0 (silent) or 1: a Keras progress bar over the `B * S`
            perturbed images.

    Returns:
        float32 `[B, S]`. Costs `B * S` forward passes, `batch_size` at a time.
    """
    n_images, samples = len(coalitions), len(coalitions[0])
    width = max(c.shape[1] for c in coalitions)
    table = np.zeros([n_images * samples, width], np.float32)
    for b, coalition in enumerate(coalitions):
        table[b * samples:(b + 1) * samples, :coalition.shape[1]] = coalition
    function = _function(prepared, probabilities)
    scores = np.empty([n_images * samples], np.float32)
    for first, last, pair_ids, local in core.pair_chunks(n_images, samples, prepared.batch_size, verbose,
                                                          unit="sample"):
        part = slice(first, last + 1)
        scores[pair_ids[0]:pair_ids[-1] + 1] = function(
            tf.constant(prepared.images[part]), tf.constant(class_idx[part]), tf.constant(segments[part]),
            tf.constant(baselines[part]), tf.constant(table[pair_ids]), tf.constant(local),
        ).numpy()
    return scores.reshape(n_images, samples)
