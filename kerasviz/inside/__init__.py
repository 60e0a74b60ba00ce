"""What each unit has learned, over datasets: Network Dissection, TCAV, building blocks, activation atlases.

- `dissection`: `dissect` (Bau et al., 2017), over the streaming quantiles of `quantiles`;
  `concepts`: colour concepts from hue thresholds and the shapes dataset's concepts.
- `cavs`: concept activation vectors and TCAV with its significance test (Kim et al., 2018).
- `building_blocks`: NMF neuron groups and attribution to positions, channels, groups (Olah et al., 2018);
  `blocks`: all of them for one image, with renders and the semantic dictionary, for the dashboard.
- `atlas`: activation atlas cells (Carter et al., 2019): sample (`sampling`), lay out, bin, logit effects,
  renders.
- `resumable`: the dataset passes in shards, resumable from a `state_dir`, under `tf.distribute` (devices
  take batches, workers take shards and merge their partial states).
- `craft`: CRAFT (Fel et al., 2023): concepts by NMF of patch activations, their importance by Sobol
  indices (`sobol`: Saltelli et al., 2010; Jansen, 1999), concept attribution maps; `concept_records`: them
  for the dashboard.
- `microscope`: `build_microscope`, a page per channel and an atlas per layer for the dashboard (records in
  `microscope_records`); `wiring`: each channel's strongest inputs and outputs by weight.

Importing this package imports TensorFlow; `kerasviz` exposes these names lazily.
"""

from kerasviz.inside.atlas import (
    ActivationSample, Atlas, activation_atlas, bin_layout, logit_directions, render_atlas_cells, sample_activations,
)
from kerasviz.inside.blocks import BuildingBlocks, building_blocks_of
from kerasviz.inside.building_blocks import (
    GroupAttribution, NeuronGroups, channel_attribution, group_attribution, neuron_groups, spatial_attribution,
)
from kerasviz.inside.cavs import (
    CAV, TCAVScore, TCAVTest, concept_activation_vector, directional_derivatives, tcav, tcav_significance,
)
from kerasviz.inside.concept_records import write_concepts, write_tcav
from kerasviz.inside.concepts import colour_concepts, shapes_concepts
from kerasviz.inside.craft import (
    ConceptBank, ConceptImportance, concept_coefficients, concept_importance, concept_maps, craft_concepts,
)
from kerasviz.inside.dissection import Dissection, dissect
from kerasviz.inside.microscope import MicroscopeReport, build_microscope
from kerasviz.inside.quantiles import TailQuantiles
from kerasviz.inside.renders import render_directions
from kerasviz.inside.sobol import SobolIndices, sobol_design, sobol_estimates, sobol_indices
from kerasviz.inside.wiring import Wiring, channel_wiring

__all__ = [
    # Network Dissection
    "Dissection", "TailQuantiles", "colour_concepts", "dissect", "shapes_concepts",
    # TCAV
    "CAV", "TCAVScore", "TCAVTest", "concept_activation_vector", "directional_derivatives", "tcav",
    "tcav_significance", "write_tcav",
    # building blocks
    "BuildingBlocks", "building_blocks_of", "render_directions", "GroupAttribution", "NeuronGroups",
    "channel_attribution", "group_attribution", "neuron_groups", "spatial_attribution",
    # activation atlas
    "ActivationSample", "Atlas", "activation_atlas", "bin_layout", "logit_directions", "render_atlas_cells",
    "sample_activations",
    # CRAFT
    "ConceptBank", "ConceptImportance", "concept_coefficients", "concept_importance", "concept_maps",
    "craft_concepts", "write_concepts",
    # Sobol indices
    "SobolIndices", "sobol_design", "sobol_estimates", "sobol_indices",
    # a page per channel
    "MicroscopeReport", "Wiring", "build_microscope", "channel_wiring",
]
