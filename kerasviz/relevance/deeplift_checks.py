"""What DeepLIFT can explain (its rules' names, the layers they take, the ops they reach) and how a pair runs.

Shared by `deeplift` (one input) and `multi_input_deeplift` (several).
"""

import weakref

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


def run_paired(model, batch, capture, rule):
    """`(logits, activations)` of `model` on a `[inputs; references]` batch under DeepLIFT's `rule`.

    Call it inside the tape whose gradient gives the multipliers: Rescale's
    overrides (`kerasviz.relevance.rescale`), or RevealCancel's with the
    spreads of this trace (`kerasviz.relevance.reveal_cancel`).
    """
    if rule == "rescale":
        return models.run(model, batch, capture=capture, rule="rescale")
    spreads = reveal_cancel.Spreads(model)
    return models.run(model, batch, capture=capture, overrides=spreads.add_overrides)
