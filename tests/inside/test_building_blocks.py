"""Building blocks (Olah et al., 2018): NMF neuron groups and attribution to positions, channels and groups."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kerasviz.inside import building_blocks as bb  # noqa: E402
from tests.helpers.models import rank3_model  # noqa: E402

SIZE, CHANNELS, CLASSES = 8, 6, 3


@pytest.fixture(autouse=True)
def _clear():
    keras.backend.clear_session()


def images(n=3, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, (n, SIZE, SIZE, 3)).astype(np.float32)


def test_groups_reconstruct_the_activations():
    model, x = rank3_model(), images()
    groups = bb.neuron_groups(model, x, "mix", groups=3)
    activations = np.maximum(x @ model.get_layer("mix").get_weights()[0][0, 0], 0)
    rebuilt = groups.spatial @ groups.channels
    assert groups.spatial.shape == (3, SIZE, SIZE, 3) and groups.channels.shape == (3, CHANNELS)
    np.testing.assert_allclose(np.linalg.norm(groups.channels, axis=1), 1.0, rtol=1e-5)
    relative = np.linalg.norm(rebuilt - activations) / np.linalg.norm(activations)
    assert relative < 1e-2 and abs(relative - groups.error) < 1e-4
    assert (groups.spatial >= 0).all() and (groups.channels >= 0).all()
    one = bb.neuron_groups(model, x, "mix", groups=1)
    assert one.error > 10 * groups.error  # one group cannot hold a rank-3 layer


def test_attributions_against_the_linear_head():
    model, x = rank3_model(), images()
    target = [0, 1, 2]
    channel = bb.channel_attribution(model, x, "mix", target)
    spatial = bb.spatial_attribution(model, x, "mix", target)
    activations = np.maximum(x @ model.get_layer("mix").get_weights()[0][0, 0], 0)
    kernel = model.get_layer("logits").get_weights()[0]
    # by hand: channel c of image n gets W[c, t_n] times the mean of its activation
    expected = activations.mean(axis=(1, 2)) * kernel[:, target].T
    np.testing.assert_allclose(channel, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(spatial.sum(axis=(1, 2)), channel.sum(axis=1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(spatial, np.einsum("nyxc,cn->nyx", activations, kernel[:, target]) / SIZE ** 2,
                               rtol=1e-4, atol=1e-6)


def test_group_attribution_adds_up_to_the_total():
    model, x = rank3_model(), images()
    groups = bb.neuron_groups(model, x, "mix", groups=3)
    result = bb.group_attribution(model, x, "mix", groups, target=1)
    total = bb.channel_attribution(model, x, "mix", target=1).sum(axis=1)
    assert result.groups.shape == (3, 3)
    np.testing.assert_allclose(result.total, total, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result.groups.sum(axis=1) + result.residual, total, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result.groups.sum(axis=1), total, rtol=2e-2, atol=1e-4)  # rank 3: little is left
    other = images(2, seed=5)  # the channel factors explain other images too
    on_other = bb.group_attribution(model, other, "mix", groups, target=1)
    np.testing.assert_allclose(on_other.groups.sum(axis=1), bb.channel_attribution(model, other, "mix", target=1)
                               .sum(axis=1), rtol=2e-2, atol=1e-4)
    one = bb.group_attribution(model, x, "mix", bb.neuron_groups(model, x, "mix", groups=1), target=1)
    assert np.abs(one.residual).max() > 10 * np.abs(result.residual).max()  # one group leaves much out


def test_bad_inputs_name_the_argument():
    model, x = rank3_model(), images(1)
    with pytest.raises(ValueError, match="groups"):
        bb.neuron_groups(model, x, "mix", groups=0)
    with pytest.raises(ValueError, match="groups=99"):
        bb.neuron_groups(model, x, "mix", groups=99)
    with pytest.raises(ValueError, match="layer"):
        bb.neuron_groups(model, x, "logits")
    with pytest.raises(ValueError, match="value_range"):
        bb.channel_attribution(model, x + 1, "mix", value_range=(0, 1))
    with pytest.raises(ValueError, match="value_range"):
        bb.neuron_groups(model, x + 1, "mix", value_range=(0, 1))
    with pytest.raises(TypeError, match="groups"):
        bb.group_attribution(model, x, "mix", np.ones((2, CHANNELS)))
    with pytest.raises(ValueError, match="non-negative"):
        bb.neuron_groups(_linear_model(), x, "lin")


def _linear_model():
    inputs = keras.Input((SIZE, SIZE, 3))
    lin = keras.layers.Conv2D(4, 1, name="lin", kernel_initializer=keras.initializers.Constant(-1.0))(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(lin)))
