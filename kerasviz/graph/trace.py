"""A model as a graph of layer calls, from one symbolic call: the one graph of a model kerasviz reads.

A model is read the same way whatever its form (Sequential, functional,
nested, subclassed, mixed precision): one symbolic call, `model(x,
training=False)` on a `[1, H, W, C]` placeholder, records every layer call
(through the per-thread dispatchers of `kerasviz.patching`: the model never
changes) with its arguments and output shapes. The inputs of each call are
then found among the outputs of earlier calls, in two ways:

- its **producers**: the nearest calls its inputs are computed from, through
  any ops that no layer owns (a cast, a `tf.nn.relu` in a subclassed `call`):
  what the meaningful-layer notion reads (`kerasviz.layer_graph`);
- its **slots**: for each tensor argument, the call whose output it *is*
  (through casts and identities only), or None: what a reader that follows
  or replays the calls one by one needs (receptive fields, incremental
  occlusion).

Calls are listed in the order they finish, so a nested model comes after
its own layers (its `members`). A nested model whose graph is Keras's own
(functional or Sequential, called on one tensor, with one output, each
member reading only what calls made) is read through: its members stand in
for it (`Graph.units`). Anything else, a subclassed model or a layer that
makes calls of its own, is one unit, called whole.
"""

import functools
import itertools
import threading
import weakref

import keras
import tensorflow as tf

from kerasviz import patching
from kerasviz.graph import taxonomy

INPUT = -1  # the key of the model's input image
_PASS_OPS = ("Identity", "Cast")  # ops between two calls that a replay of the calls redoes by itself


class Slot:
    """A tensor argument of a call: the output of call `key` (`INPUT`: the image; None: no call's output)."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __repr__(self):
        return f"Slot({self.key})"


class Call:
    """One call of a layer, a Keras op or a nested model, in the traced forward pass."""

    def __init__(self, index, path, layer, arguments, shapes, parent=None):
        self.index, self.path, self.layer, self.parent = index, path, layer, parent
        self.arguments = arguments  # `(args, kwargs)` of the call, a `Slot` for each tensor
        self.shapes = shapes  # each tensor output's shape, without the batch axis
        self.members = []  # indices of the calls made directly inside this one, in order
        self.producers, self.consumers = [], []  # indices of calls (nested models never: their layers)
        self.key = index  # whose output is this call's: for a nested model, the member that made it
        self.kind = taxonomy.kind_of(layer)
        self.is_model = isinstance(layer, keras.Model)
        # Keras's own graph of layer calls: functional or Sequential (a subclassed model's call is Python).
        self.symbolic = isinstance(layer, keras.Sequential) or hasattr(layer, "_nodes_by_depth")

    @property
    def shape(self):
        """The shape of the first output, without the batch axis (None: no tensor output)."""
        return self.shapes[0] if self.shapes else None

    @property
    def rank(self):
        return None if self.shape is None else len(self.shape) + 1

    @property
    def spatial(self):
        """`(h, w)` for a `[B, h, w, C]` output, else None."""
        return tuple(self.shape[:2]) if self.rank == 4 else None

    @property
    def inputs(self):
        """The key of each tensor argument, in argument order (None where no call made it)."""
        return tuple(v.key for v in tf.nest.flatten(self.arguments) if isinstance(v, Slot))

    def call_on(self, tensors):
        """The layer called on `tensors`, one per tensor argument (a region instead of a whole map)."""
        return self(dict(zip(self.inputs, tensors)))

    @property
    def direct(self):
        """Whether every tensor argument is the output of a call (or the image)."""
        return None not in self.inputs

    def __call__(self, env):
        """The layer called as the model calls it, on the values of `env` (`{key: tensor}`)."""
        args, kwargs = tf.nest.map_structure(lambda v: env[v.key] if isinstance(v, Slot) else v, self.arguments)
        outputs = self.layer(*args, **kwargs)
        if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
            outputs = outputs[0]
        return outputs


class Graph:
    """The layer calls of a model for one image shape; `root` is the model's own call (held weakly)."""

    def __init__(self, calls, root, image_shape):
        self.calls, self.root, self.image_shape = calls, root, tuple(image_shape)
        self._views, self._lock = {}, threading.RLock()

    def called(self, path):
        """The calls of the layer at `path` (several for a shared layer)."""
        return [call for call in self.calls if call.path == path]

    def readable(self, call):
        """Whether the members of the nested model `call` (or the root) can stand in for it."""
        if not call.symbolic or len(call.inputs) != 1 or len(call.shapes) != 1 or call.key == call.index:
            return False
        return all(self.calls[m].direct and len(self.calls[m].shapes) == 1 for m in call.members)

    def units(self):
        """The calls that make up the model, nested Keras graphs read through; None when the model is one unit."""
        return self.view("units", _units)

    def whole(self, call):
        """The outermost call read whole (the root included) that holds `call`, or None when none does."""
        chain, parent = [], call.parent
        while parent is not None:
            chain.append(self.calls[parent])
            parent = self.calls[parent].parent
        for holder in [self.root] + chain[::-1]:
            if not self.readable(holder):
                return holder
        return None

    def view(self, name, build):
        """What `build(graph)` derives from the graph (a reader's view of it), built once."""
        with self._lock:
            if name not in self._views:
                self._views[name] = build(self)
            return self._views[name]


def _units(graph):
    if not graph.readable(graph.root):
        return None
    found = []

    def add(container):
        for index in container.members:
            member = graph.calls[index]
            if member.is_model and graph.readable(member):
                add(member)
            else:
                found.append(member)

    add(graph.root)
    return found


def _children(parent):
    # A functional model's `operations` are its layers plus the Keras ops it calls on symbolic tensors.
    children = getattr(parent, "operations", None)
    return list(children if children is not None else getattr(parent, "layers", ()))


def layer_paths(model):
    """`{id(layer): (path, layer)}` of every layer of `model`, nested ones included, in depth-first order.

    Paths are those of `kerasviz.models.get_layer` ("backbone/conv1"); a
    nested model comes before its own layers, and a functional model's Keras
    ops (ConvNeXt's residual `x + y`) are there too.
    """
    found, pending = {}, [("", layer) for layer in reversed(_children(model))]
    while pending:
        prefix, layer = pending.pop()
        found.setdefault(id(layer), (prefix + layer.name, layer))
        if isinstance(layer, keras.Model) or getattr(layer, "layers", None):
            pending += [(prefix + layer.name + "/", child) for child in reversed(_children(layer))]
    return found


def _source(tensor, known, models):
    """The key of the call whose output `tensor` is (through casts and identities), or None."""
    found = None
    while True:
        key = known.get(tensor.ref())
        if key is not None:
            return key
        found = models.get(tensor.ref()) if found is None else found
        if tensor.op.type not in _PASS_OPS or len(tensor.op.inputs) != 1:
            return found
        tensor = tensor.op.inputs[0]


def _producers(tensor, known, limit=10_000):
    """Keys of the nearest recorded ancestors of `tensor`, through any ops."""
    found, stack, seen = [], [tensor], set()
    while stack and len(seen) < limit:
        t = stack.pop()
        if t.ref() in seen:
            continue
        seen.add(t.ref())
        key = known.get(t.ref())
        if key is not None:
            found.append(key)
            continue
        stack.extend(getattr(t.op, "inputs", ()))
    return list(dict.fromkeys(found))


def _tensors(structure):
    return [t for t in tf.nest.flatten(structure) if isinstance(t, tf.Tensor)]


def _or(key, default):
    return default if key is None else key


def _calls(record, known, models):
    """The `Call`s of a record of `(token, parent token, path, layer, (args, kwargs), outputs)`, in order."""
    position = {entry[0]: i for i, entry in enumerate(record)}
    calls = []
    for index, (_, parent, path, layer, arguments, outputs) in enumerate(record):
        slots = tf.nest.map_structure(
            lambda v: Slot(_source(v, known, models)) if isinstance(v, tf.Tensor) else v, arguments)
        tensors = _tensors(outputs)
        call = Call(index, path, layer, slots, tuple(tuple(t.shape[1:]) for t in tensors), position.get(parent))
        call.producers = list(dict.fromkeys(
            p for t in _tensors(arguments) for p in _producers(t, known) if p != INPUT))
        if call.is_model:  # its layers made its output: readers read theirs, a model's own op is its own
            call.key = _or(_source(tensors[0], known, {}) if len(tensors) == 1 else None, index)
            for t in tensors:
                models.setdefault(t.ref(), index)
        else:
            for t in tensors:
                known.setdefault(t.ref(), index)
        calls.append(call)
    for call in calls:
        for p in call.producers:
            calls[p].consumers.append(call.index)
    return calls


def trace(model, image_shape) -> Graph:
    """The `Graph` of `model` called on one image of `image_shape` (a symbolic call; the model never changes)."""
    record, stack, tokens, seen = [], [], itertools.count(), {}

    def remember(path, layer, call, *args, **kwargs):
        token, parent = next(tokens), (stack[-1] if stack else None)
        stack.append(token)
        try:
            outputs = call(*args, **kwargs)
        finally:
            stack.pop()
        record.append((token, parent, path, layer, (args, kwargs), outputs))
        return outputs

    def build(frame):
        for path, layer in layer_paths(model).values():
            frame.add(layer, "call", functools.partial(remember, path, layer))

    @tf.function(autograph=False)
    def forward(x):
        with patching.frame(build):
            seen["image"], seen["outputs"] = x, model(x, training=False)
        return seen["outputs"]

    forward.get_concrete_function(tf.TensorSpec([1, *image_shape], tf.float32))
    known, models = {seen["image"].ref(): INPUT}, {}
    calls = _calls(record, known, models)
    outputs = _tensors(seen["outputs"])
    root = Call(len(calls), model.name, model, ((Slot(INPUT),), {"training": False}),
                tuple(tuple(t.shape[1:]) for t in outputs))
    root.layer = weakref.proxy(model)  # the graph, cached on the model, must not keep it alive
    root.key = _or(_source(outputs[0], known, models) if len(outputs) == 1 else None, root.index)
    for call in calls:
        (root if call.parent is None else calls[call.parent]).members.append(call.index)
    return Graph(calls, root, image_shape)


_CACHE = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def model_graph(model, image_shape) -> Graph:
    """The `Graph` of `model` for images of `image_shape` `(H, W, C)`, traced once (cached weakly per model)."""
    shape = tuple(int(d) for d in image_shape)
    with _LOCK:
        per_model = _CACHE.setdefault(model, {})
        graph = per_model.get(shape)
        if graph is None:
            graph = per_model[shape] = trace(model, shape)
    return graph
