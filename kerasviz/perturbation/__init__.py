"""Perturbation methods: explain a model by how its score changes when parts of the image are hidden.

RISE (random masks), LIME and KernelSHAP (superpixels switched on and off,
then a regression), XRAI (an attribution summed over superpixels at several
scales). Perturbed images are built inside the compiled graph, at most
`batch_size` at a time.
"""
