"""The model as a graph of typed layer calls: the one reading of a network's structure.

- `trace`: one symbolic call of the model records every layer call, its
  arguments, output shapes, producers and consumers (any model form);
- `taxonomy`: what each layer kind is (a window, per position, a merge, a
  normalization, global, structural...);
- `windows`: the sliding-window and "same"-padding arithmetic;
- `fields`: receptive fields followed through the graph; `measured`: the
  same measured from input gradients where the graph cannot be followed.

The meaningful-layer defaults (`kerasviz.layer_graph`), receptive fields
(`kerasviz.activations.receptive_field`) and incremental occlusion
(`kerasviz.activations.incremental_plan`) read their model from here.
"""
