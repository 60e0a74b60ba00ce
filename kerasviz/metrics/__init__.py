"""How far to trust an attribution map: faithfulness, robustness, complexity, localization, sanity.

- `deletion`, `insertion` (Petsiuk et al., 2018) and `mufidelity` (Bhatt et
  al., 2020): does the score change where the map says it matters?
- `max_sensitivity`, `avg_sensitivity` (Yeh et al., 2019; Bhatt et al.,
  2020): does the map stay put when the image barely changes?
- `sparseness` (Gini index, Chalasani et al., 2020) and `complexity`
  (entropy, Bhatt et al., 2020): how concentrated is the map?
- `pointing_game` (energy-based, Wang et al., 2020): how much of the map lies
  on the object?
- `sanity_check` (Adebayo et al., 2018) and `random_logit` (Sixt et al.,
  2020): does the map depend on the weights, and on the class explained?
- `compare`: every metric for every method on your own model, in one table.
"""

from kerasviz.metrics.agreement import consistency, sufficiency
from kerasviz.metrics.axiomatic import completeness, input_invariance, non_sensitivity
from kerasviz.metrics.complexity import complexity, effective_complexity, sparseness
from kerasviz.metrics.catalog import METRICS, SANITY_THRESHOLD
from kerasviz.metrics.compare import Comparison, compare
from kerasviz.metrics.confidence import average_drop, average_gain, increase_in_confidence
from kerasviz.metrics.faithfulness import Curve, blur, deletion, insertion, pixel_ranks
from kerasviz.metrics.faithfulness_correlations import (
    faithfulness_estimate,
    infidelity,
    monotonicity_correlation,
    sensitivity_n,
)
from kerasviz.metrics.faithfulness_curves import irof, monotonicity, pixel_flipping, region_perturbation, selectivity
from kerasviz.metrics.mosaics import focus
from kerasviz.metrics.localization import (
    attribution_localisation,
    mask_auc,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
    top_k_intersection,
)
from kerasviz.metrics.mufidelity import mufidelity
from kerasviz.metrics.randomisation import efficient_mprt, smooth_mprt
from kerasviz.metrics.road import road
from kerasviz.metrics.robustness import avg_sensitivity, max_sensitivity
from kerasviz.metrics.sanity import (
    RandomLogitResult,
    SanityResult,
    random_logit,
    rank_correlation,
    randomized_model,
    sanity_check,
)
from kerasviz.metrics.stability import (
    local_lipschitz_estimate,
    relative_input_stability,
    relative_output_stability,
    relative_representation_stability,
)

__all__ = [
    "METRICS",
    "SANITY_THRESHOLD",
    "Comparison",
    "Curve",
    "RandomLogitResult",
    "SanityResult",
    "attribution_localisation",
    "average_drop",
    "average_gain",
    "avg_sensitivity",
    "blur",
    "compare",
    "completeness",
    "complexity",
    "consistency",
    "deletion",
    "effective_complexity",
    "efficient_mprt",
    "faithfulness_estimate",
    "focus",
    "increase_in_confidence",
    "infidelity",
    "input_invariance",
    "insertion",
    "irof",
    "local_lipschitz_estimate",
    "mask_auc",
    "max_sensitivity",
    "monotonicity",
    "monotonicity_correlation",
    "mufidelity",
    "non_sensitivity",
    "pixel_flipping",
    "pixel_ranks",
    "pointing_game",
    "random_logit",
    "randomized_model",
    "rank_correlation",
    "region_perturbation",
    "relative_input_stability",
    "relative_output_stability",
    "relative_representation_stability",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
    "road",
    "sanity_check",
    "selectivity",
    "sensitivity_n",
    "smooth_mprt",
    "sparseness",
    "sufficiency",
    "top_k_intersection",
]
