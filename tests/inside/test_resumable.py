"""dissect and sample_activations over shards: interrupted and resumed from `state_dir`, they equal a straight run."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasviz.datasets import shards  # noqa: E402
from kerasviz.inside import dissect, resumable, sample_activations  # noqa: E402

SIZE, N, BATCH = 12, 40, 4
SETTINGS = dict(batch_size=BATCH, shard_size=8, capacity=64, top_quantile=0.05)  # the sketch compacts: its RNG matters


@pytest.fixture(autouse=True)
def _clear():
    keras.backend.clear_session()


def model():
    return keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="conv",
                            kernel_initializer=keras.initializers.GlorotUniform(seed=1)),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, kernel_initializer=keras.initializers.GlorotUniform(seed=2)),
    ])


def data(seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 1, (N, SIZE, SIZE, 3)).astype(np.float32)
    masks = rng.integers(-1, 3, (N, SIZE, SIZE)).astype(np.int64)
    return images, masks


class Failing:
    """A tf.data stream of `(images, masks)` batches of 4 that raises after `limit` batches in all (both passes)."""

    def __init__(self, arrays, limit):
        self.arrays, self.limit, self.count = arrays, limit, 0

    def generate(self):
        for start in range(0, N, BATCH):
            if self.count == self.limit:
                raise RuntimeError("interrupted")
            self.count += 1
            yield tuple(a[start:start + BATCH] for a in self.arrays)

    def dataset(self):
        spec = (tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32), tf.TensorSpec([None, SIZE, SIZE], tf.int64))
        return tf.data.Dataset.from_generator(self.generate, output_signature=spec[:len(self.arrays)])


def assert_same(a, b):
    for name, x, y in zip(a._fields, a, b):
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            assert x == y, name


@pytest.mark.parametrize("limit", [5, 13])  # killed in the first pass (quantiles), in the second (tally)
def test_dissect_interrupted_and_resumed_equals_a_straight_run(tmp_path, limit):
    net, arrays = model(), data()
    straight = dissect(net, arrays, "conv", ["a", "b", "c"], state_dir=tmp_path / "straight", **SETTINGS)
    assert not straight.exact  # the sketch compacted
    assert_same(straight, dissect(net, arrays, "conv", ["a", "b", "c"], **SETTINGS))  # no state_dir: the same
    failing = Failing(arrays, limit)
    with pytest.raises(Exception, match="interrupted"):
        dissect(net, failing.dataset(), "conv", ["a", "b", "c"], state_dir=tmp_path / "run", **SETTINGS)
    saved = shards.finished_shards(tmp_path / "run")
    assert 1 <= len(saved) <= 2  # the last state of each pass only
    resumed = dissect(net, Failing(arrays, 10 ** 6).dataset(), "conv", ["a", "b", "c"], state_dir=tmp_path / "run",
                      **SETTINGS)
    assert_same(resumed, straight)
    # a finished run called again reads the data through and returns the same result
    assert_same(dissect(net, arrays, "conv", ["a", "b", "c"], state_dir=tmp_path / "run", **SETTINGS), straight)


def test_resume_does_not_recompute_the_shards_done(tmp_path):
    net, arrays = model(), data()
    failing = Failing(arrays, 5)
    with pytest.raises(Exception, match="interrupted"):
        sample_activations(net, failing.dataset(), "conv", 100, batch_size=BATCH, shard_size=8,
                           state_dir=tmp_path)
    calls = []
    original = resumable.StateDir.save

    def counting(self, name, digests, arrays_, info):
        calls.append(len(digests))
        return original(self, name, digests, arrays_, info)

    resumable.StateDir.save = counting
    try:
        sample_activations(net, arrays[0], "conv", 100, batch_size=BATCH, shard_size=8, state_dir=tmp_path)
    finally:
        resumable.StateDir.save = original
    assert calls == [3, 4, 5]  # shards 1 and 2 (16 images, before the 5th batch) were saved before


def test_sample_activations_interrupted_and_resumed_equals_a_straight_run(tmp_path):
    net, (images, _) = model(), data()
    straight = sample_activations(net, images, "conv", 300, seed=3, batch_size=BATCH, shard_size=8)
    failing = Failing((images,), 6)
    with pytest.raises(Exception, match="interrupted"):
        sample_activations(net, failing.dataset(), "conv", 300, seed=3, batch_size=BATCH, shard_size=8,
                           state_dir=tmp_path)
    resumed = sample_activations(net, Failing((images,), 10 ** 6).dataset(), "conv", 300, seed=3,
                                 batch_size=BATCH, shard_size=8, state_dir=tmp_path)
    assert_same(resumed, straight)
    assert resumed.seen == N * SIZE * SIZE


def test_a_state_dir_of_another_run_or_other_data_raises(tmp_path):
    net, arrays = model(), data()
    sample_activations(net, arrays[0], "conv", 50, batch_size=BATCH, shard_size=8, state_dir=tmp_path)
    with pytest.raises(ValueError, match=r"state_dir.*other arguments \(samples: 50 there, 60 now"):
        sample_activations(net, arrays[0], "conv", 60, batch_size=BATCH, shard_size=8, state_dir=tmp_path)
    other = arrays[0].copy()
    other[20] = 0.5
    with pytest.raises(ValueError, match=r"images 16..23 differ"):
        sample_activations(net, other, "conv", 50, batch_size=BATCH, shard_size=8, state_dir=tmp_path)
    with pytest.raises(ValueError, match="fewer"):
        sample_activations(net, arrays[0][:16], "conv", 50, batch_size=BATCH, shard_size=8, state_dir=tmp_path)
    with pytest.raises(TypeError, match="state_dir"):
        sample_activations(net, arrays[0], "conv", 50, state_dir=3)
    with pytest.raises(ValueError, match="shard_size"):
        dissect(net, arrays, "conv", ["a", "b", "c"], shard_size=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="state_dir"):
        dissect(net, arrays, "conv", ["a", "b", "c"], state_dir=tmp_path / "file")


def test_shards_are_cut_from_the_images_whatever_the_batching():
    images = np.arange(10)[:, None, None, None] * np.ones((1, 2, 2, 3), np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(3)
    cut = [s[0][:, 0, 0, 0].tolist() for s in resumable.shards_of(dataset, 4)]
    assert cut == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(s[0]) for s in resumable.shards_of(images, 4)] == [4, 4, 2]
