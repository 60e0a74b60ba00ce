"""SmoothGrad, SmoothGrad-squared and VarGrad: saliency through the noise tunnel."""

from kerasviz.gradients import multi_input, multi_input_methods, noise_tunnel

MAGNITUDES = ("abs", "square")
_REDUCE = {None: "mean", "abs": "abs", "square": "square"}


def _check_magnitude(magnitude):
    if magnitude is None or magnitude in MAGNITUDES:
        return magnitude
    raise ValueError(
        f"Received an invalid value for `magnitude`: {magnitude!r}. Expected None (the mean "
        f"gradient) or one of {MAGNITUDES} (the mean of |g| or of g^2)."
    )


def smoothgrad(
    model,
    images,
    target=None,
    *,
    batch_size=None,
    samples=25,
    noise=0.15,
    value_range=None,
    seed=0,
    signed=False,
    magnitude=None,
    verbose=0,
    attribute=None,
):
    """SmoothGrad: the saliency map averaged over noisy copies of the image.

    Vanilla gradients are visually noisy because the score's gradient
    fluctuates sharply at small scales. SmoothGrad averages the input gradient
    at `samples` copies `x + N(0, sigma^2)` with `sigma = noise * (max - min)`
    (Smilkov et al., 2017, "SmoothGrad: removing noise by adding noise",
    section 3; the noise level is relative to the value range, 10% to 20%
    works best). The class for `target=None` is the one predicted for the
    *clean* image, fixed before the noise is added. Costs `samples` forward
    and backward passes per image (plus one forward pass when `target=None`);
    the `(image, sample)` pairs are batched, at most `batch_size` per compiled
    call, and the noise of each pair is drawn in the graph from `seed` and the
    pair's index, so results do not depend on `batch_size`. The computation
    is `noise_tunnel` around `saliency`.

    Signed gradients of noisy copies partly cancel, and on small networks the
    mean of 25 of them can be noisier than the plain gradient. `magnitude`
    averages their sizes instead: `"abs"`, the mean of `|g|` (Smilkov et
    al., 2017, section 4's absolute-value variant), or `"square"`, the mean
    of `g^2` (SmoothGrad-Squared, Hooker et al., 2019, "A Benchmark for
    Interpretability Methods in Deep Neural Networks"; captum's
    `smoothgrad_sq`).

    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target` (a neuron or
            channel of any layer, or a weighted sum).
        batch_size: at most this many model evaluations (noisy copies) per
            compiled call (default: `model_cost.default_batch_size`); results do not depend on it.
        samples: the number of noisy copies per image (the paper uses 50;
            the map changes little beyond that).
        noise: the noise standard deviation as a fraction of the value range.
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`) or `(min, max)`, per channel if
            need be; the images must lie in it (else ValueError). `None`
            uses each image's own min and max.
        seed: an int (or `None` for a fresh random seed); the same seed gives
            the same result.
        signed: return the per-channel mean `[B, H, W, C]` instead of the map.
        magnitude: `None` (the mean gradient), `"abs"` (the mean of `|g|`) or
            `"square"` (the mean of `g^2`).
        verbose: 0 (silent, the default) or 1: a Keras progress bar over the
            `B * samples` noisy copies.
        attribute: for a model with several inputs (`images` a dict keyed by
            input name, or a list in the order of `model.inputs`): which
            inputs to attribute: None (every image input `[B, H, W, C]`;
            side inputs held at their values), `"all"`, or input names or
            indices. The result then has the structure of `images`: one map
            per attributed image input, the attributions (magnitudes unless
            `signed`) of an attributed side input, None (or no key) for the
            others. Must be None for a model with one input.
            Noise goes on the attributed inputs only, each at its own scale
            (`magnitude` and `verbose` are for one input only).

    Returns:
        float32 `[B, H, W]`: the maximum over channels of the absolute mean
        (or `[B, H, W, C]`, the mean itself, with `signed=True`; non-negative
        with a `magnitude`).

    Raises:
        ValueError, TypeError: invalid `images`, `target`, `batch_size`,
            `samples`, `noise`, `value_range`, `seed` or `magnitude`; images
            outside `value_range`.

    Example:

    >>> maps = kerasviz.smoothgrad(model, images, samples=50, noise=0.15,
    ...                            value_range=(0, 255))
    >>> maps.shape
    (8, 64, 64)
    """
    if multi_input.is_several(model, images):
        return multi_input_methods.smoothgrad(model, images, target, batch_size=batch_size, samples=samples,
                                              noise=noise, value_range=value_range, seed=seed, signed=signed,
                                              magnitude=magnitude, attribute=attribute)
    multi_input.check_single_input_attribute(attribute)
    reduce = _REDUCE[_check_magnitude(magnitude)]
    return noise_tunnel.tunnel(model, images, target, "saliency", reduce, batch_size, samples, noise,
                               value_range, seed, signed, verbose, {}, label="smoothgrad")


_SHARED_ARGS = """
    Args:
        model: a built Keras image model (Sequential, functional, nested or
            subclassed; softmax at the end is bypassed).
        images: `[B, H, W, C]` in the model's own input space (numpy array,
            tensor or `tf.data.Dataset` of batches or `(images, labels)`).
        target: `None` (the predicted class), an int class, a sequence of
            ints (one per image), or a `kerasviz.targets.Target`.
        batch_size: at most this many noisy copies per compiled call (default:
            `model_cost.default_batch_size`); results do not depend on it.
        samples: the number of noisy copies per image.
        noise: the noise standard deviation as a fraction of the value range.
        value_range: the model's input range (see `smoothgrad`); `None` uses
            each image's own min and max.
        seed: an int (or `None` for a fresh random seed); the same seed gives
            the same result.
        signed: return the per-channel values `[B, H, W, C]` instead of the
            map (their maximum over channels).
        verbose: 0 (silent, the default) or 1: a Keras progress bar.

    Returns:
        float32 `[B, H, W]` (or `[B, H, W, C]` with `signed=True`), non-negative.

    Raises:
        ValueError, TypeError: as `smoothgrad`.
"""


def smoothgrad_squared(
    model, images, target=None, *, batch_size=None, samples=25, noise=0.15, value_range=None, seed=0,
    signed=False, verbose=0,
):
    """SmoothGrad-squared: the mean of the squared input gradient over noisy copies.

    `mean_s (dS/dx (x + e_s))^2`, `e_s ~ N(0, sigma^2)`, `sigma = noise *
    (max - min)` (Hooker et al., 2019, "A Benchmark for Interpretability
    Methods in Deep Neural Networks", section 4.2: the best of their
    benchmark's gradient methods at finding what the model needs). Equal to
    `smoothgrad(..., magnitude="square")`: `noise_tunnel` around `saliency`
    with `reduce="square"`. Costs `samples` forward and backward passes per
    image (plus one forward pass when `target=None`).
    {args}
    Example:

    >>> maps = kerasviz.smoothgrad_squared(model, images, samples=50)
    """
    return noise_tunnel.tunnel(model, images, target, "saliency", "square", batch_size, samples, noise,
                               value_range, seed, signed, verbose, {}, label="smoothgrad_squared")


def vargrad(
    model, images, target=None, *, batch_size=None, samples=25, noise=0.15, value_range=None, seed=0,
    signed=False, verbose=0,
):
    """VarGrad: the variance of the input gradient over noisy copies.

    `var_s dS/dx (x + e_s)`, `e_s ~ N(0, sigma^2)`, `sigma = noise * (max -
    min)` (Adebayo et al., 2018, "Local Explanation Methods for Deep Neural
    Networks Lack Sensitivity to Parameter Values"; Hooker et al., 2019):
    where the gradient changes most under small perturbations, rather than
    its average. Computed as `mean(g^2) - mean(g)^2` accumulated in float64:
    `noise_tunnel` around `saliency` with `reduce="var"`. Costs `samples`
    forward and backward passes per image (plus one forward pass when
    `target=None`).
    {args}
    Example:

    >>> maps = kerasviz.vargrad(model, images, samples=50)
    """
    return noise_tunnel.tunnel(model, images, target, "saliency", "var", batch_size, samples, noise,
                               value_range, seed, signed, verbose, {}, label="vargrad")


for _function in (smoothgrad_squared, vargrad):
    if _function.__doc__:  # None under `python -OO`
        _function.__doc__ = _function.__doc__.format(args=_SHARED_ARGS)
