"""The pieces of `build_microscope`: channel choice, atlas classes and source crops, page fields, the record writer."""

import collections

import numpy as np

from kerasviz import eventfile, image, inputs, summary, targets
from kerasviz.activations.receptive_field import receptive_field
from kerasviz.inside import microscope_records as records
from kerasviz.inside import streams
from kerasviz.inside.wiring import strongest
from tb_plugin import metadata

DEFAULT_CLASSES = 16  # above 64 classes, the atlas relates cells to the 16 classes predicted most often


def check_channels(channels, count, argname="channels"):
    if isinstance(channels, (int, np.integer)) and not isinstance(channels, bool):
        if channels < 1:
            raise ValueError(f"Received an invalid value for `{argname}`: {channels!r}. Expected an int >= 1.")
        return list(range(min(int(channels), count)))
    values = np.asarray(channels)
    if values.ndim != 1 or not len(values) or values.dtype.kind not in "iu":
        raise TypeError(f"Expected `{argname}` to be an int (the first so many) or a sequence of channel indices. "
                        f"Received: {argname}={channels!r}.")
    if values.min() < 0 or values.max() >= count:
        raise ValueError(f"Received an invalid value for `{argname}`: {channels!r}. Expected indices in [0, {count}).")
    return sorted({int(c) for c in values})


def images_view(data, concepts):
    """The images of `data` alone: `data[0]` of an `(images, masks)` tuple; datasets drop extra parts themselves."""
    if concepts is not None and isinstance(data, (tuple, list)):
        return data[0]
    return data


def first_images(data, count, batch_size):
    kept = []
    for (batch,) in streams.batches(data, batch_size):
        kept.append(np.asarray(batch)[:count - sum(map(len, kept))])
        if sum(map(len, kept)) >= count:
            break
    return np.concatenate(kept)


def atlas_classes(model, data, classes, effect_images, batch_size, shape):
    """The classes whose logit effects label the cells: given, all (up to 64), or the most predicted ones."""
    if classes is not None or targets.num_classes(model, shape) <= 64:
        return classes
    first = first_images(data, effect_images, batch_size)
    predicted = np.concatenate([np.argmax(np.asarray(model(first[a:b], training=False)), axis=-1)
                                for a, b in inputs.batches(len(first), batch_size or 32)])
    values, counts = np.unique(predicted, return_counts=True)
    return values[np.lexsort((values, -counts))][:DEFAULT_CLASSES]


# Atlas source patches are thumbnails of at most this side: a deep layer's receptive field can exceed the image
# (EfficientNet-Lite3's at 280 px), and 64 cells x 6 full-size crops would pass the dashboard's record size.
SOURCE_SIDE = 128


def crop(picture, rf, row, col):
    """The receptive field of `(row, col)` in one image, `rf.size`, zero outside the image."""
    height, width = picture.shape[:2]
    top, left, bottom, right = rf.box(row, col, (height, width))
    start = rf.start(row, col)
    canvas = np.zeros(tuple(rf.size) + picture.shape[2:], np.float32)
    canvas[top - start[0]:bottom - start[0], left - start[1]:right - start[1]] = picture[top:bottom, left:right]
    return canvas


def thumbnail_size(size):
    """`(h, w)` of a source patch thumbnail: `size` scaled down to at most `SOURCE_SIDE` pixels a side."""
    scale = min(1.0, SOURCE_SIDE / max(size))
    return tuple(max(1, int(round(side * scale))) for side in size)


def source_crops(model, data, atlas, cells, per_cell, path, batch_size):
    """`(ids [M, s], crops [M, s, h, w, C])`: for each cell, its `per_cell` vectors closest to its mean (cosine).

    Each crop is the vector's receptive field, as a thumbnail of at most
    `SOURCE_SIDE` pixels a side (`thumbnail_size`).
    """
    sample = atlas.sample
    unit = sample.vectors / np.maximum(np.linalg.norm(sample.vectors, axis=1, keepdims=True), 1e-12)
    ids = np.full((len(cells), per_cell), -1, np.int64)
    for m, (row, col) in enumerate(cells):
        members = np.flatnonzero((atlas.cell[:, 0] == row) & (atlas.cell[:, 1] == col))
        mean = atlas.means[row, col] / max(np.linalg.norm(atlas.means[row, col]), 1e-12)
        order = members[np.lexsort((members, -(unit[members] @ mean)))][:per_cell]
        ids[m, :len(order)] = order
    wanted = collections.defaultdict(list)
    for m, s in zip(*np.nonzero(ids >= 0)):
        wanted[int(sample.image_index[ids[m, s]])].append((m, s))
    crops = rf = None
    first = 0
    for (batch,) in streams.batches(data, batch_size or 32):
        batch = np.asarray(batch, np.float32)
        if rf is None:
            rf = receptive_field(model, path, input_shape=batch.shape[1:])
            side = thumbnail_size(tuple(rf.size))
            crops = np.zeros((len(cells), per_cell) + side + batch.shape[3:], np.float32)
        for i in range(len(batch)):
            for m, s in wanted.get(first + i, ()):
                row, col = sample.positions[ids[m, s]]
                patch = crop(batch[i], rf, int(row), int(col))
                if patch.shape[:2] != side:
                    patch = np.moveaxis(image.resize_maps(np.moveaxis(patch, -1, 0), side), 0, -1)
                crops[m, s] = patch
        first += len(batch)
    return ids, crops


def display(images, value_range):
    return records.to_uint8(image.to_display(np.asarray(images, np.float32), value_range))


def channel_atlas(atlas, channel, grid):
    means = np.where(atlas.counts[..., None] > 0, atlas.means, -np.inf)[..., channel]
    cell = np.unravel_index(int(np.argmax(means)), means.shape)
    weights = np.maximum(atlas.sample.vectors[:, channel], 0).astype(np.float64)
    centroid = (weights @ atlas.layout / weights.sum()).tolist() if weights.sum() > 0 else None
    return {"cell": [int(cell[0]), int(cell[1])], "centroid": centroid, "grid": grid}


def connections(wiring, channel, fan):
    inputs_ = None
    if wiring.inputs is not None:
        chosen, weights = strongest(wiring.inputs[:, channel], fan)
        inputs_ = {"layer": wiring.source, "channels": chosen.tolist(), "weights": weights.tolist()}
    outputs = []
    for target, weights in wiring.targets:
        chosen, values = strongest(weights[channel], fan)
        outputs.append({"layer": target, "channels": chosen.tolist(), "weights": values.tolist()})
    return inputs_, outputs


def dissection_of(result, channel):
    if result is None:
        return None
    order = np.lexsort((np.arange(result.iou.shape[1]), -result.iou[channel]))[:3]
    return {"concept": result.concepts[int(result.best_concept[channel])], "iou": float(result.best_iou[channel]),
            "detector": bool(result.detector[channel]),
            "top": [[result.concepts[int(c)], float(result.iou[channel, c])] for c in order]}


class RecordWriter:
    """Writes whole records to a run directory's event file, flushed one at a time."""

    def __init__(self, run_dir):
        self.run_dir, self.owner, self.written = run_dir, object(), []
        self.file = eventfile.acquire(run_dir)

    def write(self, method, layer, step, header, arrays):
        with self.file.scope(step):
            summary.write_record(records.FAMILY, method, header, arrays,
                                 suffix=metadata.layer_suffix(layer))
        self.file.flush()
        self.written.append((records.channel_tag(layer) if method == "channel" else records.atlas_tag(layer), step))

    def close(self):
        eventfile.release(self.run_dir, self.owner)
