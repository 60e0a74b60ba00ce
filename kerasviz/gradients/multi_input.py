"""Gradient methods on models with several inputs: images plus side inputs, or two images.

`saliency`, `gradient_x_input`, `smoothgrad` and `integrated_gradients` take
`images` as a dict (keyed by the model's input names) or a list (in the
order of `model.inputs`) and come here. Every evaluation point moves the
inputs being attributed and holds the others at their values:

    point_k = start_k + alpha * (x_k - start_k) + sigma_k * noise_k

(saliency: `start = x`, no noise; SmoothGrad: noise on the attributed
inputs; Integrated Gradients: `start` = each input's own baseline, alpha
along the path), so one compiled function per (model, target structure,
attributed inputs) serves all four. The result has the structure of
`images`: a map per attributed image input (rank-4 input), the signed
attributions (or their magnitudes) of an attributed side input, and None
(list) or no key (dict) for the inputs held fixed.
"""

import numbers

import numpy as np
import tensorflow as tf

from kerasviz import compiled, fill, inputs, models, targets
from kerasviz.gradients import core

METHODS = ("saliency", "gradient_x_input", "smoothgrad", "integrated_gradients")


def is_several(model, images):
    """Whether the call is for several inputs: the model has several, or `images` is a dict or a list of arrays."""
    try:
        count = len(model.inputs or [])
    except (AttributeError, ValueError):
        count = 1
    return count > 1 or isinstance(images, dict)


def check_single_input_attribute(attribute):
    """`attribute` must be None for a model with one input."""
    if attribute is not None:
        raise ValueError(f"Received `attribute={attribute!r}` for a model with one input: `attribute` chooses "
                         "among the inputs of a model with several.")


def _input_names(model):
    return [t.name for t in model.inputs]


class MultiPrepared:
    """Validated arguments of a call on a model with several inputs.

    Attributes: `model`, `arrays` (float32, in the order of `model.inputs`),
    `names`, `structure` (`"dict"` or `"list"`), `attributed` (indices),
    `target`, `class_idx`, `capture`, `batch_size`.
    """

    def __init__(self, model, images, target, batch_size, attribute, method):
        self.model = models.check_model(model)
        self.names = _input_names(model)
        if len(self.names) < 2:
            raise TypeError(f"Received `images` as a {type(images).__name__} for the model {model.name!r}, which has "
                            f"one input: pass the images as one array [B, H, W, C].")
        self.structure, self.arrays = self._arrays(images)
        self.attributed = self._attributed(attribute)
        self.batch_size = inputs.check_batch_size(batch_size)
        target = targets.as_target(target)
        inputs.check_single_output(model, target)
        self.target, self.class_idx = targets.resolve(model, target, self.arrays[0])
        self.capture = tuple(dict.fromkeys(self.target.layers()))
        self.method = method

    def _arrays(self, images):
        if isinstance(images, dict):
            if sorted(images) != sorted(self.names):
                raise ValueError(f"Expected `images` to have one entry per input of the model: {self.names}. "
                                 f"Received the keys {sorted(images)}.")
            structure, given = "dict", [images[name] for name in self.names]
        elif isinstance(images, (list, tuple)) and len(images) == len(self.names):
            structure, given = "list", list(images)
        else:
            raise TypeError(f"Expected `images` to be a dict {{input name: array}} or a list of {len(self.names)} "
                            f"arrays (the model's inputs {self.names}). Received: {type(images).__name__}"
                            + (f" of length {len(images)}." if isinstance(images, (list, tuple)) else "."))
        arrays = []
        for name, value, symbolic in zip(self.names, given, self.model.inputs):
            array = inputs.as_numpy(value, f"images[{name!r}]")
            if array.dtype.kind not in "uif":
                raise TypeError(f"Expected `images[{name!r}]` to hold numbers. Received dtype {array.dtype}.")
            expected = tuple(symbolic.shape[1:])
            if array.ndim != len(expected) + 1 or any(w is not None and g != w for g, w in zip(array.shape[1:],
                                                                                              expected)):
                raise ValueError(f"Received `images[{name!r}]` of shape {array.shape}; the model's input {name!r} "
                                 f"takes [B, {', '.join(str(d) for d in expected)}].")
            arrays.append(inputs.check_finite(array.astype(np.float32, copy=False), f"images[{name!r}]"))
        if len({len(a) for a in arrays}) != 1 or not len(arrays[0]):
            raise ValueError(f"Expected every input in `images` to hold the same number (> 0) of examples. Received "
                             f"{dict(zip(self.names, (len(a) for a in arrays)))}.")
        return structure, arrays

    def _attributed(self, attribute):
        if attribute is None:
            chosen = [k for k, a in enumerate(self.arrays) if a.ndim == 4]
            if not chosen:
                raise ValueError(f"The model {self.model.name!r} has no image input [B, H, W, C] among {self.names}: "
                                 "pass `attribute=` (input names or indices, or 'all').")
            return chosen
        if isinstance(attribute, str) and attribute == "all":
            return list(range(len(self.names)))
        items = [attribute] if isinstance(attribute, (str, numbers.Integral)) else attribute
        try:
            chosen = sorted({self.names.index(a) if isinstance(a, str) else int(a) for a in items})
        except (ValueError, TypeError):
            chosen = None
        if not chosen or chosen[0] < 0 or chosen[-1] >= len(self.names):
            raise ValueError(f"Received an invalid value for `attribute`: {attribute!r}. Expected None (the image "
                             f"inputs), 'all', or input names or indices of {self.names}.")
        return chosen

    def per_input(self, value, argname, default):
        """`value` given once for all inputs, or as a dict/list in `images`' structure: one per input."""
        if value is None:
            value = default
        if isinstance(value, dict):
            missing = [self.names[k] for k in self.attributed if self.names[k] not in value]
            if missing:
                raise ValueError(f"Received `{argname}` without the inputs {missing}.")
            return [value.get(name, default) for name in self.names]
        if isinstance(value, (list, tuple)) and len(value) == len(self.names) and not all(
                isinstance(v, numbers.Number) for v in value):
            return list(value)
        return [value] * len(self.names)

    def starts(self, baseline, fill_name):
        """Each input's reference, float32 in the order of `model.inputs`: its own value where it is held.

        `baseline` once or per input (`per_input`, default 0.0); an image
        input's through `kerasviz.fill.baselines` (which also takes the
        named fill `fill_name`), a side input's broadcast to its shape.
        """
        starts = []
        for k, (array, value) in enumerate(zip(self.arrays, self.per_input(baseline, "baseline", 0.0))):
            if k not in self.attributed:
                starts.append(array)
            elif array.ndim == 4:
                starts.append(fill.baselines(value, array, names=(fill_name,)).astype(np.float32))
            else:
                starts.append(np.broadcast_to(np.asarray(value, np.float32), array.shape).astype(np.float32))
        return starts

    def result(self, values, signed):
        """Per attributed input: `core.reduce_map` of an image input's values unless `signed`, else |values|."""
        out = {}
        for k in self.attributed:
            v = values[k]
            out[k] = v if signed else (core.reduce_map(v) if v.ndim == 4 else np.abs(v))
            inputs.warn_if_constant(out[k], f"{self.method} ({self.names[k]!r})")
        if self.structure == "dict":
            return {self.names[k]: v for k, v in out.items()}
        return [out.get(k) for k in range(len(self.names))]


def structured(prepared, tensors):
    """Tensors in the order of `model.inputs`, in the structure of the call's `images` (a dict or a list)."""
    return dict(zip(prepared.names, tensors)) if prepared.structure == "dict" else list(tensors)


def predicted_classes(prepared):
    """`prepared.class_idx` with the predicted classes (of the clean inputs) filled in, as `core.predicted_classes`."""
    class_idx = prepared.class_idx.copy()
    if not prepared.target.class_terms() or not (class_idx < 0).any():
        return class_idx
    chunks = [models.run(prepared.model, structured(prepared, [tf.constant(a[s:e]) for a in prepared.arrays]))[0]
              for s, e in inputs.batches(len(class_idx), prepared.batch_size)]
    columns = np.repeat(prepared.target.class_outputs(), [t.width() for t in prepared.target.class_terms()])
    for column in np.flatnonzero((class_idx < 0).any(axis=0)):
        outputs = [c[columns[column]] if isinstance(c, list) else c for c in chunks]
        predicted = np.concatenate([np.argmax(np.asarray(o), axis=-1) for o in outputs]).astype(np.int32)
        class_idx[:, column] = np.where(class_idx[:, column] < 0, predicted, class_idx[:, column])
    return class_idx


def _function(prepared, with_noise):
    """The compiled `(xs, starts, class_idx, sigmas, alphas, weights, local, pair_ids, seed) -> sums per input`."""
    n, attributed = len(prepared.arrays), tuple(prepared.attributed)
    target, capture, shapes = prepared.target, prepared.capture, [a.shape[1:] for a in prepared.arrays]

    def build(model_ref):
        def sums(*args):
            xs, starts = args[:n], args[n:2 * n]
            class_idx, sigmas = args[2 * n], args[2 * n + 1:3 * n + 1]
            alphas, weights, local, pair_ids, seed = args[3 * n + 1:]
            points = []
            for k in range(n):
                x, start = tf.gather(xs[k], local), tf.gather(starts[k], local)
                shape = [-1] + [1] * len(shapes[k])
                point = start + tf.reshape(alphas, shape) * (x - start)
                if with_noise and k in attributed:
                    noise = core.sample_normal(seed + k, pair_ids, shapes[k])
                    point = point + tf.reshape(tf.gather(sigmas[k], local), shape) * noise
                points.append(point)
            with tf.GradientTape() as tape:
                tape.watch([points[k] for k in attributed])
                logits, activations = models.run(model_ref(), structured(prepared, points), capture=capture)
                scores = target.score(logits, activations, tf.gather(class_idx, local))
            gradients = tape.gradient(scores, [points[k] for k in attributed])
            segments = tf.shape(xs[0])[0]
            return tuple(tf.math.unsorted_segment_sum(
                tf.cast(g, tf.float32) * tf.reshape(weights, [-1] + [1] * len(shapes[k])), local, segments)
                for k, g in zip(attributed, gradients))

        return sums

    specs = [tf.TensorSpec([None, *s], tf.float32) for s in shapes]
    signature = specs + specs + [tf.TensorSpec([None, prepared.class_idx.shape[1]], tf.int32)] + [
        tf.TensorSpec([None], tf.float32)] * n + [
        tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.int64), tf.TensorSpec([], tf.int64)]
    key = ("multi_input", with_noise, attributed, target.key(), capture, tuple(shapes))
    return compiled.compiled_function(prepared.model, key, build, signature)


def gradient_sums(prepared, class_idx, starts, alphas, weights, sigmas=None, seed=0):
    """Per attributed input, `sum_s w_s grad_k(point(image, s))` over the samples `s` of each image, float64.

    `alphas`, `weights`: `[S]` per-sample path positions and weights; `sigmas`: None (no noise) or per input `[B]`.
    """
    n_images, per_image = len(class_idx), len(alphas)
    function = _function(prepared, sigmas is not None)
    sigmas = sigmas or [np.zeros([n_images], np.float32)] * len(prepared.arrays)
    totals = {k: np.zeros(prepared.arrays[k].shape, np.float64) for k in prepared.attributed}
    for first, last, pair_ids, local in core.pair_chunks(n_images, per_image, prepared.batch_size):
        sample = pair_ids % per_image
        args = ([tf.constant(a[first:last + 1]) for a in prepared.arrays]
                + [tf.constant(s[first:last + 1]) for s in starts]
                + [tf.constant(class_idx[first:last + 1])] + [tf.constant(s[first:last + 1]) for s in sigmas]
                + [tf.constant(alphas[sample], tf.float32), tf.constant(weights[sample], tf.float32),
                   tf.constant(local), tf.constant(pair_ids), tf.constant(seed, tf.int64)])
        for k, part in zip(prepared.attributed, function(*args)):
            totals[k][first:last + 1] += np.asarray(part, np.float64)
    return totals
