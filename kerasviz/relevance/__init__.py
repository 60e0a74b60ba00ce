"""Relevance propagated backwards by rules: LRP (its rules, composites and canonizers; `lrp`), DeepLIFT's
Rescale and RevealCancel multipliers (`deeplift`, `deeplift_shap`), how much of the score a map holds
(`conservation`), and attribution to a layer's units (conductance, layer
Integrated Gradients, layer Gradient x Activation)."""

from kerasviz.relevance.composites import CONV, DENSE, PRESETS, Composite
from kerasviz.relevance.conservation import conservation
from kerasviz.relevance.rules import AlphaBeta, Epsilon, Flat, Gamma, Rule, WSquare, ZBox, ZeroRule, ZPlus

__all__ = ["AlphaBeta", "CONV", "Composite", "DENSE", "Epsilon", "Flat", "Gamma", "PRESETS", "Rule", "WSquare",
           "ZBox", "ZPlus", "ZeroRule", "conservation"]
