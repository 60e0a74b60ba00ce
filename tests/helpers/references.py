"""Plain-numpy references that several tests compare the library with."""

import numpy as np


def bilinear_upsample(maps, height, width):
    """Plain-numpy bilinear resize with half-pixel centres (what `tf.image.resize` does)."""

    def weights(size_in, size_out):
        src = np.clip((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0, size_in - 1)
        low = np.floor(src).astype(int)
        high = np.minimum(low + 1, size_in - 1)
        matrix = np.zeros((size_out, size_in))
        matrix[np.arange(size_out), low] += 1 - (src - low)
        matrix[np.arange(size_out), high] += src - low
        return matrix

    return np.einsum("yi,bij,xj->byx", weights(maps.shape[1], height), maps, weights(maps.shape[2], width))
