"""What one image costs a model: the bytes of its activations, its multiply-adds, the seconds of a pass.

`default_batch_size` sizes the batches of every method from the first (the
benchmarks report both). They are read from the layers'
symbolic outputs of a built functional or Sequential model (free), or, for a
subclassed model or one whose input size is free, from the forward graph
traced once for the images' shape. Both are cached per model (weakly) and
image shape.
"""

import threading
import time
import typing
import weakref

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, models

# `default_batch_size`: the activation memory one compiled call may hold, and the largest batch it picks.
ACTIVATION_BUDGET = 2 * 2**30
MAX_DEFAULT_BATCH = 64
COSTS = ("forward", "backward")
_COSTS = weakref.WeakKeyDictionary()  # model -> {image shape: ImageCost or None}
_LOCK = threading.Lock()


class ImageCost:
    """`activation_bytes`: all layer outputs for one image; `multiply_adds`: of its convolutions and Dense layers."""

    def __init__(self, activation_bytes, multiply_adds):
        self.activation_bytes, self.multiply_adds = int(activation_bytes), int(multiply_adds)

    def __repr__(self):
        return f"ImageCost(activation_bytes={self.activation_bytes}, multiply_adds={self.multiply_adds})"


def _size(dims):
    return int(np.prod(dims, dtype=np.int64))


def _symbolic(model):
    """The cost from the layers' symbolic outputs, or None when one is unknown (subclassed, free size)."""
    activation_bytes = multiply_adds = 0
    for _, layer in models.iter_layers(model):
        if getattr(layer, "layers", None):
            continue  # a nested model: its own layers are counted
        try:
            outputs = tf.nest.flatten(layer.output)
        except (AttributeError, ValueError, RuntimeError):
            return None
        for output in outputs:
            dims = tuple(output.shape)[1:]
            if any(d is None for d in dims):
                return None
            activation_bytes += _size(dims) * tf.as_dtype(output.dtype).size
        # A kernel's weights each make one multiply-add per output position (a Dense layer: one position).
        positions = _size(tuple(outputs[0].shape)[1:-1]) if outputs else 1
        for name in ("kernel", "depthwise_kernel", "pointwise_kernel"):
            kernel = getattr(layer, name, None)
            if kernel is not None and hasattr(kernel, "shape"):
                multiply_adds += _size(tuple(kernel.shape)) * positions
    return ImageCost(activation_bytes, multiply_adds) if activation_bytes else None


_CONVOLUTIONS = ("Conv2D", "DepthwiseConv2dNative", "Conv3D")


def _traced(model, image_shape):
    """The cost from the forward graph traced for `image_shape`, or None when the model cannot take it."""
    function = tf.function(lambda x: models.run(model, x)[0])
    try:
        graph = function.get_concrete_function(tf.TensorSpec([None, *image_shape], tf.float32)).graph
    except Exception:  # noqa: BLE001 - the method's own call raises (and explains) whatever this is
        return None
    activation_bytes = multiply_adds = 0
    for operation in graph.get_operations():
        for output in operation.outputs:
            dims = output.shape
            if dims.rank and dims.rank >= 2 and dims[0] is None and output.dtype.is_floating \
                    and dims[1:].is_fully_defined():
                activation_bytes += _size(dims[1:]) * output.dtype.size
        if operation.type in _CONVOLUTIONS + ("MatMul",) and operation.inputs[1].shape.is_fully_defined():
            out = operation.outputs[0].shape
            positions = _size(out[1:-1]) if operation.type in _CONVOLUTIONS and out[1:-1].is_fully_defined() else 1
            multiply_adds += _size(operation.inputs[1].shape) * positions
    return ImageCost(activation_bytes, multiply_adds)


def image_cost(model, image_shape):
    """The `ImageCost` of one image of `image_shape` `(H, W, C)` through `model`, or None when it cannot be traced.

    The activation bytes count every layer's output (an upper bound of what a
    forward pass holds at once; a forward and backward pass keeps about this
    much and makes as many gradients); the multiply-adds count the kernels of
    convolutions and Dense layers (weights times output positions).
    """
    image_shape = tuple(int(d) for d in image_shape)
    with _LOCK:
        per_model = _COSTS.get(model, {})
        if image_shape in per_model:
            return per_model[image_shape]
    cost = _symbolic(model) if inputs.model_input_shape(model) == image_shape else None
    if cost is None:
        cost = _traced(model, image_shape)
    with _LOCK:
        _COSTS.setdefault(model, {})[image_shape] = cost
    return cost


class PassTimes(typing.NamedTuple):
    """Measured seconds of a model's passes, per image, and of compiling one (0.0 where not timed).

    Attributes:
        forward: seconds per image of a compiled forward pass.
        backward: seconds per image of a compiled forward and backward pass.
        trace_forward: seconds to trace and compile the forward pass.
        trace_backward: seconds to trace and compile the forward and backward pass.
    """

    forward: float
    backward: float
    trace_forward: float
    trace_backward: float

    def seconds(self, cost, n_images):
        """The estimated seconds of a method of `cost` (a `kerasviz.registry.Cost`) on `n_images` images.

        Its passes at the measured rates (a rule's own passes inside its
        backward, `Cost.rule_passes`, at the forward+backward rate), plus one
        compilation (each method traces its own function once).
        """
        passes = n_images * (cost.forward * self.forward + (cost.backward + cost.rule_passes) * self.backward)
        return passes + (self.trace_backward if cost.backward else self.trace_forward if cost.forward else 0.0)


def _timed(function, batch):
    """`(trace seconds, run seconds)`: the first call's excess over the faster of two more."""
    start = time.perf_counter()
    function(batch)
    first = time.perf_counter() - start
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        tf.nest.map_structure(np.asarray, function(batch))  # a list for a multi-output model
        runs.append(time.perf_counter() - start)
    return max(first - min(runs), 0.0), min(runs)


def time_passes(model, images, *, forward=True, backward=True) -> PassTimes:
    """Times a compiled forward pass and a forward and backward pass of `model` on `images`.

    Each is traced, run once to compile, then run twice; the faster run,
    divided by the batch, is the seconds per image, and the first call's
    excess over it the compilation. The batch is `images`, at most
    `default_batch_size` of them (what the methods run at
    most at once). Costs two traces and six passes over that batch: on two
    CPU cores about 2.5 s for EfficientNet-Lite3 at 280 x 280 and two images,
    most of it the compilation. The methods run at their own batch sizes, so
    estimates from these rates are approximate (within a factor of about 2
    on the models we measured).

    Args:
        model: a built Keras image model.
        images: `[B, H, W, C]` in the model's input space.
        forward: time the forward pass (else its fields are 0.0).
        backward: time the forward and backward pass (else its fields are 0.0).

    Returns:
        A `PassTimes`; `PassTimes.seconds(registry.cost(...), n_images)`
        estimates a method's time.

    Example:

    >>> times = kerasviz.model_cost.time_passes(model, images)
    >>> times.seconds(kerasviz.registry.cost("smoothgrad", model, images.shape[1:]), len(images))
    """
    images = np.asarray(images, np.float32)
    batch = tf.constant(images[:default_batch_size(model, images.shape[1:])])
    signature = [tf.TensorSpec([None, *images.shape[1:]], tf.float32)]

    def build_forward(model_ref):
        return lambda x: models.run(model_ref(), x)[0]

    def build_backward(model_ref):
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                outputs = models.run(model_ref(), x)[0]
                score = tf.add_n([tf.reduce_sum(tf.reduce_max(o, axis=-1))  # every output of a multi-output model
                                  for o in (outputs if isinstance(outputs, list) else [outputs])])
            return tape.gradient(score, x)

        return step

    measured = {}
    for name, wanted, build in (("forward", forward, build_forward), ("backward", backward, build_backward)):
        if wanted:
            function = compiled.compiled_function(model, ("time_passes", name), build, signature)
            trace, run = _timed(function, batch)
            measured[name], measured[f"trace_{name}"] = run / len(batch), trace
    return PassTimes(**{field: measured.get(field, 0.0) for field in PassTimes._fields})


def check_batch_size_for(model, batch_size, image_shape, cost="backward"):
    """`batch_size` checked as `check_batch_size`; `None` gives `default_batch_size(model, image_shape, cost)`."""
    checked = inputs.check_batch_size(batch_size, default=None)
    return default_batch_size(model, image_shape, cost=cost) if checked is None else checked


def default_batch_size(model, image_shape, cost="backward"):
    """The batch size of a method called with `batch_size=None`, sized to the model and the images.

    The largest power of two `n`, at least 1 and at most `MAX_DEFAULT_BATCH`
    (64), such that a compiled call on `n` images holds at most
    `ACTIVATION_BUDGET` (2 GiB) of activations: `n * A` for a forward pass,
    `2 * n * A` for a forward and backward pass (the tape keeps the forward's
    activations and the backward makes as many gradients), `A` the bytes of
    all layer outputs for one image (`kerasviz.model_cost.image_cost`, an
    upper bound). Memory stays bounded whatever the model and image size.
    Measured with `benchmarks/batch_size.py --clock cpu` on two CPU cores
    (the demo model, MobileNetV2 alpha 0.35 at 128 px, a VGG-style net at 64
    px), the work per image falls as the batch grows: batch 64 ran at 0.89 to
    1.00 of the best rate of batches 1 to 128 for each model, forward and
    backward (batch 32: 0.80 to 0.97; batch 8: 0.52 to 0.87). On a GPU,
    larger batches usually pay: pass `batch_size`.

    Args:
        model: the Keras model the method runs.
        image_shape: `(H, W, C)` of the images.
        cost: `"backward"` (a forward and backward pass per evaluation: the
            gradient methods) or `"forward"` (forward passes only: occlusion,
            RISE, LIME, KernelSHAP, Score-CAM).

    Returns:
        A positive int (`DEFAULT_BATCH_SIZE`, 32, when the model cannot be
        traced for `image_shape`: the method then raises its own error).

    Raises:
        ValueError: an unknown `cost`.

    Example:

    >>> kerasviz.model_cost.default_batch_size(keras.applications.MobileNetV2(weights=None), (224, 224, 3))
    8
    """
    if cost not in COSTS:
        raise ValueError(f"Received an invalid value for `cost`: {cost!r}. Expected one of {COSTS}.")
    per_image = image_cost(model, image_shape)
    if per_image is None:
        return inputs.DEFAULT_BATCH_SIZE
    fits = ACTIVATION_BUDGET // max(per_image.activation_bytes * (2 if cost == "backward" else 1), 1)
    fits = int(max(1, min(MAX_DEFAULT_BATCH, fits)))
    return 1 << (fits.bit_length() - 1)
