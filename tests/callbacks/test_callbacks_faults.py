"""Callbacks under faults: a disk filled during training (a real tmpfs), a run directory removed, interrupts.

Every scenario trains for real and reads the event files back, byte by byte:
what the callback says it kept must be there, in whole records, once per step;
what it says it lost must be named in a warning with the event file's path.
The tmpfs scenarios need root (to mount); elsewhere they skip and say why.
"""

import errno
import os
import shutil
import struct
import subprocess
import warnings

import keras
import numpy as np
import pytest
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

from kerasviz import callbacks
from kerasviz import eventfile
from kerasviz.gradients import saliency as saliency_module
from tests.helpers.events import read_events, steps
from tests.helpers.models import CLASSES, SIZE, compiled_model

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 1, (16, SIZE, SIZE, 3)).astype(np.float32)
Y = RNG.integers(0, CLASSES, 16)
SALIENCY = "kerasviz/attribution/saliency"


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MiB tmpfs, unmounted after the test; skips (saying why) where mounting is impossible."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (the disk-full scenarios need root): {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(directory):
    """Fills the filesystem of `directory` to the last byte; returns the filler's path."""
    path = os.path.join(directory, "filler")
    with open(path, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return path


class Fault(keras.callbacks.Callback):
    """Runs `actions[epoch]()` at that epoch's end, before the callbacks after it in the list."""

    def __init__(self, **actions):
        super().__init__()
        self.actions = {int(k[1:]): v for k, v in actions.items()}  # e1=... -> epoch 1

    def on_epoch_end(self, epoch, logs=None):
        if epoch in self.actions:
            self.actions[epoch]()


def whole_records(run_dir):
    """Checks every event file of `run_dir` is whole TFRecords (lengths, CRCs) to its last byte; returns them."""
    files = sorted(f for f in os.listdir(run_dir) if "tfevents" in f) if os.path.isdir(run_dir) else []
    for name in files:
        data = open(os.path.join(run_dir, name), "rb").read()
        offset = 0
        while offset < len(data):
            header = data[offset:offset + 8]
            assert len(header) == 8 and struct.unpack("<I", data[offset + 8:offset + 12])[0] == masked_crc32c(header)
            (length,) = struct.unpack("<Q", header)
            body = data[offset + 12:offset + 12 + length]
            assert len(body) == length, f"{name}: a torn record at byte {offset}"
            assert struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])[0] == masked_crc32c(body)
            offset += 16 + length
        assert offset > 0, f"{name} is an empty event file"
    return files


def train(run_root, fault, epochs, **kwargs):
    """Trains with `fault` then an AttributionCallback (saliency of 2 images); returns its warnings."""
    model = compiled_model()
    callback = callbacks.AttributionCallback(str(run_root), X[:2], methods=("saliency",), **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0, callbacks=[fault, callback])
    assert len(history.history["loss"]) == epochs  # training went on
    assert os.path.abspath(callback.run_dir) not in eventfile._FILES
    return [str(w.message) for w in caught if "AttributionCallback" in str(w.message)]


def test_disk_full_for_two_epochs_then_freed_loses_nothing(tmpfs):
    filler = []
    fault = Fault(e1=lambda: filler.append(fill(tmpfs)), e3=lambda: os.remove(filler[0]))
    said = train(tmpfs, fault, epochs=5)
    run_dir = str(tmpfs / "kerasviz")
    whole_records(run_dir)
    assert steps(read_events(run_dir)) == {SALIENCY: [0, 1, 2, 3, 4], SALIENCY + "/overlay": [0, 1, 2, 3, 4]}
    assert len(said) == 1, said
    assert "No space left on device" in said[0] and run_dir in said[0] and "Kept in memory" in said[0]
    assert f"step 1 of {SALIENCY!r}" in said[0]


def test_disk_full_to_the_end_says_what_is_lost_and_leaves_whole_records(tmpfs):
    said = train(tmpfs, Fault(e1=lambda: fill(tmpfs)), epochs=3)
    run_dir = str(tmpfs / "kerasviz")
    assert len(whole_records(run_dir)) == 1
    assert steps(read_events(run_dir)) == {SALIENCY: [0], SALIENCY + "/overlay": [0]}
    assert len(said) == 2, said
    assert "No space left on device" in said[0] and run_dir in said[0]
    assert "lost" in said[1] and f"steps 1, 2 of {SALIENCY!r}" in said[1] and run_dir in said[1]


def test_disk_full_before_fit_leaves_no_empty_event_files(tmpfs):
    os.makedirs(tmpfs / "kerasviz")
    fill(tmpfs)
    said = train(tmpfs, Fault(), epochs=3)
    assert os.listdir(tmpfs / "kerasviz") == []
    assert len(said) == 2 and f"steps 0, 1, 2 of {SALIENCY!r}" in said[1], said


def test_disk_full_with_on_error_raise_raises_naming_the_file(tmpfs):
    with pytest.raises(OSError, match="No space left on device") as raised:
        train(tmpfs, Fault(e1=lambda: fill(tmpfs)), epochs=3, on_error="raise")
    assert isinstance(raised.value, eventfile.WriteError) and raised.value.errno == errno.ENOSPC
    assert raised.value.path.startswith(str(tmpfs / "kerasviz")) and (SALIENCY, 1) in raised.value.pending
    assert os.path.abspath(tmpfs / "kerasviz") not in eventfile._FILES  # given back: Keras calls no on_train_end
    assert not any("tfevents" in f and os.path.getsize(tmpfs / "kerasviz" / f) == 0
                   for f in os.listdir(tmpfs / "kerasviz"))


def test_run_directory_removed_during_training_keeps_every_later_step(tmp_path):
    run_dir = str(tmp_path / "kerasviz")
    said = train(tmp_path, Fault(e2=lambda: shutil.rmtree(run_dir)), epochs=5)
    whole_records(run_dir)
    assert steps(read_events(run_dir)) == {SALIENCY: [2, 3, 4], SALIENCY + "/overlay": [2, 3, 4]}
    assert len(said) == 1 and "disappeared" in said[0] and "run directory was removed" in said[0], said


def interrupting(model, images, target=None, *, batch_size=None):
    """Saliency when `fit` starts; a KeyboardInterrupt once training has begun."""
    if int(model.optimizer.iterations.numpy()) > 0:
        raise KeyboardInterrupt
    return saliency_module.saliency(model, images, target, batch_size=batch_size)


class InterruptAt(keras.callbacks.Callback):
    """A Ctrl-C in the middle of training: raises KeyboardInterrupt at the given batch, outside our hooks."""

    def __init__(self, batch):
        super().__init__()
        self.batch, self.seen = batch, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.batch:
            raise KeyboardInterrupt


def open_files_under(directory):
    fds = "/proc/self/fd"
    targets = [os.path.realpath(os.path.join(fds, fd)) for fd in os.listdir(fds)
               if os.path.exists(os.path.join(fds, fd))]
    return [t for t in targets if t.startswith(os.path.realpath(directory))]


@pytest.mark.parametrize("where", ["in_a_method", "in_training"])
def test_keyboard_interrupt_propagates_with_the_records_written_and_no_file_left_open(tmp_path, where):
    model = compiled_model()
    methods = ("saliency", interrupting) if where == "in_a_method" else ("saliency",)
    callback = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=methods)
    order = [callback] if where == "in_a_method" else [callback, InterruptAt(batch=5)]  # 2 batches an epoch
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, batch_size=8, epochs=4, verbose=0, callbacks=order)
    run_dir = str(tmp_path / "kerasviz")
    assert open_files_under(run_dir) == []
    whole_records(run_dir)
    expected = [0] if where == "in_a_method" else [0, 1]
    assert steps(read_events(run_dir))[SALIENCY] == expected
    if where == "in_a_method":  # Keras calls no on_train_end: the callback gave its file back itself
        assert os.path.abspath(run_dir) not in eventfile._FILES
    # A new callback of the same run and method after the interrupt: no stale claim, steps go on.
    again = callbacks.AttributionCallback(str(tmp_path), X[:2], methods=("saliency",), on_error="raise")
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[again])
    assert steps(read_events(run_dir))[SALIENCY] == expected + [expected[-1] + 1]
