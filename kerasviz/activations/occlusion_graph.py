"""A Keras model as a flat list of layer calls, to run one layer at a time (for incremental occlusion).

Sequential and functional models, also nested ones (a functional backbone
inside a Sequential head), are read from Keras's own graph of layer calls:
every call becomes one `Step` with the ids of the tensors it reads and the id
of the tensor it makes; a nested model is inlined, its layers called one by
one. Anything else (a subclassed model, a nested model called on several
tensors, a layer with several outputs) is one opaque step, called whole.
`replay` runs the steps exactly as `model(x, training=False)` runs them:
the same layers, called with the same arguments, in the same order.
"""

import keras
import tensorflow as tf


class Step:
    """One layer call: `outputs = layer(*args)`, reading the tensors `inputs` (ids)."""

    def __init__(self, path, layer, arguments, inputs, output, aliases):
        self.path, self.layer, self.output = path, layer, output
        self.inputs = inputs  # ids of the tensors it reads (canonical), one per KerasTensor of `arguments`
        self._arguments = arguments  # Keras's SymbolicArguments of the call, or None: `layer(x)`
        self._aliases = aliases  # id of each KerasTensor of `arguments` -> canonical id

    @property
    def kind(self):
        return type(self.layer).__name__

    def __call__(self, env):
        """The layer applied to the values of its inputs in `env` (`{id: tensor}`)."""
        if self._arguments is None:
            args, kwargs = (env[self.inputs[0]],), {}
        else:
            values = {k: env[c] for k, c in self._aliases.items()}
            args, kwargs = self._arguments.fill_in(values)
        if getattr(self.layer, "_call_has_training_arg", False):
            kwargs = dict(kwargs, training=False)
        outputs = self.layer(*args, **kwargs)
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[0] if len(outputs) == 1 else outputs
        return outputs

    def call_on(self, tensors):
        """The layer applied to `tensors`, one per input id (windows instead of whole maps)."""
        return self({key: value for key, value in zip(self.inputs, tensors)})


def _functional(model):
    """The functional graph behind `model` (Sequential: its `_functional`), or None."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if hasattr(model, "_nodes_by_depth") and getattr(model, "inputs", None) is not None:
        return model
    return None


def _walk(model, input_id, prefix, steps, alias):
    """Appends the steps of `model` called on the tensor `input_id`; returns its output's id."""
    graph = _functional(model)
    if graph is None or len(graph.inputs) != 1 or len(graph.outputs) != 1:
        if isinstance(model, keras.Sequential) and graph is None:
            for layer in model.layers:
                input_id = _add(layer, None, [input_id], prefix, steps, alias, None)
            return input_id
        return None
    alias[id(graph.inputs[0])] = input_id
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if not node.operation or node.is_input:
                continue
            tensors = node.arguments.keras_tensors
            if any(id(t) not in alias for t in tensors):
                return None
            if len(node.outputs) != 1:
                return None
            ids = [alias[id(t)] for t in tensors]
            alias[id(node.outputs[0])] = _add(node.operation, node.arguments, ids, prefix, steps, alias,
                                              node.outputs[0], tensors)
    return alias.get(id(graph.outputs[0]))


def _add(layer, arguments, ids, prefix, steps, alias, output, tensors=()):
    """Appends `layer` (inlining a nested model called on one tensor); returns its output's id."""
    path = prefix + layer.name
    if isinstance(layer, keras.Model) and len(ids) == 1 and len(tensors) <= 1:
        inner = _walk(layer, ids[0], path + "/", steps, alias)
        if inner is not None:
            return inner
    aliases = {id(t): alias[id(t)] for t in tensors}
    key = id(output) if output is not None else -2 - len(steps)  # synthetic ids are negative
    steps.append(Step(path, layer, arguments, ids, key, aliases))
    return key


def model_steps(model):
    """`(steps, input_id, output_id)`: the layer calls of `model` in an order that runs it.

    A model that cannot be read layer by layer is one opaque step (the model itself).
    """
    input_id = -1  # ids of Keras tensors are positive
    steps, alias = [], {}
    try:
        output_id = _walk(model, input_id, "", steps, alias)
    except (AttributeError, TypeError, ValueError):
        output_id = None
    if output_id is None:
        steps = [Step(model.name, model, None, [input_id], -2, {})]
        output_id = steps[0].output
    return steps, input_id, output_id


def replay(steps, env, stop=None):
    """Runs `steps` (from `stop` on, when given an index) on the tensors of `env`, in place."""
    for step in steps[stop or 0:]:
        env[step.output] = step(env)
    return env


def static_shapes(steps, input_id, image_shape):
    """`{id: (h, w, c) or shape}` of every tensor for one image of `image_shape` (a symbolic trace)."""
    shapes = {}

    def trace(x):
        env = replay(steps, {input_id: x})
        for key, value in env.items():
            shapes[key] = tuple(value.shape[1:]) if isinstance(value, tf.Tensor) else None
        return tf.constant(0)

    tf.function(trace, autograph=False).get_concrete_function(tf.TensorSpec([1, *image_shape], tf.float32))
    return shapes
