"""Grad-CAM, Grad-CAM++, LayerCAM, Score-CAM and guided Grad-CAM on a model with several inputs.

The public CAMs (`kerasviz.grad_cam`, ...) come here when `images` is a dict
or a list (as the gradient methods do, `kerasviz.gradients.multi_input`). A
CAM map lives on the grid of a spatial layer, and that layer is computed
from some of the model's inputs: the map is returned, upsampled, for the
image input(s) the layer depends on (`kerasviz.gradients.multi_input_layers`
reads that from the model's graph), None (list) or no key (dict) for the
others. With `layer=None` each attributed image input gets its own branch's
last feature block. Side inputs, and the image inputs not being masked, are
held at their values. Each formula is the single-input one
(`kerasviz.gradients.cam`, `cam_variants`, `score_cam`).
"""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, models
from kerasviz.gradients import core, multi_input, multi_input_layers


def pack(structure, names, tensors):
    """Tensors in the order of `model.inputs`, in the structure of the call's `images` (inside a graph)."""
    return dict(zip(names, tensors)) if structure == "dict" else list(tensors)


def _check_dict_layer(prepared, layer, attribute):
    unknown = [name for name in layer if name not in prepared.names]
    if unknown or not layer:
        raise ValueError(f"Received `layer` as a dict with the keys {sorted(layer, key=str)}: expected a layer per "
                         f"image input, keyed by the model's input names {prepared.names}.")
    if attribute is not None and sorted(prepared.names.index(n) for n in layer) != prepared.attributed:
        raise ValueError(f"Received `attribute={attribute!r}` with `layer` a dict: the dict's keys "
                         f"{sorted(layer)} already say which inputs are attributed; leave `attribute` None.")


def cam_layers(prepared, layer, attribute):
    """`{input index: layer path}`: the CAM layer of each image input mapped (`prepared.attributed` updated).

    `layer`: None (each attributed image input's default), one layer (the
    image inputs it depends on, or those of `attribute` among them), or a
    dict `{input name: layer}`.
    """
    model, method = prepared.model, prepared.method
    images = frozenset(k for k, array in enumerate(prepared.arrays) if array.ndim == 4)
    side = [prepared.names[k] for k in prepared.attributed if k not in images]
    if side:
        raise ValueError(f"Received `attribute={attribute!r}` for `{method}`: a CAM maps image inputs [B, H, W, C], "
                         f"and {side} are not (side inputs are held at their values).")
    uses = multi_input_layers.layer_uses(model)
    if layer is None:
        chosen = {k: multi_input_layers.default_cam_layer(model, uses, k, images) for k in prepared.attributed}
    elif isinstance(layer, dict):
        _check_dict_layer(prepared, layer, attribute)
        chosen = {}
        for name, one in layer.items():
            k = prepared.names.index(name)
            path, found = multi_input_layers.image_inputs_of(model, uses, one, images, f"layer[{name!r}]")
            if k not in found:
                raise ValueError(f"Received `layer[{name!r}]={one!r}`: the layer {path!r} does not depend on the "
                                 f"input {name!r} (it depends on {[prepared.names[i] for i in found]}).")
            chosen[k] = path
    else:
        path, found = multi_input_layers.image_inputs_of(model, uses, layer, images)
        if attribute is None:
            chosen = {k: path for k in found}
        else:
            outside = [prepared.names[k] for k in prepared.attributed if k not in found]
            if outside:
                raise ValueError(f"Received `attribute={attribute!r}` and `layer={layer!r}`: the layer {path!r} "
                                 f"does not depend on the image inputs {outside}, so its CAM maps none of them.")
            chosen = {k: path for k in prepared.attributed}
    prepared.attributed = sorted(chosen)
    return dict(sorted(chosen.items()))


def prepare(model, images, target, batch_size, attribute, layer, method):
    """`(MultiPrepared, {input index: layer path})` of a CAM call on a model with several inputs."""
    prepared = multi_input.MultiPrepared(model, images, target, batch_size, attribute, method)
    return prepared, cam_layers(prepared, layer, attribute)


def signature(prepared):
    """Specs of `(xs..., class_idx)` with free batch dims."""
    return [tf.TensorSpec([None, *a.shape[1:]], tf.float32) for a in prepared.arrays] + [
        tf.TensorSpec([None, prepared.class_idx.shape[1]], tf.int32)]


def key(prepared, method, layers, *static):
    """The compile-cache key of a CAM on several inputs at the layers `{input index: path}`."""
    return ("multi_input_cam", method, tuple(layers.items()), prepared.target.key(), prepared.capture,
            tuple(a.shape[1:] for a in prepared.arrays)) + static


def _cam_maps(model, target, capture, pack, sizes, layers, rule, xs, class_idx):
    """Inside a graph: one map `[b, H_k, W_k]` per `(k, path)` of `layers`, by `rule`, from one gradient."""
    paths = tuple(dict.fromkeys(layers.values()))
    with tf.GradientTape() as tape:
        logits, activations = models.run(model, pack(xs), capture=tuple(dict.fromkeys(capture + paths)))
        scores = target.score(logits, activations, class_idx)
    watched = [activations[p] for p in paths]
    gradients = tape.gradient(scores, watched, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    read = {p: (tf.cast(g, tf.float32), tf.cast(a, tf.float32)) for p, g, a in zip(paths, gradients, watched)}
    maps = []
    for k, path in layers.items():
        low = tf.nn.relu(rule(*read[path]))
        maps.append(tf.cast(tf.image.resize(low, sizes[k], method="bilinear")[..., 0], tf.float32))
    return maps


def _builder(prepared, layers, rule, guided=None):
    """`build(model_ref)` of the compiled `(xs..., class_idx) -> maps per input` (guided: `(signed,)`)."""
    target, capture, n = prepared.target, prepared.capture, len(prepared.arrays)
    structure, names = prepared.structure, tuple(prepared.names)
    sizes = {k: tuple(prepared.arrays[k].shape[1:3]) for k in layers}

    def packed(xs):
        return pack(structure, names, xs)

    def build(model_ref):
        def maps(*args):
            xs, class_idx = list(args[:n]), args[n]
            if guided is None:
                return tuple(_cam_maps(model_ref(), target, capture, packed, sizes, layers, rule, xs, class_idx))
            with tf.name_scope(models.PLAIN_SCOPE):
                plain = _cam_maps(model_ref(), target, capture, packed, sizes, layers, rule, xs, class_idx)
            with tf.GradientTape() as tape:
                tape.watch([xs[k] for k in layers])
                logits, activations = models.run(model_ref(), packed(xs), capture=capture, rule="guided")
                scores = target.score(logits, activations, class_idx)
            gradients = tape.gradient(scores, [xs[k] for k in layers],
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
            products = [tf.cast(g, tf.float32) * m[..., None] for g, m in zip(gradients, plain)]
            return tuple(p if guided[0] else core.reduce_map_graph(p) for p in products)

        return maps

    return build


def _run(function, prepared, class_idx):
    parts = [function(*[tf.constant(a[s:e]) for a in prepared.arrays], tf.constant(class_idx[s:e]))
             for s, e in inputs.batches(len(class_idx), prepared.batch_size)]
    return [np.concatenate([np.asarray(p[i]) for p in parts], axis=0) for i in range(len(parts[0]))]


def gradient_cam(model, images, target, *, layer, batch_size, attribute, rule, method):
    """Grad-CAM (`rule` `cam.grad_cam_rule`), Grad-CAM++ or LayerCAM on a model with several inputs."""
    prepared, layers = prepare(model, images, target, batch_size, attribute, layer, method)
    function = compiled.compiled_function(prepared.model, key(prepared, method, layers),
                                          _builder(prepared, layers, rule), signature(prepared))
    maps = _run(function, prepared, prepared.class_idx)
    return prepared.result(dict(zip(layers, maps)), signed=True)


def guided_grad_cam(model, images, target, *, layer, batch_size, signed, attribute, rule):
    """Guided Grad-CAM on a model with several inputs: each image input's guided gradient times its map (`rule`'s)."""
    prepared, layers = prepare(model, images, target, batch_size, attribute, layer, "guided_grad_cam")
    function = compiled.compiled_function(prepared.model, key(prepared, "guided_grad_cam", layers, signed),
                                          _builder(prepared, layers, rule, (signed,)),
                                          signature(prepared))
    maps = _run(function, prepared, prepared.class_idx)
    core.warn_once_unreached(function, prepared.model, prepared)
    return prepared.result(dict(zip(layers, maps)), signed=True)
