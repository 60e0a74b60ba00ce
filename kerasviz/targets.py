"""What to explain or maximize: a scalar score per image, computed inside the graph.

Every method that takes `target=` accepts, with the same meaning everywhere:

- `None`: the class the model predicts for each image;
- an int: that class for every image;
- a sequence of ints: one class per image;
- a `Target` from this module: `ClassScore`, `Region` (a class summed over a
  region of a segmentation model's output), `Neuron`, `Channel`,
  `Direction`, `LayerL2`, `Diversity`, or a weighted sum of them
  (`ClassScore(3) + 0.5 * Channel("conv2", 7)`);
- the targets on other outputs: a regression unit or a weighted sum of
  units (`kerasviz.output_targets.OutputUnit`, `WeightedUnits`), any target
  on a named output of a model with several outputs (`OnOutput`), a
  detector's box (`kerasviz.detection_target.Detection`).

Class scores are the pre-softmax logits (Simonyan et al., 2013): the softmax
couples all classes, so its gradient mixes evidence for one class with evidence
against the others. The per-image class indices (and `Region`'s masks, packed
into bits) are fed to the compiled function as an int32 matrix, one or more
columns per term, so explaining other classes or regions never retraces it.
"""

import numbers

import keras
import numpy as np
import tensorflow as tf

from kerasviz import inputs, models


class Target:
    """Base class: a differentiable scalar score per image.

    Subclasses define `score(logits, activations, class_idx)`, returning a
    float32 `[B]` tensor, plus `layers()` (the layers whose outputs they read)
    and `key()` (a hashable description of their static structure).
    """

    def layers(self):
        return ()

    def class_terms(self):
        return []

    def class_outputs(self):
        """The output (its index in `model.outputs`) each of `class_terms()` reads: 0 unless it names one."""
        return [0] * len(self.class_terms())

    def names_outputs(self):
        """Whether the target says which output of a multi-output model it reads (`OnOutput`, `Detection`)."""
        return False

    def reads_logits(self):
        """Whether `score` reads the class scores; if not, the model may stop at the deepest of `layers()`.

        True unless a subclass says otherwise (the layer targets do): a
        target that does not read them gets `logits=None`.
        """
        return True

    def bind(self, model):
        """A copy whose layer references are canonical paths of `model` (validated)."""
        return self

    def key(self):
        raise NotImplementedError

    def score(self, logits, activations, class_idx):
        raise NotImplementedError

    def __add__(self, other):
        if isinstance(other, numbers.Number) and other == 0:
            return self
        if not isinstance(other, Target):
            return NotImplemented
        return Sum([(1.0, self), (1.0, other)])

    __radd__ = __add__

    def __mul__(self, weight):
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            return NotImplemented
        return Sum([(float(weight), self)])

    __rmul__ = __mul__

    def __neg__(self):
        return -1.0 * self

    def __sub__(self, other):
        if not isinstance(other, Target):
            return NotImplemented
        return self + (-1.0) * other


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _index_sequence(index):
    """A 1-D sequence of class indices as a numpy array (object dtype for ints beyond int64)."""
    array = np.asarray(index)
    if not (array.ndim == 1 and (array.dtype.kind in "iu" or array.dtype.kind == "O" and all(
            _is_int(v) for v in array))):
        raise TypeError(
            "Expected `target` (class indices) to be None, an int or a sequence of ints. "
            f"Received: target={index!r}" + (f" of dtype {array.dtype}." if array.dtype.kind != "O" else ".")
        )
    return array


class ClassScore(Target):
    """The logit of a class.

    Args:
        index: `None` (the predicted class of each image), an int (the same
            class for every image) or a sequence of ints (one per image).
    """

    def __init__(self, index=None):
        self.index = index if index is None or _is_int(index) else _index_sequence(index)

    def class_terms(self):
        return [self]

    def key(self):
        return ("class",)

    def width(self):
        """How many int32 columns of the class-index matrix this term reads."""
        return 1

    def columns(self, n_images, n_classes):
        """The term's int32 `[B, width()]` columns of the class-index matrix."""
        return self.column(n_images, n_classes)[:, None]

    def column(self, n_images, n_classes):
        """The int32 `[B]` class indices of this term (-1 = predicted), validated."""
        if self.index is None:
            return np.full([n_images], -1, np.int32)
        values = [self.index] * n_images if _is_int(self.index) else list(self.index)
        if len(values) != n_images:
            raise ValueError(
                f"Received {len(values)} class indices for `target` but {n_images} images: "
                "pass one class per image, a single int, or None."
            )
        bad = [int(v) for v in values if not 0 <= v < n_classes]  # Python ints: no overflow
        if bad:
            raise ValueError(
                f"Received an invalid class index in `target`: {bad[0]}. The model has "
                f"{n_classes} classes (0 to {n_classes - 1})."
            )
        return np.asarray(values, np.int32)

    def score(self, logits, activations, class_idx):
        column = class_idx[:, 0]
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        column = tf.where(column < 0, predicted, column)
        return tf.gather(logits, column, batch_dims=1)

    def __repr__(self):
        return f"ClassScore({'predicted' if self.index is None else self.index!r})"


_BITS = 31  # mask bits per int32 column: the sign bit stays 0, so no packed word reads as "predicted" (-1)


def pack_masks(masks):
    """Bool `[B, h, w]` -> int32 `[B, ceil(h w / 31)]`: 31 mask bits per non-negative word, row-major."""
    flat = np.asarray(masks, bool).reshape(len(masks), -1)
    words = -(-flat.shape[1] // _BITS)
    padded = np.zeros((len(flat), words * _BITS), np.int64)
    padded[:, :flat.shape[1]] = flat
    weights = (1 << np.arange(_BITS, dtype=np.int64))
    return (padded.reshape(len(flat), words, _BITS) * weights).sum(-1).astype(np.int32)


def unpack_masks(words, height, width):
    """`pack_masks` inverted inside a graph: int32 `[B, n]` -> float32 `[B, height, width]` of 0 and 1."""
    bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(words[:, :, None], tf.range(_BITS)[None, None, :]), 1)
    flat = tf.reshape(bits, [tf.shape(words)[0], -1])[:, :height * width]
    return tf.reshape(tf.cast(flat, tf.float32), [-1, height, width])


class Region(ClassScore):
    """The score of a class summed over a region of a dense output: a segmentation target.

    For a model whose output is a map of class scores `[B, h, w, K]` (a
    segmenter: one class vector per output position), the target is
    `sum over (i, j) in the region of s_c(i, j)`, with `s` the pre-softmax
    scores (the per-position softmax is bypassed like a classifier's). The
    score of a region is linear in the per-position scores, so the map of a
    region is the sum of the maps of its positions for any linear method
    (saliency's signed gradient, Gradient x Input, Integrated Gradients).
    Perturbation methods read the summed per-position probability instead.
    The masks travel to the compiled function packed into bits (31 per int32
    column of the class-index matrix): any region, per image, without a retrace.

    Args:
        index: the class: an int, or one int per image. (A dense output has
            no single predicted class: `predicted_regions` gives the region
            the model predicts as a class, to pass as `mask`.)
        mask: None (every output position), a bool `[h, w]` mask for every
            image, or one per image `[B, h, w]`, at the output's resolution.

    Example:

    >>> region = kerasviz.targets.predicted_regions(segmenter, images, 2)
    >>> maps = kerasviz.saliency(segmenter, images, target=kerasviz.targets.Region(2, region))
    """

    def __init__(self, index, mask=None):
        if index is None:
            raise ValueError("Received `index=None` for a `Region`: a dense output has no single predicted "
                             "class. Pass the class (an int or one per image).")
        super().__init__(index)
        if mask is not None:
            array = np.asarray(mask)
            if array.dtype.kind not in "biu" or array.ndim not in (2, 3) or array.size == 0:
                raise ValueError(f"Expected `mask` to be a bool or 0/1 array [h, w] or [B, h, w]. Received an array "
                                 f"of shape {array.shape} and dtype {array.dtype}.")
            if not np.isin(array, (0, 1)).all():
                raise ValueError("Expected `mask` to hold only 0/1 (or bools). Received other values: "
                                 f"{np.unique(array)[:5].tolist()}.")
            mask = array.astype(bool)
            if mask.ndim == 3 and _is_int(self.index):  # one mask per image: the class is per image too
                self.index = np.full([len(mask)], self.index, np.int64)
        self.mask, self.grid = mask, None

    def bind(self, model):
        bound = object.__new__(Region)
        bound.__dict__.update(self.__dict__)
        bound.grid = _dense_grid(model)
        if self.mask is not None and self.mask.shape[-2:] != bound.grid:
            raise ValueError(f"Expected `mask` at the output's resolution {bound.grid}. Received a mask of shape "
                             f"{self.mask.shape}.")
        return bound

    def width(self):
        height, width = self.grid
        return 1 + -(-height * width // _BITS)

    def columns(self, n_images, n_classes):
        masks = np.ones((n_images,) + self.grid, bool) if self.mask is None else self.mask
        if masks.ndim == 2:
            masks = np.broadcast_to(masks, (n_images,) + masks.shape)
        if len(masks) != n_images:
            raise ValueError(f"Received {len(masks)} masks in `mask` but {n_images} images: pass one mask per image, "
                             "or one [h, w] mask for all.")
        classes = self.column(n_images, n_classes)
        return np.concatenate([classes[:, None], pack_masks(masks)], axis=1)

    def key(self):
        return ("region", self.grid)

    def score(self, logits, activations, class_idx):
        scores = tf.gather(logits, class_idx[:, 0], axis=-1, batch_dims=1)  # [B, h, w]
        return tf.reduce_sum(scores * unpack_masks(class_idx[:, 1:], *self.grid), axis=[1, 2])

    def __repr__(self):
        where = "everywhere" if self.mask is None else f"mask {tuple(self.mask.shape)}"
        return f"Region({self.index!r}, {where})"


def _dense_grid(model):
    """`(h, w)` of a model whose output is `[B, h, w, K]`, else a ValueError saying what `Region` needs."""
    try:
        shape = tuple(model.outputs[0].shape[1:])
    except (AttributeError, ValueError, TypeError, IndexError):
        shape = None
    if shape is None or len(shape) != 3 or None in shape[:2]:
        raise ValueError(f"A `Region` target needs a model whose output is a map of class scores [B, h, w, K] of a "
                         f"known size. The model {model.name!r} outputs {shape}.")
    return int(shape[0]), int(shape[1])


def predicted_regions(model, images, index, batch_size=None):
    """Bool `[B, h, w]`: where a segmentation model predicts class `index` (the argmax over its classes).

    Args:
        model: a model whose output is `[B, h, w, K]`.
        images: `[B, H, W, C]` in the model's input space.
        index: the class: an int, or one int per image.
        batch_size: at most this many images per call.

    Returns:
        The masks, for `Region(index, mask)`.
    """
    from_images = inputs.check_images(model, images)
    _dense_grid(model)
    classes = np.broadcast_to(np.asarray(index), [len(from_images)])
    scores = np.concatenate([np.asarray(models.run(model, tf.constant(from_images[a:b]))[0])
                             for a, b in inputs.batches(len(from_images), inputs.check_batch_size(batch_size))])
    return scores.argmax(-1) == classes[:, None, None]


class _LayerTarget(Target):
    kind = None

    def __init__(self, layer, pre_activation=False):
        if not isinstance(pre_activation, bool):
            raise TypeError(f"Expected `pre_activation` to be a bool. Received: pre_activation={pre_activation!r}.")
        self.layer, self.pre_activation = layer, pre_activation

    def layers(self):
        return (self.layer,)

    def reads_logits(self):
        return False

    def bind(self, model):
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        if self.pre_activation:
            bound.layer = models.pre_activation(model, self.layer)
        else:
            bound.layer = models.get_layer(model, self.layer, argname="layer")[0]
        bound._check(model)
        return bound

    def _check(self, model):
        pass

    def _activation(self, activations):
        return tf.cast(activations[self.layer], tf.float32)

    def _flag(self):
        """`", pre_activation=True"` for the repr of an unbound target that reads the pre-activation."""
        marked = isinstance(self.layer, str) and models.split_pre_activation(self.layer)[1]
        return ", pre_activation=True" if self.pre_activation and not marked else ""


class Neuron(_LayerTarget):
    """The activation of one unit of a layer.

    Args:
        layer: the layer (name, path, index or object).
        index: an int for a flat layer `[B, units]`, or a tuple `(y, x, c)`
            for a spatial layer `[B, H, W, C]`.
        pre_activation: read what enters the layer's rectifier instead of
            its output (the layer must end in one: ReLU, swish, ...). A unit
            that does not fire yet still has a gradient there.
    """

    def __init__(self, layer, index, pre_activation=False):
        super().__init__(layer, pre_activation)
        self.index = (index,) if isinstance(index, numbers.Integral) else tuple(index)

    def _check(self, model):
        shape = models.output_shape(model, self.layer)
        if shape is None:
            return
        if len(self.index) != len(shape) or any(
            d is not None and not 0 <= i < d for i, d in zip(self.index, shape)
        ):
            raise ValueError(
                f"Received an invalid value for `index`: {self.index} does not address a "
                f"unit of the layer {self.layer!r}, whose output shape is {shape}."
            )

    def key(self):
        return ("neuron", self.layer, self.index)

    def score(self, logits, activations, class_idx):
        activation = self._activation(activations)
        return activation[(slice(None),) + self.index]

    def __repr__(self):
        return f"Neuron({self.layer!r}, {self.index}{self._flag()})"


class Channel(_LayerTarget):
    """The mean activation of one channel of a layer (over its spatial positions).

    Args:
        layer: the layer (name, path, index or object).
        channel: the channel (last axis) index, or a sequence of them, one
            per image (feature visualization of many channels in one batch;
            fed to the compiled step as a tensor, like class indices, so
            other channels never retrace it).
        pre_activation: read what enters the layer's rectifier instead of
            its output (the layer must end in one: ReLU, swish, ...). A
            channel that does not fire yet still has a gradient there (as
            lucid's `mixed4a_pre_relu`: Olah et al., 2017).
    """

    def __init__(self, layer, channel, pre_activation=False):
        super().__init__(layer, pre_activation)
        if _is_int(channel):
            self.channel = int(channel)
        else:
            array = np.asarray(channel) if isinstance(channel, (list, tuple, np.ndarray)) else None
            if array is None or array.ndim != 1 or array.dtype.kind not in "iu" or not len(array):
                raise TypeError(
                    f"Expected `channel` to be an int or a non-empty sequence of ints. Received: channel={channel!r}.")
            self.channel = tuple(int(c) for c in array)

    def _check(self, model):
        shape = models.output_shape(model, self.layer)
        count = shape[-1] if shape else None
        bad = [c for c in np.atleast_1d(self.channel) if count is not None and not 0 <= c < count]
        if bad:
            raise ValueError(
                f"Received an invalid value for `channel`: {bad[0]}. The layer "
                f"{self.layer!r} has {shape[-1]} channels."
            )

    def class_terms(self):
        return [] if isinstance(self.channel, int) else [self]

    def width(self):
        return 1

    def columns(self, n_images, n_classes):
        return self.column(n_images, n_classes)[:, None]

    def column(self, n_images, n_classes):
        """The int32 `[B]` channel of each image (a per-image `channel` only), validated."""
        if len(self.channel) != n_images:
            raise ValueError(
                f"Received {len(self.channel)} channels for `channel` but {n_images} images: "
                "pass one channel per image, or a single int.")
        return np.asarray(self.channel, np.int32)

    def key(self):
        return ("channel", self.layer, self.channel if isinstance(self.channel, int) else "per_image")

    def score(self, logits, activations, class_idx):
        activation = self._activation(activations)
        if isinstance(self.channel, int):
            activation = activation[..., self.channel]
        else:
            moved = tf.experimental.numpy.moveaxis(activation, -1, 1)  # [B, C, ...]
            activation = tf.gather(moved, class_idx[:, 0], batch_dims=1)
        return tf.reduce_mean(tf.reshape(activation, [tf.shape(activation)[0], -1]), axis=1)

    def __repr__(self):
        return f"Channel({self.layer!r}, {self.channel}{self._flag()})"


class Direction(_LayerTarget):
    """The projection of a layer's activations on a direction of its channel space.

    The mean over positions of `a(y, x) . v / ||v||`: a neuron or channel is
    one basis direction; a linear combination of channels (a direction found
    by a probe, a difference of class means, an NMF factor) is another
    (Olah et al., 2017, "Feature Visualization", section "Interaction between
    neurons"; Kim et al., 2018, concept activation vectors).

    Args:
        layer: the layer (name, path, index or object).
        vector: one number per channel of the layer (not all zero).
        pre_activation: read what enters the layer's rectifier instead of
            its output (the layer must end in one).
    """

    def __init__(self, layer, vector, pre_activation=False):
        super().__init__(layer, pre_activation)
        vector = np.asarray(vector, np.float64)
        if vector.ndim != 1 or not len(vector) or not np.all(np.isfinite(vector)) or not np.any(vector):
            raise ValueError(
                f"Received an invalid value for `vector`: {vector!r}. Expected a finite, non-zero "
                "1-D sequence with one number per channel.")
        self.vector = tuple((vector / np.linalg.norm(vector)).tolist())

    def _check(self, model):
        shape = models.output_shape(model, self.layer)
        if shape and shape[-1] is not None and len(self.vector) != shape[-1]:
            raise ValueError(
                f"Received a `vector` of {len(self.vector)} numbers for the layer {self.layer!r}, "
                f"which has {shape[-1]} channels.")

    def key(self):
        return ("direction", self.layer, self.vector)

    def score(self, logits, activations, class_idx):
        projection = tf.tensordot(self._activation(activations), tf.constant(self.vector, tf.float32), axes=1)
        return tf.reduce_mean(tf.reshape(projection, [tf.shape(projection)[0], -1]), axis=1)

    def __repr__(self):
        return f"Direction({self.layer!r}, [{len(self.vector)} channels]{self._flag()})"


class Diversity(_LayerTarget):
    """Minus the mean cosine similarity of each image's Gram matrix to the others' of its group.

    Adding it to an objective for a batch pushes the images apart in style
    (which features co-occur) rather than position, so one channel shows
    several facets (Olah et al., 2017, "Feature Visualization", section
    "Diversity"; Gram matrices as in Gatys et al., 2015). Images `[k * g, (k
    + 1) * g)` form group `k`; an image alone in its group scores 0.

    Args:
        layer: a spatial layer (name, path, index or object).
        group_size: images per group; `None`: the whole batch is one group.
    """

    def __init__(self, layer, group_size=None):
        super().__init__(layer)
        if group_size is not None and (not _is_int(group_size) or group_size < 1):
            raise ValueError(
                f"Received an invalid value for `group_size`: {group_size!r}. Expected None or an int >= 1.")
        self.group_size = None if group_size is None else int(group_size)

    def key(self):
        return ("diversity", self.layer, self.group_size)

    def score(self, logits, activations, class_idx):
        activation = self._activation(activations)
        if activation.shape.rank != 4:
            raise ValueError(
                f"Received `Diversity({self.layer!r})` for a layer of output rank {activation.shape.rank}: "
                "Gram matrices need a spatial layer [B, H, W, C].")
        flat = tf.reshape(activation, [tf.shape(activation)[0], -1, activation.shape[-1]])
        gram = tf.reshape(tf.einsum("bpi,bpj->bij", flat, flat), [tf.shape(flat)[0], -1])
        gram = tf.math.l2_normalize(gram, axis=1)
        similarity = tf.matmul(gram, gram, transpose_b=True)  # [B, B] cosines
        ids = tf.range(tf.shape(gram)[0])
        groups = ids // self.group_size if self.group_size else tf.zeros_like(ids)
        same = tf.cast(tf.logical_and(groups[:, None] == groups[None, :], ids[:, None] != ids[None, :]), tf.float32)
        return -tf.reduce_sum(similarity * same, axis=1) / tf.maximum(tf.reduce_sum(same, axis=1), 1.0)

    def __repr__(self):
        return f"Diversity({self.layer!r}" + (f", group_size={self.group_size})" if self.group_size else ")")


class LayerL2(_LayerTarget):
    """The mean squared activation of a layer: DeepDream's objective.

    Its gradient with respect to the activation is proportional to the
    activation itself, so ascending it amplifies whatever the layer already
    sees (Mordvintsev et al., 2015, "Inceptionism").

    Args:
        layer: the layer (name, path, index or object).
    """

    def __init__(self, layer):
        super().__init__(layer)

    def key(self):
        return ("layer_l2", self.layer)

    def score(self, logits, activations, class_idx):
        activation = self._activation(activations)
        flat = tf.reshape(activation, [tf.shape(activation)[0], -1])
        return tf.reduce_mean(tf.square(flat), axis=1)

    def __repr__(self):
        return f"LayerL2({self.layer!r})"


class Sum(Target):
    """A weighted sum of targets; built by `+`, `-` and `*` on targets."""

    def __init__(self, terms):
        flat = []
        for weight, target in terms:
            if isinstance(target, Sum):
                flat.extend((weight * w, t) for w, t in target.terms)
            else:
                flat.append((weight, target))
        self.terms = flat

    def layers(self):
        return tuple(layer for _, t in self.terms for layer in t.layers())

    def class_terms(self):
        return [c for _, t in self.terms for c in t.class_terms()]

    def class_outputs(self):
        return [o for _, t in self.terms for o in t.class_outputs()]

    def names_outputs(self):
        return all(t.names_outputs() for _, t in self.terms if t.reads_logits())

    def reads_logits(self):
        return any(t.reads_logits() for _, t in self.terms)

    def bind(self, model):
        return Sum([(w, t.bind(model)) for w, t in self.terms])

    def key(self):
        return ("sum", tuple((w, t.key()) for w, t in self.terms))

    def score(self, logits, activations, class_idx):
        total, column = 0.0, 0
        for weight, target in self.terms:
            n = sum(term.width() for term in target.class_terms())
            total += weight * target.score(logits, activations, class_idx[:, column:column + n])
            column += n
        return total

    def __repr__(self):
        return " + ".join(f"{w:g} * {t!r}" for w, t in self.terms)


def as_target(target):
    """Turns a `target=` argument into a `Target` (see the module docstring)."""
    if isinstance(target, Target):
        return target
    if target is None or isinstance(target, numbers.Integral) and not isinstance(target, bool):
        return ClassScore(target)
    if isinstance(target, (list, tuple, np.ndarray)) or hasattr(target, "__array__"):
        return ClassScore(target)
    raise TypeError(
        "Expected `target` to be None (the predicted class), an int class index, a sequence "
        "of class indices (one per image) or a `kerasviz.targets.Target`. "
        f"Received: target={target!r} of type {type(target).__name__}."
    )


def num_classes(model, image_shape):
    """The size of the model's last output axis (1 for a single sigmoid unit).

    Read from the model's symbolic outputs, or (subclassed models) from a
    symbolic call on `image_shape` `(H, W, C)`.
    """
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, ValueError, TypeError, IndexError):
        spec = model.compute_output_spec(keras.KerasTensor((1,) + tuple(image_shape)))
        return int(spec.shape[-1])


def resolve(model, target, images):
    """Binds `target` to `model` and builds its class-index matrix.

    Returns:
        `(target, class_idx)` for the checked `images` `[B, H, W, C]`: the bound
        `Target` and an int32 `[B, K]` array, `width()` columns per class term (-1 where the predicted class is
        meant); `K` is at least 1 so that the compiled signature never changes.
    """
    n_images = len(images)
    target = as_target(target)
    inputs.check_single_output(model, target)
    target = target.bind(model)
    terms = target.class_terms()
    if not terms:
        return target, np.full([n_images, 1], -1, np.int32)
    if models.output_count(model) > 1:
        counts = [int(model.outputs[o].shape[-1]) for o in target.class_outputs()]
    else:
        counts = [num_classes(model, images.shape[1:])] * len(terms)
    return target, np.concatenate([t.columns(n_images, n) for t, n in zip(terms, counts)], axis=1).astype(np.int32)
