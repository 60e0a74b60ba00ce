"""`registry.cost`'s `rule_passes`: the work a propagation rule cannot do without, weighed by multiply-adds."""

import keras
import pytest

from kerasviz import registry

L = keras.layers


def _model():
    """A 3x3 conv (8x8 outputs, 3 -> 4 channels) and a dense head (256 -> 2)."""
    return keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, padding="same", activation="relu"),
                             L.Flatten(), L.Dense(2)])


CONV, DENSE = 3 * 3 * 3 * 4 * 8 * 8, 256 * 2  # the layers' multiply-adds per image


@pytest.mark.parametrize("composite, extra", [("lrp_0", 0.0), ("epsilon", 0.0), ("z_plus", 0.5), ("alpha1_beta0", 0.5),
                                              ("alpha2_beta1", 1.0)])
def test_one_rule_on_nonnegative_inputs_costs_its_own_extra_passes(composite, extra):
    keras.backend.clear_session()
    cost = registry.cost("lrp", _model(), (8, 8, 3), {"composite": composite, "value_range": (0, 1)})
    assert (cost.forward, cost.backward) == (0, 1)  # one model evaluation: what `tests/across` counts
    assert cost.rule_passes == pytest.approx(extra)


@pytest.mark.parametrize("composite, conv, dense", [("z_plus", 1.5, 0.5), ("alpha2_beta1", 2.5, 1.0),
                                                    ("gamma", 1.0, 1.0), ("epsilon", 0.0, 0.0)])
def test_inputs_of_either_sign_and_outputs_no_relu_reads_cost_more(composite, conv, dense):
    """Images in no declared range (either sign) into the conv; the dense layer's logits are read by no ReLU."""
    keras.backend.clear_session()
    cost = registry.cost("lrp", _model(), (8, 8, 3), {"composite": composite})
    assert cost.rule_passes == pytest.approx((conv * CONV + dense * DENSE) / (CONV + DENSE))
    cost = registry.cost("lrp", _model(), (8, 8, 3), {"composite": "gamma", "value_range": (0, 255)})
    assert cost.rule_passes == pytest.approx((0.5 * CONV + 1.0 * DENSE) / (CONV + DENSE))  # rectified, >= 0


def test_the_signs_are_those_lrp_reads_from_the_graph():
    """A conv whose ReLU is a layer of its own, then a conv after a linear one (signed), BatchNormalization merged."""
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, padding="same"), L.BatchNormalization(),
                              L.ReLU(), L.Conv2D(4, 1), L.Conv2D(2, 1), L.ReLU(), L.GlobalAveragePooling2D()])
    first, second, third = 3 * 3 * 3 * 4 * 64, 4 * 4 * 64, 4 * 2 * 64
    # gamma: first >= 0 and read through its BatchNormalization by a ReLU; second >= 0 but read by a conv;
    # third signed (a linear conv's output)
    cost = registry.cost("lrp", model, (8, 8, 3), {"composite": "gamma", "value_range": (0, 1)})
    assert cost.rule_passes == pytest.approx((0.5 * first + 1.0 * second + 1.0 * third) / (first + second + third))
    cost = registry.cost("lrp", model, (8, 8, 3), {"composite": "z_plus", "value_range": (0, 1)})
    assert cost.rule_passes == pytest.approx((0.5 * first + 0.5 * second + 1.5 * third) / (first + second + third))


def test_a_composite_weighs_its_rules_by_the_layers_multiply_adds():
    keras.backend.clear_session()  # epsilon_plus: z+ on the conv, epsilon on the dense layer
    cost = registry.cost("lrp", _model(), (8, 8, 3), {"composite": "epsilon_plus", "value_range": (0, 1)})
    assert cost.rule_passes == pytest.approx(0.5 * CONV / (CONV + DENSE))


def test_deeplift_runs_the_reference_forward_alone_reveal_cancel_adds_the_spreads_pass_per_pair():
    keras.backend.clear_session()
    model = _model()
    assert registry.cost("deeplift", model, (8, 8, 3)) == registry.Cost(forward=1, backward=1)
    assert registry.cost("deeplift_shap", model, (8, 8, 3), {"samples": 3}) == registry.Cost(forward=3, backward=3)
    assert registry.cost("deeplift", model, (8, 8, 3), {"rule": "reveal_cancel"}) == \
        registry.Cost(forward=1, backward=1, rule_passes=1.0)
    assert registry.cost("deeplift_shap", model, (8, 8, 3), {"samples": 3, "rule": "reveal_cancel"}) == \
        registry.Cost(forward=3, backward=3, rule_passes=3.0)
