"""The new metrics against hand-computed values and independent references, and `compare`."""

import functools

import keras
import numpy as np
import pytest
from scipy import stats

import kerasviz
from kerasviz import metrics
from kerasviz.metrics import robustness
from tests.helpers.models import CLASSES, SIZE, sequential

RNG = np.random.default_rng(7)
X = RNG.uniform(0, 1, (3, SIZE, SIZE, 3)).astype(np.float32)


def linear_model(seed=0):
    keras.backend.clear_session()
    return keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(CLASSES, kernel_initializer=keras.initializers.RandomNormal(seed=seed)),
    ])


def kernel(model):
    return np.asarray(model.layers[-1].kernel, np.float64).reshape(SIZE, SIZE, 3, CLASSES)


# ---------------------------------------------------------------- sparseness, complexity, pointing


def test_gini_of_known_vectors():
    np.testing.assert_allclose(metrics.sparseness(np.array([[0.0, 0.0, 0.0, 1.0],
                                                            [1.0, 1.0, 1.0, 1.0],
                                                            [4.0, -3.0, 2.0, 1.0]])),
                               [0.75, 0.0, 0.25], atol=1e-7)  # (-3 - 2 + 3 + 12) / (4 * 10)
    assert np.isnan(metrics.sparseness(np.zeros((1, 2, 2))))[0]


def test_entropy_of_known_vectors():
    np.testing.assert_allclose(metrics.complexity(np.ones((1, 4, 4))), [np.log(16)], rtol=1e-6)
    np.testing.assert_allclose(metrics.complexity(np.array([[0.0, 5.0, 0.0]])), [0.0], atol=1e-7)
    # p = (1/4, 1/4, 1/2): 2 * (1/4) log 4 + (1/2) log 2 = 1.5 log 2
    np.testing.assert_allclose(metrics.complexity(np.array([[1.0, -1.0, 2.0]])), [1.5 * np.log(2)], rtol=1e-6)


def test_energy_share_by_hand():
    """The share of positive energy on the object (Score-CAM's energy-based pointing game): relevance mass
    accuracy on the positive part, and attribution localisation's ratio when the maximum is on the object."""
    maps = np.array([[[1.0, 3.0], [-2.0, 0.0]],
                     [[1.0, 1.0], [1.0, 1.0]]])
    masks = np.array([[[False, True], [True, True]],
                      [[True, False], [False, False]]])
    np.testing.assert_allclose(metrics.relevance_mass_accuracy(np.maximum(maps, 0), masks), [3 / 4, 1 / 4])
    np.testing.assert_allclose(metrics.attribution_localisation(maps, masks), [3 / 4, 1 / 4])
    with pytest.raises(ValueError, match="`masks`"):
        metrics.pointing_game(maps, masks[:, :1])


# ---------------------------------------------------------------- MuFidelity


def test_mufidelity_is_one_for_a_linear_models_contributions():
    model = linear_model()
    classes = [0, 2, 3]
    w = kernel(model)
    exact = np.stack([(x * w[..., c]).sum(-1) for x, c in zip(X.astype(np.float64), classes)])
    np.testing.assert_allclose(metrics.mufidelity(model, X, exact, classes, samples=40, batch_size=7),
                               1.0, atol=1e-5)
    noise = RNG.normal(size=exact.shape)
    assert (metrics.mufidelity(model, X, noise, classes, samples=40) < 0.6).all()
    # An independent reference of one image's correlation: remove the subsets by hand.
    batch = metrics.mufidelity(model, X, exact, classes, samples=40, batch_size=1000)
    np.testing.assert_allclose(batch, metrics.mufidelity(model, X, exact, classes, samples=40, batch_size=3),
                               rtol=1e-5)


def test_mufidelity_matches_a_numpy_loop_on_a_nonlinear_model():
    keras.backend.clear_session()
    model = sequential()
    maps = kerasviz.saliency(model, X, [1, 1, 1])
    grid, samples, removed = 4, 12, round(0.2 * 16)
    result = metrics.mufidelity(model, X, maps, [1, 1, 1], grid=grid, samples=samples, baseline=0.5, seed=3)
    logits = functools.partial(_logits, model)
    cells = (np.arange(SIZE)[:, None] * grid // SIZE) * grid + np.arange(SIZE)[None, :] * grid // SIZE
    for b in range(3):
        keys = np.random.default_rng([3, b]).random((samples, 16))
        xs, ys = [], []
        for row in keys:
            dropped = np.argsort(row)[:removed]  # the `removed` smallest keys
            hide = np.isin(cells, dropped)
            image = np.where(hide[..., None], 0.5, X[b])
            xs.append(maps[b][hide].sum())
            ys.append(logits(X[b:b + 1])[0, 1] - logits(image[None].astype(np.float32))[0, 1])
        assert result[b] == pytest.approx(stats.pearsonr(xs, ys)[0], abs=1e-4)


def _logits(model, x):
    out = x
    for layer in model.layers[:-1]:
        out = layer(out)
    last = model.layers[-1]
    return np.asarray(out @ last.kernel + last.bias, np.float64)


# ---------------------------------------------------------------- sensitivity


def channel_sum(model, images, target=None, *, batch_size=None):
    """A 'method' whose change under noise is known: the sum over channels."""
    return np.asarray(images).sum(-1)


def constant(model, images, target=None, *, batch_size=None):
    return np.ones(np.shape(images)[:3], np.float32)


def test_sensitivity_of_known_methods():
    keras.backend.clear_session()
    model = sequential()
    radius, samples = 0.1, 6
    ratios = np.empty((3, samples))
    width = radius * (X.max() - X.min())  # `radius` is a fraction of the images' value spread
    for s in range(samples):
        for b in range(3):
            noise = robustness.perturbation(0, s, b, X.shape[1:], width)
            assert np.abs(noise).max() <= width
            ratios[b, s] = np.linalg.norm(noise.sum(-1)) / np.linalg.norm(X[b].sum(-1))
    got_max = metrics.max_sensitivity(model, X, channel_sum, radius=radius, samples=samples)
    got_avg = metrics.avg_sensitivity(model, X, channel_sum, radius=radius, samples=samples)
    np.testing.assert_allclose(got_max, ratios.max(1), rtol=1e-4)
    np.testing.assert_allclose(got_avg, ratios.mean(1), rtol=1e-4)
    # the same images in 0-255 units: the same relative noise, the same sensitivity
    np.testing.assert_allclose(metrics.max_sensitivity(model, X * 255, channel_sum, radius=radius, samples=samples),
                               got_max, rtol=1e-4)
    np.testing.assert_array_equal(metrics.max_sensitivity(model, X, constant, samples=3), 0.0)
    with pytest.raises(ValueError, match="`radius`"):
        metrics.max_sensitivity(model, X, channel_sum, radius=0)
    with pytest.raises(TypeError, match="`method`"):
        metrics.avg_sensitivity(model, X, "saliency")


# ---------------------------------------------------------------- random logit


def test_random_logit_on_a_linear_model_compares_the_two_weight_rows():
    model = linear_model(seed=2)
    result = metrics.random_logit(model, X, kerasviz.saliency, seed=4)
    predicted = np.argmax(np.asarray(model(X)), axis=-1)
    np.testing.assert_array_equal(result.classes, predicted)
    assert (result.random_classes != predicted).all() and (result.random_classes < CLASSES).all()
    w = np.abs(kernel(model)).max(axis=2)  # saliency of class c: max over channels of |w_c|
    for b in range(3):
        expected = stats.spearmanr(w[..., predicted[b]].ravel(), w[..., result.random_classes[b]].ravel())[0]
        assert result.correlations[b] == pytest.approx(expected, abs=1e-5)
    assert result.mean == pytest.approx(result.correlations.mean(), abs=1e-6)
    drawn = {int(metrics.random_logit(model, X[:1], kerasviz.saliency, 0, seed=s).random_classes[0])
             for s in range(40)}
    assert drawn == {1, 2, 3}  # uniform over the other classes


# ---------------------------------------------------------------- compare


def test_compare_tabulates_every_metric_for_every_method():
    keras.backend.clear_session()
    model = sequential()
    masks = np.zeros(X.shape[:3], bool)
    masks[:, 4:12, 4:12] = True
    result = metrics.compare(model, X, ["saliency", ("occlusion", {"patch": 4, "stride": 4})], "all", masks=masks,
                             batch_size=16)
    assert result.methods == ["saliency", "occlusion"]
    assert result.metrics == list(metrics.METRICS)
    default = metrics.compare(model, X[:1], ["saliency"], batch_size=16).metrics
    assert default == [k for k in metrics.DEFAULT_METRICS if not metrics.METRICS[k].needs_masks]
    assert result.values.shape == (2, len(metrics.METRICS))
    # The untrained model predicts one class for all three images: the metrics that compare images of other
    # classes (`focus`) or similar maps across the batch (`consistency`, `sufficiency`) are undefined, NaN.
    assert len(set(np.argmax(model.predict(X, verbose=0), axis=-1))) == 1
    batch_level = ["focus", "consistency", "sufficiency"]
    columns = [result.metrics.index(k) for k in batch_level]
    assert np.isnan(result.values[:, columns]).all()
    assert np.isfinite(np.delete(result.values, columns, axis=1)).all()
    saliency = kerasviz.saliency(model, X)
    row = result.as_dict()["saliency"]
    assert row["sparseness"] == pytest.approx(metrics.sparseness(saliency).mean(), abs=1e-6)
    assert row["pointing_game"] == pytest.approx(metrics.pointing_game(saliency, masks).mean(), abs=1e-6)
    assert row["deletion_auc"] == pytest.approx(metrics.deletion(model, X, saliency).auc.mean(), abs=1e-6)
    assert row["random_logit"] == pytest.approx(metrics.random_logit(model, X, kerasviz.saliency).mean, abs=1e-6)
    heat = kerasviz.occlusion(model, X, patch=4, stride=4)
    drop = kerasviz.occlusion_to_input(heat, (SIZE, SIZE), 4, 4)
    drop = drop.max(axis=(1, 2), keepdims=True) - drop
    assert result.as_dict()["occlusion"]["insertion_auc"] == pytest.approx(
        metrics.insertion(model, X, drop).auc.mean(), abs=1e-6)
    assert not result.higher_is_better["deletion_auc"] and result.higher_is_better["mufidelity"]
    text = str(result)
    assert "occlusion" in text and "pointing_game" in text and "lower" in text


@pytest.mark.parametrize("kwargs,match", [
    (dict(metrics=("pointing_game",)), "`masks`"),
    (dict(metrics=("bogus",)), "`metrics`.*bogus"),
    (dict(methods=("nope",)), "`methods`.*nope"),
    (dict(methods="saliency"), "`methods`"),
    (dict(masks=np.zeros((3, 4, 4))), "`masks`"),
    (dict(target=kerasviz.Channel("conv1", 0)), "`target`"),
])
def test_compare_bad_arguments_name_the_argument(kwargs, match):
    keras.backend.clear_session()
    with pytest.raises((ValueError, TypeError), match=match):
        metrics.compare(sequential(), X, **{"methods": ["saliency"], **kwargs})
