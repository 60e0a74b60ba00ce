"""Every method by name: what the callbacks, the CLI and the invariant tests iterate over."""

from kerasviz.gradients.saliency import guided_backprop, saliency

ATTRIBUTION_METHODS = {
    "saliency": saliency,
    "guided_backprop": guided_backprop,
}
