"""Progress bars for long library calls, in the look of Keras's own (`keras.utils.Progbar`).

Every long loop of kerasviz (chunks of occluded images, SmoothGrad samples and
IG steps, batches of a dataset for top patches, t-SNE iterations) reports
through `track`, so that `verbose=1` means the same everywhere: one Keras
progress bar on stdout. `verbose=0` (the library's default) prints nothing.
"""

import contextlib
import io
import numbers
import re
import sys


def check_verbose(verbose):
    """`verbose` as an int in {0, 1, 2} (Keras's meaning), else a ValueError naming it."""
    if isinstance(verbose, bool) or not isinstance(verbose, numbers.Integral) or verbose not in (0, 1, 2):
        raise ValueError(
            f"Received an invalid value for `verbose`: {verbose!r}. Expected 0 (silent), 1 (a progress "
            "bar) or 2 (one line when done)."
        )
    return int(verbose)


def bar(total, verbose, unit="step"):
    """A `keras.utils.Progbar` over `total` units (None: unknown) when `verbose`, else None."""
    if not check_verbose(verbose):
        return None
    import keras

    return keras.utils.Progbar(total, verbose=verbose, unit_name=unit)


def track(items, total, verbose=0, *, size=None, unit="step"):
    """Yields `items`; after each one, advances a progress bar by `size(item)` (1 by default).

    Args:
        items: an iterable (chunks, batches, steps).
        total: the total of the sizes, or None when unknown (a `tf.data.Dataset`).
        verbose: 0 (nothing), 1 (a progress bar) or 2 (one line at the end).
        size: a function of an item giving how many units it covers.
        unit: the unit's name, shown as Keras shows "step" ("image", "sample").

    Example:

    >>> for start, stop in track(inputs.batches(n, 32), n, verbose, size=lambda c: c[1] - c[0]):
    ...     run(start, stop)
    """
    progbar = bar(total, verbose, unit)
    done = 0
    for item in items:
        yield item
        if progbar is not None:
            done += 1 if size is None else int(size(item))
            progbar.update(done, finalize=total is not None and done >= total)
    if progbar is not None and (total is None or done < total):
        progbar.update(done, finalize=True)


_ITERATION = re.compile(r"Iteration (\d+):")


class _IterationReader(io.TextIOBase):
    """A text stream that turns scikit-learn's "[t-SNE] Iteration N: ..." lines into bar updates."""

    def __init__(self, progbar, stdout):
        self.progbar, self.stdout, self.pending, self.done = progbar, stdout, "", 0

    def writable(self):
        return True

    def write(self, text):
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            found = _ITERATION.search(line)
            if found:  # The bar itself writes to the real stdout.
                self.done = min(int(found.group(1)), self.progbar.target)
                with contextlib.redirect_stdout(self.stdout):
                    self.progbar.update(self.done)
        return len(text)


@contextlib.contextmanager
def sklearn_iterations(total, verbose, unit="iteration"):
    """A context in which scikit-learn's verbose iteration log becomes a progress bar.

    Yields the `verbose` level to pass to the scikit-learn estimator (2 when a
    bar is shown, else 0). Its log lines go to the bar, not to stdout; the bar
    is completed on exit (the estimator may stop early, having converged).
    """
    progbar = bar(total, verbose, unit)
    if progbar is None:
        yield 0
        return
    reader = _IterationReader(progbar, sys.stdout)
    with contextlib.redirect_stdout(reader):
        yield 2
    if reader.done < total:
        progbar.update(total, finalize=True)
