"""Notebook display: kerasviz results show themselves in Jupyter.

Through IPython's rich display protocol (`_repr_png_`, `_repr_html_`), so neither
IPython nor matplotlib is needed to build them: a result left as the last
expression of a cell is drawn, labelled (method, class, layer), as a PNG. The
result types (`FilterGrid`, `EmbeddingGrid`, `TopPatches`, `Synthesis`,
`FoolingResult`) carry the protocol themselves; bare numpy maps cannot, so
`show(maps, images)` wraps them in a `Figure`.
"""

import base64
import html
import math

import numpy as np

from kerasviz import image, input_figure, input_groups, registry

__all__ = ["Figure", "show"]

_HTML_MIN_WIDTH = 256  # small pictures are shown enlarged (pixelated) in HTML, to this many CSS pixels


class Figure:
    """A picture that shows itself in Jupyter (and saves itself as PNG).

    Args:
        picture: float `[H, W]`, `[H, W, 1]` or `[H, W, 3]` in [0, 1], or uint8.
        title: words for it (the HTML's alt text; already drawn on the
            picture by the functions that compose one).
        groups: for a multi-input model's figure, its column groups from left
            to right, `[(input name, [column titles])]`; None otherwise.

    Attributes:
        image: the picture as given.
        title: the title, or None.
        groups: the column groups, or None.
    """

    def __init__(self, picture, title: str | None = None, groups=None):
        self.image = np.asarray(picture)
        self.title = title
        self.groups = groups

    def png(self) -> bytes:
        """The picture as PNG bytes."""
        return image.encode_png(self.image)

    def save(self, path) -> None:
        """Writes the picture as a PNG file at `path`."""
        with open(path, "wb") as handle:
            handle.write(self.png())

    def _repr_png_(self) -> bytes:
        return self.png()

    def _repr_html_(self) -> str:
        width = self.image.shape[1]
        shown = width * math.ceil(_HTML_MIN_WIDTH / width) if width < _HTML_MIN_WIDTH else width
        data = base64.b64encode(self.png()).decode("ascii")
        alt = html.escape(self.title or "kerasviz figure", quote=True)
        return (f'<img src="data:image/png;base64,{data}" alt="{alt}" title="{alt}" width="{shown}" '
                'style="image-rendering: pixelated; max-width: 100%; height: auto">')

    def __repr__(self) -> str:
        return f"Figure({self.image.shape[0]}x{self.image.shape[1]}, title={self.title!r})"


def _result_figure(result, value_range):
    """The labelled figure of a kerasviz result type (its `figure` method), or None for other objects."""
    figure = getattr(result, "figure", None)
    return figure(value_range) if callable(figure) and hasattr(result, "_repr_png_") else None


def show(obj, images=None, *, value_range=(0.0, 1.0), title: str | None = None, labels=None,
         alpha: float = 0.6, colormap_name: str = "inferno") -> Figure:
    """Makes anything kerasviz returns displayable in a notebook: one call, one labelled picture.

    - a result (`filter_grid`, `embedding_grid`, `top_patches`, the
      optimization methods' `Synthesis`, `fooling_image`): its figure, with
      layer names, class and step counts written on it;
    - maps `[B, h, w]` (or `[h, w]`) with `images`: the images and the maps
      over them, one row per image (see `kerasviz.image.comparison_figure`);
    - `{method name: maps}` with `images`: one column per method (XRAI's,
      whose maps rank regions, as the image kept in its top 30 %, see
      `kerasviz.image.top_regions`);
    - a multi-input model's result (maps per input, in the structure of
      `images`: a dict by input name or a list), or `{method name: result}`,
      with `images` given per input: one column group per input, titled by
      its name (`kerasviz.input_figure`): an image input's input column and
      a map per method, a side input's bar chart per method; the `Figure`'s
      `groups` lists them;
    - maps without images: the maps coloured with `colormap_name`, tiled;
    - images `[B, H, W, C]` without maps: the images, tiled.

    The returned `Figure` shows itself when it is the last expression of a
    Jupyter cell (`_repr_png_`, `_repr_html_`); `Figure.save(path)` writes it.

    Args:
        obj: a result, maps, `{method name: maps}` or images, see above.
        images: the images the maps explain, `[B, H, W, C]` (or `[H, W, C]`
            for one map `[h, w]`) in the model's input space; for a
            multi-input model one array per input (a dict or a list).
        value_range: the model's pixel range, to bring images to display
            space (a preset such as `"tf"`, `(lo, hi)`, or None to stretch
            each image; see `kerasviz.image.to_display`).
        title: for maps: the column's name (default "map"); otherwise the
            figure's title (alt text).
        labels: None or one string per image (e.g. `kerasviz.image.class_label`),
            written over it.
        alpha: opacity of the maps over the images.
        colormap_name: one of `kerasviz.image.COLORMAPS`.

    Returns:
        A `Figure`.

    Raises:
        TypeError: `obj` is none of the above.
        ValueError: as `kerasviz.image.comparison_figure` and `tile`; `{method: maps}`
            without `images`.

    Example:

    >>> maps = kerasviz.saliency(model, images)
    >>> kerasviz.show(maps, images, labels=[kerasviz.image.class_label(k) for k in classes])
    """
    if isinstance(obj, Figure):
        return obj
    result = _result_figure(obj, value_range)
    if result is not None:
        return result
    if images is not None and input_groups.is_per_input(images):
        return _inputs_figure(obj, images, value_range, labels, alpha, colormap_name, title)
    if isinstance(obj, dict):
        if images is None:
            raise ValueError("Received `{method name: maps}` without `images`. Pass the images the maps explain.")
        return _compare(obj, images, value_range, labels, alpha, colormap_name, title)
    try:
        array = np.asarray(obj, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise TypeError("Expected `obj` to be a kerasviz result, maps, `{method name: maps}` or images. "
                        f"Received: {type(obj).__name__}") from error
    if images is not None:
        return _compare({title or "map": array}, images, value_range, labels, alpha, colormap_name, title)
    if array.ndim in (2, 3):  # maps
        maps = array[None] if array.ndim == 2 else array
        coloured = image.colormap(image.normalize(maps), colormap_name)
        return Figure(image.tile(coloured, pad=2, titles=labels), title)
    if array.ndim == 4:
        pictures = image.to_display(array, value_range)
        return Figure(image.tile(pictures, pad=2, titles=labels), title)
    raise TypeError(f"Expected maps [B, H, W] or images [B, H, W, C]. Received an array of shape {array.shape}.")


def _compare(maps, images, value_range, labels, alpha, colormap_name, title):
    pictures = np.asarray(images, dtype=np.float32)
    maps = {name: np.asarray(m, dtype=np.float32) for name, m in maps.items()}
    if pictures.ndim == 3:  # one image, one map per method
        pictures = pictures[None]
        maps = {name: m[None] if m.ndim == 2 else m for name, m in maps.items()}
    shown = image.to_display(pictures, value_range)
    picture = image.comparison_figure(shown, maps, alpha=alpha, colormap_name=colormap_name, titles=True, labels=labels,
                            regions=registry.names_with("shown_as_regions"))
    return Figure(picture, title or ", ".join(str(name) for name in maps))


def _inputs_figure(obj, images, value_range, labels, alpha, colormap_name, title):
    """A multi-input result (or `{method: result}`) over `images` given per input: one column group per input."""
    several = isinstance(obj, dict) and obj and all(isinstance(v, (dict, list, tuple)) for v in obj.values())
    results = obj if several else {title or "map": obj}
    picture, groups = input_figure.input_figure(results, images, value_range=value_range, labels=labels, alpha=alpha,
                                                colormap_name=colormap_name)
    words = "; ".join(f"{name}: {', '.join(heads)}" for name, heads in groups)
    return Figure(picture, title or words, groups=groups)


def repr_png(result) -> bytes:
    """The `_repr_png_` the result types share: their `show` figure as PNG."""
    return show(result)._repr_png_()


def repr_html(result) -> str:
    """The `_repr_html_` the result types share: their `show` figure as an <img>."""
    return show(result)._repr_html_()
