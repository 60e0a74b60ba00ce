"""Which inputs of a model with several inputs each layer depends on: the CAM layers of such a model.

A CAM explains at a spatial layer, and its map is a map of the image input
that layer is computed from. On a model with several inputs this module reads
Keras's own graph of the model (its nodes, depth by depth, nested functional
models read through) and records, for every layer call, the set of model
inputs it depends on. The default CAM layer of an image input is then the
last *meaningful* spatial layer (a rectified output, a merge, a linear conv
that no activation or normalization follows: the notion of
`kerasviz.layer_graph`) that depends on that image input and on no other
image input (side inputs may enter it, as in FiLM conditioning).
"""

import keras

from kerasviz import layer_graph, models
from kerasviz.graph import taxonomy
from kerasviz.graph.taxonomy import CARRIERS


class LayerUse:
    """One layer of the model: its path, the layer, the model inputs it depends on, how often it is called."""

    def __init__(self, path, layer, inputs, calls, rank):
        self.path, self.layer, self.inputs, self.calls, self.rank = path, layer, inputs, calls, rank
        self.consumers = []  # the `LayerUse`s that read its output


def _nodes_in_order(model):
    by_depth = getattr(model, "_nodes_by_depth", None)
    if by_depth is None:
        return None
    return [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]


def _walk(model, prefix, input_sets, uses, producer_of):
    """Fills `uses` (path -> `LayerUse`) with the calls of the functional `model`, its inputs reading `input_sets`."""
    nodes = _nodes_in_order(model)
    if nodes is None:
        return False
    depends = {id(t): s for t, s in zip(model.inputs, input_sets)}
    for node in nodes:
        operation = node.operation
        sources = list(node.input_tensors)
        inputs = frozenset().union(*(depends.get(id(t), frozenset()) for t in sources))
        if isinstance(operation, keras.layers.InputLayer):
            inputs = depends.get(id(node.output_tensors[0]), frozenset())
        for tensor in node.output_tensors:
            depends[id(tensor)] = inputs
        path = prefix + operation.name
        outputs = node.output_tensors
        rank = len(outputs[0].shape) if len(outputs) == 1 else None
        use = uses.get(path)
        if use is None:
            use = uses[path] = LayerUse(path, operation, inputs, 1, rank)
        else:
            use.calls, use.inputs = use.calls + 1, use.inputs | inputs
        for tensor in sources:
            producer = producer_of.get(id(tensor))
            if producer is not None:
                producer.consumers.append(use)
        for tensor in outputs:
            producer_of[id(tensor)] = use
        if isinstance(operation, keras.Model) and use.calls == 1:
            inner = [depends.get(id(t), frozenset()) for t in sources]
            if len(inner) == len(operation.inputs or []):
                _walk(operation, path + "/", inner, uses, {})
    return True


def layer_uses(model):
    """`{path: LayerUse}` of a functional model with several inputs, in call order (input indices in `inputs`)."""
    uses = {}
    if not _walk(model, "", [frozenset([k]) for k in range(len(model.inputs))], uses, {}):
        raise ValueError(f"The model {model.name!r} is not a functional model, so which of its inputs each layer "
                         "reads cannot be found: a CAM on a model with several inputs needs a functional model.")
    return uses


def _is_meaningful(use):
    """A rectified or block output (`kerasviz.layer_graph.is_meaningful`, read on Keras's graph; not a nested model)."""
    def carried_on():
        return isinstance(use.layer, keras.Model) or bool(use.consumers) and all(
            taxonomy.kind_of(c.layer).role in CARRIERS for c in use.consumers)

    return layer_graph.is_meaningful(use.layer, taxonomy.kind_of(use.layer).role, use.rank, carried_on)


def default_cam_layer(model, uses, k, image_inputs):
    """The path of the default CAM layer of the image input `k`: its branch's last meaningful spatial layer."""
    own = [u for u in uses.values() if u.calls == 1 and u.rank == 4 and u.inputs & image_inputs == {k}
           and not isinstance(u.layer, keras.layers.InputLayer)]
    chosen = [u for u in own if _is_meaningful(u)] or own
    if not chosen:
        name = model.inputs[k].name
        raise ValueError(f"The model {model.name!r} has no spatial layer [B, h, w, K] that depends on the image "
                         f"input {name!r} alone, so it has no default CAM layer for it: pass `layer=` (spatial "
                         f"layers of the model: {models.spatial_layers(model) or 'none'}).")
    return chosen[-1].path


def image_inputs_of(model, uses, layer, image_inputs, argname="layer"):
    """`(path, inputs)`: the canonical path of `layer` and the image inputs (indices) it depends on.

    Raises:
        ValueError: `layer` is not in the model, is called more than once
            (its activation is ambiguous), has no spatial output, or depends
            on no image input.
    """
    path, found = models.get_layer(model, layer, argname)
    use = uses.get(path)
    if use is None:
        raise ValueError(f"Received `{argname}={layer!r}`: the layer {path!r} is inside a model that is not "
                         f"functional, so which inputs of {model.name!r} it reads cannot be found.")
    if use.calls > 1:
        raise ValueError(f"Received `{argname}={layer!r}`: the layer {path!r} is called {use.calls} times in the "
                         f"model {model.name!r} (shared between its inputs), so its activation is ambiguous. "
                         f"Pass a layer that is called once.")
    if use.rank != 4:
        shape = tuple(found.output.shape) if use.rank is not None else None
        raise ValueError(f"Received an invalid value for `{argname}`: {path!r}, whose output has shape {shape}. "
                         f"A CAM needs a layer with a spatial output [B, h, w, K]. Spatial layers of the model "
                         f"{model.name!r}: {models.spatial_layers(model) or 'none'}.")
    inputs = sorted(use.inputs & image_inputs)
    if not inputs:
        names = [model.inputs[k].name for k in sorted(use.inputs)]
        raise ValueError(f"Received `{argname}={layer!r}`: the layer {path!r} depends on no image input of the "
                         f"model {model.name!r} (it reads {names or 'no input'}), so its CAM maps no image.")
    return path, inputs
