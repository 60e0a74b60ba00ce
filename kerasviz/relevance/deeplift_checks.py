"""What DeepLIFT can explain (its rules' names, the layers they take, the ops they reach) and its multipliers.

Shared by `deeplift` (one input) and `multi_input_deeplift` (several): what runs a pair is `multipliers`.
"""

import weakref

import tensorflow as tf

from kerasviz import models
from kerasviz.relevance import rescale, reveal_cancel

RULES = ("rescale", "reveal_cancel")


def check_rule(rule):
    """`rule`, checked: one of `RULES`."""
    if not isinstance(rule, str) or rule not in RULES:
        raise ValueError(f"Received an invalid value for `rule`: {rule!r}. Expected one of {RULES}.")
    return rule


def check_supported(model, method="DeepLIFT", rule="rescale"):
    """Raises a ValueError naming the layers of `model` that the Rescale rule (or RevealCancel) has no rule for."""
    if models.output_count(model) > 1:
        raise ValueError(f"{method} explains models with one output; the model {model.name!r} has "
                         f"{models.output_count(model)}. Integrated Gradients (`kerasviz.integrated_gradients`) "
                         "explains any output (`kerasviz.OnOutput`).")
    found = rescale.unsupported_layers(models.iter_layers(model), models.output_layer(model))
    if not found and rule == "reveal_cancel":
        unsplit = reveal_cancel.unsplit_layers(models.iter_layers(model))
        if unsplit:
            listed = ", ".join(f"{path!r} ({what})" for path, what in unsplit[:8])
            raise ValueError(
                f"{method} with `rule='reveal_cancel'` cannot explain the model {model.name!r}: it cannot split "
                f"the terms of {len(unsplit)} linear layer(s) into positive and negative contributions: {listed}. "
                "Use `rule='rescale'`, which takes them.")
    if found:
        listed = ", ".join(f"{path!r} ({what})" for path, what in found[:8])
        more = f" and {len(found) - 8} more" if len(found) > 8 else ""
        raise ValueError(
            f"{method} cannot explain the model {model.name!r}: its Rescale rule has no rule for {len(found)} "
            f"layer(s): {listed}{more}. Supported are linear layers (convolutions, dense, batch normalization, "
            "average pooling, padding, reshaping, add/average/concatenate), elementwise activations, max pooling, "
            "products of two tensors and a softmax or sigmoid at the output (bypassed). Integrated Gradients "
            "(`kerasviz.integrated_gradients`) explains any differentiable model.")


_CHECKED = weakref.WeakSet()  # the compiled functions whose graphs were checked (and passed)


def check_unreached(function, model, method):
    """Raises when the traced graph has nonlinear ops no rule covered (a `tf.nn.relu` inside a subclassed call)."""
    if function in _CHECKED:
        return
    ops = rescale.unreached_ops(function.get_concrete_function().graph)
    if ops:
        raise ValueError(
            f"{method} cannot explain the model {model.name!r}: {len(ops)} nonlinear op(s) of its graph are not "
            f"Keras layers or activations it can apply its Rescale rule to (e.g. {ops[:3]}), so the "
            "attributions would not sum to the change of the score. Use Keras layers (`keras.layers.ReLU()`, "
            "`activation='relu'`) for them.")
    _CHECKED.add(function)


def multipliers(model, inputs, references, capture, rule, score, pack=None, wanted=None):
    """DeepLIFT's multipliers under `rule`: the gradients of `score` with respect to the inputs, float32.

    Call it inside a `tf.function`. The model runs on the references alone,
    forward only, then on the inputs under the tape
    (`kerasviz.relevance.rescale.ReferenceRun`): the backward pass covers the
    inputs alone. RevealCancel's overrides
    (`kerasviz.relevance.reveal_cancel.Spreads`) add the spreads to the
    inputs' run.

    Args:
        model: the model.
        inputs: a list of tensors, one per model input (one for an image model).
        references: their references, row for row.
        capture: paths of the layers the score reads.
        rule: one of `RULES`.
        score: `score(logits, activations)`, the scores of the inputs' rows.
        pack: `pack(tensors)`, the model's input from such a list (default:
            the one tensor).
        wanted: the indices of the inputs whose multipliers to return
            (default: all).

    Returns:
        A list of float32 multipliers, one per wanted input (zeros where no
        gradient flows).
    """
    pack = pack or (lambda tensors: tensors[0])
    wanted = range(len(inputs)) if wanted is None else wanted
    run = rescale.ReferenceRun(layer for _, layer in models.iter_layers(model))
    overrides = run.add_overrides if rule == "rescale" else reveal_cancel.Spreads(model, run).add_overrides
    models.run(model, pack(references), overrides=overrides)
    run.replay()
    watched = list(inputs)
    with tf.GradientTape() as tape:
        tape.watch(watched)
        logits, activations = models.run(model, pack(watched), capture=capture, overrides=overrides)
        scores = score(logits, activations)
    gradients = tape.gradient(scores, [watched[k] for k in wanted], unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return [tf.cast(g, tf.float32) for g in gradients]
