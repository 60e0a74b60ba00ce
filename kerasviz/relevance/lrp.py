"""Layer-wise Relevance Propagation (Bach et al., 2015; Montavon et al., 2019)."""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, models
from kerasviz.gradients import core, multi_input
from kerasviz.graph import trace
from kerasviz.relevance import canonizers, composites, multi_input_lrp
from kerasviz.relevance.propagation import Trace


def lrp(model, images, target=None, *, batch_size=None, composite="epsilon_plus", value_range=None, signed=False,
        attribute=None):
    """Layer-wise Relevance Propagation: the target's score handed down, layer by layer, to the pixels.

    Relevance starts at the target's score (the logit, behind a softmax) and
    is redistributed backward, each layer handing the relevance of its
    outputs to its inputs by a rule that (nearly) conserves it (Bach et al.,
    2015, "On Pixel-Wise Explanations for Non-Linear Classifier Decisions by
    Layer-Wise Relevance Propagation", PLoS ONE 10(7); Montavon et al., 2019,
    "Layer-Wise Relevance Propagation: An Overview", in Explainable AI,
    LNCS 11700). The pixels' relevance sums to the score, less what biases
    and stabilizers absorb (and, under z+ and alpha-beta, the relevance of
    a linear layer's negative outputs that have no positive contribution):
    exactly, for LRP-0 on a bias-free ReLU network, where LRP-0 is
    Gradient x Input. On a network whose BatchNormalization was folded into
    large biases little may reach the pixels (EfficientNet-Lite3: 2-5 % of
    the logit under `epsilon_plus` and `epsilon_gamma_box`; see the README):
    `kerasviz.relevance.conservation(model, images, maps, target)` gives, per
    image, the score, the map's total and the share absorbed on the way.

    The `composite` assigns a rule to each linear layer
    (`kerasviz.relevance.composites.PRESETS`, or a `Composite` of your own);
    BatchNormalization is merged into the convolution it follows, residual
    sums split relevance in proportion to their branches, rectifiers pass it
    on, a squeeze-and-excitation gate gets none (`kerasviz.relevance.canonizers`).
    The rules act in kerasviz's own trace only, through per-thread patches
    (`kerasviz.patching`): the model, its weights and what any thread computes
    with it never change. A layer no rule handles (a sigmoid or tanh on the
    relevance path, attention, a transposed convolution) is an error that
    names it; a smooth rectifier (swish, GELU) or a layer of your own is
    crossed approximately, with a warning that names it. Costs one forward and
    one backward pass per image, the backward pass computing each rule's
    modified forwards and products (`rule_passes`: about one more pass for
    `epsilon_plus` and `epsilon_gamma_box` on EfficientNet-Lite3, whose
    residual stream is signed, and 1.75 for `epsilon_alpha2_beta1`).

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target` (a neuron or
            channel of any layer, or a weighted sum).
        batch_size: at most this many images per compiled call (default:
            `model_cost.default_batch_size`); results do not depend on it.
        composite: a preset name: `"epsilon_plus"` (epsilon on dense layers,
            z+ on convolutions), `"epsilon_gamma_box"` (z^B on the first
            layer, gamma 0.25 on convolutions, epsilon on dense layers: needs
            `value_range`), `"epsilon_alpha2_beta1"`, `"preset_a"` and
            `"preset_b"` (iNNvestigate's sequential presets: epsilon 0.1 on
            dense layers, alpha1-beta0 or alpha2-beta1 on convolutions), or one
            rule everywhere: `"lrp_0"`, `"epsilon"` (0.25), `"gamma"` (0.25),
            `"alpha1_beta0"`, `"alpha2_beta1"`, `"z_plus"`, `"flat"`,
            `"w_square"`; or a `kerasviz.relevance.Composite`.
        value_range: the model's input range (a preset such as `"tf"`, or
            `(low, high)`, e.g. `(0, 255)`): the bounds of the z^B rule, and
            images outside it are an error. None: no check (and no z^B rule).
        signed: return the relevance of each input value `[B, H, W, C]`
            instead of the map.
        attribute: for a model with several inputs (`images` a dict keyed by
            input name, or a list in the order of `model.inputs`): whose
            relevance to return: None (every image input), `"all"`, or input
            names or indices. Relevance flows to every input it reaches (LRP
            holds nothing fixed), so over all inputs it sums to the score
            less what biases absorb; `value_range` applies to the image
            inputs. The result has the structure of `images`: a map (or with
            `signed` the relevance per value) per image input, the relevance
            per value of a side input, None (or no key) for the others. Must
            be None for a model with one input.

    Returns:
        float32 `[B, H, W]`: the relevance of each pixel, summed over its
        channels, signed (positive: evidence for the target; the map sums to
        the score, less what biases absorb); or `[B, H, W, C]` with
        `signed=True`.

    Raises:
        ValueError: invalid `images`, `target`, `batch_size`, `composite` or
            `value_range`; a layer on the relevance path that no rule handles.

    Example:

    >>> maps = kerasviz.lrp(model, images, composite="epsilon_gamma_box", value_range=(0, 255))
    >>> maps.sum(axis=(1, 2))  # about the explained logits
    """
    if multi_input.is_several(model, images):
        return multi_input_lrp.lrp(model, images, target, batch_size=batch_size, composite=composite,
                                   value_range=value_range, signed=signed, attribute=attribute)
    multi_input.check_single_input_attribute(attribute)
    prepared = core.Prepared(model, images, target, batch_size)
    if models.output_count(prepared.model) > 1:
        raise ValueError(f"LRP explains models with one output; the model {prepared.model.name!r} has "
                         f"{models.output_count(prepared.model)}. Integrated Gradients "
                         "(`kerasviz.integrated_gradients`) explains any output (`kerasviz.OnOutput`).")
    chosen = composites.get(composite)
    channels = prepared.images.shape[-1]
    value = inputs.check_value_range(value_range, channels)
    inputs.check_in_range(prepared.images, value, "images")
    bounds = None if value is None else (np.broadcast_to(value.low, (channels,)).astype(np.float32),
                                         np.broadcast_to(value.high, (channels,)).astype(np.float32))

    target, capture = prepared.target, prepared.capture  # the compiled function must not hold `prepared.model`
    signature = prepared.signature()

    def build(model_ref):
        def relevance(images, class_idx):
            trace = Trace(model_ref(), chosen, images, _bounds(images, bounds),
                          nonnegative=value is not None and bool(np.all(value.low >= 0)))
            with tf.GradientTape() as tape:
                tape.watch(images)
                logits, activations = models.run(model_ref(), images, capture=capture,
                                                 overrides=trace.add_overrides)
                trace.check([logits, *activations.values()], "lrp")
                scores = target.score(logits, activations, class_idx)
                objective = scores * tf.stop_gradient(scores)  # relevance starts at the score itself
            values = tf.cast(tape.gradient(objective, images), tf.float32)
            return values if signed else tf.reduce_sum(values, axis=-1)

        return relevance

    key = prepared.key("lrp", chosen.key(), None if bounds is None else tuple(map(tuple, bounds)), signed)
    function = compiled.compiled_function(prepared.model, key, build, signature)
    return inputs.warn_if_constant(core.run_chunks(function, prepared, prepared.images, prepared.class_idx), "lrp")


def rule_passes(model, image_shape, params):
    """The work the composite's rules add to a plain gradient, in forward+backward passes of `model` per image.

    Each call of a linear layer adds its rule's `passes_at` (z+ and gamma a
    forward with modified weights on non-negative inputs a ReLU reads,
    alpha-beta with beta a forward and a backward, z^B two of each, inputs of
    either sign and outputs of both signs more; LRP-0 and epsilon nothing:
    they reuse the layer's own output), weighed by the call's share of the
    model's multiply-adds (its kernel's size times its output positions).
    Signs are read from the model's graph of layer calls
    (`kerasviz.graph.trace`) by the rules `lrp` itself applies
    (`canonizers.output_nonnegative`, `canonizers.read_by_rectifiers`); the
    images are non-negative where `value_range` starts at 0 or above.
    """
    chosen = composites.get(params.get("composite", "epsilon_plus"))
    linear = [(path, layer) for path, layer in models.iter_layers(model)
              if canonizers.kind_of(layer)[0] == "linear"]
    rules = {path: chosen.rule_for(path, layer, i, len(linear)) for i, (path, layer) in enumerate(linear)}
    value = inputs.check_value_range(params.get("value_range"), image_shape[-1])
    graph = trace.model_graph(model, image_shape)
    bypassed = models.output_layer(model)
    kinds = {c.index: canonizers.kind_of(c.layer, bypassed=c.layer is bypassed)[0] for c in graph.calls}
    nonnegative = {trace.INPUT: value is not None and bool(np.all(value.low >= 0))}
    total = extra = 0.0
    for call in graph.calls:
        if call.is_model:
            continue
        inputs_nonnegative = all(nonnegative.get(k, False) for k in call.producers or [trace.INPUT])
        nonnegative[call.index] = canonizers.output_nonnegative(call.layer, kinds[call.index], inputs_nonnegative)
        if call.path not in rules:
            continue
        weight = _multiply_adds(call)
        out = call  # a BatchNormalization merged into the layer: its readers read the layer
        if canonizers.merges_batch_norm(kinds[call.index], call.layer, [kinds[i] for i in call.consumers]):
            out = graph.calls[call.consumers[0]]
        rectified = canonizers.rectifies(call.layer) or canonizers.read_by_rectifiers(
            [(graph.calls[i].layer, kinds[i]) for i in out.consumers])
        total += weight
        extra += weight * rules[call.path].passes_at(inputs_nonnegative, rectified)
    return extra / total if total else 0.0


def _multiply_adds(call):
    """A linear layer call's multiply-adds per image: its kernels' sizes times its output positions."""
    kernels = [w for w in call.layer.weights if "kernel" in w.path.split("/")[-1]]
    size = sum(int(np.prod(w.shape)) for w in kernels)
    positions = int(np.prod(call.shape[:-1])) if call.shape and len(call.shape) > 1 else 1
    return float(size * max(positions, 1))


def _bounds(images, bounds):
    if bounds is None:
        return None
    low, high = (tf.broadcast_to(tf.constant(b), tf.shape(images)) for b in bounds)
    return low, high
