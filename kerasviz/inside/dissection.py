"""Network Dissection: which concept each unit of a layer detects, over a labelled dataset."""

import typing

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, models, progress
from kerasviz.inside import resumable, streams
from kerasviz.inside.quantiles import DEFAULT_CAPACITY, TailQuantiles

#: Bau et al., 2017, section 2.2: the top quantile of each unit's activations, and a "detector"'s least IoU.
TOP_QUANTILE = 0.005
DETECTOR_IOU = 0.04
_MASK_BYTES = 2 ** 26  # the upsampled unit masks of one compiled call: at most 64 MiB of float32
_EXACT_COUNT = 2 ** 24  # pixels per compiled call at most: float32 counts them exactly
_SUMS = ("intersections", "unit_area", "concept_area")  # the second pass's running sums


class Dissection(typing.NamedTuple):
    """What each unit of a layer detects (Network Dissection).

    Attributes:
        layer: the layer's path.
        concepts: the concept names, `K` of them.
        thresholds: float32 `[U]`, each unit's top-quantile level `T_u`.
        iou: float32 `[U, K]`, the IoU of each unit's mask with each concept over the dataset.
        best_concept: int64 `[U]`, the index of each unit's best concept.
        best_iou: float32 `[U]`.
        detector: bool `[U]`, `best_iou > iou_threshold`.
        exact: whether every threshold is the exact quantile (the tail fitted the sketch).
        positions: the activation positions per unit seen (images x h x w).
    """

    layer: str
    concepts: tuple
    thresholds: np.ndarray
    iou: np.ndarray
    best_concept: np.ndarray
    best_iou: np.ndarray
    detector: np.ndarray
    exact: bool
    positions: int

    def labels(self):
        """One line per unit: `"unit 3: red (IoU 0.41)"`, with `-` for a unit that detects nothing."""
        return [f"unit {u}: {self.concepts[c] if d else '-'} (IoU {i:.3g})"
                for u, (c, i, d) in enumerate(zip(self.best_concept, self.best_iou, self.detector))]


def _check_concepts(concepts):
    if isinstance(concepts, (str, bytes)) or not hasattr(concepts, "__iter__"):
        raise TypeError(f"Expected `concepts` to be a sequence of concept names. Received: concepts={concepts!r}.")
    names = tuple(str(c) for c in concepts)
    if not names:
        raise ValueError(f"Received an invalid value for `concepts`: {concepts!r}. Expected at least one name.")
    return names


def _check_fraction(value, argname, low=0.0, high=1.0):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not low < value < high:
        raise ValueError(f"Received an invalid value for `{argname}`: {value!r}. Expected a number in ({low}, {high}).")
    return float(value)


def concept_masks(masks, count, argname="data"):
    """Masks as float32 one-hot `[B, H, W, K]`: int ids `[B, H, W]` (-1: no concept) or binary `[B, H, W, K]`."""
    masks = np.asarray(masks)
    if masks.ndim == 3:
        if masks.dtype.kind not in "iu":
            raise TypeError(f"Expected the concept masks of `{argname}` [B, H, W] to hold int concept ids. "
                            f"Received dtype {masks.dtype}.")
        if masks.size and (masks.min() < -1 or masks.max() >= count):
            raise ValueError(
                f"Received concept ids from {masks.min()} to {masks.max()} in the masks of `{argname}`; "
                f"expected -1 (no concept) to {count - 1} (one per name of `concepts`).")
        return (masks[..., None] == np.arange(count)).astype(np.float32)
    if masks.ndim == 4 and masks.shape[-1] == count:
        if masks.dtype.kind not in "biuf" or not np.all((masks == 0) | (masks == 1)):
            raise ValueError(f"Expected the binary concept masks of `{argname}` [B, H, W, K] to hold 0 and 1 only.")
        return masks.astype(np.float32)
    raise ValueError(
        f"Received concept masks of shape {masks.shape} in `{argname}`; expected int ids [B, H, W] or "
        f"binary masks [B, H, W, {count}] (one per name of `concepts`).")


def _tally_function(model, path, image_shape, mask_shape, group):
    """The compiled `(images, masks, thresholds) -> (intersections [U, K], unit areas [U], concept areas [K])`.

    The units are upsampled and thresholded `group` at a time, one group
    after the other (`tf.map_fn`, no parallel iterations): a call holds
    `B * H * W * group` upsampled values at most.
    """

    def build(model_ref):
        def one_group(arguments):
            values, masks, thresholds = arguments  # [B, h, w, G], [B, H, W, K], [G]
            upsampled = tf.image.resize(values, mask_shape[:2], method="bilinear")
            active = tf.cast(upsampled > thresholds, tf.float32)  # [B, H, W, G]
            return tf.einsum("bhwu,bhwk->uk", active, masks), tf.reduce_sum(active, axis=[0, 1, 2])

        def tally(images, masks, thresholds):
            values = tf.cast(models.run_layers(model_ref(), images, (path,))[path], tf.float32)
            units = tf.shape(values)[-1]
            padding = (-units) % group
            values = tf.pad(values, [[0, 0], [0, 0], [0, 0], [0, padding]])
            padded = tf.pad(thresholds, [[0, padding]], constant_values=np.inf)
            groups = tf.shape(values)[-1] // group
            shape = tf.shape(values)
            split = tf.transpose(tf.reshape(values, [shape[0], shape[1], shape[2], groups, group]), [3, 0, 1, 2, 4])
            intersections, areas = tf.map_fn(
                lambda pair: one_group((pair[0], masks, pair[1])), (split, tf.reshape(padded, [groups, group])),
                fn_output_signature=(tf.float32, tf.float32), parallel_iterations=1)
            intersections = tf.reshape(intersections, [-1, tf.shape(masks)[-1]])[:units]
            return intersections, tf.reshape(areas, [-1])[:units], tf.reduce_sum(masks, axis=[0, 1, 2])

        return tally

    signature = [tf.TensorSpec([None, *image_shape], tf.float32), tf.TensorSpec([None, *mask_shape], tf.float32),
                 tf.TensorSpec([None], tf.float32)]
    key = ("inside_dissection_tally", path, tuple(image_shape), tuple(mask_shape), group)
    return compiled.compiled_function(model, key, build, signature)


def dissect(model, data, layer, concepts, *, top_quantile: float = TOP_QUANTILE, iou_threshold: float = DETECTOR_IOU,
            batch_size=None, capacity: int = DEFAULT_CAPACITY, value_range=None, seed: int = 0,
            shard_size: int = resumable.DEFAULT_SHARD_SIZE, state_dir=None, strategy=None,
            verbose: int = 0) -> Dissection:
    """Labels each unit of a layer with the concept its strongest activations segment best.

    Network Dissection (Bau, Zhou, Khosla, Oliva & Torralba, 2017, "Network
    Dissection: Quantifying Interpretability of Deep Visual Representations",
    section 2.2): over the dataset, each unit `u`'s top-quantile level
    `T_u` is set so that `P(a_u > T_u) = top_quantile` (0.005) over every
    position of its activation map; each activation map is upsampled
    (bilinear) to the masks' resolution and thresholded, `M_u = S_u > T_u`;
    each unit's IoU with concept `c` is `sum |M_u & L_c| / sum |M_u | L_c|`
    summed over the whole dataset; a unit is a detector of its best concept
    when that IoU exceeds `iou_threshold` (0.04). Two streamed passes over
    `data` (each a forward pass of the model up to `layer` per image): the
    first feeds a `TailQuantiles` sketch, exact while the top tail of each
    unit (`top_quantile` of the positions) fits in `capacity // 2` values,
    the second tallies the intersections and unions. The concept masks are
    the user's own segmentation labels, every concept labelled on every
    image (Broden's partially labelled categories, counted only on images
    that label them, are not modelled). The threshold is strict (`>`): a
    unit silent on more than 99.5% of positions (`T_u = 0` after a ReLU)
    marks only where it fires, not everywhere.

    The data is read in shards of `shard_size` images (a dataset's own
    batches are joined and cut again), each in batches of `batch_size`.
    Under `tf.distribute` (as `explain_dataset`): the strategy's local
    devices (`MirroredStrategy`) compute the batches of a shard in turns;
    with several workers (`MultiWorkerMirroredStrategy`), worker `i` of `W`
    reads the shards `i` modulo `W` into its own sketch, then its own sums,
    and after each pass the workers merge their partial states through
    `state_dir` (`TailQuantiles.merge`, sums added), so every worker
    returns the same `Dissection`. The result is the single-device one
    whenever `exact` (the thresholds are exact quantiles; the IoU counts
    are exact sums), whatever the strategy.

    Memory: the sketch's `units * capacity` floats per level (about
    `log2(positions / capacity)` levels), one shard of images and masks,
    one batch's activations and one-hot masks, and its upsampled unit
    masks, taken a group of units at a time so that they stay within 64
    MiB (`batch_size * H * W` floats per unit; one unit at a time at the
    least).

    Args:
        model: a built Keras image model.
        data: `(images, masks)` arrays, or a `tf.data.Dataset` (iterated
            twice) yielding `(images, masks)` batches; images `[B, H, W, C]` in
            the model's input space; masks int concept ids `[B, H', W']` (-1:
            none) or binary `[B, H', W', K]` at any resolution `H' x W'`.
        layer: a spatial layer (name, path, index or object).
        concepts: `K` concept names, in the order of the mask ids.
        top_quantile: the fraction of each unit's positions its mask keeps.
        iou_threshold: the IoU above which a unit detects its best concept.
        batch_size: images per compiled call (default 32).
        capacity: the sketch's values per unit and level (even).
        value_range: when given, images outside it raise.
        seed: seeds the sketch's compactions (only used when it compacts).
        shard_size: images read (and held) at a time, and between two
            saved states.
        state_dir: None, or a directory where the run's state is saved
            after each shard (`kerasviz.inside.resumable`): called again with
            the same arguments and data after an interruption, it checks the
            shards done, goes on from the last saved state and returns
            exactly what an uninterrupted run returns. A directory of another
            run raises; nothing is overwritten. Required with several
            workers: a directory they all share (each saves under its own
            `worker-<i>-of-<W>` folder).
        strategy: a `tf.distribute.Strategy`; default: the current one
            (`tf.distribute.get_strategy()`).
        verbose: 1 shows a progress bar per pass.

    Returns:
        A `Dissection`.

    Raises:
        ValueError, TypeError: an invalid argument (named in the message);
            masks whose ids or channels do not match `concepts`; several
            workers without a `state_dir`.

    Example:

    >>> result = dissect(model, (images, masks), "conv3", ["sky", "grass", "red"])
    >>> result.labels()[:3]
    """
    models.check_model(model)
    names = _check_concepts(concepts)
    top_quantile = _check_fraction(top_quantile, "top_quantile")
    iou_threshold = _check_fraction(iou_threshold, "iou_threshold", 0.0, 1.0)
    path = streams.layer_path(model, layer)
    shape = models.output_shape(model, path)
    if shape is not None and len(shape) != 3:
        raise ValueError(f"Received an invalid value for `layer`: {layer!r} is not spatial (output {tuple(shape)}).")
    verbose = progress.check_verbose(verbose)
    chunk = inputs.check_batch_size(batch_size)
    shard_size = inputs.check_positive_int(shard_size, "shard_size")
    place = resumable.placement(strategy, state_dir)
    state = resumable.StateDir(state_dir, resumable.run_arguments(
        model, "dissect", layer=path, concepts=list(names), top_quantile=top_quantile, iou_threshold=iou_threshold,
        batch_size=chunk, capacity=capacity, value_range=value_range, seed=seed, shard_size=shard_size), place)

    def checked(batch):
        images, masks = batch
        images = streams.check_batch(model, images, value_range)
        if len(masks) != len(images):
            raise ValueError(f"Received {len(images)} images and {len(masks)} masks in a batch of `data`.")
        return images, concept_masks(masks, len(names))

    def add_to_sketch(sketch, shard, first):
        batches = list(streams.batches(shard, chunk, parts=2))
        held = [sketch]

        def compute(i):
            images, _ = checked(batches[i])  # bad masks fail in the first pass already
            return streams.activations(model, images, path, chunk)

        def add(i, values):
            if values.ndim != 4:
                raise ValueError(
                    f"Received an invalid value for `layer`: {layer!r} outputs {values.shape}, not [B, h, w, C].")
            if held[0] is None:
                held[0] = TailQuantiles(values.shape[-1], capacity, seed)
            held[0].update(values.reshape(-1, values.shape[-1]).T)

        place.in_turns(len(batches), compute, add)
        return held[0]

    def load_sketch(info, load):
        return TailQuantiles.from_state({f"level{i}": load(f"level{i}") for i in range(info["levels"])}, info)

    sketch = resumable.fold(data, state, "quantiles", None, add_to_sketch, TailQuantiles.state, load_sketch,
                            shard_size=shard_size, parts=2, verbose=verbose)
    sketch = resumable.gather(state, "quantiles", sketch, load_sketch, lambda a, b: a.merge(b))
    thresholds = sketch.quantile(1.0 - top_quantile)
    units = sketch.units
    constant = tf.constant(thresholds)

    def tally(sums, shard, first):
        batches = list(streams.batches(shard, chunk, parts=2))

        def compute(i):
            images, masks = checked(batches[i])
            group = max(1, min(units, _MASK_BYTES // (4 * chunk * masks[0, ..., 0].size)))
            function = _tally_function(model, path, images.shape[1:], masks.shape[1:], group)
            per_call = max(1, min(chunk, _EXACT_COUNT // masks[0, ..., 0].size))  # float32 counts stay exact
            counted = (np.zeros((units, len(names))), np.zeros(units), np.zeros(len(names)))
            for a, b in inputs.batches(len(images), per_call):
                found = function(tf.constant(images[a:b]), tf.constant(masks[a:b]), constant)
                for total, part in zip(counted, found):
                    total += part.numpy()
            return counted

        def add(i, counted):
            for total, part in zip(sums, counted):
                total += part

        place.in_turns(len(batches), compute, add)
        return sums

    def add_sums(a, b):
        return tuple(x + y for x, y in zip(a, b))

    def load_sums(info, load):
        return tuple(load(name) for name in _SUMS)

    start = (np.zeros((units, len(names)), np.float64), np.zeros(units, np.float64), np.zeros(len(names), np.float64))
    sums = resumable.fold(data, state, "tally", start, tally, lambda sums: (dict(zip(_SUMS, sums)), {}), load_sums,
                          shard_size=shard_size, parts=2, verbose=verbose)
    intersections, unit_area, concept_area = resumable.gather(state, "tally", sums, load_sums, add_sums)
    unions = unit_area[:, None] + concept_area[None, :] - intersections
    iou = np.where(unions > 0, intersections / np.maximum(unions, 1), 0.0).astype(np.float32)
    best = np.argmax(iou, axis=1).astype(np.int64)
    best_iou = iou[np.arange(units), best]
    return Dissection(path, names, thresholds.astype(np.float32), iou, best, best_iou, best_iou > iou_threshold,
                      sketch.is_exact(1.0 - top_quantile), int(sketch.count))
