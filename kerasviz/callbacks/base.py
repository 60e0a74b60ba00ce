"""The base of every kerasviz callback: run directory, frequency, steps, errors, chief.

`VisualizationCallback` follows `keras.callbacks.TensorBoard`: its own run
directory `<log_dir>/<run_name>` next to Keras's `train/` and `validation/`,
one event file per directory (`eventfile.EventFile`: appended after each
write, verified, nothing held open), a frequency in epochs (or, on request, in
batches), steps that never go backwards and never repeat one already written,
errors while visualizing (a failed write included) that warn once instead of
ending the training, and writing on the chief only under `tf.distribute`.
"""

import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from kerasviz import inputs
from kerasviz import eventfile

def _positive(value, argname, optional=False):
    if optional and value is None:
        return None
    return inputs.check_positive_int(value, argname)


class VisualizationCallback(keras.callbacks.Callback):
    """Base class of the kerasviz callbacks: run directory, frequency, steps, errors, chief.

    Subclasses implement `configure(model)` (validate everything against the
    model; raise `ValueError`/`TypeError` naming the argument), `tags()` (the
    record tags they write, known after `configure`) and `visualize(step)`
    (compute and write with `self.write_scope(step)`; wrap each independent
    piece in `self.guarded(what, step, fn, ...)`).

    Steps are the epoch numbers Keras passes (so `initial_epoch` resumes line
    up with `keras.callbacks.TensorBoard`'s `epoch_*` scalars), and no step is
    written twice: when a `fit` (of this callback or of a new one writing the
    same tags to the same run directory) restarts at or below a step already
    written, steps continue from the last step written + 1, so that both of
    TensorBoard's data servers show one record per step. Two callbacks of one
    `fit` writing the same tags to one run directory are refused at
    `on_train_begin`. With `every_n_batches`, steps are the optimizer's
    iteration count and the callback writes at batch ends only: only then is
    `on_train_batch_end` overridden (Keras dispatches batch hooks
    asynchronously only when no callback overrides them).

    Args:
        log_dir: the TensorBoard log directory (the one given to
            `keras.callbacks.TensorBoard`).
        run_name: this callback's run directory under `log_dir`.
        every: write every `every` epochs (epochs 0, every, 2 * every, ...).
        every_n_batches: write every this many training batches instead.
        on_error: `"warn"` (a failure while visualizing warns once per kind
            and training goes on) or `"raise"`. A failed write (disk full,
            run directory removed, no permission) is such a failure: the
            warning names the event file and what is kept for the next write
            or lost; `"raise"` raises `eventfile.WriteError` (an `OSError`).
            A `KeyboardInterrupt` propagates, after what was computed is
            written.
    """

    def __init__(self, log_dir, *, run_name="kerasviz", every=1, every_n_batches=None, on_error="warn"):
        super().__init__()
        self.run_dir = eventfile.check_run_dir(log_dir, run_name)
        self.log_dir, self.run_name = os.fspath(log_dir), run_name
        self.every = _positive(every, "every")
        self.every_n_batches = _positive(every_n_batches, "every_n_batches", optional=True)
        if on_error not in ("warn", "raise"):
            raise ValueError(f"Received an invalid value for `on_error`: {on_error!r}. Expected 'warn' or 'raise'.")
        self.on_error = on_error
        self._writer = None
        self._tick = -1
        self._configured_for = None
        self._chief = True
        self._last_step = -1
        self._offset = None
        self._warned = set()
        if self.every_n_batches is not None:
            # An instance attribute: Keras sees an overridden batch hook only when asked for one.
            self.on_train_batch_end = self._on_train_batch_end

    # Subclass hooks.
    def configure(self, model):
        """Validates the configuration against `model` (called before the first step)."""

    def tags(self):
        """The record tags this callback writes (after `configure`); none by default."""
        return ()

    def visualize(self, step):
        """Computes and writes the visualizations of one step."""
        raise NotImplementedError

    # Keras hooks.
    def set_model(self, model):
        super().set_model(model)
        self._tick = next(eventfile.TICKS)
        if getattr(model, "built", False):
            self._configure(model)

    def on_train_begin(self, logs=None):
        self._configure(self.model)
        self._offset = None
        if self._chief:
            tags = self.tags()
            self.writer.claim(tags, self, self._tick)
            self._last_step = max(self._last_step, self.writer.last_step(tags))

    def on_epoch_end(self, epoch, logs=None):
        if self.every_n_batches is not None:
            return
        if self._offset is None:
            self._offset = max(0, self._last_step + 1 - int(epoch))
        step = int(epoch) + self._offset
        self._last_step = max(self._last_step, step)
        if step % self.every == 0:
            self._run(step)

    def _on_train_batch_end(self, batch, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        step = int(iterations.numpy()) if iterations is not None else self._last_step + 1
        step = max(step, self._last_step + 1)
        self._last_step = step
        if self._offset is None:  # the first batch of this fit: count multiples from here
            self._offset = (step - 1) // self.every_n_batches
        if step // self.every_n_batches > self._offset:  # crossed a multiple of every_n_batches
            self._offset = step // self.every_n_batches
            self._run(step)

    def on_train_end(self, logs=None):
        self._close()

    # Helpers.
    def _configure(self, model):
        if model is None or self._configured_for is model:
            return
        self._chief = eventfile.is_chief(model.distribute_strategy)
        self.configure(model)
        self._configured_for = model

    def _run(self, step):
        if not self._chief:
            return
        try:
            self.guarded("visualize", step, self.visualize, step)
            self._flush()
        except BaseException:  # on_error="raise", KeyboardInterrupt: Keras calls no on_train_end
            self._close(on_error="warn")
            raise

    def _flush(self, on_error=None):
        """Writes what is pending; a failed write warns once per kind or raises (`on_error`)."""
        try:
            notice = self.writer.flush()
        except eventfile.WriteError as error:
            if (on_error or self.on_error) == "raise":
                raise
            self._warn_once(("WriteError", error.errno), f"{type(self).__name__}: {error}")
        else:
            if notice:
                self._warn_once(("replaced", None), f"{type(self).__name__}: {notice}")

    def _close(self, on_error=None):
        """Writes what is pending and gives the event file back; warns about what is lost."""
        if self._writer is None:
            return
        try:
            self._flush(on_error)
        finally:
            lost = eventfile.release(self.run_dir, self)
            self._writer = None
            if lost:
                self._warn_once(("lost", None), f"{type(self).__name__} could not write to "
                                                f"{self.run_dir!r}; lost: {eventfile.describe(lost)}.")

    @property
    def writer(self):
        """The run directory's `eventfile.EventFile`, acquired on first use."""
        if self._writer is None:
            self._writer = eventfile.acquire(self.run_dir)
        return self._writer

    def write_scope(self, step):
        """`with self.write_scope(step):` journals `kerasviz.summary`'s writes at `step` for this run."""
        return self.writer.scope(step)

    def guarded(self, what, step, fn, *args, **kwargs):
        """Calls `fn`; on an `Exception` warns once per (type, what) or re-raises (`on_error`)."""
        try:
            return fn(*args, **kwargs)
        except Exception as error:  # KeyboardInterrupt and SystemExit are not Exceptions.
            if self.on_error == "raise":
                raise
            self._warn_once((type(error).__name__, what),
                            f"{type(self).__name__} could not visualize {what!r} at step {step}: "
                            f"{type(error).__name__}: {error}.")
            return None

    def _warn_once(self, kind, message):
        if kind not in self._warned:
            self._warned.add(kind)
            warnings.warn(f"{message} Training goes on; this warning is shown once per kind of failure "
                          "(pass on_error='raise' to stop instead).", RuntimeWarning, stacklevel=3)


def probe_arrays(images, labels, max_images):
    """The first `max_images` probe images (and int labels) on the host.

    `images` may be an array, a tensor or a `tf.data.Dataset` of batches or
    `(images, labels)` (read only as far as needed); one-hot labels become
    indices.
    """
    if isinstance(images, tf.data.Dataset):
        xs, ys = [], []
        for element in images:
            pair = isinstance(element, (tuple, list)) and len(element) > 1
            xs.append(np.asarray(element[0] if pair else element))
            ys.append(np.asarray(element[1]) if pair else None)
            if sum(map(len, xs)) >= max_images:
                break
        if not xs:
            raise ValueError("Received an empty dataset for `images`.")
        images = np.concatenate(xs)
        if labels is None and all(y is not None for y in ys):
            labels = np.concatenate(ys)
    images = np.asarray(images)[:max_images]
    if labels is not None:
        labels = inputs.class_labels(labels)[:max_images]
        if len(labels) != len(images):
            raise ValueError(f"Received {len(labels)} `labels` for {len(images)} `images`.")
    return images, labels
