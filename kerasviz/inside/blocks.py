"""Building Blocks for one image: neuron groups, their attribution and renders, and the semantic dictionary.

Olah, Satyanarayan, Johnson, Carter, Schubert, Ye & Mordvintsev, 2018, "The
Building Blocks of Interpretability" (Distill): one image seen through a
layer, as the article's interfaces show it. `building_blocks_of` gathers the
pieces of `kerasviz.inside.building_blocks` (NMF neuron groups, their
attribution, spatial attribution) with feature-visualization renders of each
group's direction and of the channels in each position's semantic
dictionary, and `BuildingBlocks.write` records them for the dashboard's
"Building blocks" tab (hover a position: its dictionary; click a group: where
it is).
"""

import typing
import warnings

import numpy as np
import tensorflow as tf
from sklearn.decomposition import non_negative_factorization
from sklearn.exceptions import ConvergenceWarning

from kerasviz import image, inputs, models, summary
from kerasviz.inside import streams
from kerasviz.inside.building_blocks import NeuronGroups, group_attribution, neuron_groups
from kerasviz.inside.renders import render_directions


class BuildingBlocks(typing.NamedTuple):
    """One image seen through a layer.

    Attributes:
        layer: the layer's path.
        image: `[H, W, C]`, the image in the model's input space.
        target: the class explained (an int).
        groups: the `NeuronGroups` (fitted on `fit_images`, or on the image).
        amounts: float32 `[h, w, k]`, how much of each group each position
            of the image holds (the image's spatial factors).
        group_attribution: float32 `[k]`, each group's attribution to the
            class score; `residual` (float) what the groups leave out.
        spatial_attribution: float32 `[h, w]`, each position's attribution.
        group_images: float32 `[k, S, S, C]`, a render of each group's direction.
        top_channels: int32 `[h, w, top]`, each position's most active
            channels (its semantic dictionary), most active first.
        top_values: float32 `[h, w, top]`, their activations.
        channels: int32 `[U]`, the channels rendered (the dictionary's most
            frequent); `channel_images` float32 `[U, S, S, C]`, their renders.
    """

    layer: str
    image: np.ndarray
    target: int
    groups: NeuronGroups
    amounts: np.ndarray
    group_attribution: np.ndarray
    residual: float
    spatial_attribution: np.ndarray
    group_images: np.ndarray
    top_channels: np.ndarray
    top_values: np.ndarray
    channels: np.ndarray
    channel_images: np.ndarray

    def write(self, *, step=None, class_names=None, value_range=(0.0, 1.0), name="building_blocks"):
        """Records them for the dashboard's "Building blocks" tab (tag `kerasviz/blocks/<name>`)."""
        if not summary.recording():
            return False
        display = lambda x: image.to_uint8(image.to_display(np.asarray(x), value_range))  # noqa: E731
        header = {"layer": self.layer, "target": int(self.target), "residual": float(self.residual),
                  "reconstruction_error": float(self.groups.error),
                  "class_names": None if class_names is None else [str(c) for c in class_names],
                  "channels": self.channels.tolist()}
        arrays = {"image": display(self.image[None]), "amounts": np.moveaxis(self.amounts, -1, 0),
                  "group_attribution": self.group_attribution, "spatial_attribution": self.spatial_attribution,
                  "group_images": display(self.group_images), "channel_images": display(self.channel_images),
                  "top_channels": self.top_channels.astype(np.int32), "top_values": self.top_values}
        return summary.write_record("blocks", name, header, arrays, step=step)


def building_blocks_of(model, image, layer, *, groups=6, fit_images=None, target=None, top=4, max_channels=24,
                       steps=128, image_shape=None, value_range=(0.0, 1.0), seed=0, batch_size=None,
                       verbose=0) -> BuildingBlocks:
    """What one image looks like through a layer: groups, attribution, renders, semantic dictionary.

    Olah et al., 2018 ("The Building Blocks of Interpretability"): the
    layer's activations are factored into `groups` neuron groups (NMF,
    `kerasviz.inside.neuron_groups`, fitted on `fit_images` or on the image
    alone), each group attributed to the class score (activation x
    gradient, `group_attribution`) and rendered by feature visualization of
    its channel direction; each position's semantic dictionary is its `top`
    most active channels, and the `max_channels` channels that appear most
    often in the dictionaries (weighted by activation) are rendered too.
    Costs one forward and backward pass of the image, the NMF, and `steps`
    forward and backward passes of `groups + max_channels` images for the
    renders.

    Args:
        model: a built Keras image model.
        image: `[H, W, C]` (or `[1, H, W, C]`) in the model's input space.
        layer: a rectified spatial layer (name, path, index or object).
        groups: the number of neuron groups.
        fit_images: `[N, H, W, C]` to fit the groups on (default: the image).
        target: the class explained (default: the predicted one), an int.
        top: channels per position in the semantic dictionary.
        max_channels: channels rendered for the dictionaries.
        steps: optimization steps of the renders.
        image_shape: the renders' shape where the model's input size is free.
        value_range: the model's input range (renders need it).
        seed: seeds the NMF and the renders.
        batch_size: images per compiled call.
        verbose: 1 shows the renders' progress bar.

    Returns:
        A `BuildingBlocks`.

    Raises:
        ValueError, TypeError: an invalid argument; negative activations.

    Example:

    >>> blocks = kerasviz.inside.building_blocks_of(model, photo, "block4_conv3", value_range=(0, 255))
    >>> blocks.write(step=0, value_range=(0, 255))  # the dashboard's "Building blocks" tab
    """
    models.check_model(model)
    batch = np.asarray(image, np.float32)
    batch = batch[None] if batch.ndim == 3 else batch
    if batch.ndim != 4 or len(batch) != 1:
        raise ValueError(f"Expected `image` to be one image [H, W, C] (or [1, H, W, C]). Received shape {batch.shape}.")
    batch = streams.check_batch(model, batch, value_range, "image")
    top = inputs.check_positive_int(top, "top")
    max_channels = inputs.check_positive_int(max_channels, "max_channels")
    if target is None:
        target = int(np.argmax(np.asarray(models.run(model, tf.constant(batch))[0])[0]))
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"Expected `target` to be an int class or None. Received: target={target!r}.")
    target = int(target)
    fitted = neuron_groups(model, batch if fit_images is None else fit_images, layer, groups,
                           batch_size=batch_size, seed=seed, value_range=value_range)
    attribution = group_attribution(model, batch, layer, fitted, target, batch_size=batch_size,
                                    value_range=value_range)
    _, gradients, values = streams.layer_gradients(model, batch, fitted.layer, target, batch_size, value_range)
    activations = np.maximum(values[0], 0.0)  # [h, w, C]
    top = min(top, activations.shape[-1])
    order = np.argsort(-activations, axis=-1, kind="stable")[..., :top]
    top_values = np.take_along_axis(activations, order, axis=-1)
    weight = np.zeros(activations.shape[-1])
    np.add.at(weight, order.ravel(), top_values.ravel())
    channels = np.flatnonzero(weight)[np.argsort(-weight[weight > 0], kind="stable")][:max_channels]
    if fit_images is None:
        amounts = fitted.spatial[0]
    else:  # the image's own amounts of the groups fitted elsewhere (non-negative least squares)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            amounts, _, _ = non_negative_factorization(
                activations.reshape(-1, activations.shape[-1]).astype(np.float64), H=fitted.channels.astype(np.float64),
                n_components=len(fitted.channels), update_H=False, max_iter=2000, tol=1e-6)
        amounts = amounts.reshape(activations.shape[:2] + (len(fitted.channels),))
    vectors = np.concatenate([fitted.channels, np.eye(activations.shape[-1], dtype=np.float32)[channels]])
    renders = render_directions(model, fitted.layer, vectors, steps=steps, image_shape=image_shape,
                                value_range=value_range, seed=seed, verbose=verbose)
    return BuildingBlocks(
        fitted.layer, batch[0], target, fitted, amounts.astype(np.float32), attribution.groups[0],
        float(attribution.residual[0]), (values[0] * gradients[0]).sum(-1).astype(np.float32),
        renders[:len(fitted.channels)], order.astype(np.int32), top_values.astype(np.float32),
        channels.astype(np.int32), renders[len(fitted.channels):])
