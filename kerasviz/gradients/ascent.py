"""The compiled body of the optimization engine: many ascent steps in one call, no host sync between them.

`build_chunk` makes the function `optimize` caches and calls: it runs `K`
steps (`K` = the length of its learning-rate argument) inside one graph with a
`tf.while_loop`, and gathers each step's objective in a `TensorArray`, so
the host waits once per chunk, not once per step. Each step draws its
randomness (jitter, transforms) from `(seed, step index)` only, so `K` steps
in one call give what `K` calls of one step give. The model runs only as deep
as the objective reads (`kerasviz.models.run_layers`) unless it reads the
class scores.

The state is a *unit* image `u` in `[0, 1]` per channel (or a latent decoded
to one): the model sees `low + (high - low) * u`, its value range's affine
map. Every step size, prior and transform acts on `u`, so a model that takes
`[0, 255]` and its `[0, 1]` twin follow the same path.
"""

import tensorflow as tf

from kerasviz import models
from kerasviz.gradients import regularizers
from kerasviz.gradients import transforms as image_transforms

ADAM = (0.9, 0.999, 1e-8)  # beta_1, beta_2, epsilon: Kingma & Ba, 2015's defaults (lucid's too)


class Spec:
    """The static part of a chunk: what is traced, not what is fed.

    Attributes: `score(logits, activations, class_idx, *extras)`, `paths`
    (the layers it reads), `reads_logits`, `latent` (a bound
    `Parameterization` or None: the images themselves), `mode` (the gradient
    normalization of the pixel ascent), `blur_sigma`, `clip`, `transforms`,
    `priors` (those of `"l2"`, `"tv"`, `"jitter"` whose weight is not zero).
    """

    def __init__(self, score, paths, reads_logits, latent, mode, blur_sigma, clip, transforms, priors=()):
        self.score, self.paths, self.reads_logits, self.latent = score, paths, reads_logits, latent
        self.mode, self.blur_sigma, self.clip, self.transforms = mode, blur_sigma, clip, transforms
        self.priors = frozenset(priors)


def forward(model, spec, images):
    """`(logits or None, activations)` of `images`, the model cut after the deepest layer read when it can be."""
    if spec.reads_logits:
        return models.run(model, images, capture=spec.paths)
    return None, models.run_layers(model, images, spec.paths)


def to_model(unit, low, high):
    """Unit images -> the model's input space: `low + (high - low) * unit` (per-channel bounds)."""
    # Per-channel bounds are `[None]`: broadcasting against them forgets the channel count.
    return tf.ensure_shape(low + (high - low) * unit, unit.shape)


def _objective(model, spec, unit, seed, index, class_idx, l2, tv, low, high, extras):
    """`(total to ascend, objective [B], logits)` of one step at `unit`, its transforms drawn from `(seed, index)`."""
    seen = image_transforms.compose(spec.transforms, unit, tf.stack([seed, index]), unit.shape[1:3])
    logits, activations = forward(model, spec, to_model(seen, low, high))
    objective = tf.cast(spec.score(logits, activations, class_idx, *extras), tf.float32)
    # A prior of weight 0 is left out of the graph, not computed and multiplied by zero at every step: on a
    # model cut at an early layer its forward and backward cost as much as the layer's (`Spec.priors`, part
    # of the trace's key). Those that are on are summed as always, so the images do not change by a bit.
    penalty = 0.0
    if "l2" in spec.priors:
        penalty = l2 * tf.reduce_sum(tf.square(unit - 0.5), axis=[1, 2, 3])
    if "tv" in spec.priors:
        penalty += tv * regularizers.total_variation(unit)
    return tf.reduce_sum(objective - penalty), objective, logits


def _pixel_step(model, spec, state, index, rate, seed, class_idx, fixed, extras):
    """The normalized pixel ascent: roll by the jitter, ascend, roll back, blur every N, clip."""
    (units,), (l2, tv, jitter, blur_every, low, high) = state, fixed
    shift = tf.random.stateless_uniform(
        [2], tf.stack([seed, index]), minval=-jitter, maxval=jitter + 1, dtype=tf.int32)
    jittered = "jitter" in spec.priors
    x = tf.roll(units, shift, axis=[1, 2]) if jittered else units
    with tf.GradientTape() as tape:
        tape.watch(x)
        total, objective, logits = _objective(model, spec, x, seed, index, class_idx, l2, tv, low, high, extras)
    gradients = tape.gradient(total, x)
    if jittered:
        gradients = tf.roll(gradients, -shift, axis=[1, 2])
    updated = units + rate * regularizers.normalize(gradients, spec.mode)
    if spec.blur_sigma > 0:
        blur = tf.logical_and(blur_every > 0, tf.math.floormod(index + 1, tf.maximum(blur_every, 1)) == 0)
        updated = tf.cond(blur, lambda: regularizers.gaussian_blur(updated, spec.blur_sigma), lambda: updated)
    if spec.clip:
        updated = tf.clip_by_value(updated, 0.0, 1.0)
    return (updated,), objective, logits


def _latent_step(model, spec, state, index, rate, seed, class_idx, fixed, extras):
    """Decode the latent, transform, and one Adam ascent step on the latent (its moments travel in `state`)."""
    (latent, m, v), (l2, tv, low, high) = state, fixed
    beta_1, beta_2, epsilon = ADAM
    with tf.GradientTape() as tape:
        tape.watch(latent)
        unit = spec.latent.decode(latent)
        total, objective, logits = _objective(model, spec, unit, seed, index, class_idx, l2, tv, low, high, extras)
    gradient = tape.gradient(total, latent)
    m = beta_1 * m + (1.0 - beta_1) * gradient
    v = beta_2 * v + (1.0 - beta_2) * tf.square(gradient)
    t = tf.cast(index + 1, tf.float32)
    step_size = rate * tf.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
    return (latent + step_size * m / (tf.sqrt(v) + epsilon), m, v), objective, logits


def image_of(spec, state, low, high):
    """The images `[B, H, W, C]` of an engine state, in the model's input space."""
    return to_model(state[0] if spec.latent is None else spec.latent.decode(state[0]), low, high)


def build_chunk(model_ref, spec, with_logits):
    """The compiled body: `chunk(*state, class_idx, first, rates, seed, *fixed, *extras)`.

    Runs `len(rates)` steps, indices `first, first + 1, ...`, and returns
    `(*state, image, objectives [K, B])`, plus the last step's logits with
    `with_logits` (then `rates` has one entry: the caller inspects each step).
    """
    step = _pixel_step if spec.latent is None else _latent_step
    n_state = 1 if spec.latent is None else 3
    n_fixed = 6 if spec.latent is None else 4

    def chunk(*args):
        state, (class_idx, first, rates, seed) = args[:n_state], args[n_state:n_state + 4]
        fixed, extras = args[n_state + 4:n_state + 4 + n_fixed], args[n_state + 4 + n_fixed:]
        low, high = fixed[-2:]
        model = model_ref()
        if with_logits:
            state, objective, logits = step(model, spec, state, first, rates[0], seed, class_idx, fixed, extras)
            return (*state, image_of(spec, state, low, high), objective[None], logits)
        count = tf.shape(rates)[0]
        objectives = tf.TensorArray(tf.float32, size=count, element_shape=[None])

        def body(k, state, objectives):
            updated, objective, _ = step(model, spec, state, first + tf.cast(k, tf.int64), rates[k], seed,
                                         class_idx, fixed, extras)
            updated = tuple(tf.ensure_shape(u, s.shape) for u, s in zip(updated, state))
            return k + 1, updated, objectives.write(k, objective)

        _, state, objectives = tf.while_loop(
            lambda k, *_: k < count, body, (tf.constant(0), tuple(state), objectives), parallel_iterations=1)
        return (*state, image_of(spec, state, low, high), objectives.stack())

    return chunk
