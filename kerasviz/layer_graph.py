"""Which layers of a network mean something: the one notion behind every default layer.

A model is read as its graph of layer calls (`kerasviz.graph.trace`: one
symbolic call, any model form: Sequential, functional, nested, subclassed,
mixed precision), each layer typed by the one layer taxonomy
(`kerasviz.graph.taxonomy`). That gives, for every layer call, its output
shape, its producers and its consumers.

On that graph:

- a **meaningful** layer is a rectified or block output: an activation
  (`ReLU`, `Activation('swish')`, a conv with a fused nonlinearity), a merge
  (`Add`, `Concatenate`, `Multiply`, also as a Keras op such as ConvNeXt's
  residual `add`), or a linear conv whose output no activation or
  normalization follows. BatchNormalization, pooling, padding, dropout,
  rescaling, and pre-activation outputs that an activation or normalization
  follows are not: the layer after them carries their meaning;
- squeeze-and-excitation **gates** (global pooling inside the body, and the
  layers only it feeds) are not features either;
- the **head** is what turns features into class scores: walking back from
  the output, Dense layers, activations, dropout, flatten, global pooling,
  anything with a 1x1 or vector output, and a class-map conv (as many channels
  as classes, feeding global pooling). The **classifier** is the head's last
  weighted layer; its input is the network's "CNN code".

Defaults (`default_layers`) then follow the literature: Grad-CAM on the last
feature block (Selvaraju et al., 2017), embeddings at the classifier's input
(Krizhevsky et al., 2012; CS231n's "CNN codes"), top patches at the deepest
block whose receptive field fits well inside the image (Zeiler & Fergus,
2014), DeepDream, style and texture on blocks spread over depth (Mordvintsev
et al., 2015; Gatys et al., 2015, 2016).
"""

import logging

import numpy as np

from kerasviz.graph import measured, taxonomy, trace
from kerasviz.graph.taxonomy import CARRIERS, GLOBAL_POOLING, MERGE, NORMALIZATION, PASS, POOLING, STRUCTURAL

ROLES = ("grad_cam", "embedding", "patches", "dream", "style", "content", "filters")


class LayerGraph:
    """The meaningful layers and the head of a model's graph of layer calls (`kerasviz.graph.trace`).

    `nodes` are the calls of layers and Keras ops (a nested model is read
    through its layers), in call order: the last one is the output layer.
    """

    def __init__(self, graph):
        self.graph, self.image_shape = graph, graph.image_shape
        self.nodes = [call for call in graph.calls if not call.is_model]
        self.by_path = {n.path: n for n in self.nodes}
        self.head = self._head()
        self.gates = self._gates()
        self.meaningful = [n.path for n in self.nodes
                           if self._is_meaningful(n) and n.path not in self.head and n.path not in self.gates]
        self.defaults = {}  # role -> paths, filled by `default_layers`

    def _at(self, index):
        return self.graph.calls[index]

    def _gates(self):
        """Squeeze-and-excitation branches: global pooling inside the body and what only it feeds (Hu et al., 2018)."""
        gates = set()
        for node in self.nodes:
            if node.kind.role == GLOBAL_POOLING or (node.producers and all(self._at(p).path in gates
                                                                          for p in node.producers)):
                gates.add(node.path)
        return gates

    def _carried_on(self, node):
        """True when everything that reads `node` is a normalization or activation of it."""
        consumers = [self._at(c) for c in node.consumers]
        return bool(consumers) and all(c.kind.role in CARRIERS and len(c.producers) == 1 for c in consumers)

    def _is_meaningful(self, node):
        return is_meaningful(node.layer, node.kind.role, node.rank, lambda: self._carried_on(node))

    def _head(self):
        """Paths of the classifier head, from the output back to the features.

        Vector and 1x1 outputs, global pooling and flatten belong to it; of
        the spatial layers only a class-map conv does (with the activations
        between it and the pooling).
        """
        head = []
        node = self.nodes[-1] if self.nodes else None
        classes = node.shape[-1] if node is not None and node.shape else None
        pooled = False
        while node is not None:
            pooling = node.kind.role == GLOBAL_POOLING or node.kind.name == "Flatten"
            if not pooled and ((node.rank or 4) < 4 or node.spatial == (1, 1) or pooling):
                head.append(node.path)
                below = self._at(node.producers[0]) if len(node.producers) == 1 else None
                pooled = pooling and not (below is not None and below.spatial == (1, 1))
            else:
                chain, probe = [], node
                while probe.kind.role in CARRIERS and len(probe.producers) == 1:
                    chain.append(probe.path)
                    probe = self._at(probe.producers[0])
                if taxonomy.has_kernel(probe.layer) and probe.shape[-1] == classes and self._feeds_pooling(probe):
                    head += chain + [probe.path]
                break
            if len(node.producers) != 1:
                break
            node = self._at(node.producers[0])
        return head

    def _feeds_pooling(self, node):
        seen = node
        while len(seen.consumers) == 1:
            seen = self._at(seen.consumers[0])
            if seen.kind.role == GLOBAL_POOLING:
                return True
            if seen.kind.role not in CARRIERS:
                return False
        return False

    def rectified(self, path):
        """Whether the layer at `path` is a nonlinear activation or has one fused."""
        layer = self.by_path[path].layer
        return taxonomy.is_nonlinear_activation(layer) or taxonomy.fused_nonlinearity(layer)

    def after_depthwise(self, path):
        """Whether `path` is (the rectified output of) a depthwise convolution, through normalizations.

        Each channel of a depthwise layer sees one channel of its input: it
        mixes nothing, and a channel whose input is zero on a grey image has
        no gradient, before its rectifier or after.
        """
        node = self.by_path[path]
        while node.kind.role in CARRIERS and len(node.producers) == 1:
            node = self._at(node.producers[0])
        return node.kind.name == "DepthwiseConv2D"

    def classifier(self):
        """The head's last weighted layer (Dense or class-map conv), or None."""
        for path in self.head:
            if taxonomy.has_kernel(self.by_path[path].layer):
                return path
        return None

    def feature_input(self, path):
        """The layer whose output `path` reads, skipping dropout-like layers."""
        node = self.by_path[path]
        while len(node.producers) == 1:
            node = self._at(node.producers[0])
            if node.kind.role != PASS:
                return node.path
        return None


def is_meaningful(layer, role, rank, carried_on):
    """Whether a layer's output is a rectified or block output: where a CAM or a feature default may sit.

    `carried_on()`, called last, tells whether everything that reads the
    output only normalizes or activates it (then the layer after is the
    block's output, not this one).
    """
    if rank != 4 or role in (STRUCTURAL, NORMALIZATION, PASS, POOLING, GLOBAL_POOLING):
        return False
    if taxonomy.is_nonlinear_activation(layer) or taxonomy.fused_nonlinearity(layer):
        return True
    if role == MERGE:
        return True
    if role in CARRIERS:  # linear Activation, LayerScale, Softmax over channels
        return False
    return not carried_on()  # a linear conv, or a layer we do not know: a block output


def image_shape_of(model, image_shape=None):
    """`(H, W, C)` to trace `model` with: `image_shape`, else the model's input shape (free dims: 224).

    None for a model whose input is not an image; ValueError when the shape is unknown.
    """
    if image_shape is not None:
        return tuple(int(d) for d in image_shape)
    shape = None
    try:
        shape = tuple(model.inputs[0].shape[1:]) if model.inputs else None
    except (AttributeError, ValueError):
        shape = None
    if shape is None:
        built = getattr(model, "_build_shapes_dict", None) or {}
        first = next(iter(built.values()), None)
        shape = tuple(first[1:]) if first is not None and len(first) == 4 else None
    if shape is not None and len(shape) != 3:
        return None  # not an image model
    if shape is None:
        raise ValueError(
            f"The input shape of the model {model.name!r} is unknown, so its default layers cannot "
            "be found; pass the layer explicitly (`layer=`)."
        )
    return tuple(224 if d is None else int(d) for d in shape)


def layer_graph(model, image_shape=None) -> LayerGraph:
    """The `LayerGraph` of `model` for images of `image_shape` (one per traced graph, cached weakly per model)."""
    return trace.model_graph(model, image_shape_of(model, image_shape)).view("layer_graph", LayerGraph)


def _spread(paths, count):
    if len(paths) <= count:
        return tuple(paths)
    picks = np.linspace(0, len(paths) - 1, count)
    return tuple(dict.fromkeys(paths[int(round(i))] for i in picks))


def _by_resolution(graph, paths):
    """`paths` grouped by spatial size, in depth order: one group per resolution stage (>1x1)."""
    groups = {}
    for path in paths:
        size = graph.by_path[path].spatial
        if size and size != (1, 1):
            groups.setdefault(size, []).append(path)
    return list(groups.values())


def _fits(model, graph, path, share):
    try:
        field = measured.receptive_field_of(model, graph.graph, path)
    except ValueError:
        return False
    return max(field.size) <= share * min(graph.image_shape[:2])


def default_layers(model, role, image_shape=None):
    """The default layer paths of `model` for one use, by the meaningful-layer rules.

    Args:
        model: a built Keras model, any form.
        role: `"grad_cam"` (the last feature block with a spatial extent
            above 1x1), `"embedding"` (the classifier's input; a spatial layer
            there is to be pooled), `"patches"` (the deepest feature block
            whose receptive field is at most half the image side),
            `"dream"` (the middle rectified block of the second-deepest
            resolution stage, a depthwise convolution's only if there is no
            other, where the classic DeepDream layers are:
            VGG's block4, ResNet50's conv4_block3, MobileNetV2's block_10,
            all at a sixteenth of the input side; two blocks at about 60% and
            80% of the depth in a net of fewer than 4 stages),
            `"style"` (the first block of each resolution stage, up to 5, as
            conv1_1 ... conv5_1 in Gatys et al.), `"content"` (a block of the
            second-deepest stage, as conv4_2) or `"filters"` (the first layer
            with a 2-D convolution kernel).
        image_shape: `(H, W, C)` of the images it will see (default: the
            model's input shape, free dims taken as 224).

    Returns:
        A tuple of layer paths (one for single-layer roles).

    Raises:
        ValueError: `role` is unknown, or the model has no layer for it.
    """
    if role not in ROLES:
        raise ValueError(f"Received an invalid value for `role`: {role!r}. Expected one of {ROLES}.")
    if role == "filters":  # the first layer with a 2-D convolution kernel: no trace needed
        convolutions = [path for path, layer in trace.layer_paths(model).values() if taxonomy.conv_kernel(layer)]
        return _found(model, role, convolutions[:1], None)
    if image_shape_of(model, image_shape) is None:
        return _found(model, role, [], None)
    graph = layer_graph(model, image_shape)
    found = graph.defaults.get(role)
    if found is None:
        found = graph.defaults[role] = _found(model, role, _choose(model, graph, role), graph)
        logging.getLogger("kerasviz").info(
            "Default %s layer(s) of the model %r for %s images: %s", role, model.name, graph.image_shape, found)
    return found


def _choose(model, graph, role):
    features = graph.meaningful
    if role == "grad_cam":
        extended = [p for p in features if graph.by_path[p].spatial not in (None, (1, 1))]
        spatial = [n.path for n in graph.nodes if n.rank == 4 and n.path not in graph.head]
        return (extended or features or spatial)[-1:]  # a net of only pooling: its last spatial output
    if role == "embedding":
        classifier = graph.classifier()
        found = graph.feature_input(classifier) if classifier else None
        return [found] if found else []
    if role == "patches":
        return _deepest_fitting(model, graph, features)
    stages = _by_resolution(graph, features)
    if role == "dream":
        if len(stages) >= 4:  # the middle rectified block of the second-deepest stage (stride 16 of 32)
            stage = stages[-2]
            rectified = [p for p in stage if graph.rectified(p)]
            mixing = [p for p in rectified if not graph.after_depthwise(p)]
            chosen = mixing or rectified or stage
            return [chosen[len(chosen) // 2]]
        return list(dict.fromkeys(features[int(round(f * (len(features) - 1)))] for f in (0.6, 0.8))) if features else []
    if role == "style":
        found = [stage[0] for stage in stages] if len(stages) >= 3 else features
        return list(_spread(found, 5))
    if len(stages) >= 3:  # content
        stage = stages[-2]
        return [stage[min(1, len(stage) - 1)]]
    return [features[int(round(0.6 * (len(features) - 1)))]] if features else []


def _deepest_fitting(model, graph, features):
    """Binary search over depth: receptive fields grow with depth."""
    low, high, best = 0, len(features) - 1, []
    while low <= high:
        middle = (low + high) // 2
        if _fits(model, graph, features[middle], 0.5):
            best, low = [features[middle]], middle + 1
        else:
            high = middle - 1
    return best or features[:1]


def _found(model, role, found, graph):
    if not found:
        spatial = [n.path for n in graph.nodes if n.rank == 4] if graph is not None else []
        raise ValueError(
            f"The model {model.name!r} has no layer for the default {role!r}; pass the layer "
            f"explicitly. Its spatial layers: {spatial[-10:] or 'none'}."
        )
    return tuple(found)
