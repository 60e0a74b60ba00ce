"""The one graph of layer calls, its one layer taxonomy and its window arithmetic (issue 23, finding 2).

The meaningful-layer defaults, receptive fields and incremental occlusion
read the same traced graph and type its layers the same way; where their
three taxonomies disagreed (a `Dense` on a map, `PReLU`, `Normalization`, a
Keras-op concatenation) one small model shows what each now says.
"""

import ast
import gc
import pathlib
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasviz import layer_graph, models
from kerasviz.activations import occlusion_graph
from kerasviz.activations.occlusion import occlusion, occlusion_plan
from kerasviz.activations.receptive_field import ReceptiveField, receptive_field
from kerasviz.graph import fields, taxonomy, trace
from kerasviz.graph.windows import Window
from tests.helpers.models import MODEL_FORMS
from tests.helpers.processes import REPO

L = keras.layers


def init(seed):
    return keras.initializers.GlorotUniform(seed)


@pytest.mark.parametrize("length,kernel,stride,dilation", [(16, 3, 2, 1), (15, 3, 2, 1), (11, 4, 3, 1), (13, 3, 1, 2),
                                                           (9, 5, 2, 2), (7, 1, 2, 1)])
def test_window_pads_and_projective_field_against_the_definition(length, kernel, stride, dilation):
    window = Window(kernel, stride, dilation)
    x = tf.random.stateless_normal([1, length, 1, 1], seed=[1, length])
    w = tf.random.stateless_normal([kernel, 1, 1, 1], seed=[2, kernel])
    for padding in ("same", "valid"):
        if window.extent > length and padding == "valid":
            continue
        before, after = window.pads(length, padding)
        expected = tf.nn.conv2d(x, w, (stride, 1), padding.upper(), dilations=(dilation, 1))
        padded = tf.nn.conv2d(tf.pad(x, [[0, 0], [before, after], [0, 0], [0, 0]]), w, (stride, 1), "VALID",
                              dilations=(dilation, 1))
        out = window.output_length(length, padding)
        assert expected.shape[1] == out == padded.shape[1]
        np.testing.assert_allclose(padded, expected, rtol=1e-6, atol=1e-6)
        # Outputs whose window reads input positions [start, start + size): every one, tightly.
        starts, size = np.arange(length - 1), 2
        low, new = window.touched(starts, size, before, out)
        reads = [set(o for o in range(out) for j in range(kernel)
                     if start <= o * stride - before + j * dilation < start + size) for start in starts]
        assert new == max(max(len(r) for r in reads), 1)
        for start, read in zip(low, reads):
            assert read <= set(range(start, start + new)) and 0 <= start <= out - new
        assert window.span(out) == (out - 1) * stride + window.extent


def test_taxonomy_kinds():
    kinds = {
        L.Conv2D(2, 3, strides=2, dilation_rate=1, padding="same"): (taxonomy.FEATURES, taxonomy.WINDOW, False),
        L.MaxPooling2D(2): (taxonomy.POOLING, taxonomy.WINDOW, False),
        L.ZeroPadding2D(1): (taxonomy.STRUCTURAL, taxonomy.SHIFT, False),
        L.Dense(3): (taxonomy.FEATURES, taxonomy.POINTWISE, True),
        L.PReLU(): (taxonomy.ACTIVATION, taxonomy.POINTWISE, False),  # one slope per position
        L.PReLU(shared_axes=[1, 2]): (taxonomy.ACTIVATION, taxonomy.POINTWISE, True),
        L.Normalization(axis=-1): (taxonomy.STRUCTURAL, taxonomy.POINTWISE, True),
        L.BatchNormalization(): (taxonomy.NORMALIZATION, taxonomy.POINTWISE, True),
        L.LayerNormalization(axis=[1, 2, 3]): (taxonomy.NORMALIZATION, taxonomy.OTHER, False),
        L.GroupNormalization(groups=2): (taxonomy.NORMALIZATION, taxonomy.OTHER, False),  # over the positions
        L.UnitNormalization(): (taxonomy.NORMALIZATION, taxonomy.POINTWISE, True),
        L.Concatenate(axis=1): (taxonomy.MERGE, taxonomy.OTHER, False),
        L.Add(): (taxonomy.MERGE, taxonomy.MERGE, False),
        L.GlobalAveragePooling2D(): (taxonomy.GLOBAL_POOLING, taxonomy.GLOBAL, False),
        L.Dropout(0.5): (taxonomy.PASS, taxonomy.POINTWISE, True),
        L.UpSampling2D(): (taxonomy.STRUCTURAL, taxonomy.OTHER, False),
        L.Conv2D(2, 3, data_format="channels_first"): (taxonomy.FEATURES, taxonomy.OTHER, False),
    }
    for layer, expected in kinds.items():
        kind = taxonomy.kind_of(layer)
        assert (kind.role, kind.geometry, kind.shared) == expected, (layer, kind)
    window = taxonomy.kind_of(L.Conv2D(2, 3, strides=2, dilation_rate=1, padding="same"))
    assert window.windows == (Window(3, 2, 1),) * 2 and window.padding == "same" and window.op == "conv"

    class StandardizedConv(L.Conv2D):  # a subclass may compute something else: not a plain Conv2D
        pass

    assert taxonomy.kind_of(StandardizedConv(2, 3)).geometry == taxonomy.OTHER
    inputs = keras.Input((4, 4, 2))
    ops = keras.Model(inputs, [keras.ops.concatenate([inputs, inputs], axis=-1), keras.ops.average(inputs, axis=-1)])
    concat, average = [op for op in ops.operations if not isinstance(op, keras.layers.InputLayer)]
    assert taxonomy.kind_of(concat).role == taxonomy.MERGE  # a Keras op merging on channels, as the layer does
    assert taxonomy.kind_of(average).role != taxonomy.MERGE  # keras.ops.average reduces an axis: no merge


def disagreements(size=20):
    """The layers the three old taxonomies typed differently, in one net.

    Per axis: c1 3x3 'same' -> size 3, start -1. c2 3x3 s2 'same' on 20: out
    10, total pad 1, 0 before -> size 5, stride 2, start -1 (offset 1); side
    1x1 s2 -> size 3, start -1; their concatenation: the union, size 5,
    offset 1. c3 3x3 'same' on 10: 1 before -> size 9, start -3, offset 1.
    """
    inputs = keras.Input((size, size, 3))
    x = L.Normalization(mean=[0.5] * 3, variance=[0.1] * 3, name="norm")(inputs)
    x = L.Conv2D(6, 3, padding="same", kernel_initializer=init(0), name="c1")(x)
    x = L.Dense(6, kernel_initializer=init(1), bias_initializer="random_normal", name="mix")(x)
    x = L.PReLU(shared_axes=[1, 2], alpha_initializer=keras.initializers.Constant(0.2), name="prelu_shared")(x)
    a = L.Conv2D(5, 3, strides=2, padding="same", kernel_initializer=init(2), name="c2")(x)
    b = L.Conv2D(3, 1, strides=2, padding="same", kernel_initializer=init(3), name="side")(x)
    x = keras.ops.concatenate([a, b], axis=-1)
    x = L.PReLU(alpha_initializer=keras.initializers.RandomUniform(0.1, 0.3, seed=4), name="prelu_per_position")(x)
    x = L.Conv2D(6, 3, padding="same", activation="relu", kernel_initializer=init(5), name="c3")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, L.Dense(3, kernel_initializer=init(6), name="logits")(x), name="disagreements")


def test_dense_prelu_normalization_and_op_concat_are_one_kind_for_every_reader():
    """Fields follow all of them; incremental occlusion computes the shared ones on regions, stops at the PReLU
    whose slopes differ per position, and still equals naive occlusion; all read one traced graph."""
    keras.backend.clear_session()
    model = disagreements()
    graph = trace.model_graph(model, (20, 20, 3))
    concat = next(c.path for c in graph.calls if c.kind.name == "Concatenate")
    expected = {"c1": ((3, 3), (1, 1), (0.0, 0.0)), "c2": ((5, 5), (2, 2), (1.0, 1.0)),
                concat: ((5, 5), (2, 2), (1.0, 1.0)), "prelu_per_position": ((5, 5), (2, 2), (1.0, 1.0)),
                "c3": ((9, 9), (2, 2), (1.0, 1.0))}
    for path, field in expected.items():
        assert receptive_field(model, path) == ReceptiveField(*field, "analytic"), path
    measured = receptive_field(model, "c3", method="empirical")
    assert measured == ReceptiveField(*expected["c3"], "empirical")  # what the gradients say: per position indeed

    batch = np.random.default_rng(0).uniform(0, 1, (1, 20, 20, 3)).astype(np.float32)
    plan = occlusion_plan(model, batch, patch=3, stride=2, inference="incremental")
    assert [p for p, _, _ in plan.regions] == ["norm", "c1", "mix", "prelu_shared", "c2", "side", concat], plan
    assert plan.full_from == "prelu_per_position" and "PReLU layers cannot be computed on a region" in plan.reason
    fast = occlusion(model, batch, patch=3, stride=2, inference="incremental")
    slow = occlusion(model, batch, patch=3, stride=2, inference="naive")
    assert np.ptp(slow) > 1e-4
    np.testing.assert_allclose(fast, slow, atol=1e-5)

    meaning = layer_graph.layer_graph(model)
    assert meaning.graph is graph  # the defaults, the fields and the occlusion plan read one trace
    assert "norm" not in meaning.meaningful and "mix" not in meaning.meaningful  # carried on by the PReLU
    assert {"prelu_shared", concat, "c3"} <= set(meaning.meaningful)


class Twice(keras.Model):
    """A subclassed block whose output is its own op, not one of its layers'."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = L.Conv2D(4, 3, padding="same", kernel_initializer=init(7))

    def call(self, x):
        return keras.ops.relu(self.conv(x)) * 2.0


def test_units_read_keras_graphs_through_and_call_the_rest_whole():
    keras.backend.clear_session()
    inputs = keras.Input((12, 12, 3))
    x = L.Conv2D(4, 3, padding="same", kernel_initializer=init(0), name="a")(inputs)
    x = Twice(name="twice")(x)
    backbone_in = keras.Input((12, 12, 4))
    backbone = keras.Model(backbone_in, L.Conv2D(4, 3, name="inner")(backbone_in), name="backbone")
    x = L.Conv2D(2, 3, kernel_initializer=init(1), name="b")(backbone(x))
    model = keras.Model(inputs, x)
    graph = trace.model_graph(model, (12, 12, 3))
    assert [u.path for u in graph.units()] == ["a", "twice", "backbone/inner", "b"]
    assert [c.path for c in graph.calls if c.parent is not None] == ["twice/conv2d", "backbone/inner"]
    image = tf.random.stateless_uniform([2, 12, 12, 3], seed=[0, 1])
    steps, input_id, output_id, _ = occlusion_graph.model_steps(graph)
    env = occlusion_graph.replay(steps, {input_id: image})
    np.testing.assert_allclose(env[output_id], model(image), rtol=1e-5, atol=1e-6)
    assert receptive_field(model, "a") == ReceptiveField((3, 3), (1, 1), (0.0, 0.0), "analytic")
    with pytest.raises(fields.Unsupported, match="'twice'.*called whole"):
        fields.analytic(graph, "backbone/inner")
    with pytest.raises(fields.Unsupported, match="'twice'.*called whole"):
        fields.analytic(graph, "twice/conv2d")
    # Measured through the subclassed block: 3x3 'same' twice, then 3x3 'valid': size 7, start -2.
    assert receptive_field(model, "backbone/inner") == ReceptiveField((7, 7), (1, 1), (1.0, 1.0), "empirical")


def test_mixed_precision_links_are_direct_and_a_subclassed_model_is_one_unit():
    keras.backend.clear_session()
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(2, 3, name="c"), L.ReLU(name="r"),
                                  L.GlobalAveragePooling2D(), L.Dense(2, dtype="float32", name="out")])
    finally:
        keras.mixed_precision.set_global_policy(policy)
    graph = trace.model_graph(model, (8, 8, 3))
    assert all(u.direct for u in graph.units()) and graph.root.key == graph.called("out")[0].index

    class Sub(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.conv = L.Conv2D(2, 3, name="c")

        def call(self, x):
            return tf.nn.relu(self.conv(x))

    sub = Sub()
    sub(np.zeros((1, 8, 8, 3), np.float32))
    graph = trace.model_graph(sub, (8, 8, 3))
    assert graph.units() is None and [c.path for c in graph.calls] == ["c"]
    steps, _, _, _ = occlusion_graph.model_steps(graph)
    assert steps == [graph.root] and steps[0].kind.name == "Sub"
    alive = weakref.ref(sub)
    del sub, steps, graph
    gc.collect()
    assert alive() is None  # the cached graph holds the model weakly


def test_the_graph_modules_import_nothing_that_reads_models():
    """`kerasviz.graph` and `layer_graph` stand below `kerasviz.models`, so it can import them at the top."""
    root = pathlib.Path(REPO) / "kerasviz"
    allowed = {"kerasviz.patching", "kerasviz.compiled", "kerasviz.graph"}
    for path in [*sorted((root / "graph").glob("*.py")), root / "layer_graph.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kerasviz"):
                names = {f"{node.module}.{a.name}" for a in node.names}
                assert all(n.startswith(tuple(allowed)) for n in names), (path.name, names)
                assert not any(a.name.startswith("_") for a in node.names), (path.name, names)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert not any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(node)), path.name


@pytest.mark.parametrize("form", ["nested", "subclassed", "functional"])
def test_layer_paths_name_layers_as_get_layer_does(form):
    """The trace patches and names every layer as `models.iter_layers` walks them (depth-first, nested paths)."""
    keras.backend.clear_session()
    model = MODEL_FORMS[form]()
    assert [p for p, _ in trace.layer_paths(model).values()] == [p for p, _ in models.iter_layers(model)]
