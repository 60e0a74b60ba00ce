"""Which channels feed a channel, and which it feeds, by the weights of the convolutions around its layer."""

import typing

import numpy as np

from kerasviz import layer_graph, models
from kerasviz.graph.taxonomy import ACTIVATION, NORMALIZATION, PASS, POOLING, SCALE

_THROUGH = (NORMALIZATION, PASS, ACTIVATION, SCALE, POOLING)  # keep each channel where it is


class Wiring(typing.NamedTuple):
    """The weights between a layer's channels and its neighbours' channels.

    Attributes:
        layer: the layer's path.
        source: the path of the layer whose channels feed it (None: the image or no convolution found).
        inputs: float32 `[C_source, C]`, `inputs[i, c]` the weight from source channel `i` to channel `c`
            (the L2 norm of the kernel slice `W[:, :, i, c]` of the convolution between them), or None.
        targets: `(path, weights [C, C_target])` for each layer that a convolution fed by this one makes.
    """

    layer: str
    source: typing.Optional[str]
    inputs: typing.Optional[np.ndarray]
    targets: tuple


def _kernel_norms(layer):
    """`[C_in, C_out]` L2 norms of a convolution kernel over its window; a depthwise kernel gives its diagonal."""
    kernel = np.asarray(layer.kernel.numpy() if hasattr(layer.kernel, "numpy") else layer.kernel, np.float64)
    norms = np.sqrt((kernel ** 2).sum(axis=(0, 1)))
    if type(layer).__name__ == "DepthwiseConv2D":
        if norms.shape[1] != 1:
            return None  # a depth multiplier > 1 moves channels: not followed
        return np.diag(norms[:, 0])
    return norms


def _is_conv(node):
    return node.kind.name in ("Conv2D", "DepthwiseConv2D") and getattr(node.layer, "kernel", None) is not None \
        and len(np.shape(node.layer.kernel)) == 4


def _single(indices):
    return indices[0] if len(indices) == 1 else None


def _back_to_conv(graph, node):
    """`(conv node, channel map [C_conv_out, C])` walking back from `node` through channel-keeping layers."""
    through = np.eye(node.shape[-1])
    while node is not None:
        if _is_conv(node):
            return node, through
        if node.kind.role not in _THROUGH:
            return None, None
        producer = _single(node.producers)
        node = None if producer is None else graph.graph.calls[producer]
    return None, None


def _page_of(graph, node):
    """The layer whose channels a conv's output is shown as: walking on through normalizations and activations."""
    while True:
        consumer = _single(node.consumers)
        nxt = None if consumer is None else graph.graph.calls[consumer]
        if nxt is None or nxt.kind.role not in (NORMALIZATION, ACTIVATION, SCALE) or len(nxt.producers) != 1:
            return node
        node = nxt


def _source_of(graph, conv):
    """The layer feeding a conv, walking back through pooling and pass-through layers; None for the image."""
    producer = _single(conv.producers)
    node = None if producer is None else graph.graph.calls[producer]
    while node is not None and node.kind.role in (POOLING, PASS) and len(node.producers) == 1:
        node = graph.graph.calls[node.producers[0]]
    return node


def channel_wiring(model, layer) -> Wiring:
    """The weights between each channel of a spatial layer and the channels before and after it.

    As OpenAI Microscope's and Distill's "Circuits" (Olah et al., 2020)
    weight views: walking back from the layer through normalizations,
    activations and pooling (which keep each channel where it is) to the
    convolution that makes it, the weight from input channel `i` to channel
    `c` is the L2 norm of that kernel's slice `W[:, :, i, c]`; walking
    forward to each convolution the layer feeds, the weight from `c` to its
    output channel `j` is `||W'[:, :, c, j]||`. A depthwise convolution
    (multiplier 1) on the way is a diagonal and is walked through, its
    per-channel norm multiplied in. A merge (`Add`, `Concatenate`) stops a
    walk. Reads the weights only; no forward pass.

    Args:
        model: a built Keras model.
        layer: a spatial layer (name, path, index or object).

    Returns:
        A `Wiring`.

    Raises:
        ValueError: `layer` not in the model.
    """
    path, _ = models.get_layer(model, layer)
    graph = layer_graph.layer_graph(model)
    node = graph.by_path.get(path)
    if node is None or node.rank != 4:
        raise ValueError(f"Received an invalid value for `layer`: {layer!r} is not a spatial layer of the model's "
                         f"graph. Spatial layers: {[n.path for n in graph.nodes if n.rank == 4]}.")
    source = inputs = None
    conv, through = _back_to_conv(graph, node)
    chain = np.eye(node.shape[-1])
    while conv is not None:
        norms = _kernel_norms(conv.layer)
        if norms is None:
            break
        chain = norms @ through @ chain if norms.shape[1] == through.shape[0] else None
        if chain is None or conv.kind.name != "DepthwiseConv2D":
            feeding = _source_of(graph, conv)
            if chain is not None and feeding is not None:
                source, inputs = feeding.path, chain.astype(np.float32)
            break
        producer = _single(conv.producers)  # through the depthwise conv to the conv before it
        conv, through = (None, None) if producer is None else _back_to_conv(graph, graph.graph.calls[producer])
    targets = []
    for conv, scale in _forward_convs(graph, node):
        norms = _kernel_norms(conv.layer)
        if norms is not None and norms.shape[0] == len(scale):
            targets.append((_page_of(graph, conv).path, (scale[:, None] * norms).astype(np.float32)))
    return Wiring(path, source, inputs, tuple(targets))


def _forward_convs(graph, node):
    """`(conv node, per-channel scale [C])` for each (non-depthwise) conv reached through channel-keeping layers."""
    found, stack = [], [(node, np.ones(node.shape[-1]))]
    while stack:
        current, scale = stack.pop()
        for index in current.consumers:
            consumer = graph.graph.calls[index]
            if len(consumer.producers) != 1:
                continue
            if _is_conv(consumer) and consumer.kind.name == "DepthwiseConv2D":
                norms = _kernel_norms(consumer.layer)
                if norms is not None:
                    stack.append((consumer, scale * np.diag(norms)))
            elif _is_conv(consumer):
                found.append((consumer, scale))
            elif consumer.kind.role in _THROUGH:
                stack.append((consumer, scale))
    return sorted(found, key=lambda item: item[0].index)


def strongest(weights, count):
    """`(indices, weights)` of the `count` largest entries of a vector, largest first (ties: lower index)."""
    weights = np.asarray(weights, np.float64)
    order = np.lexsort((np.arange(len(weights)), -weights))[:count]
    return order.astype(np.int64), weights[order].astype(np.float32)
