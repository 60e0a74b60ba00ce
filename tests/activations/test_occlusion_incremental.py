"""Incremental occlusion equals naive occlusion; its plan says what ran; coarse-to-fine is bounded."""

import gc
import logging
import weakref

import keras
import numpy as np
import pytest

from kerasviz import compiled
from kerasviz.activations.coarse_to_fine import occlusion_coarse_to_fine
from kerasviz.activations.occlusion import occlusion, occlusion_plan
from kerasviz.targets import Channel
from tests.helpers.models import assert_model_unchanged, layer_state, weights_snapshot

L = keras.layers


def init(seed):
    return keras.initializers.GlorotUniform(seed)


def vgg_sequential(size=30):
    """Convs 'same' and 'valid', stride 2, dilation 2, max pooling 'valid' and 'same', BN, flatten."""
    return keras.Sequential([
        keras.Input((size, size, 3)),
        L.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=init(0), name="c1"),
        L.Conv2D(4, 3, padding="valid", kernel_initializer=init(1), name="c2"),
        L.BatchNormalization(name="bn", beta_initializer="random_normal", moving_variance_initializer="ones"),
        L.ReLU(name="r2"),
        L.MaxPooling2D(2, name="p1"),
        L.Conv2D(5, 3, strides=2, padding="same", activation="relu", kernel_initializer=init(2), name="c3"),
        L.Conv2D(5, 3, dilation_rate=2, padding="same", activation="relu", kernel_initializer=init(3), name="c4"),
        L.MaxPooling2D(3, strides=2, padding="same", name="p2"),
        L.Flatten(),
        L.Dense(3, activation="softmax", kernel_initializer=init(4), name="logits"),
    ], name="vgg")


def residual(size=24, extra=None):
    """Residual Add, a Keras-op add, zero padding, depthwise and separable convs, a channel concat, average pooling."""
    inputs = keras.Input((size, size, 3))
    x = L.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=init(0), name="stem")(inputs)
    y = L.Conv2D(4, 3, padding="same", kernel_initializer=init(1), name="branch_a")(x)
    y = L.BatchNormalization(name="branch_bn")(y)
    y = L.ReLU(name="branch_relu")(y)
    y = L.Conv2D(4, 3, padding="same", kernel_initializer=init(2), name="branch_b")(y)
    x = L.ReLU(name="block_out")(L.Add(name="residual_add")([x, y]))
    if extra is not None:
        x = extra(x)
    x = L.ZeroPadding2D(((1, 2), (0, 1)), name="pad")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="valid", depthwise_initializer=init(3), name="dw")(x)
    z = L.SeparableConv2D(3, 3, padding="same", depthwise_initializer=init(4), pointwise_initializer=init(7),
                          bias_initializer="random_normal", name="sep")(x)
    x = keras.ops.add(x, L.Conv2D(4, 3, padding="same", kernel_initializer=init(5), name="op_branch")(x))
    x = L.Concatenate(name="concat")([x, z])
    x = L.AveragePooling2D(2, name="avg")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(4, kernel_initializer=init(6), name="logits")(x)
    return keras.Model(inputs, L.Softmax(name="probs")(outputs), name="res")


def nested(size=24):
    inputs = keras.Input((size, size, 3))
    x = L.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=init(0), name="conv1")(inputs)
    x = L.MaxPooling2D(2, name="pool1")(x)
    x = L.Conv2D(6, 3, padding="same", activation="relu", kernel_initializer=init(1), name="conv2")(x)
    backbone = keras.Model(inputs, x, name="backbone")
    return keras.Sequential([keras.Input((size, size, 3)), backbone, L.GlobalMaxPooling2D(),
                             L.Dense(3, activation="softmax", kernel_initializer=init(2), name="logits")],
                            name="head")


def images(size, n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, 3)).astype(np.float32)


def both(model, batch, **params):
    """(incremental, naive) maps and the incremental plan; the plan must use regions."""
    plan = occlusion_plan(model, batch, params.get("target"), patch=params["patch"], stride=params.get("stride"),
                          inference="incremental")
    assert plan.inference == "incremental" and plan.regions, plan
    fast = occlusion(model, batch, inference="incremental", **params)
    slow = occlusion(model, batch, inference="naive", **params)
    assert np.ptp(slow) > 1e-4  # the occluder moves the score: the comparison means something
    return fast, slow, plan


def test_sequential_vgg_equals_naive_odd_patches_strides_borders():
    """One model, one trace each way: patches odd and even, strides that leave a flush last position."""
    keras.backend.clear_session()
    model = vgg_sequential()
    for patch, stride in [(5, 3), (4, 4), (7, 2), (3, 5)]:
        batch = images(30, n=1, seed=patch)
        fast, slow, plan = both(model, batch, patch=patch, stride=stride, batch_size=17)
        np.testing.assert_allclose(fast, slow, atol=1e-5, err_msg=f"patch={patch}, stride={stride}")
        assert [p for p, _, _ in plan.regions][:2] == ["c1", "c2"]


def test_residual_functional_equals_naive():
    keras.backend.clear_session()
    model = residual()
    before = weights_snapshot(model), layer_state(model)
    fast, slow, plan = both(model, images(24), patch=3, stride=2, value=0.5)
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    paths = [p for p, _, _ in plan.regions]
    assert {"stem", "residual_add", "block_out", "pad", "dw", "sep", "concat"} <= set(paths), plan
    assert plan.full_from in ("gap", "avg") or "covers" in plan.reason
    assert_model_unchanged(model, *before)


def test_nested_model_equals_naive_and_layer_paths_and_no_leak():
    keras.backend.clear_session()
    model = nested()
    fast, slow, plan = both(model, images(24, n=1), patch=4, stride=3)
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    assert [p for p, _, _ in plan.regions][:2] == ["backbone/conv1", "backbone/pool1"]
    reads_backbone = occlusion_plan(model, images(24, n=1), Channel("backbone", 1), patch=4, inference="incremental")
    assert reads_backbone.inference == "naive" and "'backbone'" in reads_backbone.reason
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None  # the plan and the compiled functions do not keep the model alive


def test_channel_target_reads_its_layer_on_whole_maps():
    keras.backend.clear_session()
    model = vgg_sequential()
    target = Channel("c3", 2)
    fast, slow, plan = both(model, images(30, n=1), patch=5, stride=4, target=target)
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    assert plan.full_from == "c3" and "target" in plan.reason


class Block(keras.layers.Layer):
    """A subclassed block: a conv inside, not readable layer by layer."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = L.Conv2D(4, 3, padding="same", kernel_initializer=init(9))

    def call(self, x):
        return keras.ops.relu(self.conv(x)) + x


@pytest.mark.parametrize("extra", ["lambda", "block"])
def test_unsupported_layer_falls_back_and_says_so(extra, caplog):
    keras.backend.clear_session()
    layer = L.Lambda(lambda t: t * 0.5 + 0.1, name="lam") if extra == "lambda" else Block(name="block")
    model = residual(extra=layer)
    batch = images(24, n=1)
    with caplog.at_level(logging.INFO, logger="kerasviz"):
        fast, slow, plan = both(model, batch, patch=3, stride=3)
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    assert plan.full_from == layer.name and "cannot be computed on a region" in plan.reason
    assert [p for p, _, _ in plan.regions][-1] == "block_out"
    assert any(f"whole maps from {layer.name!r}" in r.getMessage() for r in caplog.records)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = L.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=init(0))
        self.pool = L.GlobalAveragePooling2D()
        self.dense = L.Dense(3, activation="softmax", kernel_initializer=init(1))

    def call(self, x):
        return self.dense(self.pool(self.conv(x)))


def test_subclassed_model_runs_naive_and_says_so():
    keras.backend.clear_session()
    model = Subclassed()
    batch = images(16)
    model(batch)
    plan = occlusion_plan(model, batch, patch=4, stride=4, inference="incremental")
    assert plan.inference == "naive" and not plan.regions and "first layer" in plan.reason
    np.testing.assert_allclose(occlusion(model, batch, patch=4, stride=4, inference="incremental"),
                               occlusion(model, batch, patch=4, stride=4, inference="naive"), atol=1e-6)


def test_auto_chooses_by_predicted_work_and_bad_inference():
    keras.backend.clear_session()
    model = vgg_sequential(60)
    batch = images(60, n=1)
    fine = occlusion_plan(model, batch, patch=4, stride=4)
    assert fine.inference == "incremental" and fine.flops_incremental < 0.5 * fine.flops_naive
    big = occlusion_plan(model, batch, patch=40, stride=10)  # covers most maps from the first conv on
    assert big.inference == "naive" and big.flops_incremental > 0.5 * big.flops_naive
    with pytest.raises(ValueError, match="`inference`: 'fast'"):
        occlusion(model, batch, patch=4, inference="fast")


def test_batch_size_independent_and_traced_once():
    keras.backend.clear_session()
    model = vgg_sequential()
    batch = images(30)
    results = [occlusion(model, batch, patch=5, stride=3, batch_size=b, inference="incremental") for b in (1, 7, 500)]
    np.testing.assert_allclose(results[0], results[1], atol=1e-6)
    np.testing.assert_allclose(results[0], results[2], atol=1e-6)
    count = compiled.tracing_count(model)
    occlusion(model, batch[:1], 1, patch=5, stride=4, value=0.0, batch_size=9, inference="incremental")
    assert compiled.tracing_count(model) == count  # other positions, same plan structure: same trace


def smooth_model(size=24):
    """score = sigmoid(sum of a wide Gaussian bump times the image): smooth in the occluder's position."""
    yy, xx = np.mgrid[:size, :size]
    bump = np.exp(-((yy - 9.0) ** 2 + (xx - 14.0) ** 2) / (2 * 6.0 ** 2))
    weights = np.repeat(bump[..., None], 3, -1).reshape(-1, 1) * 0.05
    model = keras.Sequential([keras.Input((size, size, 3)), L.Flatten(), L.Dense(1, activation="sigmoid")])
    model.layers[-1].set_weights([weights.astype(np.float32), np.zeros(1, np.float32)])
    return model


def test_coarse_to_fine_error_bounded_on_a_smooth_map():
    keras.backend.clear_session()
    model = smooth_model()
    yy, xx = np.mgrid[:24, :24]
    batch = np.repeat(((yy + xx) / 46.0)[None, ..., None], 3, -1).astype(np.float32)
    exact = occlusion(model, batch, 0, patch=4, stride=1)
    quick = occlusion_coarse_to_fine(model, batch, 0, patch=4, stride=1, coarse=4, threshold=0.2)
    assert quick.shape == exact.shape == (1, 21, 21)
    error = np.abs(quick - exact).max() / np.ptp(exact)
    assert error < 0.05, error
    np.testing.assert_allclose(occlusion_coarse_to_fine(model, batch, 0, patch=4, stride=1, coarse=4, threshold=0.0),
                               exact, atol=1e-6)
    np.testing.assert_allclose(occlusion_coarse_to_fine(model, batch, 0, patch=4, stride=1, coarse=1), exact,
                               atol=1e-6)
    with pytest.raises(ValueError, match="`threshold`"):
        occlusion_coarse_to_fine(model, batch, 0, patch=4, threshold=-1.0)
    with pytest.raises(ValueError, match="`coarse`"):
        occlusion_coarse_to_fine(model, batch, 0, patch=4, coarse=0)


def test_coarse_to_fine_evaluates_fewer_positions(caplog):
    keras.backend.clear_session()
    model = smooth_model()
    batch = images(24, n=1)
    with caplog.at_level(logging.INFO, logger="kerasviz"):
        occlusion_coarse_to_fine(model, batch, 0, patch=4, stride=1, coarse=5, threshold=0.5)
    message = [r.getMessage() for r in caplog.records if "coarse_to_fine" in r.getMessage()][-1]
    evaluated = int(message.split("evaluated ")[1].split(" of")[0])
    assert 25 <= evaluated < 21 * 21, message


class BatchCap(keras.layers.Layer):
    """Identity that fails at run time when it sees more than `limit` maps at once."""

    def __init__(self, limit, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit

    def call(self, x):
        import tensorflow as tf

        with tf.control_dependencies([tf.debugging.assert_less_equal(tf.shape(x)[0], self.limit)]):
            return tf.identity(x)


def test_memory_bounded_by_batch_size_and_default_is_the_plans():
    """The whole maps after the regions see at most `batch_size` positions; by default the plan's number."""
    keras.backend.clear_session()
    model = residual(extra=BatchCap(16, name="cap"))
    batch = images(24, n=1)
    plan = occlusion_plan(model, batch, patch=3, stride=2, inference="incremental")
    assert plan.full_from == "cap" and plan.batch_size == 32  # the cap's map is as large as the largest
    heat = occlusion(model, batch, 0, patch=3, stride=2, batch_size=16, inference="incremental")
    assert heat.shape == (1, 12, 12) and np.all(np.isfinite(heat))
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError):
        occlusion(model, batch, 0, patch=3, stride=2, inference="incremental")  # 32 at once
