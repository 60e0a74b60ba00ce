"""A detector's target: a chosen box's class score, optionally times its IoU with a given box.

Box format, everywhere in kerasviz: `(y0, x0, y1, x1)` as fractions of the
image's height and width (0 = top/left edge, 1 = bottom/right edge), the
convention of `tf.image.crop_and_resize` and `tf.image.draw_bounding_boxes`.
"""

import numbers

import numpy as np
import tensorflow as tf

from kerasviz import models
from kerasviz.output_targets import output_position
from kerasviz.targets import Target

_SCALE = 1 << 24  # a reference box's fractions travel as ints in the class-index matrix: 2**-24 resolution


def box_iou(boxes, reference):
    """The IoU of `[B, 4]` boxes with `[B, 4]` reference boxes `(y0, x0, y1, x1)`, differentiable in `boxes`.

    A box with `y1 < y0` (or `x1 < x0`) has area 0; the IoU of two empty boxes is 0.
    """
    def area(b):
        return tf.nn.relu(b[:, 2] - b[:, 0]) * tf.nn.relu(b[:, 3] - b[:, 1])

    height = tf.nn.relu(tf.minimum(boxes[:, 2], reference[:, 2]) - tf.maximum(boxes[:, 0], reference[:, 0]))
    width = tf.nn.relu(tf.minimum(boxes[:, 3], reference[:, 3]) - tf.maximum(boxes[:, 1], reference[:, 1]))
    intersection = height * width
    union = area(boxes) + area(reference) - intersection
    return tf.math.divide_no_nan(intersection, union)


def _per_image(value, argname):
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    array = np.asarray(value)
    if array.ndim != 1 or array.dtype.kind not in "iu" or not len(array):
        raise TypeError(f"Expected `{argname}` to be an int or one int per image. Received: {argname}={value!r}.")
    return array.astype(np.int64)


class Detection(Target):
    """A detector's score for a chosen box and class, optionally times the box's IoU with a given box.

    For a detector with a box output `[B, N, 4]` and a score output
    `[B, N, K]` (N candidate boxes, K classes), the target of image `b` is
    `s_c(n)` (the pre-softmax score of class `c` for box `n`) or, with
    `iou_with`, `s_c(n) * IoU(box_n, reference_b)`: the explanation of "this
    box, of this class, where it is" (as xplique's object-detection operator,
    after Petsiuk et al., 2021, "Black-box Explanation of Object Detectors
    via Saliency Maps", D-RISE). The IoU is differentiable, so gradient
    methods see how pixels move the box too. Box indices, classes and
    reference boxes are per image and travel as data: no retrace.

    Boxes are `(y0, x0, y1, x1)` in fractions of the image's height and width.

    Args:
        box: the box's index `n` (an int, or one per image).
        index: the class `c` (an int, or one per image).
        iou_with: None, or the reference box: `[4]` for every image or
            `[B, 4]`, fractions in [0, 1].
        boxes: the name (or index) of the box output.
        scores: the name (or index) of the score output.

    Example:

    >>> target = kerasviz.Detection(box=0, index=2, iou_with=[0.1, 0.2, 0.6, 0.7])
    >>> maps = kerasviz.integrated_gradients(detector, images, target=target)
    """

    def __init__(self, box, index, iou_with=None, boxes="boxes", scores="scores"):
        self.box, self.index = _per_image(box, "box"), _per_image(index, "index")
        if iou_with is not None:
            array = np.asarray(iou_with, np.float64)
            if array.shape[-1:] != (4,) or array.ndim not in (1, 2) or not np.all((array >= 0) & (array <= 1)):
                raise ValueError(f"Expected `iou_with` to be a box (y0, x0, y1, x1) of fractions in [0, 1], [4] or "
                                 f"[B, 4]. Received: iou_with={iou_with!r}.")
            iou_with = array
        self.iou_with, self.boxes, self.scores = iou_with, boxes, scores
        lengths = {len(v) for v in (self.box, self.index) if np.ndim(v)} | (
            {len(iou_with)} if iou_with is not None and iou_with.ndim == 2 else set())
        if len(lengths) > 1:
            raise ValueError(f"Received per-image `box`, `index` and `iou_with` of different lengths: {lengths}.")
        if lengths:  # one is per image: all are (as `Region`'s class with per-image masks)
            n = lengths.pop()
            self.box, self.index = (np.broadcast_to(v, [n]).astype(np.int64) for v in (self.box, self.index))
        self.positions = None

    def class_terms(self):
        return [self]

    def class_outputs(self):
        return [self.positions[1]]

    def names_outputs(self):
        return True

    def bind(self, model):
        bound = object.__new__(Detection)
        bound.__dict__.update(self.__dict__)
        if models.output_count(model) < 2:
            raise ValueError(f"A `Detection` target needs a detector with a box output and a score output. The "
                             f"model {model.name!r} has one output.")
        bound.positions = (output_position(model, self.boxes, "boxes"), output_position(model, self.scores, "scores"))
        box_shape, score_shape = (tuple(model.outputs[p].shape[1:]) for p in bound.positions)
        if len(box_shape) != 2 or box_shape[-1] != 4 or len(score_shape) != 2 or box_shape[0] != score_shape[0]:
            raise ValueError(f"A `Detection` target needs boxes [B, N, 4] and scores [B, N, K]. The outputs "
                             f"{self.boxes!r} and {self.scores!r} of the model {model.name!r} have the shapes "
                             f"{box_shape} and {score_shape}.")
        bound.n_boxes = box_shape[0]
        return bound

    def width(self):
        return 2 if self.iou_with is None else 6

    def columns(self, n_images, n_classes):
        def broadcast(value, limit, argname):
            values = np.broadcast_to(value, [n_images]) if np.ndim(value) == 0 or len(value) == n_images else None
            if values is None:
                raise ValueError(f"Received {len(value)} values for `{argname}` but {n_images} images.")
            bad = [int(v) for v in values if limit is not None and not 0 <= v < limit]
            if bad:
                raise ValueError(f"Received an invalid value for `{argname}`: {bad[0]}. Expected 0 to {limit - 1}.")
            return np.asarray(values, np.int64)

        parts = [broadcast(self.box, self.n_boxes, "box"), broadcast(self.index, n_classes, "index")]
        if self.iou_with is not None:
            reference = np.broadcast_to(self.iou_with, (n_images, 4)) if self.iou_with.ndim == 1 else self.iou_with
            if len(reference) != n_images:
                raise ValueError(f"Received {len(reference)} boxes for `iou_with` but {n_images} images.")
            parts.extend(np.round(reference * _SCALE).astype(np.int64).T)
        return np.stack(parts, axis=1).astype(np.int32)

    def key(self):
        return ("detection", self.positions, self.iou_with is not None)

    def score(self, logits, activations, class_idx):
        boxes, scores = (logits[p] for p in self.positions)
        chosen = tf.gather(scores, class_idx[:, 0], batch_dims=1)  # [B, K]
        score = tf.gather(chosen, class_idx[:, 1], batch_dims=1)
        if self.iou_with is None:
            return score
        reference = tf.cast(class_idx[:, 2:6], tf.float32) / _SCALE
        return score * box_iou(tf.gather(boxes, class_idx[:, 0], batch_dims=1), reference)

    def __repr__(self):
        iou = "" if self.iou_with is None else f", iou_with={self.iou_with.tolist()}"
        def shown(value):
            return value.tolist() if isinstance(value, np.ndarray) else value

        return f"Detection(box={shown(self.box)!r}, index={shown(self.index)!r}{iou})"

