"""Keras callbacks that write visualizations to TensorBoard while a model trains.

Every family's callback builds on `VisualizationCallback` (`base.py`).
"""

from kerasviz.callbacks.activations import EmbeddingCallback, FilterCallback, PatchesCallback
from kerasviz.callbacks.attribution import DEFAULT_METHODS, AttributionCallback
from kerasviz.callbacks.base import VisualizationCallback
from kerasviz.callbacks.concepts import CraftCallback, TCAVCallback
from kerasviz.eventfile import chief_of, is_chief
from kerasviz.callbacks.features import FeatureMapsCallback, FeatureVisualizationCallback
from kerasviz.callbacks.inside import BuildingBlocksCallback
from kerasviz.callbacks.microscope import MicroscopeCallback
from kerasviz.callbacks.synthesis import ClassVisualizationCallback

__all__ = [
    "AttributionCallback",
    "BuildingBlocksCallback",
    "ClassVisualizationCallback",
    "CraftCallback",
    "DEFAULT_METHODS",
    "EmbeddingCallback",
    "FeatureMapsCallback",
    "FeatureVisualizationCallback",
    "FilterCallback",
    "MicroscopeCallback",
    "PatchesCallback",
    "TCAVCallback",
    "VisualizationCallback",
    "chief_of",
    "is_chief",
]
