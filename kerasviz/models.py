"""Reading a Keras model without changing it.

Everything kerasviz computes starts here: finding layers (also inside nested
models), sensible default layers, and running the model inside a traced graph
with three temporary patches:

- **capture**: a layer's output is recorded so that a `tf.GradientTape` can
  differentiate with respect to it (Grad-CAM, DeepDream, inversion, style);
  or, for a layer that ends in a rectifier, what enters the rectifier (its
  *pre-activation*, the path `pre_activation(model, layer)`: feature visualization
  starts there, where a channel that does not fire yet still has a gradient);
- **logits**: a softmax (or sigmoid) fused into the output layer, or standing
  as its own layer, is bypassed so that gradient methods use the pre-softmax
  class score (Simonyan et al., 2013, section 2);
- **rule**: rectifiers get the guided-backpropagation gradient of
  Springenberg et al., 2015 ("Striving for Simplicity", `rule="guided"`), or
  DeconvNet's (`rule="deconvnet"`), via `tf.custom_gradient`.

The patches act only for the thread that traces, only while `run` executes
(that is, while one of our `tf.function`s is traced), and are gone when the
last trace that needed them ends (`kerasviz.patching`): the user's model, its
weights and its own compiled functions are never touched, and another thread's
`model(x)` or `fit` computes what it always computes. Safe to call from
several threads.
"""

import contextlib
import difflib
import logging
import threading
import warnings
import weakref

import keras
import tensorflow as tf

from kerasviz import layer_graph, patching
from kerasviz.patching import GUIDED_SCOPE, PLAIN_SCOPE
_RELU_OP_TYPES = ("Relu", "Relu6", "LeakyRelu")
_RECTIFIER_LAYERS = (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU)
PRE_ACTIVATION = "#pre_activation"  # the suffix of a capture path that reads a layer's rectifier input


def has_rectifier(layer):
    """Whether `layer` ends in a rectifier: a ReLU-family layer, or a rectifier activation (fused or its own layer).

    The rectifiers are those guided backpropagation guides
    (`kerasviz.patching.GUIDED_ACTIVATIONS`: ReLU, ReLU6, leaky ReLU,
    ELU/SELU, GELU, swish/SiLU, hard-swish, mish, softplus).
    """
    if isinstance(layer, _RECTIFIER_LAYERS):
        return True
    return patching.original(layer, "activation") in patching.GUIDED_ACTIVATIONS


def pre_activation(model, layer, argname="layer"):
    """The capture path of what enters the rectifier of `layer` (validated), for `run` and `run_layers`.

    Raises:
        ValueError: `layer` is not in the model, or does not end in a rectifier.
    """
    path, found = get_layer(model, layer, argname)
    if not has_rectifier(found):
        raise ValueError(
            f"Received `{argname}={layer!r}` with `pre_activation=True`, but the layer {path!r} "
            f"({type(found).__name__}) does not end in a rectifier: its output is what it computes "
            "before any nonlinearity. Pass `pre_activation=False`.")
    return path + PRE_ACTIVATION


def split_pre_activation(path):
    """`(layer path, whether it reads the pre-activation)` of a capture path."""
    if path.endswith(PRE_ACTIVATION):
        return path[:-len(PRE_ACTIVATION)], True
    return path, False


def iter_layers(model):
    """Yields `(path, layer)` for every layer of `model`, nested models included.

    Paths join names with "/" from the top model down, e.g.
    `"mobilenetv2_0.35_96/Conv_1"`; a nested model is yielded before its own
    layers. Works for Sequential, functional and subclassed models; a
    functional model's Keras ops (`keras.ops.add` on symbolic tensors, as in
    ConvNeXt's residual connections) are yielded too.
    """
    def walk(parent, prefix):
        # A functional model's `operations` are its layers plus the Keras ops called on symbolic
        # tensors (ConvNeXt's residual `x + y` is an `add` op, not a layer): both can be read.
        children = getattr(parent, "operations", None)
        for layer in children if children is not None else getattr(parent, "layers", ()):
            path = prefix + layer.name
            yield path, layer
            if isinstance(layer, keras.Model) or getattr(layer, "layers", None):
                yield from walk(layer, path + "/")

    yield from walk(model, "")


def check_model(model, argname="model"):
    """Raises unless `model` is a built `keras.Model` (or a built Keras layer)."""
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            f"Expected `{argname}` to be a Keras model (`keras.Model`). "
            f"Received: {argname}={model!r} of type {type(model).__name__}."
        )
    if not model.built:
        raise ValueError(
            f"The model passed as `{argname}` ({model.name!r}) is not built yet. "
            "Call it once on a batch or build it with `model.build(input_shape)` first."
        )
    return model


def _layer_output_rank(layer):
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def _is_spatial(layer):
    """A layer with a 2-D spatial output: a conv layer, or anything producing [B, H, W, C]."""
    if isinstance(layer, keras.Model):
        return False
    rank = _layer_output_rank(layer)
    if rank is not None:
        return rank == 4 and not isinstance(layer, keras.layers.InputLayer)
    kernel = getattr(layer, "kernel", None)
    return kernel is not None and len(kernel.shape) == 4


def spatial_layers(model):
    """Paths of the layers of `model` with a 2-D spatial output `[B, H, W, C]`, in call order."""
    return [path for path, layer in iter_layers(model) if _is_spatial(layer)]


def _has_conv_kernel(layer):
    kernel = getattr(layer, "kernel", None)
    return kernel is not None and len(kernel.shape) == 4 and not isinstance(layer, keras.Model)


def conv_layers(model):
    """Paths of the layers of `model` with a 4-D convolution kernel, in call order."""
    return [path for path, layer in iter_layers(model) if _has_conv_kernel(layer)]


def _short_list(items, limit=20):
    if len(items) <= limit:
        return str(items)
    return f"{items[:limit // 2]} ... {items[-limit // 2:]} ({len(items)} in all)"


def get_layer(model, layer, argname="layer"):
    """Finds a layer of `model`.

    Args:
        model: a built Keras model.
        layer: a layer name (searched at every depth), a path into nested
            models (`"backbone/Conv_1"`), an int index into `model.layers`
            (negative counts from the end), or a layer object of the model.
        argname: the argument name used in error messages.

    Returns:
        `(path, layer_object)`, the path being the canonical "/"-joined name.

    Raises:
        ValueError: the layer is not in the model; the message lists close
            matches and the model's conv layers.
        TypeError: `layer` is of another type.
    """
    entries = list(iter_layers(model))
    if isinstance(layer, keras.layers.Layer):
        for path, candidate in entries:
            if candidate is layer:
                return path, candidate
        raise ValueError(
            f"Received an invalid value for `{argname}`: the layer {layer.name!r} "
            f"is not part of the model {model.name!r}."
        )
    if isinstance(layer, bool) or not isinstance(layer, (int, str)):
        raise TypeError(
            f"Expected `{argname}` to be a layer name, a path such as 'backbone/conv', "
            f"an int index or a layer object. Received: {argname}={layer!r} "
            f"of type {type(layer).__name__}."
        )
    if isinstance(layer, int):
        top = model.layers
        if not -len(top) <= layer < len(top):
            raise ValueError(
                f"Received an invalid value for `{argname}`: index {layer} is out of range "
                f"for a model with {len(top)} layers."
            )
        return get_layer(model, top[layer], argname)
    by_path = [(p, l) for p, l in entries if p == layer]
    if by_path:
        return by_path[0]
    by_name = [(p, l) for p, l in entries if l.name == layer]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        raise ValueError(
            f"Received an ambiguous value for `{argname}`: {layer!r} names several layers: "
            f"{[p for p, _ in by_name]}. Pass the full path."
        )
    names = [p for p, _ in entries] + [l.name for _, l in entries]
    close = difflib.get_close_matches(layer, names, n=5, cutoff=0.5)
    raise ValueError(
        f"Received an invalid value for `{argname}`: no layer named {layer!r} in the model "
        f"{model.name!r}. Close matches: {close or 'none'}. "
        f"Available conv layers: {_short_list(conv_layers(model)) if conv_layers(model) else 'none'}."
    )


def output_shape(model, path):
    """The output shape `(dims...)` of the layer at `path` without the batch, or None when unknown.

    A `pre_activation` path has its layer's shape (a rectifier keeps it).
    """
    layer = get_layer(model, split_pre_activation(path)[0])[1]
    try:
        return tuple(layer.output.shape[1:])
    except (AttributeError, ValueError):
        return None


def default_layers(model, role, image_shape=None):
    """The default layer paths of `model` for one use (see `kerasviz.layer_graph.default_layers`).

    Roles: `"grad_cam"`, `"embedding"`, `"patches"`, `"dream"`, `"style"`,
    `"content"`, `"filters"`. The choice is logged (logger `"kerasviz"`,
    level INFO) and the same for every form of the same network.
    """
    return layer_graph.default_layers(model, role, image_shape)


def default_layer(model, role, image_shape=None):
    """The first of `default_layers(model, role, image_shape)`."""
    return default_layers(model, role, image_shape)[0]


def _output_layer(model):
    """The layer whose output is the model's output, descending into nested models.

    For a subclassed model (no symbolic outputs) this is its last tracked layer.
    """
    layer = None
    try:
        outputs = list(model.outputs or [])
    except (AttributeError, ValueError):
        outputs = []
    if len(outputs) == 1 and hasattr(outputs[0], "_keras_history"):
        layer = outputs[0]._keras_history.operation
    elif getattr(model, "layers", None):
        layer = model.layers[-1]
    if isinstance(layer, keras.Model):
        return _output_layer(layer)
    return layer


def output_layer(model):
    """The layer whose output is the model's output (into nested models; a subclassed model's last layer)."""
    return _output_layer(model)


def output_count(model):
    """How many outputs a functional or Sequential model has (1 for a subclassed model)."""
    try:
        return max(len(model.outputs or []), 1)
    except (AttributeError, ValueError):
        return 1


def _output_layers(model):
    """The layer of each output of a model with several outputs (into nested models)."""
    layers = []
    for output in model.outputs:
        layer = output._keras_history.operation if hasattr(output, "_keras_history") else None
        layers.append(_output_layer(layer) if isinstance(layer, keras.Model) else layer)
    return layers


PROBABILITY_ACTIVATIONS = {
    keras.activations.softmax: "softmax",
    keras.activations.sigmoid: "sigmoid",
}


def output_activation(model):
    """`"softmax"`, `"sigmoid"` or `None`: what turns the model's logits into its output.

    For a model with several outputs, a tuple: `"softmax"` or None per
    output. There only a softmax is taken for class scores: a sigmoid output
    of a multi-output model is as likely a box or a bounded regression as
    multi-label scores, so it is read as it is (`_add_logits` leaves it).
    """
    if output_count(model) > 1:
        return tuple("softmax" if _layer_activation(layer) == "softmax" else None for layer in _output_layers(model))
    return _layer_activation(_output_layer(model))


def _layer_activation(layer):
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    return PROBABILITY_ACTIVATIONS.get(patching.original(layer, "activation"))


def _identity_call(call, inputs, *args, **kwargs):
    return inputs


def _identity_activation(activation, x, *args, **kwargs):
    return x


def _guided_layer_backward(layer):
    """The guided-backprop derivative of a rectifier *layer* (`ReLU`, `LeakyReLU`, `ELU`), or None."""
    if isinstance(layer, keras.layers.ReLU):
        return patching.relu_backward(layer.negative_slope, layer.max_value, layer.threshold)
    if isinstance(layer, keras.layers.LeakyReLU):
        return patching.relu_backward(negative_slope=layer.negative_slope)
    if isinstance(layer, keras.layers.ELU):
        alpha = layer.alpha
        return patching.derivative_backward(lambda x: keras.activations.elu(x, alpha))
    return None


def _add_guided(frame, layer, rule):
    activation = patching.original(layer, "activation")
    guided_fn = patching.guided_activation(activation, rule) if activation is not None else None
    if guided_fn is not None:
        frame.add(layer, "activation", lambda fn, x, *args, **kwargs: guided_fn(x, *args, **kwargs))
    backward = _guided_layer_backward(layer)
    if backward is not None and rule == "deconvnet":
        backward = patching.deconvnet_backward
    if backward is not None:
        frame.add(layer, "call", lambda call, *args, **kwargs: patching.guided(call, backward)(*args, **kwargs))


def _add_capture(frame, layer, path, captured):
    def capture(call, *args, **kwargs):
        outputs = call(*args, **kwargs)
        captured[path] = outputs
        return outputs

    frame.add(layer, "call", capture)


def replacing_output(model, path, fn):
    """An `overrides` for `patched`/`run`: the output of the layer at `path` becomes `fn(output)`.

    A capture of `path` records the replaced output (layer Integrated
    Gradients' interpolated activations).
    """
    layer = get_layer(model, path)[1]

    def overrides(frame):
        frame.add(layer, "call", lambda call, *args, **kwargs: fn(call(*args, **kwargs)))

    return overrides


def _add_pre_capture(frame, layer, path, captured):
    """Records the input of `layer`'s rectifier: its fused (or `Activation`) function's, else its call's."""
    def capture(fn, x, *args, **kwargs):
        captured[path] = x
        return fn(x, *args, **kwargs)

    if patching.original(layer, "activation") in patching.GUIDED_ACTIVATIONS:
        frame.add(layer, "activation", capture)
    else:  # ReLU, LeakyReLU, ELU layers: their input
        frame.add(layer, "call", capture)


def _add_logits(frame, model):
    several = output_count(model) > 1
    for layer in _output_layers(model) if several else [_output_layer(model)]:
        if layer is None or several and _layer_activation(layer) != "softmax":
            continue
        if isinstance(layer, keras.layers.Softmax):
            frame.add(layer, "call", _identity_call)
        elif patching.original(layer, "activation") in PROBABILITY_ACTIVATIONS:
            frame.add(layer, "activation", _identity_activation)


def patched(model, *, capture=(), rule=None, logits=True, guided=None, overrides=None):
    """Patches `model` for the calling thread's kerasviz trace only (see `kerasviz.patching`).

    Every other thread, and this thread outside the block, keeps computing
    exactly what the model computes; the layers are as they were once the
    last block that needed them exits, whatever the interleaving.

    Args:
        model: a built Keras model.
        capture: paths of layers whose outputs to record (from `get_layer`),
            or `pre_activation` paths, whose rectifier inputs to record.
        rule: how every reachable rectifier's gradient is changed: None
            (its own derivative), `"guided"` (guided backpropagation)
            or `"deconvnet"` (DeconvNet: the rectified upstream gradient,
            whatever the forward mask); one of `patching.RULES`. (DeepLIFT
            passes its rules as `overrides`: `kerasviz.relevance.rescale`.)
        logits: bypass a final softmax/sigmoid.
        guided: deprecated spelling of `rule` (`True` is `"guided"`,
            `False` is None); warns `DeprecationWarning`.
        overrides: None, or `overrides(frame)` adding overrides of a method's
            own with `frame.add` (LRP's relevance rules,
            `kerasviz.relevance`; `replacing_output`); a capture records
            what they return.

    Returns:
        A context manager yielding a dict `{path: output tensor}` filled while
        the model runs.
    """
    captured = {}
    rule = _rule(rule, guided)

    def build(frame):
        if logits:
            _add_logits(frame, model)
        if overrides is not None:
            overrides(frame)
        for path, layer in iter_layers(model):
            if rule:
                _add_guided(frame, layer, rule)
            if path in capture:
                _add_capture(frame, layer, path, captured)
            if path + PRE_ACTIVATION in capture:
                _add_pre_capture(frame, layer, path + PRE_ACTIVATION, captured)

    @contextlib.contextmanager
    def block():
        with patching.frame(build):
            yield captured

    return block()


def _rule(rule, guided):
    """`rule` checked, or the deprecated `guided` translated to it."""
    if guided is not None:
        warnings.warn("`guided` is deprecated: use `rule=\"guided\"`, `rule=\"deconvnet\"` or `rule=None`.",
                      DeprecationWarning, stacklevel=3)
        if rule is not None:
            raise ValueError(f"Give `rule` or the deprecated `guided`, not both. Received rule={rule!r}, "
                             f"guided={guided!r}.")
        rule = "guided" if guided is True else (None if guided is False else guided)
    if rule is not None and (not isinstance(rule, str) or rule not in patching.RULES):
        raise ValueError(f"Received an invalid value for `rule`: {rule!r}. Expected None or one of {patching.RULES}.")
    return rule


def run(model, images, *, capture=(), rule=None, logits=True, guided=None, overrides=None):
    """Runs `model` on `images` (inference mode) with the patches of `patched`.

    Meant to be called inside a `tf.function` (and a `tf.GradientTape`).

    Returns:
        `(outputs, activations)`: the model's output as float32 (logits when
        `logits=True`), and `{path: activation}` for the captured layers, in the
        layers' own dtype so that a tape can differentiate with respect to them.
        A model with several outputs (a list or dict of them) gives a list of
        float32 tensors, in the order of `model.outputs` (a target picks its
        own: `kerasviz.OnOutput`); with `logits=True` only their softmaxes
        are bypassed (`output_activation`). `images` may be a list or dict of
        tensors for a model with several inputs.
    """
    with patched(model, capture=capture, rule=_rule(rule, guided), logits=logits, overrides=overrides) as captured:
        outputs = model(images, training=False)
    if isinstance(outputs, (list, tuple, dict)):
        outputs = keras.tree.flatten(outputs)
        outputs = outputs[0] if len(outputs) == 1 else outputs
    missing = [p for p in capture if p not in captured]
    if missing:
        raise ValueError(
            f"The layers {missing} of the model {model.name!r} were not called during "
            "its forward pass, so their outputs cannot be read."
        )
    if isinstance(outputs, list):
        return [tf.cast(o, tf.float32) for o in outputs], dict(captured)
    return tf.cast(outputs, tf.float32), dict(captured)


def probabilities(outputs, activation):
    """Class probabilities from logits, for a model whose output activation was `activation`.

    For a model with several outputs (`outputs` a list, `activation` a
    tuple), each output gets its own declared activation back, and an output
    that declares none (a regression output, boxes) stays as it is.
    """
    if isinstance(outputs, list):
        return [o if a is None else probabilities(o, a) for o, a in zip(outputs, activation)]
    if activation == "sigmoid":
        return tf.sigmoid(outputs)
    return tf.nn.softmax(outputs, axis=-1)


def unreached_relus(graph):
    """Names of ReLU ops in `graph` that guided backprop did not reach."""
    return [
        op.name
        for op in graph.get_operations()
        if op.type in _RELU_OP_TYPES and GUIDED_SCOPE not in op.name and PLAIN_SCOPE not in op.name
    ]


def unguided_layers(model):
    """`[(path, activation name)]` of the layers whose nonlinearity guided backprop cannot guide.

    Known rectifiers (the ReLU family, ELU/SELU, GELU, swish/SiLU, hard-swish,
    mish, softplus) are guided; gates and squashing functions (sigmoid, tanh,
    softmax) keep their plain gradient by design and are not listed. Listed are
    what is neither: custom activation functions and learned ones (`PReLU`).
    """
    found = []
    for path, layer in iter_layers(model):
        if isinstance(layer, keras.layers.PReLU):
            found.append((path, "PReLU"))
            continue
        activation = patching.original(layer, "activation")
        if not callable(activation) or isinstance(layer, keras.Model):
            continue
        if activation not in patching.GUIDED_ACTIVATIONS and activation not in patching.UNGUIDED_ACTIVATIONS:
            found.append((path, getattr(activation, "__name__", repr(activation))))
    return found


def warn_unguided(concrete_function, model, method="Guided backpropagation"):
    """Warns when a guided trace left nonlinearities unguided.

    Two kinds: plain ReLU ops in the traced graph (e.g. `tf.nn.relu` inside a
    subclassed `call`, which no layer exposes), and layers whose activation is
    not a known rectifier (`unguided_layers`). Returns the names warned about.
    """
    ops = unreached_relus(concrete_function.graph)
    layers = [f"{path} ({name})" for path, name in unguided_layers(model)]
    if ops:
        warnings.warn(
            f"{method} could not reach {len(ops)} ReLU op(s) of the model "
            f"{model.name!r} (e.g. {ops[:3]}): they are not Keras ReLU layers or fused "
            "'relu'/'relu6' activations, so their gradient stays the plain one. Use "
            "`keras.layers.ReLU()` or `activation='relu'` for them to be guided.",
            stacklevel=3,
        )
    if layers:
        warnings.warn(
            f"{method} left {len(layers)} nonlinearity(ies) of the model {model.name!r} "
            f"with their plain gradient: {_short_list(layers, 6)}. Only Keras's rectifiers (ReLU "
            "family, ELU/SELU, GELU, swish/SiLU, hard-swish, mish, softplus) are guided.",
            stacklevel=3,
        )
    return ops + layers


# The truncated extractors, per model and tuple of layer paths: built once, freed with the model.
_EXTRACTORS = weakref.WeakKeyDictionary()
_EXTRACTORS_LOCK = threading.Lock()
_NOT_TRUNCATABLE = object()


def _symbolic_outputs(model, paths):
    """The symbolic tensors of layers `paths` in `model`'s own graph (into nested models), or raises.

    The layers of one nested model come from one call of one cut of it (named
    as it is, so that paths read the same in the cut model).
    """
    children = {l.name: l for l in (getattr(model, "operations", None) or model.layers)}
    outputs, nested = {}, {}
    for path in paths:
        head, _, rest = path.partition("/")
        if rest:
            nested.setdefault(head, []).append(path)
        else:
            outputs[path] = children[head].output
    for head, inner_paths in nested.items():
        layer = children[head]
        nodes = [n for n in getattr(layer, "_inbound_nodes", ()) if n.input_tensors]
        if not isinstance(layer, keras.Model) or len(nodes) != 1:
            raise ValueError(f"{head!r} is not a nested model called once")
        rests = [p.partition("/")[2] for p in inner_paths]
        inner = keras.Model(layer.inputs, _symbolic_outputs(layer, rests), name=layer.name)
        called = inner(*nodes[0].input_tensors)  # the nested model's part, on the outer graph's tensors
        outputs.update(zip(inner_paths, called if isinstance(called, (list, tuple)) else [called]))
    return [outputs[p] for p in paths]


def _size_free(cut, model):
    """`cut` (a model of ours, from `_build_extractor`) made to take images of any height and width.

    Only the input checks of our own functional models are widened to any
    height and width (the cut and the nested cuts `_symbolic_outputs`
    made; `kerasviz.inputs.model_input_shape` reads them); the layers, which
    are the user's, are called on tensors of the new size and gain no node.
    Convolutions, pooling and elementwise layers take any size; a user's
    own nested model of fixed size inside the cut cannot, and raises.
    """
    users = {id(layer) for _, layer in iter_layers(model)}
    for path, layer in [("", cut), *iter_layers(cut)]:
        if not isinstance(layer, keras.Model):
            continue
        if id(layer) in users:
            shape = tuple(layer.inputs[0].shape[1:3]) if getattr(layer, "inputs", None) else ()
            if any(d is not None for d in shape):
                raise ValueError(f"the nested model {path!r} takes a fixed input size {shape}")
            continue
        shape = layer.inputs[0].shape
        if len(shape) != 4:
            raise ValueError(f"the input of {path or cut.name!r} is not an image [B, H, W, C]")
        layer.input_spec = keras.InputSpec(shape=(None, None, None, shape[-1]))
    return cut


def _build_extractor(model, paths, any_size):
    try:
        model_inputs = model.inputs
        if not model_inputs or len(model_inputs) != 1:
            raise ValueError("not a single-input functional model")
        if _output_layer(model) in [get_layer(model, path)[1] for path in paths]:
            raise ValueError("the output layer is read, and `run` reads it as logits")
        outputs = _symbolic_outputs(model, paths)
        truncated = keras.Model(model_inputs, outputs, name=f"{model.name}_truncated")
        return _size_free(truncated, model) if any_size else truncated
    except (AttributeError, ValueError, TypeError, KeyError, IndexError) as error:
        logging.getLogger("kerasviz").debug(
            "Running the whole model %r for the layers %s: it cannot be truncated%s (%s).", model.name,
            list(paths), " to take any image size" if any_size else "", error)
        return None


def extractor(model, paths, any_size=False):
    """A model from `model`'s input to the outputs of the layers `paths` only, or None.

    It shares `model`'s layers (and so its live weights) and runs none of the
    layers past the deepest of `paths`: an objective that reads a mid-layer
    costs the forward and backward passes of the network up to that layer
    only. Works for Sequential and functional models and for a nested model
    (a backbone) called once inside them; built once per (model, paths,
    `any_size`) and freed with the model. None (the caller runs the whole
    model; logged at DEBUG level on logger "kerasviz") where the model
    cannot be cut: a subclassed model, several inputs, a layer called more
    than once, or the output layer among `paths` (which `run` reads as
    logits).

    Args:
        model: a built Keras model.
        paths: canonical layer paths (from `get_layer`), a tuple.
        any_size: a cut that takes images of any height and width, so
            that a classifier of fixed input size runs its convolutional
            part at other sizes (DeepDream's octaves, photos larger than
            the input). The layers are called on the new sizes as they
            are; none gains a node. None where a nested model of fixed size
            lies within the cut.

    Returns:
        A `keras.Model` whose outputs are the layers' outputs (a list, in the
        order of `paths`), or None.
    """
    paths = tuple(paths)
    with _EXTRACTORS_LOCK:
        per_model = _EXTRACTORS.setdefault(model, {})
        found = per_model.get((paths, any_size))
        if found is None:
            found = per_model[(paths, any_size)] = _build_extractor(model, paths, any_size) or _NOT_TRUNCATABLE
    return None if found is _NOT_TRUNCATABLE else found


def run_layers(model, images, paths):
    """`{path: activation}` of the layers `paths` for `images`, running `model` no deeper than they are.

    Meant to be called inside a `tf.function` (and a `tf.GradientTape`); the
    activations keep the layers' own dtype. Runs `extractor(model, paths)`
    where there is one, else the whole model with its outputs captured
    (`run`). `pre_activation` paths are read while the cut model runs.
    """
    paths = tuple(paths)
    layers = tuple(dict.fromkeys(split_pre_activation(p)[0] for p in paths))
    truncated = extractor(model, layers) if paths else None
    if truncated is None:
        return run(model, images, capture=paths)[1]
    pre = tuple(p for p in paths if split_pre_activation(p)[1])
    with patched(model, capture=pre, logits=False) as captured:
        outputs = truncated(images, training=False)
    outputs = dict(zip(layers, outputs if isinstance(outputs, (list, tuple)) else [outputs]), **captured)
    return {p: outputs[p] for p in paths}
