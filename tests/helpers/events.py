"""Event files read back, as TensorBoard's readers see them."""

import glob
import os

import tensorflow as tf


def read_events(run_dir):
    """`{tag: [(step, value, metadata)]}` from every event file of `run_dir`, in file order."""
    found = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(value.tag, []).append((event.step, value, value.metadata))
    return found


def steps(events):
    """`{tag: [step, ...]}` of `read_events`'s answer."""
    return {tag: [step for step, _, _ in entries] for tag, entries in events.items()}
