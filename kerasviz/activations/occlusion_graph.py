"""A Keras model as a flat list of layer calls, to run one layer at a time (for incremental occlusion).

The steps are the units of the model's graph of layer calls
(`kerasviz.graph.trace.Graph.units`): Sequential and functional models, also
nested ones (a functional backbone inside a Sequential head), are read
through, their layers called one by one, each step reading the keys of the
tensors it reads and making the tensor of its own `key`. Anything else (a
subclassed model, a nested model called on several tensors, a layer with
several outputs) is one opaque step, called whole. `replay` runs the steps
exactly as `model(x, training=False)` runs them: the same layers, called with
the same arguments, in the same order.
"""

from kerasviz.graph.trace import INPUT


def model_steps(graph):
    """`(steps, input_id, output_id, shapes)` of a traced `graph`: its calls in an order that runs it.

    `shapes` maps the key of every tensor the steps make (and the image's) to
    its shape without the batch axis (None: several outputs). A model that
    cannot be read layer by layer is one opaque step (the model itself).
    """
    units = graph.units()
    steps = units if units is not None else [graph.root]
    shapes = {INPUT: graph.image_shape, **{s.key: s.shape if len(s.shapes) == 1 else None for s in steps}}
    return steps, INPUT, graph.root.key, shapes


def replay(steps, env, stop=None):
    """Runs `steps` (from `stop` on, when given an index) on the tensors of `env`, in place."""
    for step in steps[stop or 0:]:
        env[step.key] = step(env)
    return env
