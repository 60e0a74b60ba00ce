"""The microscope's records in a run directory: their format, the model fingerprint, what is already written.

Two series per layer, family `microscope` (`tb_plugin.metadata`), layer
`L` written `layer_suffix(L)`:

- `kerasviz/microscope/channel/<L>`: one record per channel, **step = the
  channel index**. Header: `layer`, `channel`, `channels` (the layer's
  count), `fingerprint`, `settings`, `objective` (the channel's mean
  activation on its feature visualization), `patches` (`scores`,
  `image_index`, `boxes`), `dissection` (`concept`, `iou`, `detector`,
  `top`: the best concepts `[name, IoU]`; null without masks), `inputs`
  (`layer`, `channels`, `weights`: the strongest input channels; null
  when none), `outputs` (a list of the same, one per layer fed),
  `atlas` (`cell` `[row, col]`, `centroid` `[u, v]` in `[0, 1]^2`, `grid`).
  Arrays: `facets` uint8 `[1 + F, H, W, 3]` (the feature visualization,
  then `F` diverse facets, display space), `patches` uint8 `[k, h, w, 3]`
  (the top dataset patches, strongest first).
- `kerasviz/microscope/atlas/<L>`: one record, step 0. Header: `layer`,
  `grid`, `fingerprint`, `settings`, `cells` (the rendered cells `[row,
  col]`, in the order of `renders`), `classes`, `class_names` (or null),
  `samples`, `seen`. Arrays: `renders` uint8 `[M, h, w, 3]`, `counts`
  int `[n, n]`, `top_class` int `[n, n]` (-1: empty), `top_effect` float
  `[n, n]`, `means` float `[n, n, C]`, `layout` float `[S, 2]`, `cell`
  int `[S, 2]`, `image_index` int `[S]`, `positions` int `[S, 2]` (the
  sampled vectors), `source_ids` int `[M, s]` (sample ids shown per
  rendered cell, -1: none) and `sources` uint8 `[M, s, h, w, 3]` (their
  receptive fields, thumbnails of at most `microscope_parts.SOURCE_SIDE`
  pixels a side).

A record is written only whole and flushed; `written` reads the run's event
files back, so a rerun skips every record of the same fingerprint.
"""

import hashlib
import json
import os

import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.util import tensor_util

from tb_plugin import metadata

FAMILY = "microscope"


def channel_tag(layer):
    return metadata.tag_for(FAMILY, "channel", metadata.layer_suffix(layer))


def atlas_tag(layer):
    return metadata.tag_for(FAMILY, "atlas", metadata.layer_suffix(layer))


def fingerprint(model, settings):
    """A hex digest of the model's architecture, its weights and the settings that change the records."""
    digest = hashlib.sha256()
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(model.__class__.__name__.encode())
    for layer in model.layers:
        digest.update(f"{layer.name}:{layer.__class__.__name__}".encode())
    for weight in model.weights:
        value = np.ascontiguousarray(np.asarray(weight.numpy() if hasattr(weight, "numpy") else weight))
        digest.update(f"{weight.path}{value.shape}{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:32]


def written(run_dir):
    """`{(tag, step): fingerprint}` of the microscope records in `run_dir`'s event files (whole records only)."""
    found = {}
    if not tf.io.gfile.isdir(run_dir):
        return found
    prefix = metadata.tag_for(FAMILY, "")
    for name in sorted(tf.io.gfile.listdir(run_dir)):
        if "tfevents" not in name:
            continue
        for event in event_file_loader.EventFileLoader(os.path.join(run_dir, name)).Load():
            for value in event.summary.value:
                if not value.tag.startswith(prefix):
                    continue
                try:
                    header = metadata.decode_header(tensor_util.make_ndarray(value.tensor)[0])
                except (metadata.RecordError, IndexError, ValueError):
                    continue  # unreadable: written again
                found[(value.tag, int(event.step))] = header.get("fingerprint")
    return found


def check_fingerprints(found, expected, run_dir):
    """ValueError when `run_dir` holds microscope records of another model or other settings."""
    other = sorted({f for f in found.values() if f != expected}, key=str)
    if other:
        raise ValueError(
            f"Received a run directory {run_dir!r} that holds microscope records of another model or other "
            f"settings (fingerprint {other[0]!r}, expected {expected!r}); TensorBoard would show one record per "
            "channel only. Pass another `run_name` (or log directory), or the same model and settings to resume.")


def to_uint8(display):
    """Display-space floats in [0, 1] as uint8 RGB (grayscale repeated to 3 channels)."""
    array = np.clip(np.rint(np.asarray(display, np.float32) * 255), 0, 255).astype(np.uint8)
    return np.repeat(array, 3, axis=-1) if array.shape[-1] == 1 else array
