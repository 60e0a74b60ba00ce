"""Gram matrices: texture synthesis and neural style transfer (Gatys et al.)."""

import numpy as np
import tensorflow as tf

from kerasviz import compiled, inputs, models
from kerasviz.gradients import parameterization as parameterizations
from kerasviz.gradients import regularizers, synthesis

# Texture synthesis priors (ours, measured in tests/art/test_art.py on random conv nets): a TV weight that
# removes the checkerboard while the Gram loss still falls over 100-fold, and a few pixels of jitter.
TEXTURE_TV = 0.01
TEXTURE_JITTER = 2


def gram_matrix(activations):
    """The Gram matrices of feature maps: `G[b, i, j] = sum_xy F[b, x, y, i] F[b, x, y, j] / (H * W)`.

    The feature correlations of Gatys, Ecker & Bethge, 2015 ("Texture
    Synthesis Using Convolutional Neural Networks", eq. 1), divided by the
    number of positions so that images of any size compare.

    Args:
        activations: `[B, H, W, C]` (numpy array or tensor).

    Returns:
        `[B, C, C]` float32: a tensor for a tensor, else a numpy array.
    """
    is_tensor = isinstance(activations, (tf.Tensor, tf.Variable))
    features = tf.cast(activations, tf.float32)
    if features.shape.rank != 4:
        raise ValueError(
            f"Received an invalid value for `activations`: shape {features.shape}. Expected [B, H, W, C]."
        )
    shape = tf.shape(features)
    gram = tf.einsum("bhwi,bhwj->bij", features, features)
    gram = gram / tf.cast(shape[1] * shape[2], tf.float32)
    return gram if is_tensor else gram.numpy()


def _features(model, paths, images, argname=None, why="Gram matrices need spatial layers"):
    """The activations of the layers `paths` for `images`, compiled once per (model, layers, shape).

    With `argname`, each must be spatial `[B, H, W, C]` (a Gram matrix needs
    positions, content its layout); else a ValueError names `argname` and says `why`.
    """

    def build(model_ref):
        def forward(x):
            captured = models.run_layers(model_ref(), x, paths)
            return tuple(tf.cast(captured[p], tf.float32) for p in paths)

        return forward

    signature = [tf.TensorSpec([None, *images.shape[1:]], tf.float32)]
    function = compiled.compiled_function(model, ("art_features", paths, images.shape[1:]), build, signature)
    chunks = [function(tf.constant(images[a:b])) for a, b in inputs.batches(len(images), 32)]
    features = [np.concatenate([c[i].numpy() for c in chunks]) for i in range(len(paths))]
    flat = [(p, f.shape[1:]) for p, f in zip(paths, features) if f.ndim != 4]
    if argname is not None and flat:
        raise ValueError(
            f"Received an invalid value for `{argname}`: the layers {[p for p, _ in flat]} have outputs "
            f"of shape {[tuple(s) for _, s in flat]} per image, not [H, W, C]: {why}. "
            f"Spatial layers of the model {model.name!r}: {models.spatial_layers(model)}."
        )
    return features


def _paths(model, layers, argname):
    if isinstance(layers, (str, int)) or not isinstance(layers, (list, tuple)):
        layers = (layers,)
    if not layers:
        raise ValueError(f"Received an invalid value for `{argname}`: {layers!r}. Expected at least one layer.")
    return tuple(dict.fromkeys(models.get_layer(model, l, argname=argname)[0] for l in layers))


def default_style_layers(model, image_shape=None):
    """The first meaningful layer of each resolution stage, up to 5 (VGG's conv1_1 ... conv5_1, Gatys et al., 2016).

    See `kerasviz.layer_graph.default_layers` (role `"style"`); never a
    BatchNormalization, pooling or pre-activation output, nor the head.
    """
    return models.default_layers(model, "style", image_shape)


def default_content_layer(model, image_shape=None):
    """A meaningful layer of the second-deepest resolution stage (VGG's conv4_2, Gatys et al., 2016)."""
    return models.default_layer(model, "content", image_shape)


def _gram_loss(activations, paths, grams):
    """Per image: `mean_l ||G_l(x) - A_l||^2 / ||A_l||^2` (Gatys et al. 2015, eq. 4-5 with w_l = 1/L)."""
    total = 0.0
    for path, target in zip(paths, grams):
        gram = gram_matrix(tf.cast(activations[path], tf.float32))
        distance = tf.reduce_sum(tf.square(gram - target), axis=[1, 2])
        total += distance / (tf.reduce_sum(tf.square(target), axis=[1, 2]) + 1e-12)
    return total / len(paths)


class _Texture:
    def __init__(self, paths):
        self.paths = paths

    def __call__(self, logits, activations, *grams):
        return -_gram_loss(activations, self.paths, grams)


def _content_loss(activations, path, content):
    phi = tf.cast(activations[path], tf.float32)
    axes = list(range(1, len(content.shape)))
    distance = tf.reduce_sum(tf.square(phi - content), axis=axes)
    return distance / (tf.reduce_sum(tf.square(content), axis=axes) + 1e-12)


class _Style:
    def __init__(self, content_path, style_paths, content_weight, style_weight):
        self.content_path, self.style_paths = content_path, style_paths
        self.content_weight, self.style_weight = content_weight, style_weight

    def __call__(self, logits, activations, content, *grams):
        content_loss = _content_loss(activations, self.content_path, content)
        style_loss = _gram_loss(activations, self.style_paths, grams)
        return -(self.content_weight * content_loss + self.style_weight * style_loss)


def _tile(array, count, argname):
    if len(array) == count:
        return array
    if len(array) == 1:
        return np.repeat(array, count, axis=0)
    raise ValueError(
        f"Received {len(array)} images for `{argname}`; expected 1 or {count} (one per output image)."
    )


def _range(value_range, images, argname):
    """`value_range` resolved and `images` checked against it; `None` gives the images' own range."""
    resolved = inputs.check_value_range(value_range, images.shape[-1])
    if resolved is not None:
        inputs.check_in_range(images, resolved, argname)
        return resolved
    low = float(images.min())
    return inputs.ValueRange([low], [float(images.max()) if images.max() > low else low + 1.0])


def _noise(value_range, shape, seed):
    """White noise uniform over `value_range` (per channel), from `seed`."""
    unit = np.random.default_rng(seed).uniform(0.0, 1.0, shape)
    return (value_range.low + unit * (value_range.high - value_range.low)).astype(np.float32)


def _latent_settings(parameterization, jitter, default_jitter, learning_rate):
    """`(jitter, learning_rate)`: a parameterization has no jitter (transforms instead) and Adam's rate."""
    if parameterization is None:
        return (default_jitter if jitter is None else jitter), learning_rate
    if jitter:
        raise ValueError(
            f"Received `jitter={jitter!r}` with `parameterization={parameterization!r}`: the pixel "
            "descent's jitter does not apply to a parameterization; use `transforms`.")
    return 0, parameterizations.LEARNING_RATE if learning_rate is None else learning_rate


def _schedule(learning_rate, steps):
    rate = regularizers.check_learning_rate(0.01 if learning_rate is None else learning_rate)
    return lambda step: rate(step) * (1.0 - 0.9 * step / steps)


def texture_synthesis(
    model, texture, layers=None, *, init=None, steps=200, learning_rate=None, tv_weight=TEXTURE_TV,
    jitter=None, parameterization=None, transforms=None, value_range=(0.0, 1.0), seed=0, callback=None,
    verbose=0,
) -> synthesis.Synthesis:
    """Synthesizes a new image with the texture of a given one (Gram matrix matching).

    Descends `mean_l ||G_l(x) - G_l(t)||^2 / ||G_l(t)||^2 + tv_weight * TV(x)`
    over `layers`, `G_l` being the Gram matrix of layer `l` (`gram_matrix`),
    from seeded white noise (Gatys, Ecker & Bethge, 2015, "Texture Synthesis
    Using Convolutional Neural Networks", eq. 4-5 with equal weights w_l =
    1/L; the normalization by `||G_l(t)||^2` replaces their `1 / (4 N^2 M^2)`
    so that layers and value ranges weigh alike). Gram matrices say nothing
    about neighbouring pixels, so without a prior the result keeps the
    high-frequency noise it starts from (a checkerboard while the Gram loss
    falls a thousandfold); a total-variation prior (the engine's per-pixel
    TV in units of the value range, as in style transfer and Mahendran &
    Vedaldi, 2015) and random jitter of a few pixels per step (Mordvintsev
    et al., 2015) smooth it. Their optimizer is L-BFGS; here it is the
    engine's normalized gradient step, its rate decaying linearly to 10%.
    Even random conv filters give textures (Ustyuzhaninov et al., 2016);
    a pretrained VGG (`keras.applications.VGG19(weights="imagenet",
    include_top=False, input_shape=(None, None, 3))`, weights loaded by the
    user, images in its input space with `value_range="caffe"`) gives the
    paper's. Costs one forward pass for the texture plus `steps` forward and
    backward passes per image.

    Args:
        model: a built Keras image model.
        texture: the texture images `[B or 1, H, W, C]` in the model's input space.
        layers: the layers whose Gram matrices to match (spatial layers);
            default VGG's `block1_conv1` ... `block5_conv1` (Gatys et al.),
            else 5 spatial layers spread over the depth.
        init: starting images `[B, H', W', C]` (any size the model takes);
            default white noise, uniform over `value_range` (Gatys et al.),
            of the texture's shape, from `seed`; with a `parameterization`,
            a near-grey image from a small random latent.
        steps: the number of descent steps (200, as CS231n's style transfer).
        learning_rate: the mean absolute per-pixel step at the start; default
            1% of the value range.
        tv_weight: the total variation weight (0: none, as in Gatys et al.).
        jitter: the largest random shift in pixels per step (0: none);
            default 2 (pixel descent only: with a `parameterization` use
            `transforms`).
        parameterization: None (the normalized pixel descent), or what
            Adam changes instead: `"pixels"`, `"fourier"` or a
            `kerasviz.gradients.parameterization.Parameterization` (see
            `kerasviz.optimize`); `learning_rate` is then Adam's (default
            0.05, decaying the same way). Measured on the demo models at 64
            steps (`benchmarks/feature_visualization.py`), `"fourier"`
            leaves far less high-frequency noise (share of spectral energy
            above half Nyquist 0.10 against 0.53; the texture's own: 0.03)
            for a higher Gram loss (0.020 against 0.016); the pixel default
            reaches the lowest loss.
        transforms: None, `"standard"` or a sequence of
            `kerasviz.gradients.transforms.Transform`s, applied to the image
            the model sees at every step.
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`) or `(min, max)`; `texture` and
            `init` must lie in it (else ValueError) and the result stays in
            it. `None`: the texture's own range.
        seed: an int seeding the start noise and the jitter.
        callback: `callback(step, image, loss)` after each step.
        verbose: 1 shows a progress bar.

    Returns:
        A `Synthesis(image, losses, steps)`; `losses` are the negative Gram
        losses (they rise toward 0), without the TV term.

    Raises:
        ValueError, TypeError: an invalid argument (named in the message),
            images outside `value_range`, a layer without a spatial output.

    Example:

    >>> result = texture_synthesis(model, bricks[None], steps=300)
    """
    models.check_model(model)
    textures = inputs.check_images(model, texture, "texture")
    seed = inputs.check_seed(seed)
    steps = inputs.check_positive_int(steps, "steps")
    tv_weight = regularizers.check_non_negative(tv_weight, "tv_weight")
    paths = default_style_layers(model, textures.shape[1:]) if layers is None else _paths(model, layers, "layers")
    resolved = _range(value_range, textures, "texture")
    if init is None and parameterization is not None and value_range is not None:
        init = parameterizations.random_images(parameterization, len(textures), textures.shape[1:], resolved, seed)
    elif init is None:
        init = _noise(resolved, textures.shape, seed)
    init = inputs.check_images(model, init, "init")
    features = _features(model, paths, textures, "layers")
    grams = [_tile(gram_matrix(f), len(init), "texture") for f in features]
    jitter, learning_rate = _latent_settings(parameterization, jitter, TEXTURE_JITTER, learning_rate)
    return synthesis.optimize(
        model, _Texture(paths), init, layers=paths, extras=grams, objective_key=("texture", paths),
        reads_logits=False, steps=steps, learning_rate=_schedule(learning_rate, steps),
        value_range=value_range, tv=tv_weight, jitter=jitter, seed=seed, callback=callback, verbose=verbose,
        parameterization=parameterization, transforms=transforms,
    )


def style_transfer(
    model, content, style, content_layer=None, style_layers=None, *, content_weight=1.0,
    style_weight=10.0, tv_weight=0.01, init="content", steps=200, learning_rate=None,
    parameterization=None, transforms=None, value_range=(0.0, 1.0), seed=0, callback=None, verbose=0,
) -> synthesis.Synthesis:
    """Paints the content of one image in the style of another (neural style transfer).

    Descends `content_weight * ||F(x) - F(c)||^2 / ||F(c)||^2 + style_weight
    * mean_l ||G_l(x) - G_l(s)||^2 / ||G_l(s)||^2 + tv_weight * TV(x)`:
    features `F` at `content_layer`, Gram matrices `G_l` at `style_layers`
    (Gatys, Ecker & Bethge, 2016, "Image Style Transfer Using Convolutional
    Neural Networks", eq. 1, 4-7, with the losses normalized by their
    targets' norms instead of fixed constants; the total-variation term as in
    CS231n's assignment 3, here the engine's per-pixel TV in units of the
    value range). Their `alpha / beta` ratio is `content_weight /
    style_weight`; our defaults (1 and 10, normalized units) and `tv_weight`
    are starting points of ours, not the papers'. Use a pretrained VGG for
    the paper's results: `keras.applications.VGG19(weights="imagenet",
    include_top=False, input_shape=(None, None, 3))` (loading the weights is
    the user's part; images in its input space, with `value_range="caffe"`). Costs a forward pass for each of `content` and `style`
    plus `steps` forward and backward passes per image.

    Args:
        model: a built Keras image model.
        content: the content images `[B, H, W, C]`; the result has their shape.
        style: the style images `[B or 1, H', W', C]` (any size the model takes).
        content_layer: default VGG's `block4_conv2` (conv4_2, Gatys et al.),
            else the spatial layer at about 60% of the depth.
        style_layers: default VGG's `block1_conv1` ... `block5_conv1`, else 5
            spatial layers spread over the depth.
        content_weight: the content loss weight (alpha).
        style_weight: the style loss weight (beta).
        tv_weight: the total variation weight (0: none, as in Gatys et al.).
        init: `"content"` (start from the content image, as CS231n) or
            `"noise"` (white noise uniform over `value_range`, from `seed`).
        steps: the number of descent steps (200, as CS231n).
        learning_rate: the mean absolute per-pixel step at the start; default
            1% of the value range, decaying linearly to 10%.
        parameterization: None (the normalized pixel descent), or what
            Adam changes instead, starting from `init`'s latent: `"pixels"`,
            `"fourier"` or a `kerasviz.gradients.parameterization.Parameterization`
            (Mordvintsev et al., 2018, "Differentiable Image
            Parameterizations", style transfer in a decorrelated Fourier
            basis); `learning_rate` is then Adam's (default 0.05, decaying).
        transforms: None, `"standard"` or a sequence of
            `kerasviz.gradients.transforms.Transform`s, applied to the image
            the model sees at every step.
        value_range: the model's input range: a preset (`"tf"`, `"torch"`,
            `"caffe"`) or `(min, max)`; `content` and
            `style` must lie in it (else ValueError) and the result stays in
            it. `None`: the content's own range.
        seed: an int seeding the start noise.
        callback: `callback(step, image, loss)` after each step.
        verbose: 1 shows a progress bar.

    Returns:
        A `Synthesis(image, losses, steps)`; `losses` are the negative
        weighted content + style losses (without the TV term).

    Raises:
        ValueError, TypeError: an invalid argument (named in the message),
            images outside `value_range`, a style layer without a spatial output.

    Example:

    >>> result = style_transfer(vgg, photo[None], starry_night[None], steps=300)
    """
    models.check_model(model)
    contents = inputs.check_images(model, content, "content")
    styles = inputs.check_images(model, style, "style")
    seed = inputs.check_seed(seed)
    steps = inputs.check_positive_int(steps, "steps")
    content_weight = regularizers.check_non_negative(content_weight, "content_weight")
    style_weight = regularizers.check_non_negative(style_weight, "style_weight")
    tv_weight = regularizers.check_non_negative(tv_weight, "tv_weight")
    if init not in ("content", "noise"):
        raise ValueError(f"Received an invalid value for `init`: {init!r}. Expected 'content' or 'noise'.")
    content_path = (default_content_layer(model, contents.shape[1:]) if content_layer is None
                    else _paths(model, content_layer, "content_layer")[0])
    style_paths = default_style_layers(model, styles.shape[1:]) if style_layers is None else _paths(model, style_layers, "style_layers")
    resolved = _range(value_range, contents, "content")
    if value_range is not None:
        inputs.check_in_range(styles, resolved, "style")
    start = contents.copy() if init == "content" else _noise(resolved, contents.shape, seed)
    reference = _features(model, (content_path,), contents, "content_layer",
                          "the content of an image is where its features are, so its layer must be spatial")[0]
    grams = [_tile(gram_matrix(f), len(contents), "style")
             for f in _features(model, style_paths, styles, "style_layers")]
    objective = _Style(content_path, style_paths, content_weight, style_weight)
    _, learning_rate = _latent_settings(parameterization, None, 0, learning_rate)
    return synthesis.optimize(
        model, objective, start, layers=(content_path, *style_paths), extras=(reference, *grams),
        objective_key=("style", content_path, style_paths, content_weight, style_weight), reads_logits=False,
        steps=steps, learning_rate=_schedule(learning_rate, steps), value_range=value_range,
        tv=tv_weight, seed=seed, callback=callback, verbose=verbose,
        parameterization=parameterization, transforms=transforms,
    )
