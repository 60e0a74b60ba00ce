"""The engine's compiled loop and the truncated model: what they compute equals the plain computation."""

import gc
import logging
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz import compiled, models, targets
from kerasviz.art.deepdream import deep_dream
from kerasviz.art.style import style_transfer, texture_synthesis
from kerasviz.gradients import synthesis
from kerasviz.gradients.adversarial import fooling_image
from kerasviz.gradients.class_visualization import LATENT_LEARNING_RATE, PARAMETERIZATION, class_visualization
from tests.helpers.models import SIZE, functional, nested, sequential, subclassed

FORMS = {"sequential": sequential, "functional": functional, "nested": nested}


def _images(n=2, seed=0):
    return np.random.default_rng(seed).uniform(0.3, 0.7, (n, SIZE, SIZE, 3)).astype(np.float32)


def _path(model, name):
    return models.get_layer(model, name)[0]


@pytest.mark.parametrize("form", sorted(FORMS))
def test_truncated_extractor_equals_the_full_models_layer_output_and_stops_there(form):
    keras.backend.clear_session()
    model = FORMS[form]()
    paths = (_path(model, "conv1"), _path(model, "relu2"))
    extractor = models.extractor(model, paths)
    assert extractor is not None
    names = [path.split("/")[-1] for path, _ in models.iter_layers(extractor)]
    assert "conv1" in names and "relu2" in names and "fc" not in names and "pool" not in names
    x = tf.constant(_images())
    full = tf.function(lambda x: models.run(model, x, capture=paths)[1])(x)
    cut = tf.function(lambda x: models.run_layers(model, x, paths))(x)
    for path in paths:
        np.testing.assert_allclose(cut[path].numpy(), full[path].numpy(), rtol=1e-6, atol=1e-6)
    assert models.extractor(model, paths) is extractor  # built once per (model, paths)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_layer_objectives_gradient_equals_the_full_model_gradient(form):
    keras.backend.clear_session()
    model = FORMS[form]()
    path = _path(model, "conv2")
    x = tf.constant(_images())

    @tf.function
    def gradient(x, truncated):
        with tf.GradientTape() as tape:
            tape.watch(x)
            activations = models.run_layers(model, x, (path,)) if truncated else models.run(
                model, x, capture=(path,))[1]
            score = tf.reduce_sum(tf.reduce_mean(activations[path][..., 3], axis=[1, 2]))
        return tape.gradient(score, x)

    truncated, full = gradient(x, True).numpy(), gradient(x, False).numpy()
    assert np.abs(full).max() > 0
    np.testing.assert_allclose(truncated, full, rtol=1e-5, atol=1e-7)


def test_an_uncuttable_model_runs_whole_says_so_and_frees_the_cache(caplog):
    keras.backend.clear_session()
    model = subclassed()
    with caplog.at_level(logging.DEBUG, logger="kerasviz"):
        assert models.extractor(model, ("conv2",)) is None
    assert any("cannot be truncated" in r.getMessage() for r in caplog.records)
    x = tf.constant(_images())
    values = tf.function(lambda x: models.run_layers(model, x, ("conv2",)))(x)
    expected = tf.function(lambda x: models.run(model, x, capture=("conv2",))[1])(x)
    np.testing.assert_allclose(values["conv2"].numpy(), expected["conv2"].numpy(), rtol=1e-6)
    other = sequential()
    assert models.extractor(other, ("conv1",)) is not None
    ref = weakref.ref(other)
    del other
    gc.collect()
    assert ref() is None  # the extractor cache does not keep the model alive


@pytest.mark.parametrize("parameterization, transforms", [(None, None), ("fourier", "standard")])
def test_many_steps_per_call_equal_one_step_per_call(parameterization, transforms):
    keras.backend.clear_session()
    model = sequential()
    kwargs = dict(steps=7, learning_rate=lambda s: 0.02 / (1 + s), seed=3, parameterization=parameterization,
                  transforms=transforms, l2=1e-3, tv=0.05)
    if parameterization is None:
        kwargs.update(jitter=2, blur_every=3)
    objective = targets.Channel("conv2", [1, 5])
    chunked = synthesis.optimize(model, objective, _images(), **kwargs)
    seen = []
    stepwise = synthesis.optimize(model, objective, _images(), callback=lambda s, im, loss: seen.append(s), **kwargs)
    assert seen == list(range(7))  # the callback forces one step per call
    assert chunked.steps == stepwise.steps == 7
    np.testing.assert_allclose(chunked.image, stepwise.image, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(chunked.losses, stepwise.losses, rtol=1e-5, atol=1e-6)
    assert not np.allclose(chunked.image, _images())


def test_a_class_objective_runs_the_whole_model_and_a_layer_objective_does_not():
    keras.backend.clear_session()
    model = sequential()
    assert targets.ClassScore(1).reads_logits() and not targets.Channel("conv2", 0).reads_logits()
    assert (targets.Channel("conv2", 0) + 0.5 * targets.ClassScore(1)).reads_logits()
    synthesis.optimize(model, targets.Channel("conv2", 0), _images(), steps=2)
    synthesis.optimize(model, 1, _images(), steps=2)
    reads = {key[3] for key in compiled.cached_keys(model) if key[0] == "synthesis"}
    assert reads == {False, True}
    with pytest.raises(ValueError, match="reads_logits"):
        synthesis.optimize(model, lambda logits, acts: logits[:, 0], _images(), layers=(), reads_logits=False)


def _latent_keys(model):
    return [key for key in compiled.cached_keys(model) if key[0] == "synthesis"
            and any(isinstance(k, tuple) and k[:1] in (("fourier",), ("pixels",)) for k in key)]


def test_class_visualization_passes_its_parameterization_and_transforms_to_the_engine():
    keras.backend.clear_session()
    model = sequential()
    start = _images(1)
    result = class_visualization(model, 2, init=start, steps=4, parameterization="pixels", transforms="standard",
                                 seed=5)
    direct = synthesis.optimize(model, 2, start, steps=4, learning_rate=LATENT_LEARNING_RATE,
                                normalize_gradient="l2", seed=5, parameterization="pixels", transforms="standard")
    np.testing.assert_allclose(result.image, direct.image, rtol=1e-6, atol=1e-6)
    assert not np.allclose(result.image, class_visualization(model, 2, init=start, steps=4, seed=5).image)
    default = synthesis.optimize(model, 2, start, steps=4, learning_rate=LATENT_LEARNING_RATE,
                                 normalize_gradient="l2", seed=5, parameterization=PARAMETERIZATION,
                                 transforms="standard")
    np.testing.assert_allclose(class_visualization(model, 2, init=start, steps=4, seed=5).image, default.image,
                               rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="jitter"):
        class_visualization(model, 2, init=start, steps=2, parameterization="fourier", jitter=3)


def test_art_recipes_pass_their_parameterization_to_the_engine():
    keras.backend.clear_session()
    model = sequential()
    image = _images(1)
    for run in (
        lambda p: deep_dream(model, image, ["conv2"], octaves=1, steps_per_octave=2, parameterization=p,
                             transforms="standard"),
        lambda p: texture_synthesis(model, image, ["conv1", "relu2"], steps=2, parameterization=p),
        lambda p: style_transfer(model, image, image[:, ::-1], "conv2", ["conv1"], steps=2, parameterization=p),
    ):
        before = len(_latent_keys(model))
        result = run("fourier")
        assert len(_latent_keys(model)) == before + 1  # a latent (Fourier) engine step was built and run
        assert np.all(np.isfinite(result.image)) and result.image.min() >= 0.0 and result.image.max() <= 1.0
        assert not np.allclose(result.image, run(None).image)


def test_fooling_image_shows_a_progress_bar(capsys):
    keras.backend.clear_session()
    model = sequential()
    fooling_image(model, _images(1), 1, max_steps=3, verbose=1)
    assert "step" in capsys.readouterr().out
    fooling_image(model, _images(1), 1, max_steps=3)
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="verbose"):
        fooling_image(model, _images(1), 1, max_steps=3, verbose=5)


def test_the_output_layer_is_read_as_logits_either_way():
    keras.backend.clear_session()
    model = sequential()
    assert models.extractor(model, ("logits",)) is None  # `run` reads the softmax layer's logits
    x = tf.constant(_images())
    read = tf.function(lambda x: models.run_layers(model, x, ("logits",)))(x)["logits"].numpy()
    np.testing.assert_allclose(read, tf.function(lambda x: models.run(model, x)[0])(x).numpy(), rtol=1e-6)
    assert not np.allclose(read.sum(axis=1), 1.0)


def test_the_chunked_loop_keeps_a_single_channel_image_shape():
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((SIZE, SIZE, 1)), keras.layers.Conv2D(3, 3, name="c"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    start = _images(1)[..., :1]
    result = class_visualization(model, 1, init=start, steps=3, parameterization=None, transforms=None)
    assert result.image.shape == (1, SIZE, SIZE, 1) and result.steps == 3


def test_a_single_channel_model_takes_a_parameterization_and_transforms():
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((SIZE, SIZE, 1)), keras.layers.Conv2D(3, 3, name="c"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    for parameterization in ("pixels", "fourier"):
        result = class_visualization(model, 1, image_shape=None, steps=2, parameterization=parameterization,
                                     transforms="standard")
        assert result.image.shape == (1, SIZE, SIZE, 1) and np.all(np.isfinite(result.image))


@pytest.mark.parametrize("form", ["sequential", "nested", "subclassed"])
def test_pre_activation_reads_what_enters_the_rectifier(form):
    """A fused ReLU's input is the conv's linear output; a ReLU layer's input is its producer's output."""
    keras.backend.clear_session()
    model = {**FORMS, "subclassed": subclassed}[form]()
    images = _images()
    conv1 = models.get_layer(model, "conv1")[1]
    kernel, bias = (w.numpy() for w in conv1.weights)
    linear = keras.ops.convert_to_numpy(keras.ops.conv(images, kernel, padding="same")) + bias
    values = synthesis.objective_values(model, targets.Channel("conv1", 2, pre_activation=True), images)
    np.testing.assert_allclose(values, linear[..., 2].mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    assert values.min() < 0  # before the ReLU: negative means exist
    np.testing.assert_allclose(
        synthesis.objective_values(model, targets.Channel("relu2", 3, pre_activation=True), images),
        synthesis.objective_values(model, targets.Channel("conv2", 3), images), rtol=1e-6)
    with pytest.raises(ValueError, match="does not end in a rectifier"):
        synthesis.objective_values(model, targets.Channel("conv2", 3, pre_activation=True), images)
    with pytest.raises(TypeError, match="pre_activation"):
        targets.Channel("conv1", 2, pre_activation="yes")


def test_a_channel_dead_at_the_start_has_a_gradient_before_its_rectifier():
    keras.backend.clear_session()
    model = sequential()
    images = tf.constant(_images(1))
    linear = synthesis.objective_values(model, targets.Channel("conv1", 0, pre_activation=True), images.numpy())
    kernel, bias = model.get_layer("conv1").weights
    bias.assign(bias.numpy() - np.eye(6)[0] * (float(linear[0]) + 5.0))  # channel 0 below zero everywhere
    gradients = {}
    for pre in (False, True):
        objective = targets.Channel("conv1", 0, pre_activation=pre).bind(model)
        with tf.GradientTape() as tape:
            tape.watch(images)
            activations = models.run_layers(model, images, objective.layers())
            score = objective.score(None, activations, None)
        gradients[pre] = float(tf.reduce_sum(tf.abs(tape.gradient(score, images))))
    assert gradients[False] == 0.0 and gradients[True] > 0.0
