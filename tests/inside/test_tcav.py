"""TCAV (Kim et al., 2018) on a model whose class score depends on a known direction of a layer."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kerasviz.inside import cavs as tcav_module  # noqa: E402

SIZE = 6
# the layer "feat" is x @ A, A with orthonormal rows: the noise of the pixels stays isotropic in its span
A = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 3)))[0].T.astype(np.float32)  # [3, 4]
SHIFT = np.array([0.3, -0.2, 0.25], np.float32)  # the concept: a colour cast
D = SHIFT @ A / np.linalg.norm(SHIFT @ A)  # its direction in the layer's channels
BIAS = 0.5 * SHIFT.sum() / np.linalg.norm(SHIFT)  # feat . D on a mid-grey pixel


@pytest.fixture(autouse=True)
def _clear():
    keras.backend.clear_session()


def latent_model():
    """logit 0 = mean over positions of relu(feat . D - BIAS), logit 1 = its opposite.

    On the noise images about half the positions are active, and which ones
    changes from image to image: a random direction of `feat` raises the
    logit for some images and lowers it for others.
    """
    inputs = keras.Input((SIZE, SIZE, 3))
    feat = keras.layers.Conv2D(4, 1, use_bias=False, name="feat")(inputs)
    along = keras.layers.Conv2D(1, 1, activation="relu", name="along")(feat)
    logits = keras.layers.Dense(2, use_bias=False, name="logits")(keras.layers.GlobalAveragePooling2D()(along))
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    model.get_layer("feat").set_weights([A[None, None]])
    model.get_layer("along").set_weights([D[None, None, :, None], np.array([-BIAS], np.float32)])
    model.get_layer("logits").set_weights([np.array([[1.0, -1.0]], np.float32)])
    return model


def noise(n, seed):
    return np.random.default_rng(seed).uniform(0.25, 0.75, (n, SIZE, SIZE, 3)).astype(np.float32)


def concept(n, seed):
    return noise(n, seed) + SHIFT


def test_cav_is_aligned_with_the_planted_direction():
    model = latent_model()
    cav = tcav_module.concept_activation_vector(model, "feat", concept(60, 1), noise(60, 2))
    planted = np.tile(D, SIZE * SIZE) / np.linalg.norm(np.tile(D, SIZE * SIZE))
    assert cav.shape == (SIZE, SIZE, 4) and cav.accuracy == 1.0
    assert float(cav.vector @ planted) > 0.9


def test_tcav_score_and_derivatives():
    model = latent_model()
    cav = tcav_module.concept_activation_vector(model, "feat", concept(60, 1), noise(60, 2))
    images = noise(40, 3)
    result = tcav_module.tcav(model, images, "feat", cav, target=0)
    assert result.score == 1.0
    low = tcav_module.tcav(model, images, "feat", cav, target=1)
    assert low.score == 0.0  # logit 1 falls along the concept
    # by hand: the gradient of logit 1 w.r.t. feat is -D / (h w) where relu(feat . D - BIAS) is active
    active = (images @ A @ D - BIAS > 0).reshape(len(images), -1, 1)
    expected = -(active * D / SIZE ** 2).reshape(len(images), -1) @ cav.vector
    np.testing.assert_allclose(low.derivatives, expected, rtol=1e-4)


def test_significance_against_random_concepts():
    model = latent_model()
    images = noise(40, 3)
    randoms = [noise(30, 100 + i) for i in range(6)]
    test = tcav_module.tcav_significance(model, images, "feat", concept(30, 1), randoms, target=0, comparisons=2)
    assert test.significant and test.p_value < 0.025 and test.score == 1.0
    assert len(test.scores) == len(test.random_scores) == 5
    null = tcav_module.tcav_significance(model, images, "feat", noise(30, 50), randoms, target=0)
    assert not null.significant and null.p_value > 0.05, null


def test_bad_inputs_name_the_argument():
    model = latent_model()
    cav = tcav_module.concept_activation_vector(model, "feat", concept(6, 1), noise(6, 2))
    with pytest.raises(ValueError, match="random_sets"):
        tcav_module.tcav_significance(model, noise(4, 0), "feat", concept(6, 1), [noise(6, 2)])
    with pytest.raises(ValueError, match="alpha.*1.5"):
        tcav_module.tcav_significance(model, noise(4, 0), "feat", concept(6, 1), [noise(6, i) for i in range(3)],
                                      alpha=1.5)
    with pytest.raises(TypeError, match="cav"):
        tcav_module.tcav(model, noise(4, 0), "feat", cav.vector)
    with pytest.raises(ValueError, match="concept_images"):
        tcav_module.concept_activation_vector(model, "feat", concept(2, 1), noise(6, 2))
    with pytest.raises(ValueError, match="random_images"):
        tcav_module.concept_activation_vector(model, "feat", concept(6, 1), noise(6, 2)[..., :2])
    with pytest.raises(ValueError, match="layer"):
        tcav_module.tcav(model, noise(4, 0), "along", cav)
    with pytest.raises(ValueError, match="value_range"):
        tcav_module.tcav(model, noise(4, 0) * 255, "feat", cav, value_range=(0, 1))
    with pytest.raises(ValueError, match="concept_images.*value_range"):
        tcav_module.concept_activation_vector(model, "feat", concept(6, 1) + 1, noise(6, 2), value_range=(0, 1))
