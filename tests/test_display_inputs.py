"""`kerasviz.show` for a multi-input model's result: one column group per input, titled, rows aligned."""

import keras
import numpy as np
import pytest

import kerasviz
from kerasviz import image, input_figure

SIZE, N = 16, 2
SIDE = np.array([[1.0, -2.0, 0.0], [0.5, 0.5, -0.5]], np.float32)


def inputs():
    rng = np.random.default_rng(0)
    return {"image": rng.uniform(0, 1, (N, SIZE, SIZE, 3)).astype(np.float32),
            "side": rng.normal(0, 1, (N, 3)).astype(np.float32)}


def result(seed):
    return {"image": np.random.default_rng(seed).uniform(0, 1, (N, SIZE, SIZE)).astype(np.float32), "side": SIDE}


def is_colour(pixels, colour):
    return np.all(np.abs(pixels - colour) < 1e-6, axis=-1)


def test_one_column_group_per_input_with_its_columns_and_title():
    figure = kerasviz.show({"saliency": result(1), "integrated_gradients": result(2)}, inputs())
    assert figure.groups == [("image", ["input", "saliency", "integrated_gradients"]),
                             ("side", ["saliency", "integrated_gradients"])]
    assert figure.title == "image: input, saliency, integrated_gradients; side: saliency, integrated_gradients"
    cell = SIZE * -(-image.MIN_TITLED_WIDTH // SIZE)  # 16 px cells enlarged 6x so their titles can be read
    widths = [3 * (cell + 2) - 2, 2 * (cell + 2) - 2]
    assert figure.image.shape[1] == sum(widths) + input_figure.GROUP_GAP
    side = figure.image[:, widths[0] + input_figure.GROUP_GAP:]
    assert is_colour(side, input_figure.POSITIVE).any() and is_colour(side, input_figure.NEGATIVE).any()
    image_group = figure.image[:, :widths[0]]
    assert not is_colour(image_group, input_figure.NEGATIVE).any()  # no bars among the images
    assert figure.png()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_bars_of_a_side_input_share_one_scale_and_say_the_sign():
    bars = input_figure.bar_charts(SIDE, (12, 23))  # 3 features of 4 rows (a bar: the middle 2), axis at column 11
    half = 11
    red, blue = is_colour(bars, input_figure.POSITIVE), is_colour(bars, input_figure.NEGATIVE)
    # example 0: +1 (half the largest magnitude) right of the axis, -2 (the largest) left of it, 0: nothing
    assert red[0, 1:3, half + 1:].sum(axis=1).tolist() == [5, 5] and not blue[0, :4].any()
    assert blue[0, 5:7, :half].sum(axis=1).tolist() == [10, 10] and not red[0, 4:8].any()
    assert not (red[0, 8:] | blue[0, 8:]).any()
    assert red[1, 1:3].sum() == red[1, 5:7].sum() == blue[1, 9:11].sum() > 0


def test_an_input_held_fixed_has_no_group_and_labels_go_over_the_first_image_group():
    images = inputs()
    one = kerasviz.show([result(1)["image"], None], [images["image"], images["side"]], labels=["a", "b"],
                        title="saliency")
    assert one.groups == [("input_0", ["input", "saliency"])]
    assert one.title == "saliency"
    assert one.image.shape[1] == 2 * (SIZE * 6 + 2) - 2


def test_a_real_two_input_result_is_drawn_per_input():
    keras.utils.set_random_seed(0)
    image_in, side_in = keras.Input((SIZE, SIZE, 3), name="image"), keras.Input((3,), name="side")
    merged = keras.layers.Concatenate()([keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(image_in)), side_in])
    model = keras.Model({"image": image_in, "side": side_in}, keras.layers.Dense(3, activation="softmax")(merged))
    maps = kerasviz.saliency(model, inputs(), attribute="all")
    figure = kerasviz.show(maps, inputs())
    assert figure.groups == [("image", ["input", "map"]), ("side", ["map"])]


def test_mismatched_results_name_the_argument():
    with pytest.raises(ValueError, match="'other'"):
        kerasviz.show({"other": np.ones((N, SIZE, SIZE))}, inputs())
    with pytest.raises(ValueError, match="labels"):
        kerasviz.show(result(1), inputs(), labels=["one"])
