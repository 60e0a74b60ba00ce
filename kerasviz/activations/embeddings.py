"""FC-layer embeddings: features, nearest neighbours, PCA / t-SNE maps and image grids.

One name for the family; the code lives in one module per idea:
`features` (streamed, optionally to a memory-mapped file), `neighbours`
(exact or HNSW search, the neighbours figure), `projections` (PCA, t-SNE)
and `grid` (the t-SNE grid picture).
"""

from kerasviz.activations.features import features
from kerasviz.activations.grid import EXACT_ASSIGNMENT_MAX, EmbeddingGrid, embedding_grid
from kerasviz.activations.neighbours import EXACT_NEIGHBORS_MAX, nearest_neighbors, neighbors_figure
from kerasviz.activations.projections import OPENTSNE_MIN, project

__all__ = ["EXACT_ASSIGNMENT_MAX", "EXACT_NEIGHBORS_MAX", "EmbeddingGrid", "OPENTSNE_MIN", "embedding_grid",
           "features", "nearest_neighbors", "neighbors_figure", "project"]
