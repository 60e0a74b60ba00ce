"""Faithfulness metrics (deletion / insertion) and the model-randomization sanity check."""

import functools
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz import compiled, metrics
from kerasviz.gradients.saliency import guided_backprop, saliency
from tb_plugin import metadata
from tests.helpers.models import CLASSES, SIZE, assert_model_unchanged, layer_state, sequential, weights_snapshot


# ---------------------------------------------------------------- references


def reference_blur(images, sigma):
    """Direct separable Gaussian convolution with symmetric edges (no matrices)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    out = np.asarray(images, np.float64)
    for axis in (1, 2):
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="symmetric")
        n = out.shape[axis]
        out = sum(w * np.take(padded, np.arange(i, i + n), axis=axis) for i, w in enumerate(kernel))
    return out


def reference_curve(kind, model, images, maps, baseline, steps, probabilities):
    """Each perturbed image built in numpy, one forward pass each, class fixed on the clean image."""
    height, width = maps.shape[1:]
    n = height * width
    clean = probabilities(model(images, training=False))
    classes = np.argmax(clean, axis=-1)
    scores = np.zeros((len(images), steps + 1))
    for b in range(len(images)):
        values = maps[b].ravel()
        order = sorted(range(n), key=lambda p: (-values[p], p))
        for k in range(steps + 1):
            count = k * n // steps
            mask = np.zeros(n, bool)
            mask[order[:count]] = True
            mask = mask.reshape(height, width)[..., None]
            if kind == "deletion":
                image = np.where(mask, baseline[b], images[b])
            else:
                image = np.where(mask, images[b], baseline[b])
            probs = probabilities(model(image[None].astype(np.float32), training=False))
            scores[b, k] = probs[0, classes[b]]
    fractions = (np.arange(steps + 1) * n // steps) / n
    return fractions, scores, np.trapezoid(scores, fractions, axis=1)


def softmax(logits):
    logits = np.asarray(logits, np.float64)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def tied_maps(shape, seed=0):
    """Maps with many ties (values rounded to 5 levels) to exercise the stable order."""
    return np.round(np.random.default_rng(seed).uniform(0, 4, shape)).astype(np.float32)


# ---------------------------------------------------------------- deletion / insertion


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_curve_matches_numpy_reference(kind, images):
    keras.backend.clear_session()
    model = sequential()  # ends in softmax: the reference reads its probabilities directly
    images = images[:3]
    maps = tied_maps(images.shape[:3])
    steps = 7  # 256 pixels: uneven counts floor(k * 256 / 7)
    if kind == "deletion":
        baseline_arg, baseline = 0.3, np.full(images.shape, 0.3)
    else:
        baseline_arg, baseline = "blur", reference_blur(images, SIZE / 8)
    curve = getattr(metrics, kind)(model, images, maps, steps=steps, baseline=baseline_arg)
    fractions, scores, auc = reference_curve(kind, model, images, maps, baseline, steps, np.asarray)
    assert curve.fractions.dtype == curve.scores.dtype == curve.auc.dtype == np.float32
    assert curve.scores.shape == (3, steps + 1) and curve.auc.shape == (3,)
    np.testing.assert_allclose(curve.fractions, fractions, atol=1e-7)
    np.testing.assert_allclose(curve.scores, scores, atol=1e-5)
    np.testing.assert_allclose(curve.auc, auc, atol=1e-5)


def test_curve_applies_softmax_to_a_logits_model_and_takes_array_baseline(images):
    keras.backend.clear_session()
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=keras.initializers.GlorotUniform(3))(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, kernel_initializer=keras.initializers.GlorotUniform(4))(x))
    maps = np.random.default_rng(1).normal(size=images.shape[:3]).astype(np.float32)
    background = np.random.default_rng(2).uniform(0, 1, images.shape).astype(np.float32)
    curve = metrics.deletion(model, images, maps, steps=5, baseline=background)
    _, scores, auc = reference_curve("deletion", model, images, maps, background, 5, softmax)
    np.testing.assert_allclose(curve.scores, scores, atol=1e-5)
    np.testing.assert_allclose(curve.auc, auc, atol=1e-5)
    # A single background image [H, W, C] broadcasts over the batch.
    single = metrics.insertion(model, images, maps, steps=5, baseline=background[0])
    _, scores, _ = reference_curve("insertion", model, images, maps, np.broadcast_to(background[0], images.shape), 5, softmax)
    np.testing.assert_allclose(single.scores, scores, atol=1e-5)


def block_model(block=4, size=16):
    """Linear: class 0's logit is the sum of a top-left block; class 1's a constant 6."""
    model = keras.Sequential([keras.Input((size, size, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    kernel = np.zeros((size, size, 2), np.float32)
    kernel[:block, :block, 0] = 1.0
    model.layers[-1].set_weights([kernel.reshape(size * size, 2), np.array([0.0, 6.0], np.float32)])
    return model


def test_perfect_map_deletes_fast_and_inserts_fast():
    keras.backend.clear_session()
    model = block_model()
    rng = np.random.default_rng(0)
    images = rng.uniform(0.75, 1.0, (4, 16, 16, 1)).astype(np.float32)  # class 0 (logit ~14 vs 6)
    perfect = np.zeros((4, 16, 16), np.float32)
    perfect[:, :4, :4] = 1.0
    random = rng.uniform(size=(4, 16, 16)).astype(np.float32)
    good = metrics.deletion(model, images, perfect, steps=32)
    bad = metrics.deletion(model, images, random, steps=32)
    np.testing.assert_allclose(good.scores[:, 0], bad.scores[:, 0])
    assert np.all(good.auc < 0.1) and np.all(bad.auc > 0.3), (good.auc, bad.auc)
    good = metrics.insertion(model, images, perfect, steps=32, baseline=0.0)
    bad = metrics.insertion(model, images, random, steps=32, baseline=0.0)
    assert np.all(good.auc > 0.95) and np.all(bad.auc < 0.8), (good.auc, bad.auc)


def test_curve_independent_of_batch_size_and_traced_once(images):
    keras.backend.clear_session()
    model = sequential()
    maps = tied_maps(images.shape[:3], seed=3)
    reference = metrics.deletion(model, images, maps, steps=6)
    traces = compiled.tracing_count(model)
    for batch_size in (1, 4, 7, 100):
        curve = metrics.deletion(model, images, maps, steps=6, batch_size=batch_size)
        np.testing.assert_allclose(curve.scores, reference.scores, atol=1e-6)
        curve = metrics.insertion(model, images[:2], maps[:2], [1, 3], steps=6, batch_size=batch_size)
    assert compiled.tracing_count(model) == traces


def test_curve_every_model_form_unchanged_and_fixed_class(model_form, images):
    _, model = model_form
    before, state = weights_snapshot(model), layer_state(model)
    maps = tied_maps(images.shape[:3], seed=4)
    deletion = metrics.deletion(model, images, maps, steps=4, batch_size=3)
    insertion = metrics.insertion(model, images, maps, steps=4, batch_size=3)
    assert_model_unchanged(model, before, state)
    clean = np.asarray(model(images, training=False), np.float64)
    # At fraction 0 the deletion curve reads the clean predicted class; insertion ends there.
    tolerance = 2e-3 if model.dtype_policy.compute_dtype == "float16" else 1e-5
    np.testing.assert_allclose(deletion.scores[:, 0], clean.max(-1), atol=tolerance)
    np.testing.assert_allclose(insertion.scores[:, -1], clean.max(-1), atol=tolerance)
    assert np.all((deletion.scores >= 0) & (deletion.scores <= 1))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 0}, "`steps`"),
        ({"steps": 2.5}, "`steps`"),
        ({"maps": np.zeros((5, SIZE, SIZE, 3))}, "`maps`"),
        ({"maps": np.zeros((4, SIZE, SIZE))}, "`maps`"),
        ({"maps": np.full((5, SIZE, SIZE), np.nan)}, "`maps`"),
        ({"baseline": "noise"}, "`baseline`"),
        ({"baseline": np.zeros((3, 3))}, "`baseline`"),
        ({"baseline": np.nan}, "`baseline`"),
        ({"target": 9}, "`target`"),
        ({"batch_size": 0}, "`batch_size`"),
    ],
)
def test_curve_bad_arguments_name_the_argument(kwargs, match, images):
    keras.backend.clear_session()
    model = sequential()
    arguments = {"maps": np.zeros((5, SIZE, SIZE))} | kwargs
    maps = arguments.pop("maps")
    with pytest.raises(ValueError, match=match):
        metrics.deletion(model, images, maps, **arguments)


def test_curve_rejects_non_class_target(images):
    keras.backend.clear_session()
    model = sequential()
    with pytest.raises(ValueError, match="`target`"):
        metrics.insertion(model, images, np.zeros((5, SIZE, SIZE)), target=models_channel())


def models_channel():
    from kerasviz.targets import Channel

    return Channel("conv2", 1)


def test_blur_is_a_strong_normalized_gaussian(images):
    blurred = metrics.blur(images)
    np.testing.assert_allclose(blurred, reference_blur(images, SIZE / 8), atol=1e-5)
    np.testing.assert_allclose(metrics.blur(np.full((1, 9, 13, 2), 0.7, np.float32)), 0.7, atol=1e-6)
    assert blurred.std() < 0.5 * images.std()


# ---------------------------------------------------------------- rank correlation


def test_rank_correlation_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a = np.round(rng.uniform(0, 3, (6, 5, 7)))
    b = np.round(a + rng.normal(0, 1, a.shape))
    b[0] = a[0]
    b[1] = -a[1]
    ours = metrics.rank_correlation(a, b)
    expected = [stats.spearmanr(x.ravel(), y.ravel())[0] for x, y in zip(a, b)]
    np.testing.assert_allclose(ours, expected, atol=1e-12)
    np.testing.assert_allclose(ours[:2], [1.0, -1.0])
    assert np.isnan(metrics.rank_correlation(np.ones((1, 4)), np.arange(4.0)[None]))[0]


# ---------------------------------------------------------------- sanity check


EXPECTED_LAYERS = {
    "sequential": ["logits", "fc", "conv2", "conv1"],
    "nested": ["logits", "fc", "backbone/conv2", "backbone/conv1"],
}


def test_sanity_check_every_model_form_leaves_model_unchanged(model_form, images):
    name, model = model_form
    before, state = weights_snapshot(model), layer_state(model)
    original = saliency(model, images)
    result = metrics.sanity_check(model, images, saliency, batch_size=2)
    assert_model_unchanged(model, before, state)
    np.testing.assert_array_equal(saliency(model, images), original)
    assert result.layers == EXPECTED_LAYERS.get(name, EXPECTED_LAYERS["sequential"])
    assert result.correlations.shape == (4, 5) and result.correlations.dtype == np.float32
    assert result.mean.shape == (4,)
    assert np.all(np.abs(result.correlations) <= 1 + 1e-6)
    assert np.all(result.correlations[0] < 0.999)  # the logits were re-drawn, not restored


def test_sanity_check_model_unchanged_when_method_raises(images):
    keras.backend.clear_session()
    model = sequential()
    before, state = weights_snapshot(model), layer_state(model)
    calls = []

    def failing(m, x, target=None, **kwargs):
        calls.append(m)
        maps = saliency(m, x, target, **kwargs)
        if m is not model:
            raise RuntimeError("boom on the copy")
        return maps

    with pytest.raises(RuntimeError, match="boom"):
        metrics.sanity_check(model, images, failing)
    assert len(calls) == 2 and calls[0] is model and calls[1] is not model
    assert_model_unchanged(model, before, state)

    def broken(m, x, target=None, **kwargs):
        raise ValueError("broken at once")

    with pytest.raises(ValueError, match="broken"):
        metrics.sanity_check(model, images, broken)
    assert_model_unchanged(model, before, state)


def test_sanity_check_seeded_explicit_layers_and_fixed_classes(images):
    keras.backend.clear_session()
    model = sequential()
    seen = []

    def recording(m, x, target=None, **kwargs):
        seen.append(np.asarray(target))
        return saliency(m, x, target, **kwargs)

    first = metrics.sanity_check(model, images, recording, layers=["fc", "logits"], seed=1)
    again = metrics.sanity_check(model, images, saliency, layers=["fc", "logits"], seed=1)
    other = metrics.sanity_check(model, images, saliency, layers=["fc", "logits"], seed=2)
    assert first.layers == ["fc", "logits"]
    np.testing.assert_array_equal(first.correlations, again.correlations)
    assert not np.allclose(first.correlations, other.correlations)
    predicted = np.argmax(np.asarray(model(images)), -1)
    for target in seen:  # the original model's classes, on every stage
        np.testing.assert_array_equal(target, predicted)
    explicit = metrics.sanity_check(model, images, saliency, target=2, layers="logits")
    assert explicit.layers == ["logits"]


def test_randomisation_tests_reuse_one_copy_without_retracing(images):
    """Epoch after epoch (a callback), the cascade runs on the same kept copy: no clone, no retrace, same result."""
    keras.backend.clear_session()
    model = sequential()
    first = metrics.sanity_check(model, images, saliency, layers=["fc", "logits"], seed=1)
    with metrics.sanity.borrowed_copy(model, images) as copy:
        traces = compiled.tracing_count(copy)
        np.testing.assert_array_equal(copy.get_weights()[0], model.get_weights()[0])  # restored on borrow
        with metrics.sanity.borrowed_copy(model, images) as other:  # in use: a fresh copy of its own
            assert other is not copy
    again = metrics.sanity_check(model, images, saliency, layers=["fc", "logits"], seed=1)
    metrics.efficient_mprt(model, images, saliency)
    with metrics.sanity.borrowed_copy(model, images) as same:
        assert same is copy and compiled.tracing_count(same) == traces
    np.testing.assert_array_equal(first.correlations, again.correlations)


def test_sanity_check_constant_maps_give_nan_and_are_left_out_of_the_mean(images):
    keras.backend.clear_session()
    model = sequential()

    def blank_first(m, x, target=None, **kwargs):
        maps = saliency(m, x, target, **kwargs)
        maps[0] = 0.0
        return maps

    result = metrics.sanity_check(model, images, blank_first, layers=["logits", "fc"])
    assert np.all(np.isnan(result.correlations[:, 0]))
    assert np.all(np.isfinite(result.correlations[:, 1:]))
    np.testing.assert_allclose(result.mean, result.correlations[:, 1:].mean(axis=1), rtol=1e-6)


def test_sanity_check_bad_arguments(images):
    keras.backend.clear_session()
    model = sequential()
    with pytest.raises(TypeError, match="`method`"):
        metrics.sanity_check(model, images, "saliency")
    with pytest.raises(ValueError, match="`layers`"):
        metrics.sanity_check(model, images, saliency, layers=["nope"])
    with pytest.raises(ValueError, match="`layers`"):
        metrics.sanity_check(model, images, saliency, layers=["pool"])
    with pytest.raises(TypeError, match="`seed`"):
        metrics.sanity_check(model, images, saliency, seed="zero")
    with pytest.raises(ValueError, match="`images`"):
        metrics.sanity_check(model, images[0], saliency)


class Uncloneable(keras.Model):
    def __init__(self, units):
        super().__init__()
        self.conv = keras.layers.Conv2D(3, 3, padding="same")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.dense = keras.layers.Dense(units)

    def call(self, x):
        return self.dense(self.pool(self.conv(x)))


def test_sanity_check_rejects_uncloneable_models(images):
    keras.backend.clear_session()
    model = Uncloneable(CLASSES)
    model(images[:1])
    before, state = weights_snapshot(model), layer_state(model)
    with pytest.raises(ValueError, match="can be cloned"):
        metrics.sanity_check(model, images, saliency)
    assert_model_unchanged(model, before, state)


# ---------------------------------------------------------------- Adebayo et al.: who passes


@pytest.fixture(scope="module")
def digits_model():
    """A small ConvNet trained for 5 epochs on scikit-learn digits (16x16, grey background): ~90% test accuracy."""
    from sklearn.datasets import load_digits

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    digits = load_digits()
    x = np.kron(digits.images / 16.0, np.ones((2, 2)))[..., None]
    x = (0.2 + 0.8 * x).astype(np.float32)
    conv = functools.partial(keras.layers.Conv2D, kernel_size=3, padding="same", activation="relu")
    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            conv(8, name="c1"),
            conv(16, name="c2"),
            keras.layers.MaxPooling2D(),
            conv(16, name="c3"),
            conv(32, name="c4"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1500], digits.target[:1500], epochs=5, batch_size=64, verbose=0)
    accuracy = model.evaluate(x[1500:], digits.target[1500:], verbose=0)[1]
    assert accuracy > 0.8, accuracy
    return model, x[1500:1516]


def test_gradients_pass_and_guided_backprop_fails_the_sanity_check(digits_model):
    model, images = digits_model
    plain = metrics.sanity_check(model, images, saliency)
    guided = metrics.sanity_check(model, images, guided_backprop)
    assert plain.layers == guided.layers == ["out", "c4", "c3", "c2", "c1"]
    # Gradients depend on the weights: rank correlation gone once everything is random.
    assert plain.mean[-1] < 0.3, plain.mean
    # Guided backprop barely notices: still correlated after 4 of 5 layers are random.
    assert np.all(guided.mean[:-1] > 0.5), guided.mean
    assert np.all(guided.mean[:-1] > plain.mean[:-1] + 0.3), (guided.mean, plain.mean)


def test_compare_flags_guided_backprop_and_passes_gradients_on_the_trained_digits_model(digits_model, capsys):
    model, images = digits_model
    result = metrics.compare(model, images[:8], ["saliency", "guided_backprop"], ["randomization", "sparseness"],
                             verbose=1)
    assert "6/6" in capsys.readouterr().out  # the bar: each method's maps, then each of its 2 metrics
    assert [(m, k) for m, k, _ in result.sanity_failures()] == [("guided_backprop", "randomization")]
    value = result.as_dict()["guided_backprop"]["randomization"]
    assert result.sanity_failures(threshold=value + 1e-3) == []  # at or above the threshold fails
    assert result.best()["randomization"] == ["saliency"]
    assert "guided_backprop fails randomization" in result.table()


# ---------------------------------------------------------------- Comparison: reading and writing


def _comparison(values, metric_names=("deletion_auc", "insertion_auc", "random_logit")):
    values = np.asarray(values, np.float32)
    methods = [f"m{i}" for i in range(len(values))]
    per_image = {(m, k): np.full(2, values[i, j], np.float32) for i, m in enumerate(methods)
                 for j, k in enumerate(metric_names)}
    return metrics.Comparison(methods, list(metric_names), values, per_image,
                              {k: metrics.METRICS[k].higher_is_better for k in metric_names}, {})


def test_comparison_best_ties_nan_and_sanity_failures():
    result = _comparison([[0.2, 0.5, 0.7], [0.2, 0.6, np.nan], [0.3, np.nan, 0.4]])
    assert result.best() == {"deletion_auc": ["m0", "m1"], "insertion_auc": ["m1"], "random_logit": ["m2"]}
    assert result.sanity_failures() == [("m0", "random_logit", pytest.approx(0.7))]  # NaN fails nothing
    assert result.sanity_failures(0.4) == [("m0", "random_logit", pytest.approx(0.7)),
                                           ("m2", "random_logit", pytest.approx(0.4))]
    assert _comparison([[np.nan, 0.1, 0.2]]).best()["deletion_auc"] == []
    lines = result.table().splitlines()
    assert lines[0].split() == ["method", "deletion_auc", "insertion_auc", "random_logit"]
    assert lines[1].split() == ["\u2193", "lower", "\u2191", "higher", "\u2193", "lower"]
    assert lines[2].split() == ["m0", "0.2000*", "0.5000", "0.7000\u2717"]
    assert lines[3].split() == ["m1", "0.2000*", "0.6000*", "nan"]
    assert lines[4].split() == ["m2", "0.3000", "nan", "0.4000*"]
    assert "m0 fails random_logit (0.70)" in result.table() and "m1 random_logit" in result.table()
    assert "No method fails" in _comparison([[0.2, 0.5, 0.1]]).table()
    assert "sanity" not in _comparison([[0.2, 0.5]], ("deletion_auc", "insertion_auc")).table()


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(step=-1), ValueError, "`step`"),
    (dict(step=True), ValueError, "`step`"),
    (dict(run_name="../up"), ValueError, "`run_name`"),
    (dict(threshold=2.0), ValueError, "`threshold`"),
    (dict(threshold="0.5"), TypeError, "`threshold`"),
])
def test_comparison_write_rejects_bad_arguments_and_writes_nothing(tmp_path, kwargs, error, match):
    result = _comparison([[0.2, 0.5, 0.7]])
    with pytest.raises(error, match=match):
        result.write(tmp_path / "logs", **kwargs)
    assert not (tmp_path / "logs").exists()


def test_comparison_write_takes_the_next_step_and_refuses_an_earlier_one(tmp_path):
    from tensorboard.backend.event_processing import event_file_loader

    assert _comparison([[0.2, 0.5, 0.7]]).write(tmp_path) == (str(tmp_path / "kerasviz"), 0)
    assert _comparison([[0.3, 0.5, 0.7]]).write(tmp_path, run_name="kerasviz") == (str(tmp_path / "kerasviz"), 1)
    assert _comparison([[0.4, 0.5, 0.7]]).write(tmp_path, 5)[1] == 5
    with pytest.raises(ValueError, match="step=5.*already holds a comparison at step 5"):
        _comparison([[0.5, 0.5, 0.7]]).write(tmp_path, 5)
    written = []
    for name in sorted(os.listdir(tmp_path / "kerasviz")):
        for event in event_file_loader.EventFileLoader(str(tmp_path / "kerasviz" / name)).Load():
            for value in event.summary.value:
                header = metadata.decode_header(tf.make_ndarray(value.tensor)[0])
                written.append((value.tag, event.step, header["values"][0][0]))
    assert written == [("kerasviz/attribution/comparison", s, pytest.approx(v)) for s, v in ((0, 0.2), (1, 0.3), (5, 0.4))]
