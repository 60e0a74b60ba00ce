"""How much of the explained score a relevance map holds, and the share the biases absorbed on the way."""

import warnings

import numpy as np

from kerasviz import compiled, models
from kerasviz.gradients import core


def conservation(model, images, maps, target=None, *, batch_size=None):
    """The score each map explains, the relevance the map holds, and the share of the score that was absorbed.

    LRP starts with the target's score (the logit) and hands it down layer
    by layer; each bias takes its share `b / z` of a unit's relevance, and
    stabilizers (epsilon, gamma) and the sign-splitting rules (z+,
    alpha-beta) lose some more, so the pixels receive less than the score
    (Bach et al., 2015, eq. 58; Montavon et al., 2019, section 10.2). A
    map's total says how much of the decision it shows: on a bias-free
    ReLU network under LRP-0 none is absorbed, on EfficientNet-Lite3
    (BatchNormalization folded into large biases) 95-98 % is. The same
    holds for any map meant to sum to the score (Gradient x Input,
    DeepLIFT's contributions, which sum to `score(x) - score(x0)` instead).

    Costs one forward pass per image (the scores).

    Args:
        model: the model the maps explain.
        images: `[B, H, W, C]`, the images the maps explain, in the
            model's own input space.
        maps: `[B, H, W]` or `[B, H, W, C]` relevance (e.g. `kerasviz.lrp`'s
            map, or its `signed=True` relevance), summed whole.
        target: the `target` the maps were made for (`None`: the predicted
            class), as given to the method.
        batch_size: at most this many images per compiled call; results do
            not depend on it.

    Returns:
        A dict of float64 `[B]` numpy arrays: `"score"`, the target's score
        of each image (the logit, behind a softmax); `"relevance_sum"`, the
        sum of each map; `"absorbed_share"`, `1 - relevance_sum / score`:
        0 where the map holds the whole score, 0.97 where 3 % of it reached
        the pixels (negative where the map holds more than the score; NaN
        where the score is 0, with a warning).

    Raises:
        ValueError: `maps` not one map per image of the images' height and
            width; invalid `images`, `target` or `batch_size`.

    Example:

    >>> maps = kerasviz.lrp(model, images, composite="epsilon_plus")
    >>> kerasviz.relevance.conservation(model, images, maps)["absorbed_share"]
    array([0.95, 0.97])
    """
    prepared = core.Prepared(model, images, target, batch_size, cost="forward")
    maps = _check_maps(maps, prepared.images.shape)
    scores = _scores(prepared).astype(np.float64)
    totals = maps.reshape(len(maps), -1).sum(axis=1)
    zero = scores == 0
    if zero.any():
        warnings.warn(f"The target's score is 0 for the image(s) {np.flatnonzero(zero).tolist()}: no share of it "
                      "can be absorbed, `absorbed_share` is NaN there.", stacklevel=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        absorbed = np.where(zero, np.nan, 1.0 - totals / np.where(zero, 1.0, scores))
    return {"score": scores, "relevance_sum": totals, "absorbed_share": absorbed}


def _check_maps(maps, image_shape):
    try:
        values = np.asarray(maps, np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"Received an invalid value for `maps`: {type(maps).__name__}. Expected an array "
                        f"[B, H, W] or [B, H, W, C].") from error
    batch, height, width = image_shape[:3]
    if values.ndim not in (3, 4) or values.shape[:3] != (batch, height, width):
        raise ValueError(f"Received `maps` of shape {values.shape}. Expected one map per image, "
                         f"[{batch}, {height}, {width}] or [{batch}, {height}, {width}, C].")
    if not np.isfinite(values).all():
        raise ValueError("Received `maps` with NaN or infinite values.")
    return values


def _scores(prepared):
    """The target's score of each image, float32 `[B]`: the logit a relevance method starts from."""
    target, capture = prepared.target, prepared.capture

    def build(model_ref):
        def score(images, class_idx):
            logits, activations = models.run(model_ref(), images, capture=capture)
            return target.score(logits, activations, class_idx)

        return score

    function = compiled.compiled_function(prepared.model, prepared.key("conservation_scores"), build,
                                          prepared.signature())
    return np.asarray(core.run_chunks(function, prepared, prepared.images, prepared.class_idx))
