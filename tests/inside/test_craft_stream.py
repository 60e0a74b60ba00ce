"""CRAFT's streamed fit (`kerasviz.inside.craft_stream`): MiniBatchNMF over a stream, against the in-memory NMF."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.decomposition import non_negative_factorization  # noqa: E402

from kerasviz.inside import craft, craft_stream  # noqa: E402
from tests.helpers.models import SIZE, functional  # noqa: E402

# 600 images of 16 pixels: 5-pixel patches every 4 pixels, 9 a image, 5400 patches: more than the 4096 sampled
# to start the fit, so that MiniBatchNMF's passes are what makes the bank.
IMAGES = np.random.default_rng(3).uniform(0, 1, (600, SIZE, SIZE, 3)).astype(np.float32)
LABELS = np.arange(len(IMAGES)) % 4
CONCEPTS = 4


@pytest.fixture(scope="module")
def model():
    keras.backend.clear_session()
    return functional()


@pytest.fixture(scope="module")
def batch_bank(model):
    return craft.craft_concepts(model, IMAGES, "relu2", CONCEPTS)


@pytest.fixture(scope="module")
def streamed_bank(model):
    return craft.craft_concepts(model, tf.data.Dataset.from_tensor_slices(IMAGES).batch(32), "relu2", CONCEPTS)


def pooled_activations(model, origins, side):
    """The patches' pooled relu2 activations, computed here: crop, resize (bilinear), a Keras sub-model, mean."""
    crops = np.stack([IMAGES[n, r:r + side, c:c + side] for n, r, c in origins])
    resized = tf.image.resize(crops, (SIZE, SIZE), method="bilinear").numpy()
    layer = keras.Model(model.inputs, model.get_layer("relu2").output)
    values = np.concatenate([layer(resized[a:a + 512]).numpy() for a in range(0, len(resized), 512)])
    return values.mean(axis=(1, 2)).astype(np.float64)


def test_streamed_fit_reconstructs_the_activations_about_as_well_as_the_batch_fit(model, batch_bank, streamed_bank):
    assert len(streamed_bank.patch_origins) == 5400 > craft_stream.RESERVOIR
    np.testing.assert_array_equal(streamed_bank.patch_origins, batch_bank.patch_origins)
    assert streamed_bank.patch_size == batch_bank.patch_size == 5 and streamed_bank.layer == "relu2"
    np.testing.assert_allclose(np.linalg.norm(streamed_bank.bank, axis=1), 1.0, rtol=1e-5)
    assert (streamed_bank.bank >= 0).all() and (streamed_bank.patch_coefficients >= 0).all()
    activations = pooled_activations(model, streamed_bank.patch_origins, 5)
    errors = {}
    for name, bank in (("streamed", streamed_bank), ("batch", batch_bank)):
        residual = activations - bank.patch_coefficients.astype(np.float64) @ bank.bank
        errors[name] = np.linalg.norm(residual) / np.linalg.norm(activations)
        assert errors[name] == pytest.approx(bank.error, rel=1e-3)  # the error each fit reports is the true one
    # Both minimize the same Frobenius objective; NMF's local minima from different starts differ by a few per
    # cent of the error, and MiniBatchNMF's steps are stochastic approximations: within 10 % (relative) of the
    # in-memory fit, plus 0.005 for errors near 0. The margin is tight: 4 random non-negative unit rows with
    # fitted coefficients err by more than twice as much.
    assert errors["streamed"] <= 1.1 * errors["batch"] + 0.005, errors
    rows = np.abs(np.random.default_rng(0).normal(size=(CONCEPTS, activations.shape[1])))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    u, _, _ = non_negative_factorization(activations, H=rows, n_components=CONCEPTS, update_H=False, max_iter=500)
    random_error = np.linalg.norm(activations - u @ rows) / np.linalg.norm(activations)
    assert random_error > 2 * errors["streamed"]


def test_the_same_for_any_batching_of_the_stream_and_seeded(model, streamed_bank):
    unbatched = craft.craft_concepts(model, tf.data.Dataset.from_tensor_slices((IMAGES, LABELS)), "relu2", CONCEPTS)
    np.testing.assert_array_equal(unbatched.bank, streamed_bank.bank)
    np.testing.assert_array_equal(unbatched.patch_coefficients, streamed_bank.patch_coefficients)

    class Batches:  # a re-iterable source of batches that is not a tf.data.Dataset
        def __iter__(self):
            return (IMAGES[a:a + 50] for a in range(0, len(IMAGES), 50))

    other = craft.craft_concepts(model, Batches(), "relu2", CONCEPTS)
    np.testing.assert_array_equal(other.bank, streamed_bank.bank)
    reseeded = craft.craft_concepts(model, Batches(), "relu2", CONCEPTS, seed=1)
    assert not np.array_equal(reseeded.bank, streamed_bank.bank)


def test_stream_errors_name_the_argument(model):
    with pytest.raises(TypeError, match="one-shot iterator for `images`"):
        craft.craft_concepts(model, (IMAGES[a:a + 8] for a in range(0, 32, 8)), "relu2", 2)
    with pytest.raises(ValueError, match="empty stream for `images`"):
        craft.craft_concepts(model, tf.data.Dataset.from_tensor_slices(IMAGES[:0]).batch(8), "relu2", 2)
    with pytest.raises(ValueError, match="images"):  # outside the value range, in a later batch
        bad = np.concatenate([IMAGES[:16], IMAGES[16:32] * 3])
        craft.craft_concepts(model, tf.data.Dataset.from_tensor_slices(bad).batch(8), "relu2", 2, value_range=(0, 1))
    with pytest.raises(ValueError, match="concepts=9"):
        craft.craft_concepts(model, tf.data.Dataset.from_tensor_slices(IMAGES[:8]).batch(8), "relu2", 9)
    with pytest.raises(ValueError, match="`passes`"):
        craft.craft_concepts(model, tf.data.Dataset.from_tensor_slices(IMAGES[:8]).batch(8), "relu2", 2, passes=0)

    class Shrinking:  # yields fewer images on each pass: the passes would not see the same patches
        passes = 0

        def __iter__(self):
            self.passes += 1
            return iter([IMAGES[:16 // self.passes]])

    with pytest.raises(ValueError, match="the same images on every pass"):
        craft.craft_concepts(model, Shrinking(), "relu2", 2)
