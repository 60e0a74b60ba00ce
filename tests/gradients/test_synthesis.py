"""Tests for the input-optimization engine and its recipes (class visualization, fooling, FGSM, inversion)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz import compiled, targets
from kerasviz.gradients import regularizers, synthesis
from kerasviz.gradients.adversarial import fgsm, fooling_image
from kerasviz.gradients.class_visualization import class_visualization
from kerasviz.gradients.inversion import invert_features
from tests.helpers.models import SIZE, assert_model_unchanged, layer_state, sequential, weights_snapshot


@pytest.fixture
def tiny():
    keras.backend.clear_session()
    return sequential()


def _probabilities(model, images):
    return model.predict(images, verbose=0)


def _start(n=2, seed=0):
    return np.random.default_rng(seed).uniform(0.3, 0.7, (n, SIZE, SIZE, 3)).astype(np.float32)


# ------------------------------------------------------------- the engine


def test_every_model_form_makes_progress_and_stays_in_range(model_form):
    name, model = model_form
    weights, state = weights_snapshot(model), layer_state(model)
    result = synthesis.optimize(
        model, targets.Channel("conv2", 3), _start(), steps=6, learning_rate=0.02, jitter=2,
        blur_every=3, l2=1e-3, tv=0.1,
    )
    assert result.image.dtype == np.float32 and result.image.shape == (2, SIZE, SIZE, 3)
    assert result.losses.shape == (6,) and result.steps == 6
    assert result.losses[-1] > result.losses[0], name
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0
    assert_model_unchanged(model, weights, state)


def test_class_score_rises_and_range_is_respected(tiny):
    weights, state = weights_snapshot(tiny), layer_state(tiny)
    result = class_visualization(tiny, [1, 2], steps=15, value_range=(-1.0, 1.0))
    assert result.image.shape == (2, SIZE, SIZE, 3)
    assert result.losses[-1] > result.losses[0]
    assert result.image.min() >= -1.0 and result.image.max() <= 1.0
    assert_model_unchanged(tiny, weights, state)


def test_same_seed_same_image_other_seed_other_image(tiny):
    run = lambda seed: class_visualization(  # noqa: E731
        tiny, 1, steps=4, jitter=3, seed=seed, parameterization=None, transforms=None).image
    np.testing.assert_array_equal(run(0), run(0))
    assert not np.allclose(run(0), run(1))
    # The jitter alone (same start) also follows the seed.
    start = _start(1)
    a, b = (synthesis.optimize(tiny, 1, start, steps=4, jitter=3, seed=s).image for s in (3, 4))
    assert not np.allclose(a, b)


def test_step_is_traced_once_across_runs_classes_seeds_and_rates(tiny):
    class_visualization(tiny, 1, steps=3, seed=0)
    assert compiled.tracing_count(tiny) == 1
    class_visualization(tiny, [2, 3, 0], steps=5, seed=7, learning_rate=0.05, l2=0.0)
    assert compiled.tracing_count(tiny) == 1
    pixels = dict(parameterization=None, transforms=None)
    class_visualization(tiny, 1, steps=3, seed=0, **pixels)
    class_visualization(tiny, [2, 3, 0], steps=5, seed=7, learning_rate=0.05, l2=2e-3, jitter=1, **pixels)
    assert compiled.tracing_count(tiny) == 2  # one step per recipe
    # A prior of weight 0 is left out of the step (not computed and multiplied by zero): a variant, traced once.
    class_visualization(tiny, 1, steps=3, seed=0, l2=0.0, **pixels)
    class_visualization(tiny, [2, 3, 0], steps=5, seed=7, learning_rate=0.05, l2=0.0, **pixels)
    assert compiled.tracing_count(tiny) == 3


def test_custom_objective_with_captured_layers_and_extras(tiny):
    def objective(logits, activations, weights):
        return tf.reduce_sum(tf.reduce_mean(activations["conv1"], axis=[1, 2]) * weights, axis=-1)

    weights = np.tile(np.arange(6, dtype=np.float32), (2, 1))
    result = synthesis.optimize(tiny, objective, _start(), layers=("conv1",), extras=(weights,), steps=5)
    assert result.losses[-1] > result.losses[0]
    with pytest.raises(ValueError, match="layers"):
        synthesis.optimize(tiny, objective, _start(), steps=1)
    with pytest.raises(ValueError, match="extras"):
        synthesis.optimize(tiny, objective, _start(), layers="conv1", extras=(weights[:1],), steps=1)


def test_callback_stop_and_regularizers(tiny):
    seen = []
    result = synthesis.optimize(
        tiny, 0, _start(), steps=10, callback=lambda step, image, loss: seen.append(step),
        stop=lambda step, image, logits: step == 4,
    )
    assert result.steps == 4 and seen == [0, 1, 2, 3] and result.losses.shape == (4,)
    constant = tf.fill([1, 9, 9, 2], 0.25)
    np.testing.assert_allclose(regularizers.gaussian_blur(constant, 1.0).numpy(), 0.25, rtol=1e-6)
    ramp = np.tile(np.arange(4, dtype=np.float32)[None, :, None], (4, 1, 1))[None]  # x steps of 1
    # Mean over the 3x3 interior of dx^2 + dy^2 = 1 (unit images: the engine's own units).
    np.testing.assert_allclose(regularizers.total_variation(tf.constant(ramp / 2.0)).numpy(), [0.25])
    # A pure L2 pull (no objective gradient) moves an image toward the range's centre.
    far = np.full((1, SIZE, SIZE, 3), 0.9, np.float32)
    pulled = synthesis.optimize(tiny, lambda logits, acts: 0.0 * logits[:, 0], far, layers=(),
                                steps=3, l2=1.0, learning_rate=0.1).image
    np.testing.assert_allclose(pulled, 0.6, atol=1e-5)


# ------------------------------------------------------------- recipes on the trained demo model


def test_fooling_image_reaches_its_target_with_a_small_perturbation(shapes_model):
    model, test = shapes_model
    weights, state = weights_snapshot(model), layer_state(model)
    images, labels = test.images[:3], test.labels[:3]
    goal = (labels + 2) % len(test.class_names)
    result = fooling_image(model, images, goal, max_steps=100)
    assert result.fooled and 0 < result.steps <= 100
    np.testing.assert_array_equal(_probabilities(model, result.image).argmax(-1), goal)
    np.testing.assert_allclose(result.perturbation, result.image - images, atol=1e-6)
    assert np.abs(result.perturbation).mean() < 0.02  # measured: ~0.007
    assert np.abs(result.perturbation).max() < 0.75  # concentrated where global max pooling looks
    assert result.magnified_perturbation.min() >= 0 and result.magnified_perturbation.max() <= 1
    assert result.image.min() >= 0 and result.image.max() <= 1
    assert_model_unchanged(model, weights, state)


def test_fgsm_lowers_the_true_class_and_targets_a_class(shapes_model):
    model, test = shapes_model
    weights, state = weights_snapshot(model), layer_state(model)
    images, labels = test.images[:16], test.labels[:16]
    before = _probabilities(model, images)
    adversarial = fgsm(model, images, labels, epsilon=0.03, batch_size=5)
    after = _probabilities(model, adversarial)
    rows = np.arange(16)
    assert np.mean(after[rows, labels] < before[rows, labels]) >= 0.8
    assert np.abs(adversarial - images).max() <= 0.03 + 1e-6
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    np.testing.assert_allclose(adversarial, fgsm(model, images, labels, epsilon=0.03), atol=1e-6)
    goal = (labels + 1) % 5
    toward = _probabilities(model, fgsm(model, images, target_class=goal, epsilon=0.03))
    assert np.mean(toward[rows, goal] > before[rows, goal]) >= 0.8
    assert_model_unchanged(model, weights, state)


def test_inversion_lowers_the_feature_distance_and_deeper_layers_keep_less(shapes_model):
    model, test = shapes_model
    weights, state = weights_snapshot(model), layer_state(model)
    images = test.images[:2]
    errors = {}
    for layer in ("conv1", "conv3"):
        result = invert_features(model, images, layer, steps=120)
        assert -result.losses[-1] < 0.2 * -result.losses[0]  # the distance falls at least 5-fold
        errors[layer] = float(np.mean((result.image - images) ** 2))
    print("inversion pixel MSE after 120 steps:", errors)  # measured: conv1 ~0.002, conv3 ~0.02
    assert errors["conv1"] < errors["conv3"]
    kernel, bias = model.get_layer("conv1").get_weights()
    features = np.maximum(tf.nn.conv2d(images, kernel, 1, "SAME").numpy() + bias, 0)
    from_features = invert_features(model, features, "conv1", steps=5).image
    np.testing.assert_allclose(from_features, invert_features(model, images, "conv1", steps=5).image, atol=1e-5)
    assert_model_unchanged(model, weights, state)


# ------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"steps": 0}, "steps"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"value_range": (1, 0)}, "value_range"),
        ({"jitter": -1}, "jitter"),
        ({"jitter": SIZE}, "jitter"),
        ({"l2": float("nan")}, "l2"),
        ({"blur_every": 1.5}, "blur_every"),
        ({"normalize_gradient": "max"}, "normalize_gradient"),
        ({"layers": ("conv1",)}, "layers"),
    ],
)
def test_engine_rejects_bad_arguments(tiny, kwargs, name):
    with pytest.raises(ValueError, match=name):
        synthesis.optimize(tiny, 0, _start(1), **kwargs)


def test_recipes_reject_bad_arguments(tiny):
    images = _start(2)
    with pytest.raises(ValueError, match="target"):
        class_visualization(tiny, None)
    with pytest.raises(ValueError, match="target"):
        class_visualization(tiny, 9)
    with pytest.raises(TypeError, match="seed"):
        class_visualization(tiny, 1, seed="x")
    with pytest.raises(ValueError, match="init"):
        class_visualization(tiny, 1, init=np.zeros((1, 5, 5, 3)))
    with pytest.raises(ValueError, match="max_steps"):
        fooling_image(tiny, images, 1, max_steps=0)
    with pytest.raises(ValueError, match="target_class"):
        fooling_image(tiny, images, [1, 2, 3])
    with pytest.raises(ValueError, match="epsilon"):
        fgsm(tiny, images, epsilon=0)
    with pytest.raises(ValueError, match="target_class"):
        fgsm(tiny, images, 1, target_class=2)
    with pytest.raises(ValueError, match="image_or_features"):
        invert_features(tiny, np.zeros((1, 3, 3)), "conv1")
    with pytest.raises(ValueError, match="layer"):
        invert_features(tiny, images, "nope")
    assert compiled.tracing_count(tiny) == 0
