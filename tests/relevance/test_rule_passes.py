"""`registry.cost`'s `rule_passes`: the work a propagation rule cannot do without, weighed by multiply-adds."""

import keras
import pytest

from kerasviz import registry

L = keras.layers


def _model():
    """A 3x3 conv (8x8 outputs, 3 -> 4 channels) and a dense head (256 -> 2)."""
    return keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, padding="same", activation="relu"),
                             L.Flatten(), L.Dense(2)])


@pytest.mark.parametrize("composite, extra", [("lrp_0", 0.0), ("epsilon", 0.0), ("z_plus", 0.5), ("gamma", 0.5),
                                              ("alpha1_beta0", 0.5), ("alpha2_beta1", 1.0)])
def test_one_rule_everywhere_costs_its_own_extra_passes(composite, extra):
    keras.backend.clear_session()
    cost = registry.cost("lrp", _model(), (8, 8, 3), {"composite": composite})
    assert (cost.forward, cost.backward) == (0, 1)  # one model evaluation: what `tests/across` counts
    assert cost.rule_passes == pytest.approx(extra)


def test_a_composite_weighs_its_rules_by_the_layers_multiply_adds():
    keras.backend.clear_session()
    conv, dense = 3 * 3 * 3 * 4 * 8 * 8, 256 * 2  # epsilon_plus: z+ on the conv, epsilon on the dense layer
    cost = registry.cost("lrp", _model(), (8, 8, 3), {"composite": "epsilon_plus"})
    assert cost.rule_passes == pytest.approx(0.5 * conv / (conv + dense))


def test_deeplift_runs_the_reference_forward_alone_reveal_cancel_adds_the_spreads_pass_per_pair():
    keras.backend.clear_session()
    model = _model()
    assert registry.cost("deeplift", model, (8, 8, 3)) == registry.Cost(forward=1, backward=1)
    assert registry.cost("deeplift_shap", model, (8, 8, 3), {"samples": 3}) == registry.Cost(forward=3, backward=3)
    assert registry.cost("deeplift", model, (8, 8, 3), {"rule": "reveal_cancel"}) == \
        registry.Cost(forward=1, backward=1, rule_passes=1.0)
    assert registry.cost("deeplift_shap", model, (8, 8, 3), {"samples": 3, "rule": "reveal_cancel"}) == \
        registry.Cost(forward=3, backward=3, rule_passes=3.0)
