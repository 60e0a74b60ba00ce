"""Composites: which LRP rule each layer gets, by name, by position or by type.

A composite (zennit's word, Anders et al. 2021) maps the linear layers of a
network (Dense, convolutions) to rules. Montavon et al., 2019 ("Layer-Wise
Relevance Propagation: An Overview", section 10.2) recommend different rules
at different depths: LRP-epsilon near the output, LRP-gamma (or alpha-beta,
z+) in the convolutional middle, the z^B rule at the pixels. The presets
here are those the field uses (zennit's `EpsilonPlus`, `EpsilonGammaBox`,
`EpsilonAlpha2Beta1`; iNNvestigate's `LRPSequentialPresetA` and `B`), and one
composite per rule that gives every linear layer that rule.

Layers without weights are not the composite's to choose: sums and average
pooling split relevance in proportion, max pooling gives it to the winner,
rectifiers pass it (`kerasviz.relevance.canonizers`).
"""

from kerasviz.relevance import canonizers
from kerasviz.relevance.rules import AlphaBeta, Epsilon, Flat, Gamma, Rule, WSquare, ZBox, ZPlus, ZeroRule


class Composite:
    """Rules for the linear layers of a network.

    The first that applies wins: `by_name` (a layer's name or path), then
    `by_position` (index among the network's linear layers in call order: 0
    the first, -1 the last), then `by_type` (the first `(types, rule)` pair
    whose types the layer is an instance of), then `default`.

    Args:
        default: the rule of the layers nothing else names (LRP-epsilon).
        by_type: a sequence of `(layer type or tuple of types, rule)`.
        by_name: `{layer name or path: rule}`.
        by_position: `{int: rule}`.
        name: what records and figures call it.

    Example:

    >>> from kerasviz.relevance import Composite, Epsilon, Gamma, ZBox, CONV
    >>> composite = Composite(by_type=[(CONV, Gamma(0.25))], by_position={0: ZBox(0, 255)},
    ...                       default=Epsilon(0.25), name="my_composite")
    >>> maps = kerasviz.lrp(model, images, composite=composite)
    """

    def __init__(self, default=None, *, by_type=(), by_name=None, by_position=None, name="custom"):
        self.default = Epsilon() if default is None else default
        self.by_type = tuple((types, rule) for types, rule in by_type)
        self.by_name = dict(by_name or {})
        self.by_position = dict(by_position or {})
        self.name = name
        for rule in [self.default, *(r for _, r in self.by_type), *self.by_name.values(),
                     *self.by_position.values()]:
            if not isinstance(rule, Rule):
                raise TypeError(f"Expected the rules of a Composite to be `kerasviz.relevance` rules (Epsilon, "
                                f"Gamma, ...). Received: {rule!r} of type {type(rule).__name__}.")

    def rule_for(self, path, layer, position, count):
        """The rule of the linear layer `layer` at `path`, the `position`-th of `count`."""
        for key in (path, layer.name):
            if key in self.by_name:
                return self.by_name[key]
        for index in (position, position - count):
            if index in self.by_position:
                return self.by_position[index]
        for types, rule in self.by_type:
            if isinstance(layer, types):
                return rule
        return self.default

    def check_names(self, paths_and_layers):
        """Raises when `by_name` names a layer that is not a linear layer of the network."""
        known = {key for path, layer in paths_and_layers for key in (path, layer.name)}
        unknown = sorted(set(self.by_name) - known)
        if unknown:
            raise ValueError(f"The composite {self.name!r} names layers that are not linear layers (Dense, "
                             f"convolutions) of the model: {unknown}. Linear layers: "
                             f"{[path for path, _ in paths_and_layers][:20]}.")

    def key(self):
        """A hashable description, for the compile cache."""
        return (self.name, repr(self.default), tuple((_type_names(t), repr(r)) for t, r in self.by_type),
                tuple(sorted((k, repr(r)) for k, r in self.by_name.items())),
                tuple(sorted((k, repr(r)) for k, r in self.by_position.items())))

    def __repr__(self):
        return f"Composite({self.name!r})"


def _type_names(types):
    types = types if isinstance(types, tuple) else (types,)
    return tuple(f"{t.__module__}.{t.__qualname__}" for t in types)


CONV = canonizers.CONV_LAYERS
DENSE = canonizers.DENSE_LAYERS


def _conv_dense(conv, dense, name, first=None):
    return Composite(dense, by_type=[(CONV, conv)], by_position={0: first} if first else None, name=name)


PRESETS = {
    # Montavon et al. 2019 / zennit: epsilon on the dense layers, z+ (or gamma, alpha2-beta1) on the convolutions.
    "epsilon_plus": lambda: _conv_dense(ZPlus(), Epsilon(), "epsilon_plus"),
    "epsilon_gamma_box": lambda: _conv_dense(Gamma(0.25), Epsilon(), "epsilon_gamma_box", first=ZBox()),
    "epsilon_alpha2_beta1": lambda: _conv_dense(AlphaBeta(2, 1), Epsilon(), "epsilon_alpha2_beta1"),
    # iNNvestigate's sequential presets: epsilon 0.1 on the dense layers, alpha1-beta0 (A) or alpha2-beta1 (B).
    "preset_a": lambda: _conv_dense(AlphaBeta(1, 0), Epsilon(0.1), "preset_a"),
    "preset_b": lambda: _conv_dense(AlphaBeta(2, 1), Epsilon(0.1), "preset_b"),
    # One rule for every linear layer.
    "lrp_0": lambda: Composite(ZeroRule(), name="lrp_0"),
    "epsilon": lambda: Composite(Epsilon(0.25), name="epsilon"),
    "gamma": lambda: Composite(Gamma(0.25), name="gamma"),
    "alpha1_beta0": lambda: Composite(AlphaBeta(1, 0), name="alpha1_beta0"),
    "alpha2_beta1": lambda: Composite(AlphaBeta(2, 1), name="alpha2_beta1"),
    "z_plus": lambda: Composite(ZPlus(), name="z_plus"),
    "flat": lambda: Composite(Flat(), name="flat"),
    "w_square": lambda: Composite(WSquare(), name="w_square"),
}


def get(composite, argname="composite"):
    """A `Composite` from a preset name (one of `PRESETS`) or a `Composite`; a ValueError naming `argname` else."""
    if isinstance(composite, Composite):
        return composite
    if isinstance(composite, str) and composite in PRESETS:
        return PRESETS[composite]()
    raise ValueError(f"Received an invalid value for `{argname}`: {composite!r}. Expected a `Composite` or one of "
                     f"{sorted(PRESETS)}.")
