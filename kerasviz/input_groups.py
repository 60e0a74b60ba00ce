"""One column group per input: how records and figures split a multi-input model's images and maps.

The gradient methods on a model with several inputs (`kerasviz.gradients.multi_input`)
take `images` as a dict `{input name: array}` or a list in the order of
`model.inputs`, and return their result in the same structure: a map
`[N, h, w]` per attributed image input, the attributions `[N, D]` of an
attributed side input, and no key (dict) or None (list) for an input held
fixed. `input_groups` turns such a pair into one `InputGroup` per input, in
order; the writers (`kerasviz.summary.write_attribution`) and figures
(`kerasviz.display.show`) draw one column group per group that has maps.

No TensorFlow here: numpy only.
"""

from typing import NamedTuple

import numpy as np

IMAGE, VECTOR = "image", "vector"
TAG_PREFIX = "input."  # a group's series: `kerasviz/attribution/<method>/input.<name>`


class InputGroup(NamedTuple):
    """One input of a multi-input call.

    Attributes:
        name: the input's name (the dict key; `input_<k>` for a list).
        kind: `"image"` (values `[N, H, W, C]`, maps `[N, h, w]`) or
            `"vector"` (values and maps `[N, D]`: a side input, flattened).
        values: the input's examples, as given (a vector input flattened to `[N, D]`).
        maps: float32 maps or attributions, or None for an input held fixed.
    """

    name: str
    kind: str
    values: np.ndarray
    maps: np.ndarray | None


def is_per_input(images) -> bool:
    """Whether `images` holds one array per input: a dict, or a list/tuple that cannot be one batch of images.

    A list of images `[H, W, C]` of one shape is one batch (as `np.asarray`
    reads it); a list whose items differ in shape, or are not of rank 3
    (batches `[N, H, W, C]`, side values `[N, D]`), holds one array per input.
    """
    if isinstance(images, dict):
        return True
    if not isinstance(images, (list, tuple)) or not images:
        return False
    shapes = {np.shape(item) for item in images}
    return len(shapes) > 1 or len(next(iter(shapes))) != 3


def tag_suffix(name: str) -> str:
    """The last tag component of an input's series: `input.<name>`, every "/" written "__"."""
    return TAG_PREFIX + str(name).replace("/", "__")


def _entries(structure, argname):
    if isinstance(structure, dict):
        return [(str(name), value) for name, value in structure.items()]
    if isinstance(structure, (list, tuple)):
        return [(f"input_{k}", value) for k, value in enumerate(structure)]
    raise TypeError(f"Expected `{argname}` to be a dict {{input name: array}} or a list with one entry per input. "
                    f"Received: {type(structure).__name__}.")


def input_groups(images, maps) -> list[InputGroup]:
    """One `InputGroup` per input of `images`, with its maps from `maps` (the method's result, same structure).

    Args:
        images: `{input name: array}` or a list of arrays, one per input, each
            `[N, ...]` (images `[N, H, W, C]`; anything else is a side input).
        maps: the same structure: per image input float `[N, h, w]`, per side
            input float `[N, ...]` of the input's shape; a missing key (dict) or
            None (list) for an input held fixed.

    Returns:
        The groups, in the order of `images`.

    Raises:
        TypeError: `images` and `maps` of different structures.
        ValueError: unknown keys in `maps`, maps of the wrong shape, inputs with
            different numbers of examples, or no maps at all.
    """
    given = _entries(images, "images")
    names = [name for name, _ in given]
    if isinstance(images, dict) != isinstance(maps, dict):
        raise TypeError(f"Expected `maps` in the structure of `images` ({type(images).__name__}). "
                        f"Received: {type(maps).__name__}.")
    if isinstance(maps, dict):
        unknown = sorted(set(map(str, maps)) - set(names))
        if unknown:
            raise ValueError(f"Received maps for {unknown}, which are not inputs in `images` ({names}).")
        found = {str(k): v for k, v in maps.items()}
    else:
        if len(maps) != len(names):
            raise ValueError(f"Expected `maps` to be a list of {len(names)} entries (one per input, None for an "
                             f"input held fixed). Received {len(maps)}.")
        found = dict(zip(names, maps))
    groups = [_group(name, np.asarray(values), found.get(name)) for name, values in given]
    counts = {g.name: len(g.values) for g in groups} | {f"maps[{g.name!r}]": len(g.maps) for g in groups
                                                         if g.maps is not None}
    if len(set(counts.values())) != 1:
        raise ValueError(f"Expected every input and its maps to hold the same number of examples. Received {counts}.")
    if all(g.maps is None for g in groups):
        raise ValueError(f"Received no maps in `maps` for any of the inputs {names}.")
    return groups


def _group(name, values, maps):
    kind = IMAGE if values.ndim == 4 else VECTOR
    if values.ndim < 2:
        raise ValueError(f"Expected `images[{name!r}]` to be [N, ...]: a batch. Received shape {values.shape}.")
    if kind == VECTOR:
        values = values.reshape(len(values), -1)
    if maps is None:
        return InputGroup(name, kind, values, None)
    maps = np.asarray(maps, np.float32)
    if kind == IMAGE and maps.ndim != 3:
        raise ValueError(f"Expected the maps of the image input {name!r} to be [N, h, w]. Received shape {maps.shape} "
                         "(signed maps [N, H, W, C]: sum them over channels first).")
    if kind == VECTOR:
        if maps.size != values.size:
            raise ValueError(f"Expected the attributions of the input {name!r} to have its shape "
                             f"{values.shape}. Received shape {maps.shape}.")
        maps = maps.reshape(values.shape)
    return InputGroup(name, kind, values, maps)


def per_input(value, names, argname):
    """`value` for each of `names`: a dict gives each input its own (missing: None), anything else is shared."""
    if not isinstance(value, dict):
        return {name: value for name in names}
    unknown = sorted(set(map(str, value)) - set(names))
    if unknown:
        raise ValueError(f"Received `{argname}` for {unknown}, which are not inputs in `images` ({names}).")
    return {name: value.get(name) for name in names}
