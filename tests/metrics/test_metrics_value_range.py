"""`value_range`: the metrics that move the image clip what they build into the model's input range, so that a
method that refuses other inputs runs under them, through `compare` and `run_metrics`."""

import functools

import keras
import numpy as np
import pytest

import kerasviz
from tests.helpers.models import functional
from kerasviz import metrics

RANGE = (0.0, 1.0)
SHAP = {"value_range": RANGE, "samples": 4}


def edge_images():
    """Two images in [0, 1] with pixels at both ends of the range: any noise pushes some of them out."""
    images = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    images[:, :4] = 0.0
    images[:, -4:] = 1.0
    return images


def recording_shap(seen):
    """`gradient_shap` with `value_range=(0, 1)` (it refuses images outside), recording every batch it is given."""

    def method(model, images, target=None, **kwargs):
        seen.append(np.array(images, copy=True))
        return kerasviz.gradient_shap(model, images, target, **SHAP, **kwargs)

    return method


def test_gradient_shap_refuses_the_noisy_copies_without_a_value_range():
    keras.backend.clear_session()
    model, images = functional(), edge_images()
    for name in metrics.MOVING_METRICS:
        if name.startswith("road") or name == "continuity":
            continue  # ROAD only runs the model (its own test is below); continuity's baseline 0 is in range
        with pytest.raises(ValueError, match="outside `value_range"):
            metrics.compare(model, images, [("gradient_shap", SHAP)], [name])


def test_every_moving_metric_runs_through_compare_and_its_images_stay_in_the_range():
    keras.backend.clear_session()
    model, images = functional(), edge_images()
    seen = []
    result = metrics.compare(model, images, [recording_shap(seen)], list(metrics.MOVING_METRICS),
                             value_range=RANGE)
    assert result.metrics == list(metrics.MOVING_METRICS)
    assert np.isfinite(result.values).all(), result.as_dict()
    # The clean call and every noisy / translated copy of every metric that calls the method.
    assert len(seen) > 2 * len(metrics.MOVING_METRICS)
    everything = np.concatenate([batch.reshape(-1) for batch in seen])
    assert everything.min() >= RANGE[0] and everything.max() <= RANGE[1]
    # The noise did move them: some copies differ from the images.
    assert any(batch.shape == images.shape and not np.array_equal(batch, images) for batch in seen)
    # The registry method, named with its parameters, runs as well.
    named = metrics.compare(model, images, [("gradient_shap", SHAP)], list(metrics.MOVING_METRICS),
                            value_range=RANGE)
    assert np.isfinite(named.values).all(), named.as_dict()


def test_input_invariance_shifts_the_methods_range_instead_of_clipping():
    """The shifted model's inputs lie in the range plus the shift: gradient_shap is told so, nothing is clipped."""
    keras.backend.clear_session()
    model, images = functional(), edge_images()
    with pytest.raises(ValueError, match="outside `value_range"):
        metrics.input_invariance(model, images, functools.partial(kerasviz.gradient_shap, **SHAP))
    given = metrics.input_invariance(model, images, functools.partial(kerasviz.gradient_shap, samples=4),
                                     value_range=RANGE)
    assert given.shape == (2,) and np.isfinite(given).all()
    through = metrics.compare(model, images, [("gradient_shap", SHAP)], ["input_invariance"], value_range=RANGE)
    np.testing.assert_allclose(through.per_image[("gradient_shap", "input_invariance")], given, rtol=1e-5)
    # A shift-invariant method (plain gradients, no range) stays at 0.
    assert metrics.input_invariance(model, images, kerasviz.saliency).max() < 1e-4


def out_of_range_model():
    """Two logits: class 0 reads `100 * mean(relu(x - 1) + relu(-x))` (how far the input leaves [0, 1]) + 0.1."""
    inputs = keras.Input((16, 16, 3))
    above = keras.layers.ReLU()(keras.layers.Rescaling(1.0, offset=-1.0)(inputs))
    below = keras.layers.ReLU()(keras.layers.Rescaling(-1.0)(inputs))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([above, below]))
    dense = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, dense(pooled))
    dense.set_weights([np.array([[100.0 / 3, 0.0]] * 3, np.float32), np.array([0.1, 0.0], np.float32)])
    return model


def test_road_clips_its_noisy_imputation_in_the_graph():
    keras.backend.clear_session()
    model, images = out_of_range_model(), edge_images()
    maps = np.random.default_rng(1).random(images.shape[:3]).astype(np.float32)
    inside = 1.0 / (1.0 + np.exp(-0.1))  # the class-0 probability of any image in [0, 1]
    unclipped = metrics.road(model, images, maps, noise=0.5)
    clipped = metrics.road(model, images, maps, noise=0.5, value_range=RANGE)
    assert (unclipped > inside + 0.05).all(), unclipped
    np.testing.assert_allclose(clipped, inside, atol=1e-5)
    fixed_maps = lambda model, images, target=None, **kwargs: maps  # noqa: E731 (a method of known maps)
    through = metrics.compare(model, images, [fixed_maps], ["road_morf"], value_range=RANGE)
    np.testing.assert_allclose(through.per_image[(through.methods[0], "road_morf")], inside, atol=1e-5)


def test_per_channel_ranges_clip_each_channel_and_outside_images_raise():
    keras.backend.clear_session()
    model = functional()
    images = edge_images() * np.array([1.0, 0.5, 0.25], np.float32)
    channel_range = ((0.0, 0.0, 0.0), (1.0, 0.5, 0.25))
    seen = []
    metrics.max_sensitivity(model, images, recording_shap(seen), samples=2, value_range=channel_range)
    for batch in seen:
        assert (batch <= np.array(channel_range[1], np.float32)).all() and (batch >= 0).all()
    seen.clear()  # continuity's translations fill with its baseline: one outside the range is clipped
    metrics.continuity(model, images, recording_shap(seen), shifts=(2,), baseline=-1.0, value_range=channel_range)
    assert len(seen) == 2 and seen[1].min() == 0.0 and (seen[1][:, :, :2] == 0.0).all()
    with pytest.raises(ValueError, match="`images` with values outside"):
        metrics.compare(model, images * 2.0, ["saliency"], ["max_sensitivity"], value_range=channel_range)
    with pytest.raises(ValueError, match="`value_range`"):
        metrics.compare(model, images, ["saliency"], ["max_sensitivity"], value_range=(1.0, 0.0))


def test_the_callback_checks_its_images_against_its_value_range_when_a_metric_clips(tmp_path):
    images = edge_images()
    with pytest.raises(ValueError, match="`images` with values outside"):
        kerasviz.callbacks.AttributionCallback(str(tmp_path), images * 255.0, metrics=("max_sensitivity",),
                                               value_range=RANGE)
    kerasviz.callbacks.AttributionCallback(str(tmp_path), images * 255.0, metrics=("max_sensitivity",),
                                           value_range=(0, 255))
    kerasviz.callbacks.AttributionCallback(str(tmp_path), images * 255.0, metrics=("sparseness",), value_range=RANGE)


def test_explain_dataset_gives_its_value_range_to_the_metrics(tmp_path):
    """`explain_dataset` hands `value_range` to gradient_shap, which then refuses unclipped noisy copies."""
    keras.backend.clear_session()
    model, images = functional(), edge_images()
    result = kerasviz.explain_dataset(model, images, [("gradient_shap", {"samples": 4})], out=str(tmp_path / "run"),
                                      metrics=["max_sensitivity", "local_lipschitz_estimate"], value_range=RANGE,
                                      verbose=0)
    for name in ("max_sensitivity", "local_lipschitz_estimate"):
        values = np.asarray(result.metric("gradient_shap", name))
        assert values.shape == (2,) and np.isfinite(values).all(), name
