"""How far to trust an attribution map: the literature's metrics, by category, and `compare`.

- faithfulness: `deletion`, `insertion` (Petsiuk et al., 2018), `mufidelity`
  (Bhatt et al., 2020), `pixel_flipping`, `region_perturbation` (Bach et al.,
  2015; Samek et al., 2017), `selectivity` (Montavon et al., 2018), `irof`
  (Rieger & Hansen, 2020), `road` (Rong et al., 2022), `faithfulness_estimate`
  (Alvarez-Melis & Jaakkola, 2018), `monotonicity` (Arya et al., 2019),
  `monotonicity_correlation` (Nguyen & Martinez, 2020), `sensitivity_n`
  (Ancona et al., 2018), `infidelity` (Yeh et al., 2019), `sufficiency`
  (Dasgupta et al., 2022), `average_drop`, `increase_in_confidence`
  (Chattopadhay et al., 2018), `average_gain` (Zhang et al., 2023);
- robustness: `max_sensitivity`, `avg_sensitivity`, `local_lipschitz_estimate`,
  the relative stabilities (Agarwal et al., 2022), `continuity` (Montavon et al., 2018),
  `consistency`;
- complexity: `sparseness`, `complexity`, `effective_complexity`;
- localisation: `pointing_game`, `relevance_rank_accuracy`,
  `relevance_mass_accuracy`, `attribution_localisation`, `top_k_intersection`,
  `mask_auc`, `focus`;
- randomisation: `sanity_check`, `random_logit`, `smooth_mprt`, `efficient_mprt`;
- axiomatic: `completeness`, `non_sensitivity`, `input_invariance`;
- `METRICS`: each by name with its direction, cost and category; `compare`:
  every metric for every method on your own model, in one table;
  `MOVING_METRICS`: those that build moved images (noise, translations,
  imputation) and clip them into a `value_range` when given one.
"""

from kerasviz.metrics.agreement import consistency, sufficiency
from kerasviz.metrics.axiomatic import completeness, input_invariance, non_sensitivity
from kerasviz.metrics.complexity import complexity, effective_complexity, sparseness
from kerasviz.metrics.catalog import DEFAULT_METRICS, METRICS, MOVING_METRICS, SANITY_THRESHOLD
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
    continuity,
    local_lipschitz_estimate,
    relative_input_stability,
    relative_output_stability,
    relative_representation_stability,
)

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "MOVING_METRICS",
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
    "continuity",
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
