"""Relevance: attributions propagated backwards through the network by rules (DeepLIFT, layer attribution)."""
