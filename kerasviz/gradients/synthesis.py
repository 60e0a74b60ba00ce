"""The one input-optimization loop: gradient ascent on an image, with regularizers.

Class visualization, fooling images, FGSM, feature inversion (and the art
family: DeepDream, texture, style) all change an image to raise a score. They
share `optimize`: one compiled chunk of steps (`kerasviz.gradients.ascent`;
traced once per model, objective structure, image shape and static settings;
everything else, from the image to the learning rates, is a tensor argument)
called in a Python loop, once per chunk. The priors and step rules are in
`kerasviz.gradients.regularizers`.
"""

import math
import typing

import keras
import numpy as np
import tensorflow as tf

from kerasviz import compiled, display, image, inputs, models, progress, targets
from kerasviz.gradients import ascent, core
from kerasviz.gradients import parameterization as parameterizations
from kerasviz.gradients import regularizers
from kerasviz.gradients import transforms as image_transforms

MAX_CHUNK = 32  # steps per compiled call at most (the host waits once per call)
START_STD = 0.02  # a near-grey start: noise of 2% of the range about its centre, 25 sigma from its ends


class Synthesis(typing.NamedTuple):
    """The result of `optimize`.

    Attributes:
        image: float32 `[B, H, W, C]`, in the model's input space.
        losses: float32 `[steps]`: the objective (without the regularizers),
            averaged over the batch, at each step, measured on the (jittered)
            image the step started from.
        steps: the number of updates applied (fewer than asked when `stop`
            ended the run).
    """

    image: np.ndarray
    losses: np.ndarray
    steps: int

    # Shown as a labelled picture in Jupyter (see `kerasviz.display`).
    _repr_png_ = display.repr_png
    _repr_html_ = display.repr_html

    def figure(self, value_range=(0.0, 1.0)):
        """The images tiled, titled with the steps and the objective (`kerasviz.show`)."""
        pictures = image.to_display(self.image, value_range)
        losses = np.asarray(self.losses)
        title = f"{self.steps} steps" + (f", objective {losses[0]:.4g} -> {losses[-1]:.4g}" if losses.size else "")
        names = [f"image {i}" for i in range(len(pictures))]
        return display.Figure(image.titled(image.tile(pictures, pad=2, titles=names), title), title)


def grey_start(count, image_shape, value_range, seed):
    """`count` near-grey images `[count, H, W, C]`: the centre of `value_range` plus noise from `seed`.

    The noise has a standard deviation of `START_STD` of the range's width,
    per channel (drawn on the unit image, so every input convention gets
    the same start); `value_range=None` is taken as `[-1, 1]`.
    """
    unit = np.clip(0.5 + np.random.default_rng(seed).normal(0.0, START_STD, (count, *image_shape)), 0.0, 1.0)
    low, high = (value_range.low, value_range.high) if value_range is not None else (-1.0, 1.0)
    return (low + (high - low) * unit).astype(np.float32)


def _build_values(model_ref, spec):
    def values(images, class_idx, *extras):
        logits, activations = ascent.forward(model_ref(), spec, images)
        return tf.cast(spec.score(logits, activations, class_idx, *extras), tf.float32)

    return values


def objective_values(model, objective, images, *, layers=None, extras=(), objective_key=None, reads_logits=True):
    """The objective of each image `[B]` as `optimize` sees it, without transforms (one forward pass).

    Args: as `optimize`'s (`images` in the model's input space).

    Returns:
        float32 `[B]`.
    """
    models.check_model(model)
    images = inputs.check_images(model, images)
    extras = tuple(np.asarray(e) for e in extras)
    score, capture, objective_id, class_idx, reads = _objective(
        model, objective, layers, objective_key, images, reads_logits)
    spec = ascent.Spec(score, capture, reads, None, "none", 0.0, False, ())
    signature = [tf.TensorSpec([None, *images.shape[1:]], tf.float32),
                 tf.TensorSpec([None, class_idx.shape[1]], tf.int32)]
    signature += [tf.TensorSpec([None, *e.shape[1:]], tf.as_dtype(e.dtype)) for e in extras]
    key = ("objective_values", objective_id, capture, reads, images.shape[1:],
           tuple((e.shape[1:], e.dtype.str) for e in extras))
    function = compiled.compiled_function(model, key, lambda ref: _build_values(ref, spec), signature)
    return function(tf.constant(images), tf.constant(class_idx), *map(tf.constant, extras)).numpy()


def _check_stop(done, n_images):
    done = np.asarray(done)
    if done.dtype != bool or done.shape not in ((), (n_images,)):
        raise TypeError(
            f"Expected `stop` to return a bool or {n_images} bools (one per image). Received: {done!r}."
        )
    return done


def _objective(model, objective, layers, objective_key, images, reads_logits):
    """`(score(logits, activations, class_idx, *extras), capture, key, class_idx, reads_logits)`."""
    if not isinstance(reads_logits, bool):
        raise TypeError(f"Expected `reads_logits` to be a bool. Received: reads_logits={reads_logits!r}.")
    if callable(objective) and not isinstance(objective, targets.Target):
        if layers is None:
            raise ValueError(
                "Received a callable `objective` without `layers`: pass `layers=` (a tuple of "
                "layer names, possibly empty) naming the activations it reads."
            )
        if isinstance(layers, (str, int, keras.layers.Layer)):
            layers = (layers,)
        capture = tuple(dict.fromkeys(models.get_layer(model, l, argname="layers")[0] for l in layers))
        if not capture and not reads_logits:
            raise ValueError(
                "Received `reads_logits=False` with `layers=()`: the objective would read nothing.")

        def score(logits, activations, class_idx, *extras):
            return objective(logits, activations, *extras)

        key = ("custom", objective if objective_key is None else objective_key)
        return score, capture, key, np.full([len(images), 1], -1, np.int32), reads_logits
    if layers is not None:
        raise ValueError(
            f"Received `layers={layers!r}` with a `Target` objective: a target names its own "
            "layers; `layers` is only for a callable objective."
        )
    prepared = core.Prepared(model, images, objective, None)
    class_idx = core.predicted_classes(prepared)  # "the predicted class" is fixed at the start
    reads = prepared.target.reads_logits() or not prepared.capture
    return prepared.target.score, prepared.capture, ("target", prepared.target.key()), class_idx, reads


def optimize(
    model,
    objective,
    init,
    *,
    layers=None,
    extras=(),
    objective_key=None,
    steps=100,
    learning_rate=0.01,
    value_range=(0.0, 1.0),
    l2=0.0,
    tv=0.0,
    jitter=0,
    blur_every=0,
    blur_sigma=0.5,
    normalize_gradient=True,
    seed=0,
    callback=None,
    verbose=0,
    stop=None,
    parameterization=None,
    transforms=None,
    reads_logits=True,
) -> Synthesis:
    """Changes images by gradient ascent on an objective, with image priors.

    Everything happens on *unit* images: `u = (x - low) / (high - low)` per
    channel, `[0, 1]` across `value_range`, the model seeing `low + (high -
    low) * u`. Step sizes, priors, the Fourier scale and the colour
    decorrelation are in these units, so a model that takes `[0, 255]`, its
    `[-1, 1]` twin and its `[0, 1]` twin get the same images from the same
    seed, up to that affine map.

    Each step rolls the images by a random shift of at most `jitter` pixels
    (drawn from `seed` and the step index), computes the gradient of
    `objective - l2 * ||u - 0.5||^2 - tv * TV(u)` per image (`TV` as in
    `kerasviz.gradients.regularizers.total_variation`), rolls it back,
    normalizes it per image (by its mean absolute value, its RMS, or its sign),
    adds `learning_rate` times it, blurs the result every `blur_every` steps
    (Yosinski et al., 2015, "Understanding Neural Networks Through Deep
    Visualization", section 3), and clips to `[0, 1]`. The gradient
    ascent with a normalized step is Simonyan et al., 2013's class model
    visualization as set in CS231n's assignment 3. Costs one forward and one
    backward pass per image and step; the whole batch is one compiled call.
    The step is traced once per (model, objective structure, image shape,
    normalization, `blur_sigma`, clipping on or off, which of `l2`, `tv`
    and `jitter` are not 0: a prior of weight 0 is left out of the graph,
    not computed and multiplied by zero); everything else is passed as
    tensors. Up to 32 steps run in one compiled call (a
    `tf.while_loop`; about a tenth of `steps` per call when `verbose`, so
    the progress bar moves), the host waiting once per call; with a
    `callback` or `stop`, one step per call. Same seed, same result, whatever the chunking. An
    objective that reads only layers (not the class scores) runs the model
    up to the deepest of them only (`kerasviz.models.extractor`): a
    mid-layer objective costs the forward and backward passes of the
    network's first part.

    With a `parameterization`, the variable is a latent (the pixels or their
    Fourier spectrum) decoded to the image inside the same compiled step, and
    updated by Adam, whose state travels as tensors; `transforms` then make the
    image robust to small random changes (Olah et al., 2017, "Feature
    Visualization"; Mordvintsev et al., 2018, "Differentiable Image
    Parameterizations"). The transforms cost a few resampling ops per step;
    the decode one inverse FFT.

    Args:
        model: a built Keras image model (softmax at the end is bypassed:
            class scores are logits).
        objective: what to maximize: anything `target=` accepts (an int
            class, a sequence of classes, a `kerasviz.targets.Target`), or a
            callable `objective(logits, activations, *extras) -> [B]` with
            `layers=` naming the layers whose outputs land in `activations`
            (a dict keyed by layer path). To minimize a loss, return its
            negative.
        init: the starting images `[B, H, W, C]`, in the model's input space.
        layers: for a callable objective only: the layers it reads.
        extras: for a callable objective only: arrays `[B, ...]` passed to it
            as tensors (reference features, labels), so new values never
            retrace the step.
        objective_key: for a callable objective: a hashable naming its
            structure. Steps are cached per key; two callables with the same
            key must compute the same function of their arguments. Default:
            the callable itself.
        steps: the maximum number of updates.
        learning_rate: the step size in units of the value range (the mean
            absolute per-pixel change of the unit image for
            `normalize_gradient=True`: 0.01 moves a `[0, 255]` image by 2.55
            on average), or a callable `schedule(step) -> float`.
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`, see `kerasviz.inputs.check_value_range`)
            or `(min, max)`, per channel if need be. `init` must lie in it
            (else ValueError: nothing is clipped silently); the updated images
            are kept in it after every step, and its centre is where `l2`
            pulls. It defines the unit images every other setting is in.
            `None`: no range, nothing clipped, `l2` pulls to 0, and the unit
            is the spread of `init` (its max minus its min).
        l2: weight of the squared L2 distance of the unit image to 0.5,
            the range's centre (summed over pixels, as in CS231n).
        tv: weight of the total variation of the unit image (a per-pixel
            mean: Mahendran & Vedaldi, 2015).
        jitter: the largest random shift in pixels (0: none).
        blur_every: blur after every `blur_every`-th step (0: never).
        blur_sigma: the blur's standard deviation in pixels.
        normalize_gradient: `True` or `"mean_abs"` (divide by the mean
            absolute value per image), `"l2"` (by the RMS), `"sign"` (FGSM),
            or `False` (raw gradient).
        seed: an int (or `None`) seeding the jitter.
        callback: `callback(step, image, loss)` after each update (numpy).
        verbose: 1 shows a `keras.utils.Progbar`.
        parameterization: `None` (the images themselves, changed by the
            normalized ascent above), or what is optimized instead:
            `"pixels"` (pixels under a sigmoid), `"fourier"` (a 1/f-scaled
            spectrum, colours decorrelated, under a sigmoid: Olah et al.,
            2017) or a `kerasviz.gradients.parameterization.Parameterization`.
            With one, the latent is updated by Adam (`learning_rate` is
            Adam's; lucid's is 0.05), decoded into `value_range` inside the
            step, and `jitter`, `blur_every` and `normalize_gradient` do
            not apply (use `transforms`).
        transforms: `None`, `"standard"` (pad, jitter, scale, rotate, jitter:
            `kerasviz.gradients.transforms.standard`) or a sequence of
            `kerasviz.gradients.transforms.Transform`s, applied in the graph
            to the images the model sees at each step, seeded by `seed` and
            the step index (Mordvintsev et al., 2018).
        stop: `stop(step, image, logits) -> bool or [B] bools`, called before
            each update with the current images and their logits (numpy; the
            logits of the jittered images when `jitter > 0`). An image whose
            entry is `True` is not updated at this step (a fooled image stops
            changing); when every entry is `True` the run ends and returns the
            current images.
        reads_logits: for a callable objective: whether it reads `logits`.
            `False`: it is called with `logits=None`, and the model runs
            only up to the deepest of `layers` (the whole model where it
            cannot be cut, e.g. a subclassed model). Targets say it
            themselves (`Target.reads_logits`).

    Returns:
        A `Synthesis(image, losses, steps)`.

    Raises:
        ValueError, TypeError: an argument is invalid (its name is in the message).

    Example:

    >>> result = optimize(model, targets.Channel("conv3", 5), start, steps=50,
    ...                   jitter=4, blur_every=10)
    >>> result.image.shape
    (1, 64, 64, 3)
    """
    models.check_model(model)
    images = inputs.check_images(model, init, "init")
    steps = inputs.check_positive_int(steps, "steps")
    schedule = regularizers.check_learning_rate(learning_rate)
    value_range = inputs.check_value_range(value_range, images.shape[-1])
    inputs.check_in_range(images, value_range, "init")
    l2 = regularizers.check_non_negative(l2, "l2")
    tv = regularizers.check_non_negative(tv, "tv")
    jitter = regularizers.check_non_negative(jitter, "jitter", integer=True)
    blur_every = regularizers.check_non_negative(blur_every, "blur_every", integer=True)
    blur_sigma = regularizers.check_non_negative(blur_sigma, "blur_sigma")
    mode = regularizers.check_normalization(normalize_gradient)
    seed = inputs.check_seed(seed)
    verbose = progress.check_verbose(verbose)
    for name, fn in (("callback", callback), ("stop", stop)):
        if fn is not None and not callable(fn):
            raise TypeError(f"Expected `{name}` to be callable or None. Received: {name}={fn!r}.")
    if jitter >= min(images.shape[1:3]):
        raise ValueError(
            f"Received an invalid value for `jitter`: {jitter}. Expected fewer pixels than the "
            f"image's height and width {images.shape[1:3]}."
        )
    extras = tuple(np.asarray(e) for e in extras)
    if extras and (not callable(objective) or isinstance(objective, targets.Target)):
        raise ValueError("Received `extras` with a `Target` objective: they are for a callable objective.")
    for e in extras:
        if e.ndim == 0 or len(e) != len(images):
            raise ValueError(
                f"Received an invalid value for `extras`: an array of shape {e.shape}; each "
                f"needs one row per image ({len(images)})."
            )
    score, capture, objective_id, class_idx, reads = _objective(
        model, objective, layers, objective_key, images, reads_logits)
    if stop is not None and not reads:
        raise ValueError("Received `stop` with `reads_logits=False`: `stop` is given the logits of every step.")
    transforms = image_transforms.check_transforms(transforms, images.shape[1:])
    if parameterization is not None:
        if value_range is None:
            raise ValueError(
                f"Received `parameterization={parameterization!r}` with `value_range=None`: a "
                "parameterization decodes into a declared range; pass the model's `value_range`.")
        parameterization = parameterizations.get(parameterization).bound(images.shape[1:], value_range.bgr)
    clip = value_range is not None
    if clip:
        low, high = value_range.low, value_range.high
    else:  # centre 0 for `l2`, the images' own spread as the unit
        spread = float(images.max() - images.min()) or 1.0
        low, high = np.array([-spread / 2]), np.array([spread / 2])
    units = ((images - low) / (high - low)).astype(np.float32)
    blur_sigma = blur_sigma if blur_every else 0.0
    priors = tuple(name for name, weight in (("l2", l2), ("tv", tv), ("jitter", jitter)) if weight)
    spec = ascent.Spec(score, capture, reads, parameterization, mode, blur_sigma, clip, transforms, priors)
    with_logits = stop is not None
    scalar = lambda dtype: tf.TensorSpec([], dtype)  # noqa: E731
    head = [tf.TensorSpec([None, class_idx.shape[1]], tf.int32), scalar(tf.int64),
            tf.TensorSpec([None], tf.float32), scalar(tf.int64)]
    bounds = [tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.float32)]
    extra_specs = [tf.TensorSpec([None, *e.shape[1:]], tf.as_dtype(e.dtype)) for e in extras]
    key = ("synthesis", objective_id, capture, reads, images.shape[1:], with_logits,
           tuple((e.shape[1:], e.dtype.str) for e in extras), tuple(t.key() for t in transforms), priors)
    if parameterization is None:
        key += (mode, blur_sigma, clip)
        state_specs = [tf.TensorSpec([None, *images.shape[1:]], tf.float32)]
        fixed_specs = [scalar(tf.float32), scalar(tf.float32), scalar(tf.int32), scalar(tf.int64), *bounds]
        fixed = [tf.constant(v, d) for v, d in (
            (l2, tf.float32), (tv, tf.float32), (jitter, tf.int32),
            (blur_every, tf.int64), (low, tf.float32), (high, tf.float32))]
        state = (tf.constant(units),)
    else:
        key += (parameterization.key(),)
        state_specs = [tf.TensorSpec([None, *parameterization.latent_shape()], tf.float32)] * 3
        fixed_specs = [scalar(tf.float32), scalar(tf.float32), *bounds]
        fixed = [tf.constant(v, d) for v, d in ((l2, tf.float32), (tv, tf.float32), (low, tf.float32),
                                                  (high, tf.float32))]
        latent = tf.constant(parameterization.encode(units))
        state = (latent, tf.zeros_like(latent), tf.zeros_like(latent))
    function = compiled.compiled_function(
        model, key, lambda ref: ascent.build_chunk(ref, spec, with_logits),
        state_specs + head + fixed_specs + extra_specs)
    class_idx_tensor = tf.constant(class_idx)
    extras = [tf.constant(e) for e in extras]
    seed_tensor = tf.constant(seed % (2**63), tf.int64)
    # One step per call when each step is looked at (`stop`, `callback`); else chunks of `MAX_CHUNK` steps, the
    # host waiting once per chunk (a call costs about what a step of a 224-px conv layer costs); about ten
    # chunks when a progress bar shows.
    progbar = progress.bar(steps, verbose)
    chunk = 1 if with_logits or callback is not None else MAX_CHUNK
    if progbar is not None:
        chunk = min(chunk, max(1, math.ceil(steps / 10)))
    image = tf.constant(images)
    losses, index = [], 0
    while index < steps:
        count = min(chunk, steps - index)
        rates = tf.constant([float(schedule(i)) for i in range(index, index + count)], tf.float32)
        *updated, objectives = function(*state, class_idx_tensor, tf.constant(index, tf.int64), rates,
                                        seed_tensor, *fixed, *extras)
        if with_logits:
            logits, objectives = objectives, updated.pop()
            done = _check_stop(stop(index, image.numpy(), logits.numpy()), len(images))
            if np.all(done):
                break
            if done.ndim:
                keep = tf.constant(done)
                updated = [tf.where(tf.reshape(keep, [-1] + [1] * (u.shape.rank - 1)), old, u)
                           for old, u in zip((*state, image), updated)]
        state, image = tuple(updated[:len(state)]), updated[-1]
        losses.append(objectives)  # [count, B], kept on the device until the end unless asked
        index += count
        if callback is not None or progbar is not None:
            loss = float(np.mean(objectives[-1].numpy()))
            if callback is not None:
                callback(index - 1, image.numpy(), loss)
            if progbar is not None:
                progbar.update(index, values=[("objective", loss)], finalize=index >= steps)
    if progbar is not None and index < steps:
        progbar.update(index, finalize=True)
    means = np.concatenate([np.mean(v.numpy(), axis=1) for v in losses]) if losses else np.zeros([0])
    return Synthesis(image.numpy().astype(np.float32), means.astype(np.float32), len(means))
