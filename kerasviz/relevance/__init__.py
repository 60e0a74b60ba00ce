"""Layer-wise Relevance Propagation: rules, composites, canonizers and the `lrp` method."""

from kerasviz.relevance.composites import CONV, DENSE, PRESETS, Composite
from kerasviz.relevance.rules import AlphaBeta, Epsilon, Flat, Gamma, Rule, WSquare, ZBox, ZeroRule, ZPlus

__all__ = ["AlphaBeta", "CONV", "Composite", "DENSE", "Epsilon", "Flat", "Gamma", "PRESETS", "Rule", "WSquare",
           "ZBox", "ZPlus", "ZeroRule"]
