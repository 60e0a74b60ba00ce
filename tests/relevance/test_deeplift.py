"""DeepLIFT, DeepLiftShap, GradientShap and layer/neuron attribution against what they promise.

Summation-to-delta (exact on piecewise-linear nets), the Rescale rule against its matrix form, the linear
model's `(x - x0) * w`, conductance's completeness, and named errors for what has no rule.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tests.helpers.models import MODEL_FORMS, SIZE, rich_model
from tests.helpers.models import initializer as _init

import kerasviz
from kerasviz import compiled, models, patching

L = keras.layers


def _images(n=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, SIZE, SIZE, 3)).astype(np.float32)


def _logit(model, images, cls):
    return np.asarray(models.run(model, tf.constant(images))[0], np.float64)[:, cls]


def _assert_sums_to(attributions, expected, rtol=1e-4):
    total = attributions.reshape(len(attributions), -1).astype(np.float64).sum(axis=1)
    scale = max(1e-3, float(np.abs(expected).max()))
    np.testing.assert_allclose(total, expected, rtol=0, atol=rtol * scale)


# ------------------------------------------------------------------------------------------ DeepLIFT


@pytest.mark.parametrize("form", sorted(MODEL_FORMS))
def test_deeplift_sums_to_delta_on_every_model_form(form):
    keras.backend.clear_session()
    model = MODEL_FORMS[form]()
    x, x0 = _images(3, 0), _images(3, 1)
    attributions = kerasviz.deeplift(model, x, target=2, baseline=x0, signed=True)
    delta = _logit(model, x, 2) - _logit(model, x0, 2)
    if form == "mixed_float16":  # float16 activations: about 3 significant digits
        np.testing.assert_allclose(attributions.sum(axis=(1, 2, 3)), delta, rtol=0, atol=0.03 * np.abs(delta).max())
    else:
        _assert_sums_to(attributions, delta)


def test_deeplift_sums_to_delta_through_max_pooling_products_and_smooth_activations():
    keras.backend.clear_session()
    model = rich_model()
    x, x0 = _images(4, 0), _images(4, 1)
    attributions = kerasviz.deeplift(model, x, target=1, baseline=x0, signed=True, batch_size=3)
    delta = _logit(model, x, 1) - _logit(model, x0, 1)
    assert np.abs(delta).min() > 1e-4  # a real difference to explain
    _assert_sums_to(attributions, delta)


def test_deeplift_rescale_is_its_matrix_form():
    """A dense ReLU net in numpy: m = (relu(z) - relu(z0)) / (z - z0), contributions (x - x0) W1 diag(m) W2."""
    keras.backend.clear_session()
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((4, 4, 3)), L.Flatten(),
                              L.Dense(10, activation="relu", kernel_initializer=_init(0), bias_initializer="ones"),
                              L.Dense(3, kernel_initializer=_init(1))])
    x, x0 = rng.normal(size=(2, 4, 4, 3)).astype(np.float32), rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
    w1, b1, w2, _ = [np.asarray(w, np.float64) for w in model.get_weights()]
    flat, flat0 = x.reshape(2, -1).astype(np.float64), x0.reshape(2, -1).astype(np.float64)
    z, z0 = flat @ w1 + b1, flat0 @ w1 + b1
    m = (np.maximum(z, 0) - np.maximum(z0, 0)) / (z - z0)
    expected = (flat - flat0) * np.einsum("ij,bj,j->bi", w1, m, w2[:, 2])
    got = kerasviz.deeplift(model, x, target=2, baseline=x0, signed=True, batch_size=1)
    np.testing.assert_allclose(got.reshape(2, -1), expected, rtol=1e-5, atol=1e-6)
    # and the gradient is not the multiplier: Gradient x (x - x0) differs
    gradient = np.einsum("ij,bj,j->bi", w1, (z > 0).astype(np.float64), w2[:, 2]) * (flat - flat0)
    assert np.abs(gradient - expected).max() > 1e-3


def test_a_layer_called_twice_reads_each_calls_reference_in_turn():
    """One Dense+ReLU applied twice: each call's multipliers use that call's reference values (matrix form)."""
    keras.backend.clear_session()
    rng = np.random.default_rng(3)
    shared = L.Dense(6, activation="relu", kernel_initializer=_init(0), bias_initializer="ones")
    inputs = keras.Input((4, 4, 3))
    flat = L.Flatten()(inputs)
    hidden = L.Dense(6, kernel_initializer=_init(1))(flat)
    twice = shared(L.ReLU()(shared(hidden)))
    model = keras.Model(inputs, L.Dense(2, kernel_initializer=_init(2))(twice))
    x, x0 = rng.normal(size=(2, 4, 4, 3)).astype(np.float32), rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
    w0, b0, ws, bs, w2, _ = [np.asarray(w, np.float64) for w in model.get_weights()]
    f, f0 = x.reshape(2, -1).astype(np.float64), x0.reshape(2, -1).astype(np.float64)

    def multiplier(z, z0):
        return np.where(np.abs(z - z0) > 1e-9, (np.maximum(z, 0) - np.maximum(z0, 0)) / (z - z0), (z > 0) * 1.0)

    h, h0 = f @ w0 + b0, f0 @ w0 + b0
    z1, z10 = h @ ws + bs, h0 @ ws + bs
    m1 = multiplier(z1, z10)
    a1, a10 = np.maximum(z1, 0), np.maximum(z10, 0)  # the second ReLU passes these unchanged (all >= 0)
    z2, z20 = a1 @ ws + bs, a10 @ ws + bs
    m2 = multiplier(z2, z20)
    upstream = np.einsum("ij,bj,j->bi", ws, m2, w2[:, 1])  # d/d a1 through the second call
    upstream = np.einsum("ij,bj,bj->bi", ws, m1, upstream)  # through the first call
    expected = (f - f0) * np.einsum("ij,bj->bi", w0, upstream)
    got = kerasviz.deeplift(model, x, target=1, baseline=x0, signed=True)
    np.testing.assert_allclose(got.reshape(2, -1), expected, rtol=1e-5, atol=1e-6)
    _assert_sums_to(got, _logit(model, x, 1) - _logit(model, x0, 1))


def test_deeplift_on_a_linear_model_is_difference_times_weights():
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), L.Flatten(),
                              L.Dense(4, kernel_initializer=_init(0), bias_initializer="ones")])
    x, x0 = _images(2, 0), _images(2, 1)
    w = np.asarray(model.get_weights()[0])[:, 3].reshape(SIZE, SIZE, 3)
    expected = (x - x0) * w
    np.testing.assert_allclose(kerasviz.deeplift(model, x, target=3, baseline=x0, signed=True), expected,
                               rtol=1e-5, atol=1e-7)
    shap = kerasviz.deeplift_shap(model, x, target=3, references=np.stack([x0[0], x0[1]]), samples=None,
                                  signed=True)
    np.testing.assert_allclose(shap, (x - x0.mean(axis=0)) * w, rtol=1e-5, atol=1e-6)


def test_deeplift_shap_is_the_mean_of_deeplift_over_references():
    keras.backend.clear_session()
    model = rich_model()
    x, references = _images(2, 0), _images(3, 5)
    shap = kerasviz.deeplift_shap(model, x, target=0, references=references, samples=None, signed=True,
                                  batch_size=4)
    each = [kerasviz.deeplift(model, x, target=0, baseline=r, signed=True) for r in references]
    np.testing.assert_allclose(shap, np.mean(each, axis=0), rtol=1e-4, atol=1e-6)
    expected = _logit(model, x, 0) - _logit(model, references, 0).mean()
    _assert_sums_to(shap, expected)


def test_deeplift_shap_draws_depend_on_the_seed_only():
    keras.backend.clear_session()
    model = MODEL_FORMS["sequential"]()
    x, references = _images(3, 0), _images(6, 7)
    first = kerasviz.deeplift_shap(model, x, target=1, references=references, samples=2, seed=3, batch_size=2)
    again = kerasviz.deeplift_shap(model, x, target=1, references=references, samples=2, seed=3, batch_size=5)
    np.testing.assert_allclose(first, again, rtol=1e-5, atol=1e-7)
    other = kerasviz.deeplift_shap(model, x, target=1, references=references, samples=2, seed=4)
    assert np.abs(other - first).max() > 0


def test_a_layer_without_a_rule_is_refused_by_name_before_tracing():
    keras.backend.clear_session()
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.Conv2D(4, 3, kernel_initializer=_init(0))(inputs)
    x = L.LayerNormalization(name="norm")(x)
    model = keras.Model(inputs, L.Dense(3)(L.GlobalAveragePooling2D()(x)))
    for method in (kerasviz.deeplift, kerasviz.deeplift_shap):
        with pytest.raises(ValueError, match=r"'norm' \(LayerNormalization\)"):
            method(model, _images(2), target=0)
    assert compiled.tracing_count(model) == 0


class _RawRelu(keras.Model):
    def __init__(self):
        super().__init__(name="raw")
        self.conv = L.Conv2D(4, 3, kernel_initializer=_init(0))
        self.head = L.Dense(3, kernel_initializer=_init(1))

    def call(self, x):
        return self.head(tf.reduce_mean(tf.nn.relu(self.conv(x)), axis=[1, 2]))


def test_a_nonlinearity_no_rule_reaches_is_refused():
    keras.backend.clear_session()
    model = _RawRelu()
    model(_images(1))
    with pytest.raises(ValueError, match=r"nonlinear op\(s\) of its graph"):
        kerasviz.deeplift(model, _images(2), target=0)


def test_the_rescale_rule_acts_on_our_trace_only():
    """While DeepLIFT runs, the user's own gradient is the plain one; afterwards no dispatcher is left."""
    keras.backend.clear_session()
    model = rich_model()
    x = tf.constant(_images(2))

    def user_gradient():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = model(x)[:, 1]
        return tape.gradient(y, x).numpy()

    before = user_gradient()
    kerasviz.deeplift(model, x, target=1)
    np.testing.assert_array_equal(user_gradient(), before)
    assert patching.installed_count() == 0


# ------------------------------------------------------------------------------------------ GradientShap


def test_gradient_shap_without_noise_is_expected_gradients():
    keras.backend.clear_session()
    model = MODEL_FORMS["functional"]()
    x, references = _images(3, 0), _images(4, 9)
    shap = kerasviz.gradient_shap(model, x, target=1, references=references, samples=6, noise=0.0, seed=2,
                                  signed=True)
    expected = kerasviz.expected_gradients(model, x, target=1, references=references, samples=6, seed=2, signed=True)
    np.testing.assert_allclose(shap, expected, rtol=1e-5, atol=1e-7)
    noisy = kerasviz.gradient_shap(model, x, target=1, references=references, samples=6, noise=0.2, seed=2,
                                   signed=True)
    assert np.abs(noisy - expected).max() > 1e-4  # the noise is there


def test_gradient_shap_on_a_linear_model_is_difference_times_weights_in_expectation():
    """Linear: `E[(x + eps - r) w] = (x - mean r) w`; with one reference and no noise, exactly."""
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), L.Flatten(),
                              L.Dense(4, kernel_initializer=_init(0), bias_initializer="ones")])
    x, x0 = _images(2, 0), _images(1, 1)
    w = np.asarray(model.get_weights()[0])[:, 0].reshape(SIZE, SIZE, 3)
    exact = kerasviz.gradient_shap(model, x, target=0, references=x0, samples=3, noise=0.0, signed=True)
    np.testing.assert_allclose(exact, (x - x0) * w, rtol=1e-5, atol=1e-7)
    noisy = kerasviz.gradient_shap(model, x, target=0, references=x0, samples=400, noise=0.1, signed=True,
                                   value_range=(0, 1))
    # the noise's mean is 0: per pixel its average over 400 draws has a standard deviation of 0.1 / 20
    assert np.abs(noisy - (x - x0) * w).max() < 5 * 0.005 * np.abs(w).max()


# ------------------------------------------------------------------------------------------ layers and neurons


@pytest.mark.parametrize("form, layer", [("functional", "relu2"), ("nested", "backbone/relu2"),
                                         ("subclassed", "relu2"), ("sequential", "fc")])
def test_conductance_over_a_layer_is_integrated_gradients_total(form, layer):
    """Completeness (Dhamdhere et al. 2018): point by point, sum_y dS/dy dy/da = grad S . (x - x')."""
    keras.backend.clear_session()
    model = MODEL_FORMS[form]()
    x, x0 = _images(3, 0), _images(3, 1)
    ig = kerasviz.integrated_gradients(model, x, target=3, baseline=x0, steps=8, signed=True)
    conductance = kerasviz.layer_conductance(model, x, target=3, layer=layer, baseline=x0, steps=8,
                                             output="channels", batch_size=5)
    np.testing.assert_allclose(conductance.sum(axis=1), ig.sum(axis=(1, 2, 3)), rtol=1e-4, atol=1e-6)
    if form != "functional":
        return
    # and with enough steps both are the score's change
    fine = kerasviz.layer_conductance(model, x, target=3, layer=layer, baseline=x0, steps=64, output="layer")
    delta = _logit(model, x, 3) - _logit(model, x0, 3)
    np.testing.assert_allclose(fine.reshape(3, -1).sum(axis=1), delta, rtol=0, atol=0.02 * np.abs(delta).max())


def test_layer_integrated_gradients_is_complete_at_a_block_output():
    """At `relu2`, after the residual sum, every path crosses; at `excite` the skip from the input does not."""
    keras.backend.clear_session()
    model = rich_model()
    x, x0 = _images(3, 0), _images(3, 1)
    values = kerasviz.layer_integrated_gradients(model, x, target=2, layer="relu2", baseline=x0, steps=32,
                                                 output="layer", batch_size=50)
    assert values.shape == (3, 6, 6, 8)
    delta = _logit(model, x, 2) - _logit(model, x0, 2)  # within 5%, Sundararajan et al.'s check (section 5)
    np.testing.assert_allclose(values.reshape(3, -1).sum(axis=1), delta, rtol=0, atol=0.05 * np.abs(delta).max())
    channels = kerasviz.layer_integrated_gradients(model, x, target=2, layer="relu2", baseline=x0, steps=32,
                                                   output="channels", batch_size=7)
    np.testing.assert_allclose(channels, values.sum(axis=(1, 2)), rtol=1e-4, atol=1e-6)
    pixels = kerasviz.layer_integrated_gradients(model, x, target=2, layer="relu2", baseline=x0, steps=32)
    assert pixels.shape == (3, SIZE, SIZE)  # the map keeps the total (hw/HW per pixel, bilinear)
    np.testing.assert_allclose(pixels.sum(axis=(1, 2)), channels.sum(axis=1), rtol=0.05,
                               atol=0.05 * np.abs(delta).max())


def test_layer_methods_on_a_linear_model_are_difference_times_weights():
    """A linear conv (no bias) then a dense head: at the conv, every layer method gives (A(x) - A(x0)) * w."""
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)),
                              L.Conv2D(2, 3, padding="same", use_bias=False, kernel_initializer=_init(0), name="conv"),
                              L.Flatten(), L.Dense(4, kernel_initializer=_init(1), name="head")])
    x, x0 = _images(2, 0), _images(2, 1)
    conv = keras.Model(model.inputs, model.get_layer("conv").output)
    w = np.asarray(model.get_layer("head").kernel)[:, 1].reshape(SIZE, SIZE, 2)
    a, a0 = np.asarray(conv(x)), np.asarray(conv(x0))
    for method in (kerasviz.layer_integrated_gradients, kerasviz.layer_conductance):
        got = method(model, x, target=1, layer="conv", baseline=x0, steps=3, output="layer")
        np.testing.assert_allclose(got, (a - a0) * w, rtol=1e-4, atol=1e-6, err_msg=method.__name__)
    np.testing.assert_allclose(kerasviz.layer_gradient_x_activation(model, x, target=1, layer="conv", output="layer"),
                               a * w, rtol=1e-5, atol=1e-7)
    # through one neuron: (x - x0) * w_neuron * dA_neuron/dx, summing to its conductance
    neuron = kerasviz.neuron_conductance(model, x, target=1, neuron=(5, 7, 1), layer="conv", baseline=x0, steps=3,
                                         signed=True)
    np.testing.assert_allclose(neuron.sum(axis=(1, 2, 3)), ((a - a0) * w)[:, 5, 7, 1], rtol=1e-4, atol=1e-6)


def test_neuron_conductance_sums_to_the_neurons_layer_conductance():
    keras.backend.clear_session()
    model = MODEL_FORMS["nested"]()
    x = _images(2, 0)
    layer = kerasviz.layer_conductance(model, x, target=0, layer="backbone/conv2", steps=6, output="layer")
    row, col, c = np.unravel_index(np.argmax(np.abs(layer[0])), layer.shape[1:])  # a unit the score flows through
    unit = kerasviz.neuron_conductance(model, x, target=0, neuron=(row, col, c), layer="backbone/conv2", steps=6,
                                       signed=True)
    assert np.abs(layer[0, row, col, c]) > 1e-5
    np.testing.assert_allclose(unit.sum(axis=(1, 2, 3)), layer[:, row, col, c], rtol=1e-3, atol=1e-6)
    channel = kerasviz.neuron_conductance(model, x, target=0, neuron=int(c), layer="backbone/conv2", steps=6,
                                          signed=True, batch_size=5)
    np.testing.assert_allclose(channel.sum(axis=(1, 2, 3)), layer[..., c].sum(axis=(1, 2)), rtol=1e-3, atol=1e-6)
    # neuron=None: each image's channel of largest gradient x activation
    chosen = kerasviz.layer_gradient_x_activation(model, x, target=0, layer="backbone/conv2",
                                                  output="channels").argmax(axis=1)
    default = kerasviz.neuron_conductance(model, x, target=0, layer="backbone/conv2", steps=6, signed=True)
    for i, c in enumerate(chosen):
        one = kerasviz.neuron_conductance(model, x[i:i + 1], target=0, neuron=int(c), layer="backbone/conv2",
                                          steps=6, signed=True)
        np.testing.assert_allclose(default[i:i + 1], one, rtol=1e-4, atol=1e-7)


def test_layer_gradient_x_activation_is_gradient_times_activation():
    keras.backend.clear_session()
    model = MODEL_FORMS["functional"]()
    x = tf.constant(_images(2))
    with tf.GradientTape() as tape:
        logits, activations = models.run(model, x, capture=("conv2",))
        score = tf.reduce_sum(logits[:, 0])
    expected = (tape.gradient(score, activations["conv2"]) * activations["conv2"]).numpy()
    got = kerasviz.layer_gradient_x_activation(model, x, target=0, layer="conv2", output="layer")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(kerasviz.layer_gradient_x_activation(model, x, target=0, layer="conv2",
                                                                    output="channels"),
                               expected.sum(axis=(1, 2)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call, error, fragment", [
    (lambda m: kerasviz.layer_conductance(m, _images(1), output="map"), ValueError, r"`output`: 'map'"),
    (lambda m: kerasviz.layer_integrated_gradients(m, _images(1), layer="fc"), ValueError,
     r"`layer`: 'fc'.*output=\"channels\""),
    (lambda m: kerasviz.neuron_conductance(m, _images(1), layer="conv2", neuron=(1, 2)), TypeError,
     r"`neuron`.*neuron=\(1, 2\)"),
    (lambda m: kerasviz.neuron_conductance(m, _images(1), layer="conv2", neuron=8), ValueError,
     r"`neuron`: 8, outside"),
    (lambda m: kerasviz.deeplift_shap(m, _images(1), samples=None), ValueError, r"`samples=None`"),
    (lambda m: kerasviz.gradient_shap(m, _images(1), noise=-1.0), ValueError, r"`noise`: -1.0"),
])
def test_bad_arguments_name_the_argument(call, error, fragment):
    keras.backend.clear_session()
    model = MODEL_FORMS["sequential"]()
    with pytest.raises(error, match=fragment):
        call(model)
    assert compiled.tracing_count(model) == 0


def test_where_a_unit_does_not_change_its_multiplier_is_the_derivative():
    """z = x1 - x2 + 1 with x = (1, 1), x0 = (0, 0): z - z0 = 0, so the ReLU passes the gradient, 1, to both."""
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((1, 1, 2)), L.Flatten(),
                              L.Dense(1, activation="relu", kernel_initializer=keras.initializers.Constant([[1.0], [-1.0]]),
                                      bias_initializer="ones"),
                              L.Dense(1, kernel_initializer="ones")])
    x = np.ones((1, 1, 1, 2), np.float32)
    np.testing.assert_allclose(kerasviz.deeplift(model, x, target=0, signed=True).ravel(), [1.0, -1.0])
    model.layers[1].bias.assign([-2.0])  # z = -2 on both: the rectifier is off, its derivative 0
    with pytest.warns(RuntimeWarning, match="deeplift: the map of 1 of 1 images is constant"):
        np.testing.assert_allclose(kerasviz.deeplift(model, x, target=0, signed=True).ravel(), [0.0, 0.0])


@pytest.mark.parametrize("params", [{}, {"max_value": 6.0}, {"negative_slope": 0.2},
                                    {"negative_slope": 0.1, "max_value": 2.0, "threshold": 0.5}])
def test_a_rectifier_is_the_keras_relu_and_its_closed_form_slope_its_derivative(params):
    from kerasviz.relevance import rescale
    rectifier = rescale.Rectifier(**params)
    z = tf.constant(np.linspace(-8.0, 8.0, 321) + 0.0123, tf.float32)  # off the kinks
    np.testing.assert_array_equal(rectifier(z).numpy(), keras.layers.ReLU(**params)(z).numpy())
    np.testing.assert_allclose(rectifier.slope(z).numpy(), rescale.derivative(rectifier, z).numpy(), atol=1e-7)


def test_rectifiers_of_every_width_share_kernels_and_keep_their_own_multipliers():
    """ReLU6 on 7 units, then LeakyReLU on 5, then ReLU6 on 3 (one shared kernel, two shapes), in numpy."""
    keras.backend.clear_session()
    rng = np.random.default_rng(4)
    model = keras.Sequential([keras.Input((2, 2, 3)), L.Flatten(),
                              L.Dense(7, kernel_initializer=_init(0), bias_initializer="ones"), L.ReLU(max_value=6.0),
                              L.Dense(5, kernel_initializer=_init(1)), L.LeakyReLU(negative_slope=0.3),
                              L.Dense(3, kernel_initializer=_init(2)), L.ReLU(max_value=6.0),
                              L.Dense(2, kernel_initializer=_init(3))])
    x, x0 = 3 * rng.normal(size=(3, 2, 2, 3)).astype(np.float32), rng.normal(size=(3, 2, 2, 3)).astype(np.float32)
    weights = [np.asarray(w, np.float64) for w in model.get_weights()]
    relu6, leaky = (lambda z: np.clip(z, 0, 6)), (lambda z: np.where(z > 0, z, 0.3 * z))
    a, a0 = x.reshape(3, -1).astype(np.float64), x0.reshape(3, -1).astype(np.float64)
    chain = []
    for (w, b), f in zip(zip(weights[0:6:2], weights[1:6:2]), (relu6, leaky, relu6)):
        z, z0 = a @ w + b, a0 @ w + b
        chain.append((w, (f(z) - f(z0)) / (z - z0)))
        a, a0 = f(z), f(z0)
    upstream = np.broadcast_to(weights[6][:, 1], (3, 3))
    for w, m in reversed(chain):
        upstream = np.einsum("ij,bj->bi", w, m * upstream)
    from kerasviz.relevance import rescale
    before = set(rescale._KERNELS)
    got = kerasviz.deeplift(model, x, target=1, baseline=x0, signed=True)
    np.testing.assert_allclose(got.reshape(3, -1), (x - x0).reshape(3, -1) * upstream, rtol=1e-4, atol=1e-5)
    added = {shared for _, shared in set(rescale._KERNELS) - before}
    assert added <= {rescale.Rectifier(max_value=6.0), rescale.Rectifier(negative_slope=0.3)}
