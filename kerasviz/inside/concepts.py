"""Concept masks from pixels alone: colour names by hue, and the shapes dataset's shapes."""

import numpy as np

from kerasviz import inputs

#: Hue bins (degrees, start inclusive) of the colour concepts, after Berlin & Kay's basic colour terms.
COLOUR_HUES = (("red", 345, 15), ("orange", 15, 45), ("yellow", 45, 70), ("green", 70, 165),
               ("cyan", 165, 200), ("blue", 200, 255), ("purple", 255, 290), ("magenta", 290, 345))
COLOURS = tuple(name for name, _, _ in COLOUR_HUES)


def colour_concepts(images, value_range=(0.0, 1.0), *, saturation=0.6, value=0.25):
    """Binary colour-concept masks from simple hue thresholds, `[N, H, W, 8]`.

    A pixel is of colour `c` when its HSV saturation is at least
    `saturation`, its value at least `value` (both in `[0, 1]`) and its hue
    falls in `c`'s bin of `COLOUR_HUES`; greys, whites, blacks and dark
    pixels carry no colour concept. These are thresholds, not a human
    labelling (Network Dissection's Broden colour concepts come from
    annotators and a colour-naming model): good for synthetic images and a
    rough look at photos.

    Args:
        images: RGB images `[N, H, W, 3]` in `value_range`.
        value_range: `(min, max)` of the images (or a preset of
            `kerasviz.inputs.check_value_range`).
        saturation: the least saturation of a coloured pixel.
        value: the least HSV value (brightness) of a coloured pixel.

    Returns:
        `(masks, names)`: bool `[N, H, W, 8]` and the colour names (`COLOURS`).

    Raises:
        ValueError: images that are not RGB `[N, H, W, 3]` or leave `value_range`.
    """
    array = inputs.as_numpy(images, "images")
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"Received `images` of shape {array.shape}; expected RGB images [N, H, W, 3].")
    checked = inputs.check_value_range(value_range, 3)
    inputs.check_in_range(array.astype(np.float32), checked, "images")
    low, high = np.asarray(checked.low, np.float32), np.asarray(checked.high, np.float32)
    rgb = np.clip((array.astype(np.float32) - low) / (high - low), 0.0, 1.0)
    if checked.bgr:
        rgb = rgb[..., ::-1]
    brightest, darkest = rgb.max(axis=-1), rgb.min(axis=-1)
    chroma = brightest - darkest
    sat = np.where(brightest > 0, chroma / np.maximum(brightest, 1e-12), 0.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.maximum(chroma, 1e-12)
    hue = np.where(brightest == r, ((g - b) / safe) % 6,
                   np.where(brightest == g, (b - r) / safe + 2, (r - g) / safe + 4)) * 60.0
    coloured = (sat >= saturation) & (brightest >= value) & (chroma > 0)
    masks = np.zeros(array.shape[:3] + (len(COLOUR_HUES),), bool)
    for k, (_, start, stop) in enumerate(COLOUR_HUES):
        in_bin = (hue >= start) & (hue < stop) if start < stop else (hue >= start) | (hue < stop)
        masks[..., k] = coloured & in_bin
    return masks, COLOURS


def shapes_concepts(data):
    """The concepts of a `kerasviz.demo.load_shapes` dataset: its shapes and its colours.

    Shape `s` covers the object's pixels of the images labelled `s`; the
    colour concepts are `colour_concepts` of the images (the objects are
    saturated, the backgrounds grey-ish).

    Args:
        data: a `kerasviz.demo.DemoData` with masks (`load_shapes`, `demo_data("shapes")`).

    Returns:
        `(masks, names)`: bool `[N, H, W, 5 + 8]`, the shape names then `COLOURS`.

    Raises:
        ValueError: a dataset without object masks.
    """
    if getattr(data, "masks", None) is None:
        raise ValueError(f"Received `data` without object masks: {type(data).__name__}; expected the shapes data.")
    labels = np.asarray(data.labels)
    shapes = data.masks[..., None] & (labels[:, None, None, None] == np.arange(len(data.class_names)))
    colours, names = colour_concepts(data.images)
    return np.concatenate([shapes, colours], axis=-1), tuple(data.class_names) + names
