"""Deprecated name of `kerasviz.demo`, the demo datasets and models.

`kerasviz.data` read too much like `kerasviz.datasets` (which runs methods
over *your* data, `explain_dataset`). Every name still resolves here, with a
`DeprecationWarning`.
"""

import warnings

from kerasviz import demo as _demo


def __getattr__(name):
    value = getattr(_demo, name)
    warnings.warn(f"`kerasviz.data` is deprecated: use `kerasviz.demo.{name}`.", DeprecationWarning, stacklevel=2)
    return value
