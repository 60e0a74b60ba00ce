"""The perturbation family against independent references: numpy loops, linear models, scikit-image itself."""

import keras
import numpy as np
import pytest
from skimage import segmentation

import kerasviz
from kerasviz.perturbation import rise as rise_module
from kerasviz.perturbation import xrai as xrai_module
from tests.helpers.models import CLASSES, SIZE, sequential

RNG = np.random.default_rng(3)


def linear_model(seed=0):
    """logits = x . W + b: every score is linear in the pixels, so a superpixel's share is exact."""
    keras.backend.clear_session()
    return keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(CLASSES, kernel_initializer=keras.initializers.RandomNormal(seed=seed),
                           bias_initializer=keras.initializers.RandomNormal(seed=seed + 1)),
    ])


def block_segments(n_images, block=4):
    """`[B, H, W]` labels of a grid of `block x block` squares (16 of them)."""
    rows = np.arange(SIZE) // block
    labels = rows[:, None] * (SIZE // block) + rows[None, :]
    return np.broadcast_to(labels, (n_images, SIZE, SIZE)).astype(np.int32)


def superpixel_contributions(model, images, segments, baseline, classes):
    """Per superpixel: sum over its pixels of w_class . (x - baseline), the linear model's exact share."""
    kernel = np.asarray(model.layers[-1].kernel, np.float64).reshape(SIZE, SIZE, 3, CLASSES)
    out = []
    baselines = np.broadcast_to(baseline, images.shape)
    for image, base, labels, c in zip(images.astype(np.float64), baselines, segments, classes):
        pixel = ((image - base) * kernel[..., c]).sum(-1)
        out.append(np.bincount(labels.ravel(), weights=pixel.ravel()))
    return out


def images(n=3):
    return RNG.uniform(0, 1, (n, SIZE, SIZE, 3)).astype(np.float32)


def blocky(n=2):
    """Images of four flat colour quadrants plus a little noise: superpixels follow the quadrants."""
    colours = RNG.uniform(0, 1, (n, 2, 2, 3))
    flat = np.repeat(np.repeat(colours, SIZE // 2, axis=1), SIZE // 2, axis=2)
    return (0.9 * flat + 0.1 * RNG.uniform(0, 1, flat.shape)).astype(np.float32)


# ---------------------------------------------------------------- RISE


def test_rise_matches_a_numpy_loop_over_its_masks():
    keras.backend.clear_session()
    model = sequential()  # ends in softmax: the loop reads its probabilities directly
    x = images(3)
    n_masks, grid, keep, baseline = 12, 4, 0.4, 0.3
    masks = rise_module.rise_masks(n_masks, (SIZE, SIZE), grid=grid, keep=keep, seed=5)
    classes = np.argmax(np.asarray(model(x)), axis=-1)
    expected = np.zeros((3, SIZE, SIZE))
    for b in range(3):
        for mask in masks.astype(np.float64):
            masked = baseline + mask[..., None] * (x[b] - baseline)
            probability = np.asarray(model(masked[None].astype(np.float32)))[0, classes[b]]
            expected[b] += probability * mask
    expected /= n_masks * keep
    result = kerasviz.rise(model, x, masks=n_masks, grid=grid, keep=keep, baseline=baseline, seed=5, batch_size=5)
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-6)


def test_rise_masks_follow_the_paper():
    masks = rise_module.rise_masks(200, (SIZE, SIZE), grid=4, keep=0.5, seed=0)
    assert masks.shape == (200, SIZE, SIZE) and masks.min() >= 0 and masks.max() <= 1
    assert abs(masks.mean() - 0.5) < 0.05  # bilinear smoothing keeps the mean at `keep`
    assert len({m.tobytes() for m in masks}) == 200  # random shifts and grids: all different
    np.testing.assert_array_equal(masks[:7], rise_module.rise_masks(7, (SIZE, SIZE), grid=4, keep=0.5, seed=0))
    assert not np.array_equal(masks[:7], rise_module.rise_masks(7, (SIZE, SIZE), grid=4, keep=0.5, seed=1))


# ---------------------------------------------------------------- LIME and KernelSHAP


@pytest.mark.parametrize("method", ["lime", "kernel_shap"])
def test_linear_model_weights_per_superpixel_are_recovered(method):
    model = linear_model()
    x = images(2)
    segments = block_segments(2)
    classes = np.array([1, 3])
    expected = superpixel_contributions(model, x, segments, 0.2, classes)
    kwargs = {"alpha": 0.0} if method == "lime" else {}
    maps = getattr(kerasviz, method)(model, x, classes, samples=200, segments=segments, baseline=0.2,
                                     batch_size=64, **kwargs)
    for b in range(2):
        np.testing.assert_allclose(maps[b], expected[b][segments[b]], rtol=1e-3, atol=1e-4)


def test_lime_ridge_shrinks_towards_zero_and_slic_superpixels_work():
    model = linear_model(seed=4)
    x = blocky(2)
    segments = kerasviz.superpixels(x, "slic", n_segments=12)
    assert (segments.max(axis=(1, 2)) >= 3).all()
    expected = superpixel_contributions(model, x, segments, x.mean(axis=(1, 2)).reshape(2, 1, 1, 3), [0, 0])
    exact = kerasviz.lime(model, x, 0, samples=300, segments="slic", segment_params={"n_segments": 12},
                          alpha=0.0)
    ridge = kerasviz.lime(model, x, 0, samples=300, segments=segments, alpha=50.0)
    for b in range(2):
        np.testing.assert_allclose(exact[b], expected[b][segments[b]], rtol=1e-3, atol=1e-4)
    assert np.abs(ridge).sum() < np.abs(exact).sum()


def test_kernel_shap_values_add_up_to_the_score_difference():
    keras.backend.clear_session()
    model = sequential()  # non-linear: local accuracy must still hold exactly
    x = images(2)
    segments = block_segments(2, block=8)
    values = kerasviz.kernel_shap(model, x, [0, 2], samples=40, segments=segments, baseline=0.0)
    per_segment = [np.array([v[s == k][0] for k in range(4)]) for v, s in zip(values, segments)]
    full = _logits(model, x)[[0, 1], [0, 2]]
    empty = _logits(model, np.zeros_like(x))[[0, 1], [0, 2]]
    np.testing.assert_allclose([p.sum() for p in per_segment], full - empty, rtol=1e-4, atol=1e-5)


def _logits(model, x):
    """The logits behind the final softmax, by running the layers before it."""
    out = x
    for layer in model.layers[:-1]:
        out = layer(out)
    last = model.layers[-1]
    return np.asarray(out @ last.kernel + last.bias, np.float64)


def test_lime_is_seeded():
    keras.backend.clear_session()
    model = sequential()
    x = images(2)
    first = kerasviz.lime(model, x, samples=24, seed=1)
    np.testing.assert_array_equal(first, kerasviz.lime(model, x, samples=24, seed=1))
    assert not np.array_equal(first, kerasviz.lime(model, x, samples=24, seed=2))


# ---------------------------------------------------------------- superpixels


@pytest.mark.parametrize("method,params", [("slic", {"n_segments": 20, "compactness": 10.0}),
                                           ("felzenszwalb", {"scale": 50.0, "sigma": 0.5, "min_size": 5}),
                                           ("quickshift", {"kernel_size": 3, "max_dist": 6.0, "ratio": 0.5})])
def test_superpixels_are_scikit_image_segmentations(method, params):
    x = blocky(2) * 3.0 - 1.0  # any input space: each image is scaled to [0, 1] first
    labels = kerasviz.superpixels(x, method, **params)
    for image, ours in zip(x, labels):
        unit = (image - image.min()) / (image.max() - image.min())
        if method == "slic":
            theirs = segmentation.slic(unit.astype(np.float64), channel_axis=-1, start_label=0, **params)
        elif method == "felzenszwalb":
            theirs = segmentation.felzenszwalb(unit.astype(np.float64), channel_axis=-1, **params)
        else:
            theirs = segmentation.quickshift(unit.astype(np.float64), **params)
        assert ours.dtype == np.int32 and ours.min() == 0 and len(np.unique(ours)) == ours.max() + 1 >= 3
        # The same partition, up to the numbering.
        pairs = {(a, b) for a, b in zip(ours.ravel(), theirs.ravel())}
        assert len(pairs) == len(np.unique(ours)) == len(np.unique(theirs))


def test_a_single_segment_is_said():
    noise = np.random.default_rng(0).uniform(0, 1, (1, 96, 96, 3)).astype(np.float32)
    with pytest.warns(RuntimeWarning, match="single segment"):
        labels = kerasviz.superpixels(noise, "slic")  # scikit-image merges pure noise into one segment
    assert labels.max() == 0


@pytest.mark.parametrize("call,match", [
    (lambda m, x: kerasviz.superpixels(x, "watershed"), "`method`.*watershed"),
    (lambda m, x: kerasviz.lime(m, x, segments=np.zeros((2, 4, 4), int)), "`segments`"),
    (lambda m, x: kerasviz.lime(m, x, segments="slic", segment_params={"bogus": 1}), "bogus"),
    (lambda m, x: kerasviz.lime(m, x, samples=0), "`samples`"),
    (lambda m, x: kerasviz.lime(m, x, kernel_width=-1.0), "`kernel_width`"),
    (lambda m, x: kerasviz.kernel_shap(m, x, baseline="grey"), "`baseline`"),
    (lambda m, x: kerasviz.rise(m, x, keep=1.5), "`keep`"),
    (lambda m, x: kerasviz.rise(m, x, masks=-3), "`masks`"),
    (lambda m, x: kerasviz.xrai(m, x, scales=()), "`scales`"),
    (lambda m, x: kerasviz.xrai(m, x, attribution=np.zeros((2, 3, 3))), "`attribution`"),
])
def test_bad_arguments_name_the_argument(call, match):
    keras.backend.clear_session()
    with pytest.raises((ValueError, TypeError), match=match):
        call(sequential(), images(2))


# ---------------------------------------------------------------- XRAI


def test_greedy_regions_by_hand():
    attribution = np.array([[4.0, 0.0, 1.0, 1.0],
                            [0.0, 0.0, 1.0, 1.0]])
    coarse = np.array([[0, 0, 1, 1],
                       [0, 0, 1, 1]])  # left square: mean 1; right square: mean 1
    fine = np.array([[0, 1, 2, 2],
                     [1, 1, 2, 2]])  # the bright pixel alone: mean 4; its L-shaped rest: mean 0
    maps = xrai_module.greedy_regions(attribution, np.stack([coarse, fine]))
    # 1st: fine 0 (gain 4). 2nd: coarse 1 and fine 2 (gain 1, the first in order wins), the right
    # square. Last: coarse 0's remaining three pixels (gain 0, tied with fine 1).
    np.testing.assert_array_equal(maps, [[4.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    ranked = xrai_module.greedy_regions(np.array([[1.0, 3.0, 2.0, 2.0]]), np.array([[[0, 0, 1, 1]]]))
    np.testing.assert_array_equal(ranked, [[2.0, 2.0, 2.0, 2.0]])  # tie broken by the first region


def test_xrai_defaults_to_signed_integrated_gradients_and_ranks_the_hot_region_first():
    keras.backend.clear_session()
    model = sequential()
    x = images(2)
    attribution = kerasviz.integrated_gradients(model, x, [1, 2], steps=8, signed=True).sum(-1)
    np.testing.assert_allclose(kerasviz.xrai(model, x, [1, 2], steps=8),
                               kerasviz.xrai(model, x, [1, 2], attribution=attribution), rtol=1e-5, atol=1e-7)
    x = blocky(2)  # the segments follow the quadrants
    hot = np.zeros((2, SIZE, SIZE), np.float32)
    hot[:, :8, 8:] = 1.0
    hot[:, 3, 12] = 5.0
    maps = kerasviz.xrai(model, x, attribution=hot, scales=(50, 200), min_size=8)
    quadrant = np.zeros((SIZE, SIZE), bool)
    quadrant[:8, 8:] = True
    assert (maps[:, quadrant].min(axis=1) > maps[:, ~quadrant].max(axis=1)).all()
