"""How concentrated a map is: sparseness (Gini index) and complexity (entropy)."""

import numpy as np
import tensorflow as tf

from kerasviz import inputs


def _magnitudes(maps):
    array = np.asarray(maps.numpy() if isinstance(maps, (tf.Tensor, tf.Variable)) else maps)
    if array.ndim < 2 or array.dtype.kind not in "uif":
        raise ValueError(f"Expected `maps` to be a numeric array [B, ...] (one map per image). Received "
                         f"shape {array.shape} and dtype {array.dtype}.")
    return np.abs(inputs.check_finite(array, "maps").astype(np.float64)).reshape(len(array), -1)


def sparseness(maps) -> np.ndarray:
    """The Gini index of each map's absolute values: 0 for a uniform map, towards 1 for a single pixel.

    Chalasani et al., 2020, "Concise Explanations of Neural Networks using
    Adversarial Training", section 6: with the `n` absolute values sorted
    ascending, `a_(1) <= ... <= a_(n)`,
    `G = sum_i (2 i - n - 1) a_(i) / (n sum_i a_(i))`. Higher is sparser
    (more concise). NaN for an all-zero map.

    Args:
        maps: `[B, ...]` attribution maps.

    Returns:
        float32 `[B]`.

    Raises:
        ValueError: `maps` not numeric `[B, ...]`, or not finite.

    Example:

    >>> kerasviz.metrics.sparseness(np.array([[0.0, 0.0, 0.0, 1.0]]))
    array([0.75], dtype=float32)
    """
    values = np.sort(_magnitudes(maps), axis=1)
    n = values.shape[1]
    weights = 2 * np.arange(1, n + 1) - n - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return (values @ weights / (n * values.sum(axis=1))).astype(np.float32)


def complexity(maps) -> np.ndarray:
    """The entropy of each map's fractional contributions: `log(n)` for a uniform map, 0 for one pixel.

    Bhatt et al., 2020, "Evaluating and Aggregating Feature-based Model
    Explanations", section 4.3: with `p_i = |a_i| / sum_j |a_j|`,
    `complexity = -sum_i p_i log p_i` (natural log, `0 log 0 = 0`). Lower is
    simpler. NaN for an all-zero map.

    Args:
        maps: `[B, ...]` attribution maps.

    Returns:
        float32 `[B]`.

    Raises:
        ValueError: `maps` not numeric `[B, ...]`, or not finite.

    Example:

    >>> kerasviz.metrics.complexity(np.ones((1, 4, 4)))  # log(16)
    array([2.7725887], dtype=float32)
    """
    values = _magnitudes(maps)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = values / values.sum(axis=1, keepdims=True)
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    out = -terms.sum(axis=1)
    out[~np.isfinite(p).all(axis=1)] = np.nan
    return out.astype(np.float32)


def effective_complexity(maps, *, eps=1e-5) -> np.ndarray:
    """The share of each map's values that matter: `|a_i| > eps * max |a|`.

    Nguyen & Martinez, 2020 ("On Quantitative Aspects of Model
    Interpretability", section 4.1): the number of features with an
    attribution above `eps` (Quantus counts `a_i > eps` on maps divided by
    their largest magnitude); here that count divided by the number of
    values, so that images of any size compare. Lower is simpler. NaN for
    an all-zero map.

    Args:
        maps: `[B, ...]` attribution maps.
        eps: the threshold, relative to each map's largest magnitude.

    Returns:
        float32 `[B]`, in [0, 1].

    Raises:
        ValueError: `maps` not numeric `[B, ...]`, or not finite; `eps` not in [0, 1).

    Example:

    >>> kerasviz.metrics.effective_complexity(np.array([[0.0, 0.5, 1.0, 0.0]]))
    array([0.5], dtype=float32)
    """
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < 1:
        raise ValueError(f"Received an invalid value for `eps`: {eps!r}. Expected a float in [0, 1).")
    values = _magnitudes(maps)
    peak = values.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (values > eps * peak).mean(axis=1)
    out[peak[:, 0] == 0] = np.nan
    return out.astype(np.float32)
