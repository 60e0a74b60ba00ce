"""The Building Blocks of Interpretability: neuron groups (NMF) and attribution to positions, channels, groups."""

import logging
import typing
import warnings

import numpy as np
from sklearn.decomposition import NMF, non_negative_factorization
from sklearn.exceptions import ConvergenceWarning

from kerasviz import inputs, models
from kerasviz.inside import streams

class NeuronGroups(typing.NamedTuple):
    """A layer's activations factored into `k` groups of channels: `a[n, y, x, :] ~ spatial[n, y, x] @ channels`.

    Attributes:
        spatial: float32 `[N, h, w, k]`, how much of each group each position holds.
        channels: float32 `[k, C]`, each group's channel mix (rows of unit length).
        layer: the layer's path.
        error: the relative reconstruction error `||a - spatial @ channels|| / ||a||` (Frobenius).
    """

    spatial: np.ndarray
    channels: np.ndarray
    layer: str
    error: float


def _spatial_activations(model, images, layer, batch_size, value_range):
    models.check_model(model)
    path = streams.layer_path(model, layer)
    checked = streams.check_batch(model, images, value_range, "images")
    values = streams.activations(model, checked, path, inputs.check_batch_size(batch_size))
    if values.ndim != 4:
        raise ValueError(f"Received an invalid value for `layer`: {layer!r} outputs {values.shape[1:]}, "
                         "not a spatial map [h, w, C].")
    return path, checked, values


def factorize(matrix, count, seed, max_iter, path):
    """`(coefficients [n, count], components [count, C], error)`: `matrix ~ coefficients @ components` (NMF).

    scikit-learn's `NMF` (NNDSVDa start, seeded, tolerance 1e-5); the
    components are scaled to unit length (the coefficients take the
    scale); `error` is `||matrix - coefficients @ components|| / ||matrix||`
    (Frobenius). Stopping at `max_iter` is logged, not warned: the error
    says how good the factorization is.
    """
    factorization = NMF(count, init="nndsvda", random_state=seed % 2**32, max_iter=max_iter, tol=1e-5)
    with warnings.catch_warnings():  # a slow convergence shows in `error`, returned and logged
        warnings.simplefilter("ignore", ConvergenceWarning)
        coefficients = factorization.fit_transform(matrix)
    if factorization.n_iter_ >= max_iter:
        logging.getLogger("kerasviz").info("NMF of %r stopped after max_iter=%d iterations.", path, max_iter)
    components = factorization.components_
    norms = np.linalg.norm(components, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    components, coefficients = components / norms, coefficients * norms.T
    total = np.linalg.norm(matrix)
    error = float(np.linalg.norm(matrix - coefficients @ components) / total) if total else 0.0
    return coefficients, components, error


def neuron_groups(model, images, layer, groups: int = 6, *, batch_size=None, seed: int = 0,
                  max_iter: int = 1000, value_range=None) -> NeuronGroups:
    """Factors a layer's activations on `images` into `groups` groups of channels (NMF).

    Olah, Satyanarayan, Johnson, Carter, Schubert, Ye & Mordvintsev, 2018,
    "The Building Blocks of Interpretability", Distill, section "Making
    Sense of Hidden Layers": the activations `[positions, channels]` of the
    images (all positions of all images, one matrix) are factored by
    non-negative matrix factorization (scikit-learn's `NMF`, NNDSVDa start,
    seeded) into spatial factors and channel factors; each group is a
    direction of the layer that `kerasviz.targets.Direction(layer,
    channels[j])` can render. The channel factors are scaled to unit length
    (the spatial factors take the scale). One forward pass per image; all
    activations are held in memory (`N * h * w * C` floats): meant for a
    few images, as in the article.

    Args:
        model: a built Keras image model.
        images: `[N, H, W, C]` in the model's input space.
        layer: a rectified spatial layer (name, path, index or object).
        groups: the number of groups `k`.
        batch_size: images per compiled call.
        seed: seeds the factorization.
        max_iter: NMF's iterations at most.
        value_range: the model's input range (a preset or `(min, max)`);
            when given, images outside it raise (nothing is clipped).

    Returns:
        `NeuronGroups(spatial, channels, layer, error)`.

    Raises:
        ValueError, TypeError: an invalid argument; negative activations (a layer before its ReLU).

    Example:

    >>> groups = neuron_groups(model, photo[None], "block4_conv3", groups=6)
    >>> groups.spatial.shape  # [1, h, w, 6]
    """
    groups = inputs.check_positive_int(groups, "groups")
    max_iter = inputs.check_positive_int(max_iter, "max_iter")
    seed = inputs.check_seed(seed)
    path, _, values = _spatial_activations(model, images, layer, batch_size, value_range)
    matrix = streams.non_negative(values, path).reshape(-1, values.shape[-1]).astype(np.float64)
    if groups > min(matrix.shape):
        raise ValueError(f"Received `groups={groups}`, more than the {min(matrix.shape)} the activations "
                         f"{matrix.shape} of {path!r} allow.")
    spatial, channels, error = factorize(matrix, groups, seed, max_iter, path)
    return NeuronGroups(spatial.reshape(values.shape[:3] + (groups,)).astype(np.float32),
                        channels.astype(np.float32), path, error)


def _attribution(model, images, layer, target, batch_size, value_range):
    """`(path, activation x gradient [N, h, w, C])` of the target's score at the layer."""
    models.check_model(model)
    path = streams.layer_path(model, layer)
    _, gradients, values = streams.layer_gradients(model, images, path, target, batch_size, value_range)
    if values.ndim != 4:
        raise ValueError(f"Received an invalid value for `layer`: {layer!r} outputs {values.shape[1:]}, "
                         "not a spatial map [h, w, C].")
    return path, values * gradients


def channel_attribution(model, images, layer, target=None, *, batch_size=None, value_range=None) -> np.ndarray:
    """How much each channel of a layer contributes to the class score: float32 `[N, C]`.

    Olah et al., 2018, "The Building Blocks of Interpretability", section
    "How are concepts assembled?": the linear approximation of the score's
    dependence on the layer, activation times gradient (the gradient of the
    logit behind a softmax), summed over positions. Exact for a layer that
    feeds the logits through linear layers only (pooling, dense). One
    forward and backward pass per image.

    Args:
        model: a built Keras image model.
        images: `[N, H, W, C]` in the model's input space.
        layer: a spatial layer (name, path, index or object).
        target: None (the predicted class), an int, one int per image, or a
            `kerasviz.targets.Target`.
        batch_size: images per compiled call.
        value_range: the model's input range (a preset or `(min, max)`);
            when given, images outside it raise (nothing is clipped).

    Returns:
        float32 `[N, C]`.
    """
    return _attribution(model, images, layer, target, batch_size, value_range)[1].sum(axis=(1, 2))


def spatial_attribution(model, images, layer, target=None, *, batch_size=None, value_range=None) -> np.ndarray:
    """How much each position of a layer contributes to the class score: float32 `[N, h, w]`.

    Olah et al., 2018, section "What does the network see?": activation times
    gradient, summed over channels; summed over positions it equals
    `channel_attribution` summed over channels. Arguments as in
    `channel_attribution`.
    """
    return _attribution(model, images, layer, target, batch_size, value_range)[1].sum(axis=-1)


class GroupAttribution(typing.NamedTuple):
    """Attributes: `groups` (float32 `[N, k]`, each group's attribution), `residual` (float32 `[N]`, the
    attribution of what the groups leave out of the activation) and `total` (float32 `[N]`, the layer's
    whole activation-times-gradient attribution): `groups.sum(1) + residual == total`."""

    groups: np.ndarray
    residual: np.ndarray
    total: np.ndarray


def group_attribution(model, images, layer, groups: NeuronGroups, target=None, *,
                      batch_size=None, value_range=None) -> GroupAttribution:
    """How much each neuron group contributes to the class score: float32 `[N, k]`, and what is left.

    Olah et al., 2018, section "Making Sense of Hidden Layers": the
    activation is split into the groups' parts, `a ~ sum_j spatial_j x
    channels_j`, and each part gets the linear attribution `sum over
    positions of (spatial_j * channels_j) . gradient`. The groups' attributions
    add up to the attribution of the reconstruction, that is the total
    attribution up to the attribution of the factorization's residual,
    returned too (a few groups of a wide layer leave much out: on a real
    ImageNet network 6 groups of 576 channels left half the activation's
    norm). The spatial factors of
    `images` are fitted anew with the channel factors held fixed (the
    non-negative least squares of scikit-learn's `non_negative_factorization`),
    so the groups of some images explain others.

    Args:
        groups: a `NeuronGroups` of the same layer (from `neuron_groups`).
        the others: as in `channel_attribution`.

    Returns:
        A `GroupAttribution(groups [N, k], residual [N], total [N])`.

    Raises:
        TypeError: `groups` is not a `NeuronGroups`; ValueError: groups of another layer.
    """
    if not isinstance(groups, NeuronGroups):
        raise TypeError(
            f"Expected `groups` to be `NeuronGroups` from `neuron_groups`. Received: {type(groups).__name__}.")
    models.check_model(model)
    path = streams.layer_path(model, layer)
    if path != groups.layer:
        raise ValueError(f"Received `layer={layer!r}` ({path!r}) and `groups` of the layer {groups.layer!r}.")
    _, gradients, values = streams.layer_gradients(model, images, path, target, batch_size, value_range)
    if values.shape[-1] != groups.channels.shape[1]:
        raise ValueError(
            f"Received `groups` of {groups.channels.shape[1]} channels for {path!r} of {values.shape[-1]}.")
    matrix = streams.non_negative(values, path).reshape(-1, values.shape[-1]).astype(np.float64)
    channels = groups.channels.astype(np.float64)
    with warnings.catch_warnings():  # the fit's error is what the caller's total says
        warnings.simplefilter("ignore", ConvergenceWarning)
        spatial, _, _ = non_negative_factorization(matrix, H=channels, n_components=len(channels), update_H=False,
                                                   max_iter=2000, tol=1e-6)
    spatial = spatial.reshape(values.shape[:3] + (len(channels),))
    # sum over positions of spatial[n, p, j] * (channels[j] . gradient[n, p])
    projected = np.einsum("nyxc,jc->nyxj", gradients.astype(np.float64), channels)
    per_group = np.einsum("nyxj,nyxj->nj", spatial, projected)
    total = (values.astype(np.float64) * gradients).sum(axis=(1, 2, 3))
    return GroupAttribution(per_group.astype(np.float32), (total - per_group.sum(axis=1)).astype(np.float32),
                            total.astype(np.float32))
