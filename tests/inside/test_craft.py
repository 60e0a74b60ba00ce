"""CRAFT (Fel et al., 2023) on a planted model: red, green and blue detectors, a logit that reads red only."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasviz.inside import craft  # noqa: E402
from tests.helpers.models import assert_model_unchanged, layer_state, weights_snapshot  # noqa: E402

SIZE = 24
SIDE = 6
COLOURS = np.eye(3, dtype=np.float32)  # pure red, green, blue on black


@pytest.fixture(autouse=True)
def _clear():
    keras.backend.clear_session()


def planted():
    """Layer "colours" copies the R, G and B channels (1x1 identity conv + ReLU); logit 0 is the mean of R."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(3, 1, activation="relu", use_bias=False, name="colours")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, use_bias=False, activation="softmax", name="logits")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("colours").set_weights([np.eye(3, dtype=np.float32)[None, None]])
    model.get_layer("logits").set_weights([np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], np.float32)])
    return model


def squares(n=12, seed=0):
    """Black images with a red, a green and a blue 6x6 square, each in its own (random) quadrant."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, SIZE, SIZE, 3), np.float32)
    where = np.zeros((n, 3, 2), np.int64)
    half = SIZE // 2
    for i in range(n):
        for colour, quadrant in enumerate(rng.permutation(4)[:3]):
            top = half * (quadrant // 2) + rng.integers(0, half - SIDE + 1)
            left = half * (quadrant % 2) + rng.integers(0, half - SIDE + 1)
            images[i, top:top + SIDE, left:left + SIDE] = COLOURS[colour]
            where[i, colour] = top, left
    return images, where


def concept_of(bank, channel):
    return int(np.argmax(bank.bank[:, channel]))


def test_concepts_are_the_planted_colours_and_reconstruct_the_activations():
    model = planted()
    images, _ = squares()
    bank = craft.craft_concepts(model, images, "colours", 3, patch_size=8, value_range=(0, 1))
    assert bank.bank.shape == (3, 3) and bank.layer == "colours" and bank.patch_size == 8
    # each concept is one colour channel
    assert sorted(concept_of(bank, c) for c in range(3)) == [0, 1, 2]
    np.testing.assert_allclose(np.abs(bank.bank).max(axis=1), 1.0, atol=0.02)
    # the patches' pooled activations, computed here independently: the layer is the identity on [0, 1]
    stride = int(8 * 0.8)
    crops = np.stack([images[n, r:r + 8, c:c + 8] for n, r, c in bank.patch_origins])
    assert len(crops) == len(images) * len(range(0, SIZE - 8 + 1, stride)) ** 2
    pooled = tf.image.resize(crops, (SIZE, SIZE), method="bilinear").numpy().clip(0).mean(axis=(1, 2))
    reconstruction = bank.patch_coefficients @ bank.bank
    error = np.linalg.norm(reconstruction - pooled) / np.linalg.norm(pooled)
    assert error < 0.01 and abs(error - bank.error) < 1e-4


def test_importance_is_the_planted_concept_and_maps_peak_on_it():
    model = planted()
    images, where = squares()
    before = weights_snapshot(model), layer_state(model)
    bank = craft.craft_concepts(model, images, "colours", 3, patch_size=8, value_range=(0, 1))
    importance = craft.concept_importance(model, images, bank, 0, designs=32)
    red = concept_of(bank, 0)
    others = [k for k in range(3) if k != red]
    # logit 0 = mean of R = sum_k m_k c_k with c_k = 0 for green and blue: only red varies it, so its indices
    # are 1 (estimated from 32 designs: 0.94 on this design, whatever the image; Ishigami at N=1024 errs by
    # 0.02) and the others' exactly 0 (f(A) == f(A_B^(i)) when column i does not matter).
    assert importance.total[red] > 0.9 and importance.first_order[red] > 0.9
    assert np.all(np.abs(importance.total[others]) < 1e-3)
    assert importance.per_image.shape == (len(images), 3) and importance.target == 0
    # class 1 reads green and blue only
    other_class = craft.concept_importance(model, images, bank, 1, designs=32)
    assert abs(other_class.total[red]) < 1e-3 and np.all(other_class.total[others] > 0.2)

    maps = craft.concept_maps(model, images, bank, importance)
    assert maps.shape == (len(images), SIZE, SIZE, 3) and maps.dtype == np.float32
    for i, (top, left) in enumerate(where[:, 0]):
        peak = np.unravel_index(np.argmax(maps[i, :, :, red]), (SIZE, SIZE))
        assert top <= peak[0] < top + SIDE and left <= peak[1] < left + SIDE
        inside = maps[i, top + 1:top + SIDE - 1, left + 1:left + SIDE - 1, red].mean()
        assert inside > 0.5 and inside > 20 * np.abs(maps[i, :, :, others]).max()
    unweighted = craft.concept_maps(model, images, bank)
    np.testing.assert_allclose(maps, unweighted * importance.total, rtol=1e-6, atol=1e-7)
    assert_model_unchanged(model, *before)


def test_seeded_and_deterministic():
    model = planted()
    images, _ = squares(6, seed=1)
    first = craft.craft_concepts(model, images, "colours", 3, patch_size=8, seed=2)
    second = craft.craft_concepts(model, images, "colours", 3, patch_size=8, seed=2)
    np.testing.assert_array_equal(first.bank, second.bank)
    np.testing.assert_array_equal(first.patch_coefficients, second.patch_coefficients)
    a = craft.concept_importance(model, images, first, 0, designs=16, seed=4)
    b = craft.concept_importance(model, images, first, 0, designs=16, seed=4, batch_size=7)
    np.testing.assert_allclose(a.per_image, b.per_image, atol=1e-5)  # chunking changes only float round-off


def test_default_patch_size_follows_the_paper():
    model = planted()
    images, _ = squares(2)
    bank = craft.craft_concepts(model, images, "colours", 2)
    assert bank.patch_size == round(64 / 224 * SIZE)


def test_bad_inputs_raise_named_errors():
    model = planted()
    images, _ = squares(2)
    bank = craft.craft_concepts(model, images, "colours", 2, patch_size=8)
    with pytest.raises(ValueError, match="concepts"):
        craft.craft_concepts(model, images, "colours", 4, patch_size=8)
    with pytest.raises(ValueError, match="patch_size"):
        craft.craft_concepts(model, images, "colours", 2, patch_size=SIZE + 1)
    with pytest.raises(ValueError, match="layer"):
        craft.craft_concepts(model, images, "logits", 2)
    with pytest.raises(ValueError, match="images"):
        craft.craft_concepts(model, images * 2, "colours", 2, value_range=(0, 1))
    with pytest.raises(ValueError, match="target"):
        craft.concept_importance(model, images, bank, 2)
    with pytest.raises(TypeError, match="bank"):
        craft.concept_importance(model, images, bank.bank, 0)
    with pytest.raises(TypeError, match="importance"):
        craft.concept_maps(model, images, bank, importance=np.ones(2))
    with pytest.raises(ValueError, match="samples"):
        craft.concept_importance(model, images, bank, 0, designs=1)
    negative = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(2, 1, name="linear"),
                                 keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    negative.get_layer("linear").set_weights([-np.ones((1, 1, 3, 2), np.float32), np.zeros(2, np.float32)])
    with pytest.raises(ValueError, match="non-negative"):
        craft.craft_concepts(negative, images + 0.1, "linear", 2, patch_size=8)


def test_importance_runs_through_a_depthwise_convolution_above_the_layer():
    """The layers above the split build from the bank's channel count (a depthwise convolution needs it)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 1, activation="relu", name="colours")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    images, _ = squares(4)
    bank = craft.craft_concepts(model, images, "colours", 2, patch_size=8, value_range=(0, 1))
    importance = craft.concept_importance(model, images, bank, 0, designs=4, value_range=(0, 1))
    assert importance.total.shape == (2,) and np.all(np.isfinite(importance.total))
