"""A run directory's event file as the kerasviz callbacks write it: appended, verified, never torn.

`tf.summary` file writers keep their file open and swallow write errors: on a
full disk they leave a torn record that hides every later one, after the run
directory is removed they write nowhere, and on a disk full from the start each
new writer leaves one more empty event file. None of it is said.

`EventFile` writes the events that `kerasviz.summary` journals (`scope`)
itself. Each `flush` opens the file, appends whole records, syncs, closes it
and checks that the file grew by exactly what was written. A failed append is
cut back to the last whole record (a file it created is removed), and its
events stay pending, up to `MAX_PENDING_BYTES`, for the next flush; a file or
run directory removed meanwhile is started anew. Nothing stays open between
flushes, so an interrupt never leaves a writer open. The file's name ends in
`.kerasviz.v2` and sorts after the run's earlier event files, as TensorBoard's
readers need.

One `EventFile` per run directory and process (`acquire`/`release`), shared
by the callbacks that write there; `claim` refuses a second callback of the
same `fit` that would write the same tags.
"""

import errno
import io
import itertools
import numbers
import os
import socket
import threading
import time
import weakref

import tensorflow as tf
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer import record_writer

from kerasviz import summary

MAX_PENDING_BYTES = 64 * 2**20
_FILES = {}  # absolute run directory -> [EventFile, users]
_LOCK = threading.Lock()
_COUNTER = itertools.count()
TICKS = itertools.count()  # orders `set_model` and `claim` calls (see `EventFile.claim`)


class WriteError(OSError):
    """Events that could not be written to a run directory's event file.

    Attributes:
        path: the event file (or the run directory when no file could be made).
        pending: `(tag, step)` pairs kept in memory for the next write.
        lost: `(tag, step)` pairs given up on.
    """

    def __init__(self, path, cause, pending, lost):
        self.path, self.pending, self.lost = path, pending, lost
        kept = f" Kept in memory for the next write: {describe(pending)}." if pending else ""
        gone = f" Lost: {describe(lost)}." if lost else ""
        super().__init__(getattr(cause, "errno", None) or errno.EIO,
                         f"Could not write to {path!r}: {_reason(cause)}.{kept}{gone}")


def _reason(error):
    return error.strerror or str(error) if isinstance(error, OSError) else f"{type(error).__name__}: {error}"


def describe(pairs):
    """`"steps 2, 3 of 'kerasviz/attribution/saliency', ..."`: what a list of `(tag, step)` holds."""
    by_tag = {}
    for tag, step in pairs:
        by_tag.setdefault(tag, []).append(step)
    return "; ".join(f"step{'s' if len(s) > 1 else ''} {', '.join(map(str, sorted(set(s))))} of {tag!r}"
                     for tag, s in by_tag.items())


def _framed(events):
    """The TFRecord framing of serialized events (length, CRCs), as TensorFlow writes it."""
    buffer = io.BytesIO()
    writer = record_writer.RecordWriter(buffer)
    for event in events:
        writer.write(event)
    return buffer.getvalue()


def _event_files(directory):
    return sorted(os.path.join(directory, f) for f in tf.io.gfile.listdir(directory) if "tfevents" in f) \
        if tf.io.gfile.isdir(directory) else []


class EventFile:
    """The event file a run directory's kerasviz callbacks append to (see the module docstring)."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.path = None
        self.pending = []  # (tag, step, serialized event), oldest first
        self.lost = []  # (tag, step)
        self._size = 0  # bytes of whole records in `path`
        self._last_steps = None  # {tag: last step on disk}, read at the first `last_step`
        self._claims = {}  # tag -> (weakref to the callback, tick)

    def scope(self, step):
        """`with file.scope(step):` journals `kerasviz.summary`'s writes at `step` for the next `flush`."""
        return summary.journal(self.pending, step)

    def claim(self, tags, owner, since):
        """Reserves `tags` for `owner`; raises `ValueError` if another callback claimed one after `since`.

        `since` is the tick of `owner`'s `set_model`: Keras calls `set_model` on
        every callback of a `fit` before any `on_train_begin`, so a claim made
        after it belongs to the same `fit`; an older one (a `fit` that ended
        without `on_train_end`, e.g. interrupted) is replaced.
        """
        for tag in tags:
            other, tick = self._claims.get(tag, (lambda: None, -1))
            other = other()
            if other is not None and other is not owner and tick > since:
                raise ValueError(
                    f"Received run_name={owner.run_name!r} for a {type(owner).__name__}, but a "
                    f"{type(other).__name__} of the same training writes the tag {tag!r} to {self.run_dir!r} "
                    "too: two writers of one series collide. Give one of them another `run_name`.")
        tick = next(TICKS)
        self._claims.update({tag: (weakref.ref(owner), tick) for tag in tags})

    def unclaim(self, owner):
        self._claims = {t: (o, k) for t, (o, k) in self._claims.items() if o() is not owner}

    def last_step(self, tags):
        """The last step written (or pending) for any of `tags` in this run directory, or -1."""
        if self._last_steps is None:
            self._last_steps = {}
            for path in _event_files(self.run_dir):
                for event in event_file_loader.EventFileLoader(path).Load():
                    self._note(((v.tag, event.step) for v in event.summary.value))
        steps = [self._last_steps.get(t, -1) for t in tags] + [s for t, s, _ in self.pending if t in tags]
        return max(steps, default=-1)

    def _note(self, pairs):
        if self._last_steps is not None:
            for tag, step in pairs:
                self._last_steps[tag] = max(step, self._last_steps.get(tag, -1))

    def flush(self):
        """Appends the pending events; returns a notice when the file had to be started anew.

        Raises:
            WriteError: the append failed; its events stay pending (those
                over `MAX_PENDING_BYTES`, oldest first, are lost).
        """
        if not self.pending:
            return None
        count = len(self.pending)
        try:
            notice = self._append(_framed(e for _, _, e in self.pending[:count]))
        except OSError as error:
            lost = self._drop_over_budget()
            raise WriteError(self.path or self.run_dir, error, [(t, s) for t, s, _ in self.pending], lost) from error
        self._note((t, s) for t, s, _ in self.pending[:count])
        del self.pending[:count]
        return notice

    def _drop_over_budget(self):
        dropped = []
        while self.pending and sum(len(e) for _, _, e in self.pending) > MAX_PENDING_BYTES:
            oldest = self.pending[0][1]
            dropped += [(t, s) for t, s, _ in self.pending if s == oldest]
            self.pending[:] = [p for p in self.pending if p[1] != oldest]
        self.lost += dropped
        return dropped

    def _append(self, data):
        notice = None
        if self.path is not None and not tf.io.gfile.exists(self.path):
            gone = "the run directory was removed" if not tf.io.gfile.isdir(self.run_dir) else "it was removed"
            notice = (f"The event file {self.path!r} disappeared during training ({gone}); the records "
                      "written there before are gone, the next ones go to a new event file.")
            self.path = None
        if self.path is None:
            _io(tf.io.gfile.makedirs, self.run_dir)
            name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}."
                    f"{next(_COUNTER):04d}.kerasviz.v2")
            self.path, self._size = os.path.join(self.run_dir, name), 0
            header = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString()
            data = _framed([header]) + data
        try:
            size = _io(_append_bytes, self.path, data)
            if size != self._size + len(data):
                raise OSError(errno.EIO, f"the event file holds {size} bytes after an append that should "
                                         f"have made it {self._size + len(data)}")
        except BaseException:
            self._cut()
            raise
        self._size += len(data)
        return notice

    def _cut(self):
        """Cuts the file back to its whole records; removes it if it has none; forgets it if it cannot."""
        try:
            if self._size == 0:
                _io(tf.io.gfile.remove, self.path)
                self.path = None
            elif "://" in self.path:
                self.path = None  # no truncation there: the file ends at its torn record
            else:
                os.truncate(self.path, self._size)
        except OSError:
            self.path = None  # gone or out of reach: the next flush starts a new file


def _io(function, *args):
    """Calls `function`; TensorFlow's filesystem errors become `OSError`s."""
    try:
        return function(*args)
    except tf.errors.OpError as error:
        raise OSError(errno.EIO, error.message) from error


def _append_bytes(path, data):
    """Appends `data` to the file at `path` (synced to disk when local); returns the file's size."""
    if "://" in path:  # a remote filesystem (gs://, hdfs://): through TensorFlow's, no fsync
        with tf.io.gfile.GFile(path, "ab") as handle:
            handle.write(data)
        return tf.io.gfile.stat(path).length
    with open(path, "ab") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return os.path.getsize(path)


def acquire(run_dir):
    """The `EventFile` of `run_dir`, shared by its users in this process. Pair with `release`."""
    key = os.path.abspath(run_dir)
    with _LOCK:
        entry = _FILES.setdefault(key, [EventFile(key), 0])
        entry[1] += 1
        return entry[0]


def release(run_dir, owner):
    """Gives back `acquire`'s file and `owner`'s claims; returns what the last user leaves unwritten."""
    key = os.path.abspath(run_dir)
    with _LOCK:
        entry = _FILES.get(key)
        if entry is None:
            return []
        entry[0].unclaim(owner)
        entry[1] -= 1
        if entry[1] > 0:
            return []
        del _FILES[key]
        return [(t, s) for t, s, _ in entry[0].pending]


def check_step(step):
    """`step` of a record written outside training: an int >= 0, or None (the next one); else ValueError."""
    if step is not None and (isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0):
        raise ValueError(f"Received an invalid value for `step`: {step!r}. Expected an int >= 0 or None.")
    return step


def write_record_once(run_dir, tag, step, what, write):
    """Runs `write()` (one record under `tag`) at `step` of `run_dir`'s event file, flushed; returns the step.

    For records written outside training (a method comparison, a dataset
    summary): TensorBoard shows one record per tag and step, so `step=None`
    takes the step after the run's last record of `tag`, and a `step` at or
    before it raises instead of hiding one of the two.

    Args:
        run_dir: the run directory (checked by the caller).
        tag: the record's tag.
        step: an int `>= 0`, or `None` (the next one), as `check_step` says.
        what: what the record is, for the error message ("a comparison").
        write: a callable writing the record (e.g. through `kerasviz.summary`).
    """
    owner = object()
    file = acquire(run_dir)
    try:
        last = file.last_step([tag])
        if step is None:
            step = last + 1
        elif step <= last:
            raise ValueError(f"Received step={step!r}, but {run_dir!r} already holds {what} at step {last}: "
                             "TensorBoard would show only one of them. Pass a later `step` (None: the next one) "
                             "or another `run_name`.")
        with file.scope(int(step)):
            write()
        file.flush()
    finally:
        release(run_dir, owner)
    return int(step)


RESERVED_RUNS = ("train", "validation")


def chief_of(resolver):
    """True when the task described by a `tf.distribute` cluster resolver is the chief.

    The chief is the `"chief"` task, or worker 0 of a cluster without one; a
    resolver without a task (single machine) is the chief too.
    """
    task_type = getattr(resolver, "task_type", None)
    if not task_type or task_type == "chief":
        return True
    if task_type != "worker":
        return False
    return "chief" not in resolver.cluster_spec().jobs and int(resolver.task_id or 0) == 0


def is_chief(strategy=None):
    """True unless `strategy` (default: the current one) runs on a non-chief worker."""
    strategy = strategy if strategy is not None else tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    return True if resolver is None else chief_of(resolver)


def check_run_dir(log_dir, run_name):
    """The run directory `<log_dir>/<run_name>`, or a ValueError/TypeError naming what cannot be written there."""
    if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
        raise TypeError(f"Expected `log_dir` to be a non-empty path. Received: log_dir={log_dir!r}.")
    parts = run_name.split("/") if isinstance(run_name, str) else None
    if not parts or any(p in ("", ".", "..") or "\\" in p for p in parts) or run_name in RESERVED_RUNS:
        raise ValueError(
            f"Received an invalid value for `run_name`: {run_name!r}. Expected a relative name "
            f"such as 'kerasviz' (not {RESERVED_RUNS}, Keras's own run directories).")
    run_dir = os.path.join(os.fspath(log_dir), run_name)
    if "://" in run_dir:
        return run_dir
    probe = os.path.abspath(run_dir)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        why = "is a file, not a directory" if not os.path.isdir(probe) else "is not writable"
        raise ValueError(f"Received an invalid value for `log_dir`: {log_dir!r}. Cannot create the "
                         f"run directory {run_dir!r}: {probe!r} {why}.")
    return run_dir
