"""Image parameterizations, transforms, Direction/Diversity, and the engine's latent path."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz import compiled, targets
from kerasviz.gradients import parameterization as param
from kerasviz.gradients import synthesis, transforms
from tests.helpers.models import SIZE, assert_model_unchanged, layer_state, sequential, weights_snapshot


@pytest.fixture
def tiny():
    keras.backend.clear_session()
    return sequential()


def _spectrum(rng, channels, height, width):
    return rng.normal(size=(2, channels, height, width // 2 + 1, 2)).astype(np.float32)


@pytest.mark.parametrize("height,width", [(16, 16), (12, 15)])
def test_fourier_decode_is_numpy_irfft2_of_the_scaled_spectrum(height, width):
    rng = np.random.default_rng(0)
    spectrum = _spectrum(rng, 3, height, width)
    scale = param.fourier_scale(height, width)
    decoded = param.fourier_decode(tf.constant(spectrum), tf.constant(scale), (height, width)).numpy()
    reference = np.fft.irfft2((spectrum[..., 0] + 1j * spectrum[..., 1]) * scale, s=(height, width))
    np.testing.assert_allclose(decoded, np.transpose(reference, [0, 2, 3, 1]), atol=1e-5)
    # The scale is 1/f (the DC term capped at 1 / max(H, W)), up to one normalizing factor.
    f = np.sqrt(np.fft.fftfreq(height)[:, None] ** 2 + np.fft.rfftfreq(width)[None] ** 2)
    ratio = scale * np.maximum(f, 1.0 / max(height, width))
    np.testing.assert_allclose(ratio, ratio[0, 0], rtol=1e-5)


def test_an_image_round_trips_exactly_through_its_spectrum():
    images = np.random.default_rng(1).uniform(-1, 1, (2, 12, 15, 3)).astype(np.float32)
    scale = param.fourier_scale(12, 15)
    spectrum = param.fourier_encode(images, scale)
    assert spectrum.shape == (2, 3, 12, 8, 2)
    back = param.fourier_decode(tf.constant(spectrum), tf.constant(scale), (12, 15)).numpy()
    np.testing.assert_allclose(back, images, atol=1e-5)


def test_unit_spectrum_gives_unit_variance_pixels():
    spectrum = _spectrum(np.random.default_rng(2), 3, 64, 64)
    pixels = param.fourier_decode(tf.constant(spectrum), tf.constant(param.fourier_scale(64, 64)), (64, 64))
    assert 0.7 < float(np.std(pixels.numpy())) < 1.3


@pytest.mark.parametrize("bgr", [False, True])
def test_colour_decorrelation_is_the_published_matrix_and_invertible(bgr):
    x = np.random.default_rng(3).normal(size=(4, 5, 3)).astype(np.float32)
    rgb = param.decorrelate(tf.constant(x), bgr).numpy()
    matrix = param.COLOR_CORRELATION_SVD_SQRT / np.linalg.norm(param.COLOR_CORRELATION_SVD_SQRT, axis=0).max()
    expected = x @ matrix.T
    np.testing.assert_allclose(rgb, expected[..., ::-1] if bgr else expected, atol=1e-5)
    inverse = np.linalg.inv(matrix) if not bgr else np.linalg.inv(matrix[::-1])
    np.testing.assert_allclose(param.correlate(rgb, bgr), x, atol=1e-4)
    np.testing.assert_allclose(rgb @ inverse.T, x, atol=1e-4)


@pytest.mark.parametrize("kind,squash", [("fourier", "sigmoid"), ("pixels", "sigmoid"), ("fourier", "clip")])
def test_decode_stays_in_the_unit_range_and_encode_inverts_it(kind, squash):
    bound = param.Parameterization(kind, squash=squash).bound((SIZE, SIZE, 3))
    units = np.random.default_rng(4).uniform(0.01, 0.99, (2, SIZE, SIZE, 3)).astype(np.float32)
    latent = bound.encode(units)
    assert latent.shape == (2, *bound.latent_shape())
    np.testing.assert_allclose(bound.decode(tf.constant(latent)).numpy(), units, atol=2e-4)
    wild = bound.decode(tf.constant(latent * 50)).numpy()
    assert np.all(wild >= -1e-6) and np.all(wild <= 1 + 1e-6)


def test_parameterization_arguments_are_checked():
    with pytest.raises(ValueError, match="kind"):
        param.Parameterization("wavelet")
    with pytest.raises(ValueError, match="squash"):
        param.Parameterization(squash="tanh")
    with pytest.raises(ValueError, match="decorrelate"):
        param.Parameterization(decorrelate=True).bound((8, 8, 1))
    assert param.Parameterization().bound((8, 8, 1)).decorrelate is False
    with pytest.raises(ValueError, match="parameterization"):
        param.get("dct")


# ------------------------------------------------------------- transforms


def _run(chain, images, seed):
    return transforms.compose(chain, tf.constant(images), tf.constant(seed, tf.int64), images.shape[1:3]).numpy()


def test_transforms_are_seeded_deterministic_and_keep_the_size():
    images = np.random.default_rng(5).uniform(0, 1, (3, 20, 20, 3)).astype(np.float32)
    chain = transforms.standard((20, 20, 3))
    a, b, c = _run(chain, images, [1, 2]), _run(chain, images, [1, 2]), _run(chain, images, [1, 3])
    assert a.shape == images.shape
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a[0], _run(chain, images[1:2].repeat(3, 0), [1, 2])[0])  # per-image draws
    assert np.all(a >= 0) and np.all(a <= 1)


def test_jitter_is_an_exact_integer_shift_and_identity_transforms_are_identity():
    images = np.random.default_rng(6).uniform(0, 1, (2, 9, 11, 3)).astype(np.float32)
    eye = tf.eye(2, batch_shape=[2])
    np.testing.assert_allclose(transforms.affine(tf.constant(images), eye, tf.zeros([2, 2])).numpy(), images, atol=1e-6)
    shifted = transforms.affine(tf.constant(images), eye, tf.constant([[2.0, -1.0], [0.0, 0.0]])).numpy()
    np.testing.assert_allclose(shifted[0, :-2, 1:], images[0, 2:, :-1], atol=1e-6)  # output p reads input p + shift
    out = _run([transforms.Jitter(2)], images, [0, 7])
    for k in range(2):  # each image is some integer shift of itself, in the interior
        assert any(np.allclose(out[k, 2:-2, 2:-2], images[k, 2 + dy:9 - 2 + dy, 2 + dx:11 - 2 + dx], atol=1e-6)
                   for dy in range(-2, 3) for dx in range(-2, 3))
    np.testing.assert_allclose(_run([transforms.RandomRotate(0.0), transforms.RandomScale(1, 1)], images, [0, 1]),
                               images, atol=1e-5)


def test_rotation_by_a_right_angle_matches_numpy():
    images = np.random.default_rng(7).uniform(0, 1, (1, 7, 7, 1)).astype(np.float32)
    matrix = tf.constant([[[0.0, 1.0], [-1.0, 0.0]]])
    rotated = transforms.affine(tf.constant(images), matrix, tf.zeros([1, 2])).numpy()
    np.testing.assert_allclose(rotated[0, ..., 0], np.rot90(images[0, ..., 0], k=1), atol=1e-5)


def test_transforms_are_differentiable():
    x = tf.constant(np.random.default_rng(8).uniform(0, 1, (2, 12, 12, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = transforms.compose(transforms.standard((12, 12, 3)), x, tf.constant([0, 0], tf.int64), (12, 12))
        loss = tf.reduce_sum(y * y)
    gradient = tape.gradient(loss, x).numpy()
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).sum() > 0


def test_bad_transforms_are_named():
    with pytest.raises(ValueError, match="transforms"):
        transforms.check_transforms("lucid", (8, 8, 3))
    with pytest.raises(TypeError, match="transforms"):
        transforms.check_transforms([lambda x, s: x], (8, 8, 3))
    with pytest.raises(ValueError, match="pixels"):
        transforms.Jitter(-1)


# ------------------------------------------------------------- the engine with a latent


@pytest.mark.parametrize("name", ["pixels", "fourier"])
def test_latent_objectives_rise_in_range_and_trace_once(tiny, name):
    weights, state = weights_snapshot(tiny), layer_state(tiny)
    start = np.full((2, SIZE, SIZE, 3), 0.5, np.float32)
    result = synthesis.optimize(tiny, targets.Channel("conv2", 3), start, steps=12, learning_rate=0.05,
                                parameterization=name, transforms="standard")
    assert result.losses[-1] > result.losses[0] and result.steps == 12
    assert result.image.shape == start.shape and result.image.min() >= 0 and result.image.max() <= 1
    synthesis.optimize(tiny, targets.Channel("conv2", 3), start[:1], steps=3, learning_rate=0.1, seed=4,
                       parameterization=name, transforms="standard")
    assert compiled.tracing_count(tiny) == 1
    assert_model_unchanged(tiny, weights, state)


def test_latent_runs_are_seeded(tiny):
    start = np.full((1, SIZE, SIZE, 3), 0.5, np.float32)
    run = lambda seed: synthesis.optimize(  # noqa: E731
        tiny, targets.Channel("conv2", 1), start, steps=4, learning_rate=0.05, parameterization="fourier",
        transforms="standard", seed=seed).image
    np.testing.assert_array_equal(run(0), run(0))
    assert not np.allclose(run(0), run(1))


def test_per_image_channels_direction_and_sums_rise(tiny):
    start = np.full((3, SIZE, SIZE, 3), 0.5, np.float32)
    channel = targets.Channel("conv2", [0, 3, 5])
    before = synthesis.objective_values(tiny, channel, start + 0.01)
    result = synthesis.optimize(tiny, channel, start, steps=10, learning_rate=0.05, parameterization="fourier")
    after = synthesis.objective_values(tiny, channel, result.image)
    assert np.all(after > before)
    np.testing.assert_allclose(after[1], synthesis.objective_values(tiny, targets.Channel("conv2", 3), result.image[1:2])[0],
                               rtol=1e-5)
    direction = targets.Direction("conv2", np.eye(8)[2] * 3.0)  # a basis direction is the channel
    np.testing.assert_allclose(synthesis.objective_values(tiny, direction, result.image),
                               synthesis.objective_values(tiny, targets.Channel("conv2", 2), result.image), rtol=1e-5)
    mixed = targets.Direction("conv2", np.arange(8.0)) + 0.5 * targets.ClassScore(1)
    out = synthesis.optimize(tiny, mixed, start[:1], steps=8, learning_rate=0.05, parameterization="fourier")
    assert out.losses[-1] > out.losses[0]
    with pytest.raises(ValueError, match="vector"):
        synthesis.optimize(tiny, targets.Direction("conv2", [1.0, 2.0]), start, steps=1, parameterization="pixels")
    with pytest.raises(ValueError, match="channel"):
        synthesis.optimize(tiny, targets.Channel("conv2", [0, 1]), start, steps=1)


def test_diversity_raises_pairwise_distance(tiny):
    start = np.full((4, SIZE, SIZE, 3), 0.5, np.float32)
    rng = np.random.default_rng(9)
    start = np.clip(start + rng.normal(0, 0.02, start.shape), 0, 1).astype(np.float32)

    def spread(objective):
        images = synthesis.optimize(tiny, objective, start, steps=25, learning_rate=0.05,
                                    parameterization="fourier").image.reshape(4, -1)
        return np.mean([np.linalg.norm(images[i] - images[j]) for i in range(4) for j in range(i + 1, 4)])

    plain = targets.Channel("conv2", 3)
    assert spread(plain + 5.0 * targets.Diversity("conv1")) > 1.5 * spread(plain)


def test_diversity_scores_groups_separately():
    activations = {"x": tf.constant(np.random.default_rng(10).uniform(0, 1, (4, 3, 3, 2)), tf.float32)}
    doubled = {"x": tf.concat([activations["x"][:2]] * 2, axis=0)}
    grouped = targets.Diversity("x", group_size=2).score(None, doubled, None).numpy()
    whole = targets.Diversity("x").score(None, doubled, None).numpy()
    assert np.all(grouped > -1.0) and np.all(whole < grouped + 1e-6)
    single = targets.Diversity("x", group_size=1).score(None, activations, None).numpy()
    np.testing.assert_array_equal(single, np.zeros(4))
