"""Receptive fields against numbers worked out by hand, and against gradient supports."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz import compiled
from kerasviz.activations.receptive_field import ReceptiveField, receptive_field
from tests.helpers.models import MODEL_FORMS, assert_model_unchanged, layer_state, weights_snapshot

L = keras.layers


def stack():
    """32 x 32 input. Per axis: size, stride, start (first pixel of position 0);
    offset = start + (size - 1) / 2."""
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        L.Conv2D(4, 3, name="a"),  # valid: size 3, stride 1, start 0 -> offset 1; grid 30
        L.Conv2D(4, 3, padding="same", name="b"),  # pad 1: size 3 + 2 = 5, start -1 -> offset 1; grid 30
        L.BatchNormalization(name="bn"),  # pointwise
        L.ReLU(name="relu"),
        L.MaxPooling2D(2, name="p"),  # size 5 + 1 = 6, stride 2, start -1 -> offset 1.5; grid 15
        # dilation 2: k_eff 5, pad 2: size 6 + 4 * 2 = 14, start -1 - 2 * 2 = -5 -> offset 1.5
        L.Conv2D(4, 3, dilation_rate=2, padding="same", name="c"),
        # stride 2 on 15: out 8, total pad (8 - 1) * 2 + 3 - 15 = 2, 1 before:
        # size 14 + 2 * 2 = 18, stride 4, start -5 - 1 * 2 = -7 -> offset 1.5
        L.Conv2D(4, 3, strides=2, padding="same", name="d"),
    ], name="stack")


STACK = {
    "a": ((3, 3), (1, 1), (1.0, 1.0)),
    "b": ((5, 5), (1, 1), (1.0, 1.0)),
    "relu": ((5, 5), (1, 1), (1.0, 1.0)),
    "p": ((6, 6), (2, 2), (1.5, 1.5)),
    "c": ((14, 14), (2, 2), (1.5, 1.5)),
    "d": ((18, 18), (4, 4), (1.5, 1.5)),
}


def test_conv_pool_stack_analytic_and_empirical():
    keras.backend.clear_session()
    model = stack()
    for name, (size, stride, offset) in STACK.items():
        expected = ReceptiveField(size, stride, offset, "analytic")
        assert receptive_field(model, name) == expected
        assert receptive_field(model, name, method="empirical") == expected._replace(method="empirical")


def one_layer(layer, size):
    return keras.Sequential([keras.Input((size, size, 3)), layer])


def test_same_versus_valid_and_strided():
    keras.backend.clear_session()
    # 5x5 valid: start 0 -> offset 2. 5x5 same: pad 2 -> start -2 -> offset 0.
    assert receptive_field(one_layer(L.Conv2D(2, 5), 16)).offset == (2.0, 2.0)
    assert receptive_field(one_layer(L.Conv2D(2, 5, padding="same"), 16)).offset == (0.0, 0.0)
    # 3x3 s2 'same' pads by the input size: 16 -> out 8, total 7 * 2 + 3 - 16 = 1, 0 before -> offset 1;
    # 15 -> out 8, total 2, 1 before -> offset 0.
    assert receptive_field(one_layer(L.Conv2D(2, 3, 2, padding="same"), 16)).offset == (1.0, 1.0)
    assert receptive_field(one_layer(L.Conv2D(2, 3, 2, padding="same"), 15)).offset == (0.0, 0.0)
    # 3x3 s2 valid then 3x3 s1 valid: size 3 + 2 * 2 = 7, stride 2, start 0 -> offset 3.
    strided = keras.Sequential([keras.Input((16, 16, 3)), L.Conv2D(2, 3, 2), L.Conv2D(2, 3, name="top")])
    assert receptive_field(strided, "top") == ReceptiveField((7, 7), (2, 2), (3.0, 3.0), "analytic")
    # Average pooling 3 s2 'same' on 16: out 8, total 14 + 3 - 16 = 1, 0 before -> size 3, offset 1.
    pool = one_layer(L.AveragePooling2D(3, 2, padding="same"), 16)
    assert receptive_field(pool) == ReceptiveField((3, 3), (2, 2), (1.0, 1.0), "analytic")


def test_input_size_from_input_shape_when_the_model_leaves_it_free():
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((None, None, 3)), L.Conv2D(2, 3, 2, padding="same", name="s")])
    with pytest.raises(ValueError, match="input_shape"):
        receptive_field(model)
    assert receptive_field(model, input_shape=(15, 15, 3)).offset == (0.0, 0.0)
    assert receptive_field(model, input_shape=(16, 15, 3)).offset == (1.0, 0.0)
    assert receptive_field(model, input_shape=(16, 15, 3), method="empirical").offset == (1.0, 0.0)


def test_asymmetric_padding_cropping_and_branch_union():
    keras.backend.clear_session()
    inputs = keras.Input((20, 20, 3))
    # Branch A: rows padded 2 before, cols 1 each side, 3x3 valid: rows start -2, cols start -1, size 3.
    a = L.Conv2D(4, 3, name="conv_a")(L.ZeroPadding2D(((2, 0), (1, 1)))(inputs))
    # Branch B: 3x3 'same': start -1, size 3 on both axes.
    b = L.Conv2D(4, 3, padding="same", name="conv_b")(inputs)
    # Union: rows [-2, 1] -> size 4, offset -0.5; cols [-1, 1] -> size 3, offset 0.
    added = L.Add(name="add")([a, b])
    joined = L.Concatenate(name="cat")([a, b])
    # Cropping 1 row on top and 2 cols on the left moves the start by (1, 2): offsets (0.5, 2).
    cropped = L.Cropping2D(((1, 0), (2, 0)), name="crop")(added)
    model = keras.Model(inputs, cropped)
    concatenated = keras.Model(inputs, joined)  # the same layers, in a second model
    assert receptive_field(model, "conv_a") == ReceptiveField((3, 3), (1, 1), (-1.0, 0.0), "analytic")
    for net, name in ((model, "add"), (concatenated, "cat")):
        union = ReceptiveField((4, 3), (1, 1), (-0.5, 0.0), "analytic")
        assert receptive_field(net, name) == union
        assert receptive_field(net, name, method="empirical") == union._replace(method="empirical")
    crop = receptive_field(model, "crop")
    assert crop == ReceptiveField((4, 3), (1, 1), (0.5, 2.0), "analytic")
    assert receptive_field(model, "crop", method="empirical") == crop._replace(method="empirical")


def test_nested_backbone_in_a_sequential():
    keras.backend.clear_session()
    inner = keras.Input((22, 22, 3))
    # After the 1-pixel padding: size 3, stride 2, start -1 -> offset 0.
    x = L.Conv2D(4, 3, strides=2, name="bb_conv")(inner)
    x = L.MaxPooling2D(2, name="bb_pool")(x)  # size 3 + 2 = 5, stride 4, start -1 -> offset 1
    backbone = keras.Model(inner, x, name="backbone")
    model = keras.Sequential([
        keras.Input((20, 20, 3)), L.ZeroPadding2D(1), backbone,
        L.Conv2D(4, 3, name="head"),  # size 5 + 2 * 4 = 13, stride 4, start -1 -> offset 5
        L.GlobalAveragePooling2D(), L.Dense(2),
    ])
    conv = receptive_field(model, "backbone/bb_conv")
    assert conv == ReceptiveField((3, 3), (2, 2), (0.0, 0.0), "analytic")
    assert receptive_field(model, "bb_pool") == ReceptiveField((5, 5), (4, 4), (1.0, 1.0), "analytic")
    head = receptive_field(model, "head")
    assert head == ReceptiveField((13, 13), (4, 4), (5.0, 5.0), "analytic")
    assert receptive_field(model, "head", method="empirical") == head._replace(method="empirical")


@pytest.mark.parametrize("form", sorted(MODEL_FORMS))
def test_every_model_form(form):
    """conv1 and conv2 are 3x3 'same': sizes 3 and 5, offset 0; a subclassed model is measured."""
    keras.backend.clear_session()
    model = MODEL_FORMS[form]()
    weights, state = weights_snapshot(model), layer_state(model)
    method = "empirical" if form == "subclassed" else "analytic"
    field = receptive_field(model, input_shape=(16, 16, 3))
    assert field == ReceptiveField((5, 5), (1, 1), (0.0, 0.0), method)
    assert receptive_field(model, "conv1", input_shape=(16, 16, 3)).size == (3, 3)
    if form == "subclassed":
        count = compiled.tracing_count(model)
        receptive_field(model, input_shape=(16, 16, 3))
        assert compiled.tracing_count(model) == count  # traced once
    assert_model_unchanged(model, weights, state)


def gradient_support(model, layer_name, row, col):
    """Rows and columns where d(sum of channels at (row, col)) / d input is nonzero, OR-ed over 3 inputs."""
    sub = keras.Model(model.inputs, model.get_layer(layer_name).output)
    images = tf.constant(np.random.default_rng(3).normal(size=(3, 96, 96, 3)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(images)
        value = tf.reduce_sum(sub(images, training=False)[:, row, col, :])
    support = np.any(tape.gradient(value, images).numpy() != 0, axis=(0, 3))
    rows, cols = np.flatnonzero(support.any(1)), np.flatnonzero(support.any(0))
    return rows[0], cols[0], rows[-1] + 1, cols[-1] + 1


def test_mobilenet_v2_analytic_equals_empirical():
    keras.backend.clear_session()
    net = keras.applications.MobileNetV2(alpha=0.35, weights=None, input_shape=(96, 96, 3))
    # Conv1 3x3 s2 'same' on 96 (total pad 1, 0 before): size 3, stride 2, start 0.
    # expanded_conv_depthwise 3x3 'same': size 3 + 2 * 2 = 7, start -2.
    # block_1_pad (0, 1) + 3x3 s2 valid: size 7 + 2 * 2 = 11, stride 4, start -2.
    # block_2_depthwise 3x3 'same': size 11 + 2 * 4 = 19, start -6 -> offset 3 (the Add: the union).
    # block_3 (pad + s2): size 27, stride 8, start -6; block_4, block_5: + 16 each -> 59, start -22, offset 7.
    field = receptive_field(net, "block_5_add")
    assert field == ReceptiveField((59, 59), (8, 8), (7.0, 7.0), "analytic")
    assert receptive_field(net, "block_2_add") == ReceptiveField((19, 19), (4, 4), (3.0, 3.0), "analytic")
    assert receptive_field(net, "block_5_add", method="empirical") == field._replace(method="empirical")
    for row, col in ((6, 6), (0, 11), (11, 3)):  # an unclipped field and two clipped ones
        top, left, bottom, right = gradient_support(net, "block_5_add", row, col)
        box = field.box(row, col, (96, 96))
        assert box[0] <= top and box[1] <= left and bottom <= box[2] and right <= box[3]
        assert np.allclose((top, left, bottom, right), box, atol=2)
    model = keras.Sequential([keras.Input((96, 96, 3)), net, L.Dense(3)])  # a head on the backbone
    assert receptive_field(model, f"{net.name}/block_5_add") == field


def test_box_clips_to_the_image():
    field = ReceptiveField((5, 5), (2, 2), (0.0, 0.0), "analytic")  # position (i, j) starts at 2 i - 2
    assert field.box(0, 0, (10, 10)) == (0, 0, 3, 3)
    assert field.box(4, 2, (10, 12)) == (6, 2, 10, 7)
    even = ReceptiveField((4, 6), (1, 1), (-0.5, 2.5), "analytic")  # starts (-2, 0)
    assert even.box(3, 1, (20, 20)) == (1, 1, 5, 7)


def test_bad_arguments_name_themselves():
    keras.backend.clear_session()
    model = MODEL_FORMS["functional"]()
    with pytest.raises(ValueError, match="`layer`.*'fc'"):
        receptive_field(model, "fc")
    with pytest.raises(ValueError, match="`layer`"):
        receptive_field(model, "nope")
    with pytest.raises(ValueError, match="`method`"):
        receptive_field(model, method="guess")
    with pytest.raises(ValueError, match="`input_shape`"):
        receptive_field(model, input_shape=(8, 8, 3))
    with pytest.raises(ValueError, match="`input_shape`"):
        receptive_field(model, input_shape=(16, 16))
    with pytest.raises(ValueError, match="analytic"):
        receptive_field(MODEL_FORMS["subclassed"](), input_shape=(16, 16, 3), method="analytic")
    upsample = keras.Sequential([
        keras.Input((8, 8, 3)), L.UpSampling2D(name="up"), L.Conv2D(2, 3, name="c")])
    with pytest.raises(ValueError, match="up"):
        receptive_field(upsample, "c", method="analytic")
    assert receptive_field(upsample, "c").method == "empirical"
