"""The noise tunnel: any attribution method, averaged (or its spread taken) over noisy copies.

SmoothGrad, SmoothGrad-squared and VarGrad are one computation with three
reductions. Every `(image, sample)` pair has its noise drawn from `seed` and
the pair's global index (`core.sample_normal`), so results do not depend on
`batch_size`. Methods that are one input gradient (saliency, guided
backprop, DeconvNet, Gradient x Input) run in one compiled function that
builds the noisy copies in the graph; any other method is called on chunks of
`batch_size` noisy copies built on the host.
"""

import math
import numbers

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, progress, registry, targets
from kerasviz.gradients import core

REDUCTIONS = ("mean", "abs", "square", "var")

# Methods whose signed result is one input gradient, computed in the graph: name -> (gradient rule, times input).
_GRAPH_METHODS = {
    "saliency": (None, False),
    "guided_backprop": ("guided", False),
    "deconvnet": ("deconvnet", False),
    "gradient_x_input": (None, True),
}


def check_noise(noise):
    """`noise` checked: a non-negative float, the standard deviation as a fraction of the value range."""
    if (
        isinstance(noise, bool)
        or not isinstance(noise, numbers.Real)
        or not math.isfinite(noise)
        or noise < 0
    ):
        raise ValueError(
            f"Received an invalid value for `noise`: {noise!r}. Expected a non-negative "
            "float: the noise standard deviation as a fraction of the value range "
            "(the paper's best range is 0.1 to 0.2)."
        )
    return float(noise)


def _check_reduce(reduce):
    if reduce in REDUCTIONS:
        return reduce
    raise ValueError(
        f"Received an invalid value for `reduce`: {reduce!r}. Expected one of {REDUCTIONS}: the "
        "mean (SmoothGrad), the mean of |a| or of a^2 (SmoothGrad-squared), or the variance (VarGrad)."
    )


def _check_method(method):
    """`(name, function, registered)` of a registered method's name, or of a callable."""
    if not isinstance(method, str) and not callable(method):
        raise TypeError(
            "Expected `method` to be a method's name or a callable "
            f"`method(model, images, target, *, batch_size, ...)`. Received: method={method!r}."
        )
    entry = registry.resolve([method], argname="method")[0]
    return entry.name, entry.function, entry.method is not None


def noise_sigmas(images, noise, value_range):
    """Noise standard deviation per image and channel `[B, C]`: `noise * (max - min)`."""
    shape = (len(images), images.shape[-1])
    if value_range is not None:
        spread = np.broadcast_to(value_range.high - value_range.low, shape)
    else:
        flat = images.reshape(len(images), -1).astype(np.float64)
        spread = np.broadcast_to((flat.max(axis=1) - flat.min(axis=1))[:, None], shape)
    return (noise * spread).astype(np.float32)


def _graph_sums(prepared, class_idx, sigmas, samples, seed, name, reduce, verbose):
    """Per image, the mean over samples of the reduced values (their variance for "var"), float64."""
    images = prepared.images
    image_shape = images.shape[1:]
    rule, times_input = _GRAPH_METHODS[name]

    def build(model_ref):
        step = core.gradient_step(model_ref, prepared.target, prepared.capture, rule=rule)

        def noisy_sums(images, class_idx, sigmas, pair_ids, local, seed):
            noise = core.sample_normal(seed, pair_ids, image_shape)
            noisy = tf.gather(images, local) + tf.gather(sigmas, local)[:, None, None, :] * noise
            values = step(noisy, tf.gather(class_idx, local))[1]
            if times_input:
                values = values * noisy
            return _segment_sums(values, local, tf.shape(images)[0], reduce)

        return noisy_sums

    signature = prepared.signature(
        tf.TensorSpec([None, images.shape[-1]], tf.float32),
        tf.TensorSpec([None], tf.int64),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([], tf.int64),
    )
    function = compiled.compiled_function(
        prepared.model, prepared.key("noise_tunnel", name, reduce), build, signature
    )
    seed_tensor = tf.constant(seed, tf.int64)
    totals = _Totals(reduce)
    for first, last, pair_ids, local in core.pair_chunks(
            len(images), samples, prepared.batch_size, verbose, unit="sample"):
        part = slice(first, last + 1)
        results = function(
            tf.constant(images[part]), tf.constant(class_idx[part]), tf.constant(sigmas[part]),
            tf.constant(pair_ids), tf.constant(local), seed_tensor,
        )
        totals.add(len(images), first, local, *[r.numpy() for r in tf.nest.flatten(results)])
    if rule:
        core.warn_once_unreached(function, prepared.model, prepared, core.GRADIENT_RULES[rule][1])
    return totals.result()


def _segment_sums(values, local, n_images, reduce):
    """Per image of a chunk: the sum of the (reduced) values; for "var" also the squared deviations
    from the chunk's own mean (exact for values that do not vary, unlike a sum of squares)."""
    if reduce == "abs":
        values = tf.abs(values)
    elif reduce == "square":
        values = tf.square(values)
    sums = tf.math.unsorted_segment_sum(values, local, n_images)
    if reduce != "var":
        return sums
    counts = tf.math.unsorted_segment_sum(tf.ones_like(local, tf.float32), local, n_images)
    means = sums / tf.reshape(tf.maximum(counts, 1.0), [-1] + [1] * (values.shape.rank - 1))
    deviations = values - tf.gather(means, local)
    return sums, tf.math.unsorted_segment_sum(tf.square(deviations), local, n_images)


class _Totals:
    """Per-image means (and, for "var", sums of squared deviations) merged over chunks, in float64.

    Chunks are merged by Chan et al.'s pairwise rule (1979): `M2 = M2_a + M2_b
    + delta^2 n_a n_b / n`, so a variance is never a difference of two large
    sums.
    """

    def __init__(self, reduce):
        self.reduce = reduce
        self.count = self.mean = self.m2 = None

    def add(self, n_images, first, local, sums, m2=None):
        if self.mean is None:
            self.count = np.zeros(n_images)
            self.mean = np.zeros((n_images, *sums.shape[1:]))
            self.m2 = np.zeros_like(self.mean)
        part = slice(first, first + len(sums))
        n_b = np.bincount(local, minlength=len(sums)).astype(np.float64)
        n_a, shape = self.count[part], (-1,) + (1,) * (sums.ndim - 1)
        n = n_a + n_b
        delta = sums / n_b.reshape(shape) - self.mean[part]
        self.mean[part] += delta * (n_b / n).reshape(shape)
        if m2 is not None:
            self.m2[part] += m2 + np.square(delta) * (n_a * n_b / n).reshape(shape)
        self.count[part] = n

    def result(self):
        """The mean of the values, or their variance for "var"."""
        if self.reduce == "var":
            return self.m2 / self.count.reshape((-1,) + (1,) * (self.m2.ndim - 1))
        return self.mean


def _host_sums(prepared, target, class_idx, sigmas, samples, seed, function, params, reduce, verbose):
    """`_graph_sums` for any method, called on chunks of noisy copies made on the host."""
    images = prepared.images
    per_pair_target = target if isinstance(target, targets.Target) else None
    seed_tensor = tf.constant(seed, tf.int64)
    totals = _Totals(reduce)
    for first, last, pair_ids, local in core.pair_chunks(
            len(images), samples, prepared.batch_size, verbose, unit="sample"):
        owners = first + local
        noise = core.sample_normal(seed_tensor, tf.constant(pair_ids), images.shape[1:]).numpy()
        noisy = images[owners] + sigmas[owners][:, None, None, :] * noise
        chunk_target = per_pair_target or [int(c) for c in class_idx[owners, 0]]
        values = np.asarray(function(prepared.model, noisy, chunk_target, batch_size=prepared.batch_size, **params),
                            np.float64)
        if reduce == "abs":
            values = np.abs(values)
        elif reduce == "square":
            values = np.square(values)
        n_chunk = last - first + 1
        sums = np.zeros((n_chunk, *values.shape[1:]))
        np.add.at(sums, local, values)
        m2 = None
        if reduce == "var":
            counts = np.bincount(local, minlength=n_chunk).reshape((-1,) + (1,) * (values.ndim - 1))
            m2 = np.zeros_like(sums)
            np.add.at(m2, local, np.square(values - (sums / counts)[local]))
        totals.add(len(images), first, local, sums, m2)
    return totals.result()


def noise_tunnel(
    model,
    images,
    target=None,
    *,
    method="saliency",
    reduce="mean",
    batch_size=None,
    samples=25,
    noise=0.15,
    value_range=None,
    seed=0,
    signed=False,
    verbose=0,
    **params,
):
    """Any attribution method, reduced over noisy copies of each image.

    The method runs on `samples` copies `x + N(0, sigma^2)` of each image,
    `sigma = noise * (max - min)` of the value range, and its attributions
    `a` are reduced per pixel and channel: `"mean"`, SmoothGrad (Smilkov et
    al., 2017, "SmoothGrad: removing noise by adding noise"); `"abs"`, the
    mean of `|a|` (ibid., section 4); `"square"`, the mean of `a^2`,
    SmoothGrad-squared (Hooker et al., 2019, "A Benchmark for
    Interpretability Methods in Deep Neural Networks"); `"var"`, the variance
    of `a`, VarGrad (Adebayo et al., 2018, "Local
    Explanation Methods for Deep Neural Networks Lack Sensitivity to
    Parameter Values"). The class for `target=None` is the one predicted for
    the *clean* image, fixed before the noise is added.

    Costs `samples` times the method's cost per image (plus one forward pass
    when `target=None`). Saliency, guided backprop, DeconvNet and Gradient x
    Input run as one compiled function over the `(image, sample)` pairs, at
    most `batch_size` per call, the noise drawn in the graph. Any other
    method (a name from `kerasviz.registry`, or a callable with the common
    call shape) is called on chunks of at most `batch_size` noisy copies.

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        method: a registered method's name (`"saliency"`, `"guided_backprop"`,
            `"integrated_gradients"`, ...) or a callable `method(model,
            images, target, *, batch_size, **params)`.
        reduce: `"mean"`, `"abs"`, `"square"` or `"var"` (see above).
        batch_size: at most this many noisy copies per compiled call (default:
            `model_cost.default_batch_size`); results do not depend on it.
        samples: the number of noisy copies per image (the paper uses 50).
        noise: the noise standard deviation as a fraction of the value range
            (the paper's best: 0.1 to 0.2).
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`) or `(min, max)`, per channel if need be; the images
            must lie in it. `None` uses each image's own min and max.
        seed: an int (or `None` for a fresh random seed); the same seed gives
            the same result.
        signed: reduce the method's signed attributions `[B, H, W, C]` and
            return them; default: return the map `[B, H, W]`, the maximum over
            channels of the absolute reduced value. A method without `signed`
            is reduced on its maps.
        verbose: 0 (silent, the default) or 1: a Keras progress bar over the
            `B * samples` noisy copies.
        **params: the method's own parameters (e.g. `steps=` for Integrated
            Gradients).

    Returns:
        float32 `[B, H, W]` (or `[B, H, W, C]` with `signed=True`);
        non-negative for `"abs"`, `"square"` and `"var"`.

    Raises:
        ValueError, TypeError: invalid `images`, `target`, `method`, `reduce`,
            `batch_size`, `samples`, `noise`, `value_range` or `seed`; images
            outside `value_range`.

    Example:

    >>> maps = kerasviz.noise_tunnel(model, images, method="guided_backprop", reduce="var")
    """
    return tunnel(model, images, target, method, reduce, batch_size, samples, noise, value_range, seed,
                  signed, verbose, params)


def tunnel(model, images, target, method, reduce, batch_size, samples, noise, value_range, seed, signed,
           verbose, params, label=None):
    """`noise_tunnel`, its arguments positional; `label` names the method in warnings."""
    name, function, registered = _check_method(method)
    reduce = _check_reduce(reduce)
    samples = inputs.check_positive_int(samples, "samples")
    noise = check_noise(noise)
    seed = inputs.check_seed(seed)
    verbose = progress.check_verbose(verbose)
    prepared = core.Prepared(model, images, target, batch_size)
    images = prepared.images
    value_range = inputs.check_value_range(value_range, images.shape[-1])
    inputs.check_in_range(images, value_range, "images")
    class_idx = core.predicted_classes(prepared)
    sigmas = noise_sigmas(images, noise, value_range)
    if registered and name in _GRAPH_METHODS:
        if params:
            raise TypeError(f"{name} takes no parameters but `signed`. Received: {sorted(params)}.")
        sums = _graph_sums(prepared, class_idx, sigmas, samples, seed, name, reduce, verbose)
    else:
        if "signed" in registry.parameters_of(function):
            params = {**params, "signed": True}
        sums = _host_sums(prepared, target, class_idx, sigmas, samples, seed, function, params, reduce,
                          verbose)
    values = sums.astype(np.float32)
    if values.ndim == 4 and not signed:
        values = core.reduce_map(values)
    label = label or (f"noise_tunnel({name}, {reduce})")
    return inputs.warn_if_constant(values, label)
