"""What each unit has learned, over datasets: Network Dissection, TCAV, building blocks, activation atlases.

The public functions of this package (the integrator exposes them from `kerasviz`):
"""

from kerasviz.inside.atlas import (
    ActivationSample, Atlas, activation_atlas, bin_layout, logit_directions, render_atlas_cells, sample_activations,
)
from kerasviz.inside.building_blocks import (
    GroupAttribution, NeuronGroups, channel_attribution, group_attribution, neuron_groups, spatial_attribution,
)
from kerasviz.inside.concepts import colour_concepts, shapes_concepts
from kerasviz.inside.dissection import Dissection, dissect
from kerasviz.inside.quantiles import TailQuantiles
from kerasviz.inside.cavs import (
    CAV, TCAVScore, TCAVTest, concept_activation_vector, directional_derivatives, tcav, tcav_significance,
)

__all__ = [
    "ActivationSample", "Atlas", "activation_atlas", "bin_layout", "logit_directions", "render_atlas_cells",
    "sample_activations",
    "CAV", "Dissection", "GroupAttribution", "NeuronGroups", "channel_attribution", "group_attribution", "neuron_groups",
    "spatial_attribution", "TCAVScore", "TCAVTest", "TailQuantiles", "colour_concepts", "concept_activation_vector",
    "directional_derivatives", "dissect", "shapes_concepts", "tcav", "tcav_significance",
]
