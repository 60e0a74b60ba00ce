"""Building Blocks for one image (`kerasviz.inside.building_blocks`), against numpy on a model with known activations."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasviz import inside  # noqa: E402
from tb_plugin import metadata  # noqa: E402
from tests.helpers.events import read_events  # noqa: E402
from tests.helpers.models import rank3_model  # noqa: E402

SIZE, CHANNELS, CLASSES = 8, 6, 3


@pytest.fixture(scope="module")
def model():
    keras.backend.clear_session()
    return rank3_model()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).uniform(0, 1, (4, SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def blocks(model, images):
    return inside.building_blocks_of(model, images[0], "mix", groups=3, target=1, top=2, max_channels=4, steps=4)


def test_dictionary_attribution_and_groups_against_numpy(model, images, blocks):
    kernel, weights = model.get_layer("mix").get_weights()[0][0, 0], model.get_layer("logits").get_weights()[0]
    activations = np.maximum(images[0] @ kernel, 0)  # [h, w, C]
    order = np.argsort(-activations, axis=-1, kind="stable")[..., :2]
    np.testing.assert_array_equal(blocks.top_channels, order)
    np.testing.assert_allclose(blocks.top_values, np.take_along_axis(activations, order, -1), rtol=1e-5)
    weight = np.bincount(order.ravel(), np.take_along_axis(activations, order, -1).ravel(), CHANNELS)
    expected = np.argsort(-weight, kind="stable")[:min(4, np.count_nonzero(weight))]  # only channels in a dictionary
    np.testing.assert_array_equal(blocks.channels, expected)
    spatial = activations @ weights[:, 1] / SIZE**2
    np.testing.assert_allclose(blocks.spatial_attribution, spatial, rtol=1e-4, atol=1e-7)
    total = blocks.group_attribution.sum() + blocks.residual
    np.testing.assert_allclose(total, spatial.sum(), rtol=1e-4)
    assert abs(blocks.residual) < 0.05 * np.abs(blocks.group_attribution).sum()  # three groups hold a rank-3 layer
    np.testing.assert_allclose(blocks.amounts @ blocks.groups.channels, activations, atol=0.02 * activations.max())
    assert blocks.layer == "mix" and blocks.target == 1
    assert blocks.group_images.shape == (3, SIZE, SIZE, 3) and blocks.channel_images.shape == (len(expected), SIZE, SIZE, 3)
    assert (blocks.group_images >= 0).all() and (blocks.group_images <= 1).all()


def test_groups_fitted_on_other_images(model, images):
    result = inside.building_blocks_of(model, images[0], "mix", groups=3, fit_images=images[1:], steps=2,
                                    max_channels=1)
    activations = np.maximum(images[0] @ model.get_layer("mix").get_weights()[0][0, 0], 0)
    np.testing.assert_allclose(result.amounts @ result.groups.channels, activations, atol=0.02 * activations.max())
    predicted = int(np.argmax(model(images[:1])[0]))
    assert result.target == predicted


def test_written_for_the_dashboard(tmp_path, blocks):
    with tf.summary.create_file_writer(str(tmp_path)).as_default(step=2):
        assert blocks.write(class_names=["a", "b", "c"])
    [(step, value, meta)] = read_events(str(tmp_path))["kerasviz/blocks/building_blocks"]
    assert step == 2 and metadata.parse_plugin_content(meta.plugin_data.content)["family"] == "blocks"
    blobs = tf.make_ndarray(value.tensor)
    header, arrays = metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1])
    assert header["layer"] == "mix" and header["target"] == 1 and header["channels"] == blocks.channels.tolist()
    np.testing.assert_array_equal(arrays["top_channels"], blocks.top_channels)
    assert arrays["image"].shape == (1, SIZE, SIZE, 3) and arrays["group_images"].dtype == np.uint8
    np.testing.assert_allclose(arrays["amounts"], np.moveaxis(blocks.amounts, -1, 0), atol=2e-3 * blocks.amounts.max())


def test_bad_inputs_name_the_argument(model, images):
    with pytest.raises(ValueError, match="`image`"):
        inside.building_blocks_of(model, images[:2], "mix")
    with pytest.raises(TypeError, match="`target`"):
        inside.building_blocks_of(model, images[0], "mix", target="cat")
    with pytest.raises(ValueError, match="`top`"):
        inside.building_blocks_of(model, images[0], "mix", top=0)
    with pytest.raises(ValueError, match="`groups`"):
        inside.building_blocks_of(model, images[0], "mix", groups=0)
