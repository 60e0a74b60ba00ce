"""The shared machinery of the attribution methods.

Every attribution method runs the same way: check the arguments once
(`prepare`), build (once per model and static parameters) a compiled function
that handles one chunk of at most `batch_size` model evaluations, loop over the
chunks in Python, and reduce on the host. Memory is bounded by `batch_size`
and results do not depend on it: per-sample randomness is seeded by the
sample's global index, never by its position in a chunk.
"""

import keras
import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, model_cost, models, progress, targets


class Prepared:
    """Validated arguments of an attribution call.

    `batch_size=None` becomes `model_cost.default_batch_size` for the model, the
    images' shape and the method's `cost` (`"backward"` for gradient methods,
    `"forward"` for methods that only run the model forward).
    """

    def __init__(self, model, images, target, batch_size, cost="backward"):
        self.model = models.check_model(model)
        target = targets.as_target(target)
        self.images = inputs.check_images(model, images, target=target)
        self.batch_size = model_cost.check_batch_size_for(self.model, batch_size, self.images.shape[1:], cost)
        self.target, self.class_idx = targets.resolve(model, target, self.images)
        self.capture = tuple(dict.fromkeys(self.target.layers()))

    def key(self, method, *static):
        """The compile-cache key: method, target structure, image shape, static parameters."""
        return (method, self.target.key(), self.capture, self.images.shape[1:]) + static

    def signature(self, *extra):
        """Specs of `(images, class_idx, *extra)` with free batch dims."""
        return [
            tf.TensorSpec([None, *self.images.shape[1:]], tf.float32),
            tf.TensorSpec([None, self.class_idx.shape[1]], tf.int32),
            *extra,
        ]


def reduce_map(gradients):
    """`[B, H, W, C]` signed values -> `[B, H, W]` map: max over channels of |value|.

    Simonyan et al., 2013, section 3.1: "the maximum magnitude of w across all
    colour channels". (One `np.maximum` per channel: numpy's reduction over
    a last axis of three is some forty times slower, a tenth of a small
    model's whole DeepLIFT call.)
    """
    gradients = np.asarray(gradients)
    reduced = np.abs(gradients[..., 0])
    for channel in range(1, gradients.shape[-1]):
        np.maximum(reduced, np.abs(gradients[..., channel]), out=reduced)
    return reduced


def gradient_step(model_ref, target, capture, *, rule=None, wrt_layer=None):
    """The graph body shared by gradient methods: scores and their gradients.

    `model_ref` is the weak reference `compiled_function` hands to builders:
    the step must not keep the model alive from inside the cache. Returns a
    function `(images, class_idx) -> (scores [B], gradients)` to be
    called inside a `tf.function`. Gradients are taken with respect to the
    input images, or to the output of `wrt_layer` (then the activation is
    returned too: `(scores, gradients, activation)`).
    """
    capture = tuple(dict.fromkeys(capture + ((wrt_layer,) if wrt_layer else ())))

    def step(images, class_idx):
        with tf.GradientTape() as tape:
            tape.watch(images)
            logits, activations = models.run(model_ref(), images, capture=capture, rule=rule)
            scores = target.score(logits, activations, class_idx)
        if wrt_layer is None:
            return scores, tf.cast(tape.gradient(scores, images), tf.float32)
        activation = activations[wrt_layer]
        gradients = tape.gradient(scores, activation)
        return scores, tf.cast(gradients, tf.float32), tf.cast(activation, tf.float32)

    return step


# `rule` of `models.run` -> (the method's name, what it is called in warnings about unreached ReLUs)
GRADIENT_RULES = {
    None: ("saliency", None),
    "guided": ("guided_backprop", "Guided backpropagation"),
    "deconvnet": ("deconvnet", "DeconvNet"),
}


def input_gradients(prepared, *, rule=None, reduce=False, times_input=False, name=None):
    """Gradients of the target score w.r.t. the images, float32.

    `[B, H, W, C]`, or with `reduce=True` the map `[B, H, W]` of `reduce_map`,
    computed in the graph (cheaper than on the host, and less to copy back).
    `rule` is a key of `GRADIENT_RULES`; `times_input=True` multiplies the
    gradient by the images (Gradient x Input); `name` is the method's name in
    warnings (default: the rule's).
    """
    model = prepared.model

    def build(model_ref):
        step = gradient_step(model_ref, prepared.target, prepared.capture, rule=rule)

        def gradients(images, class_idx):
            values = step(images, class_idx)[1]
            if times_input:
                values = values * images
            return reduce_map_graph(values) if reduce else values

        return gradients

    key = prepared.key("input_gradients", rule, reduce) + (("times_input",) if times_input else ())
    function = compiled.compiled_function(model, key, build, prepared.signature())
    results = run_chunks(function, prepared, prepared.images, prepared.class_idx)
    rule_name, label = GRADIENT_RULES[rule]
    if rule:
        warn_once_unreached(function, model, prepared, label)
    return inputs.warn_if_constant(results, name or rule_name)


def reduce_map_graph(values):
    """`reduce_map` inside a graph."""
    return tf.reduce_max(tf.abs(values), axis=-1)


_WARNED = set()


def warn_once_unreached(function, model, prepared, method="Guided backpropagation"):
    """Warns (once per compiled function) about ReLUs guided backprop (or `method`) could not reach."""
    if id(function) in _WARNED:
        return
    _WARNED.add(id(function))
    models.warn_unguided(function.get_concrete_function(), model, method)


def run_chunks(function, prepared, *arrays):
    """Calls `function` on consecutive chunks of `arrays` (sliced on axis 0); concatenates."""
    n = len(arrays[0])
    outputs = []
    for start, stop in inputs.batches(n, prepared.batch_size):
        chunk = [tf.convert_to_tensor(a[start:stop]) for a in arrays]
        outputs.append(_to_numpy(function(*chunk)))
    if isinstance(outputs[0], tuple):
        return tuple(np.concatenate(parts, axis=0) for parts in zip(*outputs))
    return np.concatenate(outputs, axis=0)


def _to_numpy(result):
    if isinstance(result, (tuple, list)):
        return tuple(np.asarray(r) for r in result)
    return np.asarray(result)


def predicted_classes(prepared):
    """Fills the `-1` (predicted class) entries of `prepared.class_idx` from a forward pass.

    Methods that evaluate perturbed copies of an image (SmoothGrad, Integrated
    Gradients, occlusion, the faithfulness metrics) must explain the class
    predicted for the *clean* image, not whatever each copy predicts. Costs one
    forward pass per image, and none when every class is given.
    """
    class_idx = prepared.class_idx.copy()
    if not prepared.target.class_terms() or not (class_idx < 0).any():
        return class_idx
    probs = model_outputs(prepared, prepared.images)[0]
    if isinstance(probs, list):  # several outputs: each column's own
        terms = prepared.target.class_terms()
        column_outputs = np.repeat(prepared.target.class_outputs(), [t.width() for t in terms])
        for column in np.flatnonzero((class_idx < 0).any(axis=0)):
            predicted = np.argmax(probs[column_outputs[column]], axis=-1).astype(np.int32)
            class_idx[:, column] = np.where(class_idx[:, column] < 0, predicted, class_idx[:, column])
        return class_idx
    predicted = np.argmax(probs, axis=-1).astype(np.int32)
    return np.where(class_idx < 0, predicted[:, None], class_idx)


def model_outputs(prepared, images):
    """`(probabilities, logits)` of the model for `images`, compiled and chunked."""
    model = prepared.model

    def build(model_ref):
        activation = models.output_activation(model_ref())

        def forward(images):
            logits, _ = models.run(model_ref(), images)
            return models.probabilities(logits, activation), logits

        return forward

    signature = [tf.TensorSpec([None, *prepared.images.shape[1:]], tf.float32)]
    function = compiled.compiled_function(
        model, ("forward", prepared.images.shape[1:]), build, signature
    )
    if models.output_count(model) > 1:  # flat (probabilities..., logits...), regrouped
        flat = run_chunks(lambda x: tuple(keras.tree.flatten(function(x))), prepared, images)
        return list(flat[:len(flat) // 2]), list(flat[len(flat) // 2:])
    return run_chunks(function, prepared, images)


def pair_chunks(n_images, per_image, batch_size, verbose=0, unit="sample"):
    """Splits the `(image, sample)` pairs of a batch into chunks of at most `batch_size`.

    Pair `p` is image `p // per_image`, sample `p % per_image`; pair ids are
    global, so whatever depends on them (the noise, the path point) does not
    depend on `batch_size`. With `verbose`, a progress bar counts the pairs
    done (in `unit`s, see `kerasviz.progress.track`).

    Yields:
        `(first, last, pair_ids, local)`: the images `first..last` (inclusive)
        the chunk touches, the int64 global pair ids, and the int32 index of
        each pair's image within `images[first:last + 1]`.
    """
    total = n_images * per_image
    chunks = progress.track(inputs.batches(total, batch_size), total, verbose, size=lambda c: c[1] - c[0],
                            unit=unit)
    for start, stop in chunks:
        pair_ids = np.arange(start, stop, dtype=np.int64)
        first, last = start // per_image, (stop - 1) // per_image
        yield first, last, pair_ids, (pair_ids // per_image - first).astype(np.int32)


def sample_normal(seed, sample_ids, shape):
    """Standard normal noise `[S, *shape]` for consecutive global sample ids (`normal_quantiles` of
    `sample_uniform`)."""
    return _standard_normal(sample_uniform(seed, sample_ids, shape))


def sample_uniform(seed, sample_ids, shape):
    """Uniform noise `[S, *shape]` in `[0, 1)` (float32 multiples of 2^-23) for consecutive global sample ids.

    Row `s` depends only on `(seed, sample_ids[s])`, never on how the ids are
    chunked: one Philox stream keyed by `seed` is laid out row after row
    (rows padded to a multiple of 4 values, Philox's block), and a chunk
    starts reading it at its first id's offset. `sample_ids` must be
    consecutive (as `pair_chunks` makes them).
    """
    size = int(np.prod(shape))
    padded = -(-size // 4) * 4
    key = tf.reshape(tf.cast(seed, tf.uint64), [1])
    first = tf.cast(sample_ids[0], tf.uint64)
    counter = tf.stack([first * (padded // 4), tf.constant(0, tf.uint64)])
    rows = tf.size(sample_ids)
    uniform = tf.raw_ops.StatelessRandomUniformV2(
        shape=tf.stack([rows, padded]), key=key, counter=counter, alg=1  # 1 = Philox
    )
    return tf.reshape(uniform[:, :size], tf.concat([[rows], tf.constant(shape, tf.int32)], axis=0))


def normal_quantiles(uniform):
    """The standard normal quantiles of `uniform` (float32 multiples of 2^-23 in `[0, 1)`), never infinite.

    `sqrt(2) erfinv(2u - 1)` at the midpoints of the 2^23 cells: within
    about +-5.3 standard deviations. Philox uniforms and this one XLA loop
    take somewhat less CPU than TensorFlow's Box-Muller normals (2.5-2.8
    against 2.8-3.2 ms for 16 x 64 x 64 x 3 values here), which on a small
    model are a tenth of a GradientShap step. Plain ops: call it inside a
    compiled elementwise kernel (`kerasviz.compiled.elementwise`), as
    `sample_normal` does, to fuse it with what uses the noise.
    """
    return np.float32(np.sqrt(2.0)) * tf.math.erfinv(2.0 * uniform - 1.0 + 2.0 ** -23)


_standard_normal = compiled.elementwise(normal_quantiles)
