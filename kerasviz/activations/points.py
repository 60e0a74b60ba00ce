"""Checks shared by the embedding modules: point matrices and display images."""

import numpy as np

_CHUNK_ROWS = 65536  # rows checked at a time: a memory-mapped matrix is never read whole


def matrix(value, argname):
    """A finite 2-D float array (float32 kept, other dtypes to float64), else a ValueError naming `argname`.

    A float32 `np.memmap` (from `features(..., out=...)`) is returned as it is
    and checked for NaN/inf chunk by chunk, so it is never copied into memory.
    """
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"Expected `{argname}` to hold numbers. Received dtype {array.dtype}.")
    if array.ndim != 2 or array.size == 0:
        raise ValueError(
            f"Received an invalid value for `{argname}`: shape {array.shape}. "
            "Expected a non-empty 2-D array [N, D]."
        )
    if array.dtype != np.float32:
        array = array.astype(np.float64)
    for start in range(0, len(array), _CHUNK_ROWS):
        if not np.isfinite(array[start:start + _CHUNK_ROWS]).all():
            raise ValueError(f"Received NaN or inf values in `{argname}` (shape {array.shape}).")
    return array


def display_images(value, argname):
    """Images `[N, H, W]` or `[N, H, W, C]` as float32, else a ValueError naming `argname`."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf" or array.ndim not in (3, 4) or array.size == 0:
        raise ValueError(
            f"Received an invalid value for `{argname}`: shape {array.shape}, dtype {array.dtype}. "
            "Expected images [N, H, W] or [N, H, W, C] in display space [0, 1]."
        )
    return array.astype(np.float32)
