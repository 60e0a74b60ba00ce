"""Sliding windows along one spatial axis: the convolution arithmetic, in one place.

Dumoulin & Visin, 2016, "A guide to convolution arithmetic for deep
learning": a window of `kernel` taps `dilation` apart, moved by `stride`.
"same" padding pads as TensorFlow does: `out = ceil(n / s)`, `total =
max((out - 1) * s + extent - n, 0)`, `total // 2` before and the rest after,
so where a map starts in its input depends on the input's length.
"""

from typing import NamedTuple

import numpy as np


class Window(NamedTuple):
    """A sliding window along one axis: `kernel` taps, `dilation` apart, moved by `stride`."""

    kernel: int
    stride: int
    dilation: int = 1

    @property
    def extent(self):
        """Input positions one output position reads (the dilated kernel)."""
        return self.dilation * (self.kernel - 1) + 1

    def output_length(self, length, padding):
        """Output positions along an input of `length` with `padding` ("same" or "valid")."""
        if padding == "same":
            return -(-length // self.stride)
        return (length - self.extent) // self.stride + 1

    def pads(self, length, padding):
        """`(before, after)`: the positions padding adds on each side of an input of `length`."""
        if padding != "same":
            return 0, 0
        total = max((self.output_length(length, padding) - 1) * self.stride + self.extent - length, 0)
        return total // 2, total - total // 2

    def span(self, outputs):
        """Input positions read by `outputs` consecutive output positions."""
        return (outputs - 1) * self.stride + self.extent

    def touched(self, starts, size, before, out):
        """The outputs that read input positions `[starts, starts + size)`: the projective field.

        `starts` holds one start per region (numpy), `before` is the padding
        before the input, `out` the output length. Returns `(starts, size)`:
        one static size for all regions (the largest), starts clipped so that
        every region lies inside the output.
        """
        low = np.maximum(0, -((-(starts + before - self.extent + 1)) // self.stride))  # ceil division
        high = np.minimum(out - 1, (starts + size - 1 + before) // self.stride)
        new = int(max(1, (high - low + 1).max()))
        return np.clip(low, 0, out - new).astype(np.int32), new
