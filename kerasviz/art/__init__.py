"""The art family: DeepDream (`deepdream.py`), texture synthesis and neural style transfer (`style.py`).

All three run on the one input-optimization engine,
`kerasviz.gradients.synthesis.optimize`.
"""
