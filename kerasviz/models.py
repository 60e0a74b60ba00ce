"""Reading a Keras model without changing it.

Everything kerasviz computes starts here: finding layers (also inside nested
models), sensible default layers, and running the model inside a traced graph
with three temporary patches:

- **capture**: a layer's output is recorded so that a `tf.GradientTape` can
  differentiate with respect to it (Grad-CAM, DeepDream, inversion, style);
- **logits**: a softmax (or sigmoid) fused into the output layer, or standing
  as its own layer, is bypassed so that gradient methods use the pre-softmax
  class score (Simonyan et al., 2013, section 2);
- **guided**: ReLUs get the guided-backpropagation gradient of Springenberg et
  al., 2015 ("Striving for Simplicity"), via `tf.custom_gradient`.

Patches are instance attributes set only while `run` executes (that is, while
one of our `tf.function`s is traced) and removed in `finally`; the user's model,
its weights and its own compiled functions are never touched.
"""

import contextlib
import difflib
import warnings

import keras
import tensorflow as tf

GUIDED_SCOPE = "kerasviz_guided"
PLAIN_SCOPE = "kerasviz_plain"  # a pass meant to keep plain gradients, beside a guided one
_RELU_OP_TYPES = ("Relu", "Relu6", "LeakyRelu")


def iter_layers(model):
    """Yields `(path, layer)` for every layer of `model`, nested models included.

    Paths join names with "/" from the top model down, e.g.
    `"mobilenetv2_0.35_96/Conv_1"`; a nested model is yielded before its own
    layers. Works for Sequential, functional and subclassed models.
    """
    def walk(parent, prefix):
        for layer in getattr(parent, "layers", ()):
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


def default_layer(model, role):
    """The default layer path of `model` for a role.

    Args:
        model: a built Keras model.
        role: `"last_conv"` (Grad-CAM, top patches: the last layer with a
            spatial output), `"first_conv"` (filters: the first layer with a
            4-D kernel), or `"penultimate_dense"` (embeddings: the `Dense`
            layer before the last `Dense` layer).

    Raises:
        ValueError: the model has no such layer, or `role` is unknown.
    """
    entries = list(iter_layers(model))
    if role == "last_conv":
        found = spatial_layers(model)[-1:]
    elif role == "first_conv":
        found = conv_layers(model)[:1]
    elif role == "penultimate_dense":
        dense = [p for p, l in entries if isinstance(l, keras.layers.Dense)]
        found = dense[-2:-1]
    else:
        raise ValueError(
            "Received an invalid value for `role`: "
            f"{role!r}. Expected 'last_conv', 'first_conv' or 'penultimate_dense'."
        )
    if not found:
        raise ValueError(
            f"The model {model.name!r} has no layer for the default {role!r}; "
            "pass `layer=` explicitly. Layers: "
            f"{_short_list([p for p, _ in entries])}."
        )
    return found[0]


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


_PROBABILITY_ACTIVATIONS = {
    keras.activations.softmax: "softmax",
    keras.activations.sigmoid: "sigmoid",
}


def output_activation(model):
    """`"softmax"`, `"sigmoid"` or `None`: what turns the model's logits into its output."""
    layer = _output_layer(model)
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    return _PROBABILITY_ACTIVATIONS.get(getattr(layer, "activation", None))


def _linear(x):
    return x


def _set_attr(layer, name, value, undo):
    """Sets an instance attribute on `layer` and records how to restore it."""
    had = name in vars(layer)
    old = vars(layer).get(name)
    object.__setattr__(layer, name, value)
    if had:
        undo.append(lambda: object.__setattr__(layer, name, old))
    else:
        undo.append(lambda: object.__delattr__(layer, name))


def _guided(forward, backward):
    """Wraps an elementwise activation so its gradient is guided.

    Forward: unchanged. Backward: `backward(relu(dy), x)`, the activation's
    own gradient applied to the positive part of the upstream signal: it
    passes only where the upstream gradient is positive *and* the unit is
    active (Springenberg et al., 2015, section 3.4, "guided backpropagation").
    """
    def apply(x, *args, **kwargs):
        @tf.custom_gradient
        def guided(x):
            with tf.name_scope(GUIDED_SCOPE):
                y = forward(x, *args, **kwargs)

            def grad(dy):
                with tf.name_scope(GUIDED_SCOPE):
                    return backward(tf.nn.relu(dy), x)

            return y, grad

        return guided(x)

    return apply


def _relu_backward(negative_slope=0.0, max_value=None, threshold=0.0):
    """The gradient of Keras's `relu(x, negative_slope, max_value, threshold)` applied to `g`.

    The plain ReLU and ReLU6 use TensorFlow's fused gradient kernels (one pass
    over the tensor); other settings use the derivative written out.
    """
    if negative_slope == 0 and threshold == 0 and max_value is None:
        return lambda g, x: tf.raw_ops.ReluGrad(gradients=g, features=x)
    if negative_slope == 0 and threshold == 0 and max_value == 6:
        return lambda g, x: tf.raw_ops.Relu6Grad(gradients=g, features=x)

    def backward(g, x):
        slope = tf.where(x > threshold, tf.ones_like(x), tf.fill(tf.shape(x), tf.cast(negative_slope, x.dtype)))
        if max_value is not None:
            slope = slope * tf.cast(x < max_value, x.dtype)
        return g * tf.cast(slope, g.dtype)

    return backward


_GUIDED_ACTIVATIONS = {
    keras.activations.relu: _relu_backward(),
    keras.activations.relu6: _relu_backward(max_value=6.0),
}


def _patch_guided(layer, undo):
    """Gives `layer`'s ReLU a guided gradient; returns True when it had one."""
    activation = getattr(layer, "activation", None)
    if activation in _GUIDED_ACTIVATIONS:
        _set_attr(layer, "activation", _guided(activation, _GUIDED_ACTIVATIONS[activation]), undo)
        return True
    if isinstance(layer, keras.layers.ReLU):
        backward = _relu_backward(layer.negative_slope, layer.max_value, layer.threshold)
        _set_attr(layer, "call", _guided(layer.call, backward), undo)
        return True
    return False


def _patch_capture(layer, path, captured, undo):
    original = layer.call

    def call(*args, **kwargs):
        outputs = original(*args, **kwargs)
        captured[path] = outputs
        return outputs

    _set_attr(layer, "call", call, undo)


def _patch_logits(model, undo):
    layer = _output_layer(model)
    if layer is None:
        return
    if isinstance(layer, keras.layers.Softmax):
        _set_attr(layer, "call", lambda inputs, *args, **kwargs: inputs, undo)
    elif getattr(layer, "activation", None) in _PROBABILITY_ACTIVATIONS:
        _set_attr(layer, "activation", _linear, undo)


@contextlib.contextmanager
def patched(model, *, capture=(), guided=False, logits=True):
    """Temporarily patches `model` (see the module docstring); restores it on exit.

    Args:
        model: a built Keras model.
        capture: paths of layers whose outputs to record (from `get_layer`).
        guided: give every reachable ReLU a guided-backprop gradient.
        logits: bypass a final softmax/sigmoid.

    Yields:
        A dict `{path: output tensor}` filled while the model runs.
    """
    undo = []
    captured = {}
    try:
        if logits:
            _patch_logits(model, undo)
        for path, layer in iter_layers(model):
            if guided:
                _patch_guided(layer, undo)
            if path in capture:
                _patch_capture(layer, path, captured, undo)
        yield captured
    finally:
        for restore in reversed(undo):
            restore()


def run(model, images, *, capture=(), guided=False, logits=True):
    """Runs `model` on `images` (inference mode) with the patches of `patched`.

    Meant to be called inside a `tf.function` (and a `tf.GradientTape`).

    Returns:
        `(outputs, activations)`: the model's output as float32 (logits when
        `logits=True`), and `{path: activation}` for the captured layers, in the
        layers' own dtype so that a tape can differentiate with respect to them.
    """
    with patched(model, capture=capture, guided=guided, logits=logits) as captured:
        outputs = model(images, training=False)
    if isinstance(outputs, (list, tuple)):
        if len(outputs) != 1:
            raise ValueError(
                f"The model {model.name!r} has {len(outputs)} outputs; kerasviz explains "
                "models with a single output. Wrap the output you want in a new model."
            )
        outputs = outputs[0]
    missing = [p for p in capture if p not in captured]
    if missing:
        raise ValueError(
            f"The layers {missing} of the model {model.name!r} were not called during "
            "its forward pass, so their outputs cannot be read."
        )
    return tf.cast(outputs, tf.float32), dict(captured)


def probabilities(outputs, activation):
    """Class probabilities from logits, for a model whose output activation was `activation`."""
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


def warn_unreached_relus(concrete_function, model):
    """Warns when a guided trace still holds plain ReLU ops (e.g. `tf.nn.relu` in a subclassed `call`)."""
    names = unreached_relus(concrete_function.graph)
    if names:
        warnings.warn(
            f"Guided backpropagation could not reach {len(names)} ReLU op(s) of the model "
            f"{model.name!r} (e.g. {names[:3]}): they are not Keras ReLU layers or fused "
            "'relu'/'relu6' activations, so their gradient stays the plain one. Use "
            "`keras.layers.ReLU()` or `activation='relu'` for them to be guided.",
            stacklevel=3,
        )
    return names
