"""Notebook display: results rendered through IPython's own display formatter, as Jupyter does."""

import ast
import base64
import io
import pathlib
import re

import numpy as np
import pytest
from PIL import Image

import kerasviz
from kerasviz import display, image
from kerasviz.activations.embeddings import EmbeddingGrid
from kerasviz.activations.patches import TopPatches
from kerasviz.activations.receptive_field import ReceptiveField
from kerasviz.gradients.adversarial import FoolingResult
from kerasviz.gradients.synthesis import Synthesis

IPython = pytest.importorskip("IPython")
from IPython.core.formatters import DisplayFormatter  # noqa: E402

XSS = "<img src=x onerror=alert(1)>"


def formatted(obj):
    """What Jupyter gets: `(picture from image/png, text/html)`."""
    data, _ = DisplayFormatter().format(obj)
    assert "image/png" in data, sorted(data)
    picture = Image.open(io.BytesIO(data["image/png"]))
    picture.load()
    return picture, data.get("text/html")


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_maps_with_images_show_as_a_labelled_overlay():
    images = _rng().random((2, 32, 32, 3)).astype(np.float32)
    maps = _rng(1).random((2, 32, 32)).astype(np.float32)
    figure = kerasviz.show(maps, images, title="saliency", labels=["0: cat 91.0%", "1: dog 55.5%"])
    expected = image.comparison_figure(images, {"saliency": maps}, labels=["0: cat 91.0%", "1: dog 55.5%"])
    picture, html = formatted(figure)
    assert picture.size == (expected.shape[1], expected.shape[0]) and picture.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(picture), image.to_uint8(expected))
    src = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(src) == figure.png()


def test_a_dict_of_methods_gets_one_column_each_and_a_value_range():
    images = _rng().integers(0, 256, (3, 16, 16, 3)).astype(np.float32)
    maps = {"saliency": _rng(2).random((3, 16, 16)), "grad_cam": _rng(3).random((3, 4, 4))}
    picture, _ = formatted(kerasviz.show(maps, images, value_range=(0, 255)))
    cell = image.MIN_TITLED_WIDTH  # 16 px images enlarged 6x so the titles can be read
    assert picture.size[0] == 3 * cell + 2 * 2
    assert picture.size[1] > 3 * cell + 2 * 2  # plus a title strip per row


def test_one_map_of_one_image():
    picture, _ = formatted(kerasviz.show(_rng().random((8, 8)), _rng(1).random((100, 100, 3))))
    assert picture.size[0] == 2 * 100 + 2


def test_bare_maps_and_images_are_tiled():
    picture, _ = formatted(kerasviz.show(_rng().random((4, 10, 12))))
    assert picture.size == (2 * 12 + 2, 2 * 10 + 2)
    picture, _ = formatted(kerasviz.show(_rng().random((3, 10, 10, 3)) * 2 - 1, value_range="tf"))
    assert picture.size == (2 * 10 + 2, 2 * 10 + 2)


def test_filter_grid_shows_its_layer():
    from tests.helpers.models import sequential

    grid = kerasviz.filter_grid(sequential(), "conv1")
    picture, html = formatted(grid)
    h, w = grid.image.shape[:2]
    factor = -(-image.MIN_TITLED_WIDTH // w)  # a small grid is enlarged so its title can be read
    assert picture.size[0] == w * factor and picture.size[1] > h * factor  # the layer's name above it
    assert "layer conv1" in html


def test_embedding_grid():
    grid = EmbeddingGrid(_rng().random((60, 90, 3)).astype(np.float32), np.zeros((4, 2), np.int64))
    picture, _ = formatted(grid)
    assert picture.size == (90, 60)


def test_top_patches_show_as_rows_under_a_title():
    k, size, channels = 3, 11, np.array([0, 5])
    result = TopPatches(channels, _rng().random((2, k)).astype(np.float32), np.zeros((2, k), np.int64),
                        np.zeros((2, k, 2), np.int64), np.zeros((2, k, 4), np.int64),
                        [_rng(c).random((k, size, size, 3)).astype(np.float32) for c in range(2)],
                        ReceptiveField((size, size), (2, 2), (5.0, 5.0), "analytic"), "conv2")
    grid = kerasviz.patches_grid(result)
    picture, html = formatted(result)
    assert picture.size[0] >= image.MIN_TITLED_WIDTH and picture.size[1] > grid.shape[0]
    assert "layer conv2" in html and "(0, 5)" in html


def test_synthesis_shows_each_image_and_the_objective():
    result = Synthesis(_rng().random((2, 24, 24, 3)).astype(np.float32), np.array([0.5, 2.25], np.float32), 2)
    picture, html = formatted(result)
    assert picture.size[0] == 2 * image.MIN_TITLED_WIDTH + 2
    assert "2 steps, objective 0.5 -&gt; 2.25" in html


def test_fooling_result_shows_original_perturbation_and_fooled():
    original = _rng().random((2, 16, 16, 3)).astype(np.float32) * 0.8
    perturbation = np.full_like(original, 0.05)
    result = FoolingResult(original + perturbation, 7, perturbation, np.full_like(original, 0.75), False,
                           np.array([3, 7], np.int32), np.array([True, False]))
    picture, html = formatted(result)
    assert picture.size[0] == 3 * image.MIN_TITLED_WIDTH + 2 * 2
    assert "not all fooled" in html
    pixels = np.asarray(picture)
    left = pixels[-image.MIN_TITLED_WIDTH:, :image.MIN_TITLED_WIDTH]  # the last image's original, enlarged 6x
    np.testing.assert_array_equal(left[::6, ::6], image.to_uint8(original[1]))


def test_titles_stay_text_in_html():
    _, html = formatted(display.Figure(np.zeros((4, 4, 3)), title=XSS))
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_figure_saves_a_png(tmp_path):
    figure = kerasviz.show(np.ones((2, 5, 5)))
    figure.save(tmp_path / "maps.png")
    assert Image.open(tmp_path / "maps.png").size == (12, 5)


def test_bad_input_says_what_it_got():
    with pytest.raises(TypeError, match="Received: object"):
        kerasviz.show(object())
    with pytest.raises(ValueError, match="without `images`"):
        kerasviz.show({"saliency": np.zeros((1, 4, 4))})
    with pytest.raises(TypeError, match=r"shape \(2, 2, 2, 2, 2\)"):
        kerasviz.show(np.zeros((2, 2, 2, 2, 2)))


def test_no_ipython_or_matplotlib_needed():
    tree = ast.parse(pathlib.Path(display.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"base64", "html", "math", "numpy", "kerasviz"}
