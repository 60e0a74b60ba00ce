"""Shared fixtures: tiny seeded models in every form users have.

Every form computes the same kind of network (conv with fused ReLU, a ReLU
layer, conv, global pooling, a named FC layer, logits, softmax) on 16x16x3
images with 4 classes, so tests can be parametrized over forms.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

SIZE = 16
CLASSES = 4


def _init(seed):
    return keras.initializers.GlorotUniform(seed=seed)


def _stack(seed):
    """The layers of the standard tiny network."""
    return [
        keras.layers.Conv2D(6, 3, padding="same", activation="relu", kernel_initializer=_init(seed), name="conv1"),
        keras.layers.Conv2D(8, 3, padding="same", kernel_initializer=_init(seed + 1), name="conv2"),
        keras.layers.ReLU(name="relu2"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(12, activation="relu", kernel_initializer=_init(seed + 2), name="fc"),
        keras.layers.Dense(CLASSES, activation="softmax", kernel_initializer=_init(seed + 3), name="logits", dtype="float32"),
    ]


def saved_model_and_images(folder, count=2, size=20):
    """`folder` with `model.keras` (the functional test model) and `img0.png`... (seeded noise): a CLI's inputs."""
    from PIL import Image

    keras.backend.clear_session()
    functional().save(folder / "model.keras")
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


def sequential(seed=0):
    return keras.Sequential([keras.Input((SIZE, SIZE, 3), name="image")] + _stack(seed), name="seq")


def functional(seed=0):
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = inputs
    layers = _stack(seed)
    for layer in layers[:-1]:
        x = layer(x)
    x = keras.layers.Dense(CLASSES, kernel_initializer=_init(seed + 3), name="logits")(x)
    outputs = keras.layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, outputs, name="func")


def nested(seed=0):
    """A functional backbone inside a Sequential head (the keras.applications pattern)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", kernel_initializer=_init(seed), name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", kernel_initializer=_init(seed + 1), name="conv2")(x)
    x = keras.layers.ReLU(name="relu2")(x)
    backbone = keras.Model(inputs, x, name="backbone")
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3), name="image"),
            backbone,
            keras.layers.GlobalAveragePooling2D(name="pool"),
            keras.layers.Dense(12, activation="relu", kernel_initializer=_init(seed + 2), name="fc"),
            keras.layers.Dense(CLASSES, kernel_initializer=_init(seed + 3), name="logits"),
            keras.layers.Activation("softmax", name="probabilities"),
        ],
        name="nested",
    )


class Subclassed(keras.Model):
    def __init__(self, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.stack = _stack(seed)

    def call(self, x, training=False):
        for layer in self.stack:
            x = layer(x)
        return x


def subclassed(seed=0):
    model = Subclassed(seed, name="sub")
    model(np.zeros((1, SIZE, SIZE, 3), np.float32))
    return model


def mixed_precision(seed=0):
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        return sequential(seed)
    finally:
        keras.mixed_precision.set_global_policy(policy)


def reloaded(seed=0, directory=None):
    import tempfile

    model = functional(seed)
    path = os.path.join(directory or tempfile.mkdtemp(), "model.keras")
    model.save(path)
    return keras.models.load_model(path)


MODEL_FORMS = {
    "sequential": sequential,
    "functional": functional,
    "nested": nested,
    "subclassed": subclassed,
    "mixed_float16": mixed_precision,
    "reloaded": reloaded,
}


@pytest.fixture(params=sorted(MODEL_FORMS))
def model_form(request):
    """`(form name, model)` for every model form."""
    keras.backend.clear_session()
    return request.param, MODEL_FORMS[request.param]()


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(0, 1, (5, SIZE, SIZE, 3)).astype(np.float32)


def weights_snapshot(model):
    return [np.array(w) for w in model.get_weights()]


def layer_state(model):
    """Every layer's instance attributes (by identity), to prove nothing was patched or left behind."""
    import kerasviz

    return {
        path: {k: id(v) for k, v in vars(layer).items()}
        for path, layer in kerasviz.models.iter_layers(model)
    }


def assert_model_unchanged(model, before_weights, before_state):
    after = weights_snapshot(model)
    assert len(after) == len(before_weights)
    for a, b in zip(after, before_weights):
        np.testing.assert_array_equal(a, b)
    assert layer_state(model) == before_state


@pytest.fixture(scope="session")
def shapes_model():
    """The trained demo model on the shapes dataset (cached on disk across runs) and its test split."""
    import kerasviz

    return kerasviz.data.demo_model("shapes"), kerasviz.data.demo_data("shapes")[1]


@pytest.fixture(scope="module")
def screenshots():
    """Where browser tests save their screenshots: `$KERASVIZ_SCREENSHOTS` or a temporary directory."""
    import sys
    import tempfile

    folder = os.environ.get("KERASVIZ_SCREENSHOTS") or tempfile.mkdtemp(prefix="kerasviz_screenshots_")
    os.makedirs(folder, exist_ok=True)
    print(f"screenshots in {folder}", file=sys.stderr)
    return folder


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject's addopts): one worker per core, at most 4 (each is a TensorFlow process of a GB or more).

    Files are the unit of distribution (`--dist loadfile`), so a module's
    fixtures are built once. On two cores most of the suite's time is
    single-threaded (tracing, subprocesses starting TensorFlow), which two
    workers overlap.
    """
    return max(1, min(os.cpu_count() or 1, 4))
