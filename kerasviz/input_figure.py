"""The figure of a multi-input model's attributions: one column group per input, each titled by its name.

`kerasviz.show(result, images)` comes here when `images` holds one array per
input (`kerasviz.input_groups`): an image input's group is its input column
and one overlay per method (as `kerasviz.image.comparison_figure` draws a
single-input model's); an attributed side input's group is one bar chart per
method, a bar per feature (red: positive, blue: negative, one scale per
column); an input held fixed has no group. A row per example, aligned across
the groups.
"""

import numpy as np

from kerasviz import image, input_groups

POSITIVE = np.array([0.78, 0.16, 0.16], np.float32)
NEGATIVE = np.array([0.08, 0.40, 0.75], np.float32)
AXIS = np.array([0.55, 0.55, 0.55], np.float32)
DEFAULT_CELL = (64, 64)  # pixels of a bar chart when no input is an image
GROUP_GAP = 8  # pixels between column groups


def bar_charts(attributions, size) -> np.ndarray:
    """float32 RGB `[N, H, W, 3]`: per example, a horizontal bar per feature around a vertical axis at the middle.

    Bars share one scale (the largest magnitude of `attributions` `[N, D]`);
    at most `H` features are drawn (a pixel row each at least).
    """
    values = np.nan_to_num(np.asarray(attributions, np.float32))
    height, width = size
    count, features = values.shape[0], min(values.shape[1], height)
    scale = float(np.abs(values).max()) or 1.0
    half = width // 2
    out = np.ones((count, height, width, 3), np.float32)
    out[:, :, half] = AXIS
    for j in range(features):
        top, bottom = j * height // features, (j + 1) * height // features
        if bottom - top >= 3:
            top, bottom = top + 1, bottom - 1
        for i in range(count):
            length = int(round(abs(values[i, j]) / scale * (half - 1)))
            if values[i, j] > 0:
                out[i, top:bottom, half + 1:half + 1 + length] = POSITIVE
            elif values[i, j] < 0:
                out[i, top:bottom, half - length:half] = NEGATIVE
    return out


def _rgb(values, value_range, size):
    shown = np.asarray(image.to_display(values, value_range), np.float32)
    shown = np.broadcast_to(shown, shown.shape[:-1] + (3,)) if shown.shape[-1] == 1 else shown[..., :3]
    if shown.shape[1:3] == tuple(size):
        return shown
    channels = [image.resize_maps(shown[..., c], tuple(size)) for c in range(3)]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)


def input_figure(results, images, *, value_range=(0.0, 1.0), labels=None, alpha=0.6, colormap_name="inferno",
                 pad=2):
    """The picture of `{method: result}` for `images` given per input, and its layout.

    Args:
        results: `{method name: result}`, each result in the structure of
            `images` (`kerasviz.input_groups.input_groups`).
        images: one array per input, a dict or a list.
        value_range: the pixel range of the image inputs, or `{input name: range}`.
        labels: None or one string per example, written over its input image
            (on its first image group).
        alpha, colormap_name: as `kerasviz.image.overlay`.
        pad: pixels between cells.

    Returns:
        `(picture, groups)`: float32 RGB `[H, W, 3]`, and `[(input name,
        [column titles])]`, the column groups from left to right. Images of
        another size than the first image input's are resized to it.

    Raises:
        ValueError, TypeError: as `input_groups.input_groups`; `results` empty;
            `labels` not one per example.
    """
    if not isinstance(results, dict) or not results:
        raise ValueError(f"Expected `results` to be a non-empty dict {{method name: result}}. Received: {results!r}.")
    per_method = {str(m): input_groups.input_groups(images, r) for m, r in results.items()}
    first = next(iter(per_method.values()))
    names, count = [g.name for g in first], len(first[0].values)
    if labels is not None and (isinstance(labels, str) or len(labels) != count):
        raise ValueError(f"Expected `labels` to be one string per example ({count}). Received: {labels!r}.")
    ranges = input_groups.per_input(value_range, names, "value_range")
    size = next((g.values.shape[1:3] for g in first if g.kind == input_groups.IMAGE), DEFAULT_CELL)
    columns, titles, groups, labelled = [], [], [], False
    for k, group in enumerate(first):
        methods = [m for m in per_method if per_method[m][k].maps is not None]
        if not methods:
            continue  # held fixed: no group
        if group.kind == input_groups.IMAGE:
            rgb = _rgb(group.values, ranges[group.name], size)
            columns.append(rgb)
            titles.append(list(labels) if labels is not None and not labelled else ["input"] * count)
            labelled = labelled or labels is not None
            columns += [image.overlay(rgb, image.normalize(per_method[m][k].maps), alpha=alpha,
                                      colormap_name=colormap_name) for m in methods]
            heads = ["input"] + methods
        else:
            columns += [bar_charts(per_method[m][k].maps, size) for m in methods]
            heads = methods
        titles += [[m] * count for m in methods]
        groups.append((group.name, heads))
    cells = np.stack(columns, axis=1).reshape((-1,) + columns[0].shape[1:])
    grid = image.tile(cells, cols=len(columns), pad=pad, titles=[t[i] for i in range(count) for t in titles])
    return _titled_groups(grid, groups, len(columns), pad), groups


def _titled_groups(grid, groups, n_columns, pad):
    """The grid cut into its column groups, each under its input's name, side by side `GROUP_GAP` apart."""
    cell = (grid.shape[1] + pad) // n_columns  # a column's width with its padding
    panels, start = [], 0
    for name, heads in groups:
        stop = start + len(heads)
        panels.append(image.titled(grid[:, start * cell:stop * cell - pad], name))
        start = stop
    height = max(p.shape[0] for p in panels)
    panels = [np.concatenate([np.ones((height - p.shape[0],) + p.shape[1:], np.float32), p]) for p in panels]
    gap = np.ones((height, GROUP_GAP, 3), np.float32)
    joined = [part for panel in panels for part in (panel, gap)][:-1]
    return np.concatenate(joined, axis=1)
