"""DeepLIFT (the Rescale and RevealCancel rules), and DeepLiftShap over a set of references.

Both run the model on the references forward alone, then on the inputs
under the tape, with the Rescale rule's overrides
(`kerasviz.relevance.rescale`) or RevealCancel's
(`kerasviz.relevance.reveal_cancel`),
`kerasviz.relevance.deeplift_checks.multipliers`: the gradient of the target
score with respect to the inputs is then DeepLIFT's multiplier, and
`(x - x0) * multiplier` its contribution.
"""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, fill, inputs
from kerasviz.gradients import core, multi_input
from kerasviz.relevance import deeplift_checks, multi_input_deeplift

def multiplier_sums(prepared, references, pair_references, per_image, method, rule="rescale"):
    """Per image, `sum_p (x - r_p) * m_p` over its `per_image` pairs, float64 `[B, H, W, C]`.

    Pair `p` is image `p // per_image` with the reference `references[pair_references[p]]`.
    """
    images = prepared.images
    deeplift_checks.check_supported(prepared.model, method, rule)

    def build(model_ref):
        target, capture = prepared.target, prepared.capture

        def rescale_sums(images, class_idx, starts, local):
            points = tf.gather(images, local)

            def score(logits, activations):
                return target.score(logits, activations, tf.gather(class_idx, local))

            (multipliers,) = deeplift_checks.multipliers(model_ref(), [points], [starts], capture, rule, score)
            return tf.math.unsorted_segment_sum((points - starts) * multipliers, local, tf.shape(images)[0])

        return rescale_sums

    signature = prepared.signature(tf.TensorSpec([None, *images.shape[1:]], tf.float32),
                                   tf.TensorSpec([None], tf.int32))
    function = compiled.compiled_function(prepared.model, prepared.key("deeplift", rule), build, signature)
    deeplift_checks.check_unreached(function, prepared.model, method)
    sums = np.zeros(images.shape, np.float64)
    pairs_per_call = max(1, prepared.batch_size // 2)  # an input and its reference are two evaluations
    for first, last, pair_ids, local in core.pair_chunks(len(images), per_image, pairs_per_call):
        part = slice(first, last + 1)
        sums[part] += function(
            tf.constant(images[part]), tf.constant(prepared.class_idx[part]),
            tf.constant(references[pair_references[pair_ids]]), tf.constant(local)).numpy()
    return sums


def deeplift(model, images, target=None, *, batch_size=None, baseline=0.0, rule="rescale", signed=False,
             attribute=None):
    """DeepLIFT: contributions of each input to the score's difference from a reference.

    Each input's contribution is `(x - x0)` times DeepLIFT's multiplier,
    the chain rule of the multipliers `(f(z) - f(z0)) / (z - z0)` of every
    nonlinearity between the input and the score, the input `x` and the
    reference `x0` run side by side through the network (Shrikumar et al.,
    2017, "Learning Important Features Through Propagating Activation
    Differences", sections 3.3-3.5, the Rescale rule). The signed
    contributions sum to `score(x) - score(x0)` exactly
    (*summation-to-delta*) on networks of linear layers, elementwise
    activations, max pooling (the difference routed through the input's
    maximum) and products of two tensors (squeeze-and-excitation gates, split
    as `(a - a0)(b + b0)/2 + (a + a0)(b - b0)/2`); on a linear model they
    are `(x - x0) * w`. The score is the pre-softmax logit; a layer with no
    rule (LayerNormalization, attention, a custom layer) is refused by name.
    With `rule="reveal_cancel"` (section 3.5.3) each nonlinearity treats
    the positive and negative contributions to its input apart, so inputs
    that cancel each other both get credit where Rescale gives one of them
    none (`min(x1, x2) = x1 - relu(x1 - x2)` from 0 to (3, 1): Rescale
    (0, 1), RevealCancel (0.5, 0.5)); its contributions sum to the
    difference exactly too (`kerasviz.relevance.reveal_cancel`). The
    patches act only on kerasviz's own trace (`kerasviz.patching`): the
    model is unchanged.

    Costs a forward pass over the reference and a forward and backward
    pass over the image, two model evaluations per image (the class of
    `target=None` read from the same pass); RevealCancel adds, per linear
    layer, a forward and a backward pass of its absolute weights over the
    image (the spreads) and, per nonlinearity, two evaluations of the
    function.

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        batch_size: at most this many model evaluations per compiled call
            (an image and its reference are two; default:
            `model_cost.default_batch_size`); results do not depend on it.
        baseline: the reference input `x0`, in the model's input space
            (`kerasviz.fill`): a float, one float per channel, an image
            `[H, W, C]`, images `[B, H, W, C]`, or `"blur"` (each image
            blurred). Default 0.0, the all-zeros input, as Shrikumar et al.
        rule: `"rescale"` (the Rescale rule) or `"reveal_cancel"`
            (RevealCancel at every elementwise nonlinearity; max pooling and
            products keep Rescale's multipliers).
        signed: return the contributions `[B, H, W, C]` (these sum to the
            score's difference) instead of the map.
        attribute: for a model with several inputs (`images` a dict keyed by
            input name, or a list in the order of `model.inputs`): which
            inputs to attribute, each against its reference (`baseline`
            once for all, or a dict/list with one per input), the others
            held at their values (their own reference): None (every image
            input), `"all"`, or input names or indices. The contributions of
            the attributed inputs then sum to `score(x) - score(x with them
            at their references)`. The result has the structure of
            `images`: a map per attributed image input, the contributions
            (magnitudes unless `signed`) of an attributed side input, None
            (or no key) for the others. Must be None for a model with one
            input.

    Returns:
        float32 `[B, H, W]`: the maximum over channels of the absolute
        contribution (or the contributions `[B, H, W, C]` with `signed=True`).

    Raises:
        ValueError: a layer or op the Rescale rule cannot take, or whose
            terms RevealCancel cannot split (named); invalid `images`,
            `target`, `batch_size`, `baseline` or `rule`.
        TypeError: `target` or `baseline` of the wrong type.

    Example:

    >>> contributions = kerasviz.deeplift(model, images, baseline=0.0, signed=True)
    >>> contributions.sum(axis=(1, 2, 3))  # = score(images) - score(zeros)
    """
    if multi_input.is_several(model, images):
        return multi_input_deeplift.deeplift(model, images, target, batch_size=batch_size, baseline=baseline,
                                             rule=rule, signed=signed, attribute=attribute)
    multi_input.check_single_input_attribute(attribute)
    rule = deeplift_checks.check_rule(rule)
    prepared = core.Prepared(model, images, target, batch_size)
    references = fill.baselines(baseline, prepared.images, names=(fill.BLUR,))
    sums = multiplier_sums(prepared, references, np.arange(len(references)), 1, "DeepLIFT", rule)
    attributions = sums.astype(np.float32)
    return inputs.warn_if_constant(attributions if signed else core.reduce_map(attributions), "deeplift")


def deeplift_shap(model, images, target=None, *, batch_size=None, references=None, samples=16, seed=0,
                  rule="rescale", signed=False):
    """DeepLiftShap: DeepLIFT averaged over a set of references.

    `deeplift` against each of several references `r_j` drawn from a
    background distribution, averaged: `mean_j (x - r_j) * m(x, r_j)`
    (Lundberg & Lee, 2017, "A Unified Approach to Interpreting Model
    Predictions", section 4.2, Deep SHAP; Shrikumar et al., 2017's Rescale
    rule, or RevealCancel). The signed contributions sum to `score(x) - mean_j score(r_j)`
    exactly on the networks DeepLIFT covers. With `samples=None` every
    reference is used, once; else `samples` references are drawn per image
    (without replacement when there are enough, from `seed`), so results
    do not depend on `batch_size`.

    Costs a forward pass over each reference and a forward and backward
    pass over its image: `2 * samples` model evaluations per image (`2 * len(references)` with
    `samples=None`); RevealCancel adds its spreads' pass over each pair.

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's own input space.
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        batch_size: at most this many model evaluations per compiled call
            (a pair is two); results do not depend on it.
        references: `[N, H, W, C]` images of the background distribution, in
            the model's input space. Default: the `images` of the call.
        samples: references per image, drawn from `references`; None: all
            of them (then `references` must be given).
        seed: an int (or `None` for a fresh random seed), for the draws.
        rule: `"rescale"` or `"reveal_cancel"`, as `deeplift`'s.
        signed: return the contributions `[B, H, W, C]` instead of the map.

    Returns:
        float32 `[B, H, W]` (or `[B, H, W, C]` with `signed=True`).

    Raises:
        ValueError, TypeError: as `deeplift`; invalid `references`,
            `samples`, `seed` or `rule`.

    Example:

    >>> maps = kerasviz.deeplift_shap(model, images, references=x_train[:32], samples=None)
    """
    if samples is not None:
        samples = inputs.check_positive_int(samples, "samples")
    seed = inputs.check_seed(seed)
    rule = deeplift_checks.check_rule(rule)
    prepared = core.Prepared(model, images, target, batch_size)
    images = prepared.images
    if references is None:
        if samples is None:
            raise ValueError("Received `samples=None` (every reference) with `references=None`. Give the "
                             "`references` to use them all, or a number of `samples` to draw from the images.")
        references = inputs.images_as_references(images, "deeplift_shap")
    else:
        references = inputs.check_images(prepared.model, references, "references")
        if references.shape[1:] != images.shape[1:]:
            raise ValueError(f"Received `references` of shape {references.shape}. Expected images of the shape "
                             f"of `images`, [N, *{images.shape[1:]}].")
    if samples is None:
        per_image, drawn = len(references), np.tile(np.arange(len(references)), len(images))
    else:
        rng = np.random.default_rng(seed)
        per_image = samples
        drawn = np.concatenate([rng.choice(len(references), samples, replace=samples > len(references))
                                for _ in range(len(images))])
    sums = multiplier_sums(prepared, references, drawn, per_image, "DeepLiftShap", rule)
    attributions = (sums / per_image).astype(np.float32)
    return inputs.warn_if_constant(attributions if signed else core.reduce_map(attributions), "deeplift_shap")


def rule_passes(p):
    """The work RevealCancel adds per (image, reference) pair, in forward+backward passes of the model.

    The spreads: one forward of the linear layers' absolute weights over the
    image (half of a pair's two evaluations) and its backward; Rescale adds
    nothing.
    """
    return 1.0 if p["rule"] == "reveal_cancel" else 0.0


def reference_count(p):
    """The references per image of `deeplift_shap` with parameters `p` (None when it uses the call's images)."""
    if p["samples"] is not None:
        return p["samples"]
    return None if p["references"] is None else len(p["references"])
