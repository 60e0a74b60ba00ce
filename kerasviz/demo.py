"""The embedded defaults: small datasets, sample photos and a demo model.

Everything here works offline. The digits and the sample photos ship inside
scikit-learn; the shapes dataset is generated procedurally from a seed; the
demo model is a small ConvNet trained in seconds and cached on disk.

Importing this module builds nothing: NumPy is the only import at module
level; scikit-learn, Pillow and Keras are imported inside the functions.
"""

from __future__ import annotations

import os
import typing
import uuid
import warnings

import numpy as np

if typing.TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["DemoData", "load_digits", "load_shapes", "sample_images", "demo_data", "demo_model"]

#: Bump whenever `_build_model` or the training recipe changes: it is part of
#: the cache file name, so stale cached models are never loaded.
ARCHITECTURE_VERSION = 1

SHAPE_CLASSES = ("circle", "square", "triangle", "cross", "ring")
DEMO_NAMES = ("shapes", "digits")
_DEFAULT_EPOCHS = {"shapes": 6, "digits": 8}
_LEARNING_RATE = 3e-3
_BATCH_SIZE = 32
_TEST_FRACTION = 0.2

# Saturated colours: each has a channel near 0 and one near 1, so it stands
# out from the grey-ish backgrounds whatever the background's brightness.
# Red, green, blue, yellow, magenta, cyan, orange, purple.
_PALETTE = np.array(
    [[0.9, 0.1, 0.1], [0.1, 0.8, 0.15], [0.1, 0.25, 0.95], [0.95, 0.9, 0.1],
     [0.9, 0.1, 0.85], [0.1, 0.85, 0.9], [1.0, 0.55, 0.0], [0.55, 0.05, 0.9]],
    dtype=np.float32,
)


class DemoData(typing.NamedTuple):
    """A small labelled image dataset.

    Attributes:
        images: float32 array `[N, H, W, C]`, values in `[0, 1]`.
        labels: int64 array `[N]`, indices into `class_names`.
        class_names: one name per class.
        masks: bool array `[N, H, W]`, `True` exactly on the object's pixels
            (ground truth for localization methods), or `None` when the
            dataset has no masks.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    masks: np.ndarray | None


def _check_int(name, value, minimum=1):
    """Returns `value` as an int, or raises naming the argument."""
    expected = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"Received an invalid value for `{name}`: {value!r} "
            f"(of type {type(value).__name__}). Expected {expected}."
        )
    if value < minimum:
        raise ValueError(
            f"Received an invalid value for `{name}`: {value!r}. "
            f"Expected {expected}."
        )
    return int(value)


def _check_name(name):
    if name not in DEMO_NAMES:
        raise ValueError(
            f"Received an invalid value for `name`: {name!r}. "
            f"Expected one of {list(DEMO_NAMES)}."
        )
    return name


def _bilinear_matrix(n_in, n_out):
    """Interpolation matrix `[n_out, n_in]` (half-pixel centres, clamped)."""
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * n_in / n_out - 0.5
    pos = np.clip(pos, 0.0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    m = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    np.add.at(m, (rows, lo), 1.0 - frac)
    np.add.at(m, (rows, hi), frac)
    return m.astype(np.float32)


def load_digits(size: int = 32) -> DemoData:
    """Loads scikit-learn's handwritten digits, resized to `size x size`.

    The 1797 grey-scale 8x8 digits (values 0..16) that ship inside
    scikit-learn, upsampled with bilinear interpolation (NumPy, no TensorFlow
    ops) and scaled to `[0, 1]`. The order is scikit-learn's.

    Args:
        size: side of the output images, in pixels.

    Returns:
        A `DemoData` with images `[1797, size, size, 1]`, labels `0..9`,
        class names `"0".."9"` and `masks=None`.

    Raises:
        TypeError, ValueError: if `size` is not a positive int.

    Example:
    >>> data = load_digits(32)
    >>> data.images.shape
    (1797, 32, 32, 1)
    """
    size = _check_int("size", size)
    from sklearn import datasets

    bunch = datasets.load_digits()
    raw = bunch.images.astype(np.float32) / 16.0
    m = _bilinear_matrix(raw.shape[1], size)
    images = np.einsum("hi,nij,wj->nhw", m, raw, m, optimize=True)
    images = np.clip(images, 0.0, 1.0).astype(np.float32)[..., None]
    labels = bunch.target.astype(np.int64)
    class_names = tuple(str(i) for i in range(10))
    return DemoData(images, labels, class_names, None)


def _circle(u, v):
    return u * u + v * v <= 1.0


def _square(u, v):
    return (np.abs(u) <= 0.82) & (np.abs(v) <= 0.82)


def _triangle(u, v):  # apex up, base at v = 0.9
    return (v <= 0.9) & (np.abs(u) <= (v + 1.0) / 1.9)


def _cross(u, v):
    au, av = np.abs(u), np.abs(v)
    return ((au <= 0.32) & (av <= 1.0)) | ((av <= 0.32) & (au <= 1.0))


def _ring(u, v):
    r2 = u * u + v * v
    return (r2 <= 1.0) & (r2 >= 0.3)


_SHAPE_FNS = (_circle, _square, _triangle, _cross, _ring)


def _shape_masks(labels, u, v):
    """Object masks `[N, H, W]` from coordinates normalized to the box.

    `u` is `[N, 1, W]` and `v` is `[N, H, 1]`; the object's bounding box is
    `[-1, 1]^2` in these coordinates.
    """
    masks = np.empty((len(labels), v.shape[1], u.shape[2]), dtype=bool)
    for k, fn in enumerate(_SHAPE_FNS):
        sel = labels == k
        if sel.any():
            masks[sel] = fn(u[sel], v[sel])
    return masks


def load_shapes(n: int = 2000, size: int = 64, seed: int = 0) -> DemoData:
    """Generates a seeded dataset of coloured shapes on textured backgrounds.

    Each RGB image holds one shape, a circle, square, triangle, cross or ring,
    so the class is given by the shape alone: the colour is drawn per image
    from a palette, independently of the class. The object's bounding box is
    18-35% of the image side, placed at random fully inside the image. The
    background is a grey-ish smooth random field plus faint stripes and
    low-amplitude noise; the object carries the same noise. Classes are
    exactly balanced (up to `n % 5`) and in random order. Generated with
    NumPy only, from `np.random.default_rng(seed)`: the same seed gives
    identical arrays (2000 images of 64x64 take well under two seconds).

    Args:
        n: number of images.
        size: side of the images in pixels (at least 16).
        seed: non-negative int seeding the generator.

    Returns:
        A `DemoData` with images `[n, size, size, 3]`, labels in `0..4`,
        class names `("circle", "square", "triangle", "cross", "ring")` and
        masks `[n, size, size]` that are `True` exactly on the object.

    Raises:
        TypeError, ValueError: if an argument is not an int in range.

    Example:
    >>> data = load_shapes(n=100, size=64, seed=1)
    >>> data.images.shape, data.masks.shape
    ((100, 64, 64, 3), (100, 64, 64))
    """
    n = _check_int("n", n)
    size = _check_int("size", size, minimum=16)
    seed = _check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    f32 = np.float32

    labels = rng.permutation(np.arange(n) % len(SHAPE_CLASSES)).astype(np.int64)
    half = rng.uniform(0.09, 0.175, n) * size  # half of the bounding box side
    cx = rng.uniform(half, size - half)
    cy = rng.uniform(half, size - half)
    colour = _PALETTE[rng.integers(0, len(_PALETTE), n)]
    colour = colour + rng.uniform(-0.05, 0.05, (n, 3)).astype(f32)

    # Pixel centres, normalized per image so the bounding box is [-1, 1]^2.
    grid = np.arange(size, dtype=f32) + 0.5
    inv = (1.0 / half).astype(f32)[:, None, None]
    u = (grid[None, None, :] - cx.astype(f32)[:, None, None]) * inv
    v = (grid[None, :, None] - cy.astype(f32)[:, None, None]) * inv
    masks = _shape_masks(labels, u, v)
    del u, v

    # Background: grey level with a faint tint, plus a smooth random field
    # (a 4x4 grid of random colours, bilinearly upsampled), plus stripes.
    base = rng.uniform(0.3, 0.7, (n, 1, 1, 1)).astype(f32)
    base = base + rng.uniform(-0.06, 0.06, (n, 1, 1, 3)).astype(f32)
    coarse = rng.uniform(-0.15, 0.15, (n, 4, 4, 3)).astype(f32)
    m = _bilinear_matrix(4, size)
    field = np.einsum("hi,nijc,wj->nhwc", m, coarse, m, optimize=True)
    theta = rng.uniform(0.0, np.pi, n).astype(f32)
    freq = rng.uniform(2.0, 6.0, n).astype(f32) * f32(2 * np.pi / size)
    phase = rng.uniform(0.0, 2 * np.pi, n).astype(f32)
    kx = (np.cos(theta) * freq)[:, None, None] * grid[None, None, :]
    ky = (np.sin(theta) * freq)[:, None, None] * grid[None, :, None]
    stripes = f32(0.04) * np.sin(kx + ky + phase[:, None, None])
    background = base + field + stripes[..., None]

    noise = rng.standard_normal((n, size, size, 1), dtype=f32) * f32(0.03)
    images = np.where(masks[..., None], colour[:, None, None, :], background)
    images += noise
    np.clip(images, 0.0, 1.0, out=images)
    return DemoData(images.astype(f32, copy=False), labels, SHAPE_CLASSES, masks)


def sample_images(size: int | None = None) -> dict[str, np.ndarray]:
    """Loads scikit-learn's two sample photos, `"china"` and `"flower"`.

    The photos ship with scikit-learn (427x640 JPEGs). With `size`, each is
    resized with Pillow (antialiased bilinear) so that its shorter side is
    `size`, then center-cropped to `size x size`.

    Args:
        size: optional side of the square output, in pixels. `None` keeps
            the original resolution.

    Returns:
        A dict from name to a float32 array `[H, W, 3]` in `[0, 1]`.

    Raises:
        TypeError, ValueError: if `size` is given and not a positive int.

    Example:
    >>> photos = sample_images(size=224)
    >>> photos["china"].shape
    (224, 224, 3)
    """
    if size is not None:
        size = _check_int("size", size)
    from PIL import Image
    from sklearn import datasets

    bunch = datasets.load_sample_images()
    out = {}
    for path, pixels in zip(bunch.filenames, bunch.images):
        key = os.path.splitext(os.path.basename(path))[0]
        if size is not None:
            h, w = pixels.shape[:2]
            scale = size / min(h, w)
            new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
            img = Image.fromarray(np.asarray(pixels, dtype=np.uint8))
            img = img.resize((new_w, new_h), resample=Image.BILINEAR)
            left, top = (new_w - size) // 2, (new_h - size) // 2
            pixels = np.asarray(img.crop((left, top, left + size, top + size)))
        out[key] = np.asarray(pixels, dtype=np.float32) / 255.0
    return out


def demo_data(name: str = "shapes") -> tuple[DemoData, DemoData]:
    """Returns the deterministic `(train, test)` split of a demo dataset.

    `"shapes"` is `load_shapes()` (2000 RGB 64x64 images, 5 classes) and
    `"digits"` is `load_digits()` (1797 grey 32x32 images, 10 classes). The
    last 20% of the images are the test split.

    Args:
        name: `"shapes"` or `"digits"`.

    Returns:
        A pair of `DemoData`, train then test.

    Raises:
        ValueError: if `name` is unknown.

    Example:
    >>> train, test = demo_data("shapes")
    >>> len(train.images), len(test.images)
    (1600, 400)
    """
    _check_name(name)
    data = load_shapes() if name == "shapes" else load_digits()
    n = len(data.labels)
    cut = n - int(round(n * _TEST_FRACTION))

    def part(sl):
        masks = None if data.masks is None else data.masks[sl]
        return DemoData(data.images[sl], data.labels[sl], data.class_names, masks)

    return part(slice(0, cut)), part(slice(cut, n))


def _build_model(name, input_shape, n_classes, seed):
    """The demo ConvNet (architecture version `ARCHITECTURE_VERSION`)."""
    import keras

    layers = keras.layers
    seeds = iter(range(seed * 100 + 1, seed * 100 + 100))

    def init():
        return keras.initializers.GlorotUniform(seed=next(seeds))

    x = inputs = keras.Input(shape=input_shape, name="image")
    for i, filters in enumerate((16, 32, 64), start=1):
        if i > 1:
            x = layers.MaxPooling2D(2, name=f"pool{i - 1}")(x)
        x = layers.Conv2D(
            filters, 3, padding="same", activation="relu",
            kernel_initializer=init(), name=f"conv{i}",
        )(x)
    if name == "shapes":  # The object is anywhere: pool over positions.
        x = layers.GlobalMaxPooling2D(name="global_pool")(x)
    else:  # Centred digits: keep the layout.
        x = layers.MaxPooling2D(2, name="pool3")(x)
        x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", kernel_initializer=init(), name="fc")(x)
    x = layers.Dense(n_classes, kernel_initializer=init(), name="logits")(x)
    outputs = layers.Activation("softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"kerasviz_demo_{name}")


def _compile(model, learning_rate=1e-3):
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _training_set(name, train, rng):
    """Shuffled training arrays; digits get one randomly shifted copy."""
    images, labels = train.images, train.labels
    if name == "digits":
        pad, side = 3, images.shape[1]
        padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        offsets = rng.integers(0, 2 * pad + 1, (len(images), 2))
        shifted = np.stack(
            [padded[i, dy:dy + side, dx:dx + side] for i, (dy, dx) in enumerate(offsets)]
        )
        images = np.concatenate([images, shifted])
        labels = np.concatenate([labels, labels])
    order = rng.permutation(len(labels))
    return images[order], labels[order]


def _cache_path(name, seed, epochs, cache_dir):
    import keras

    if cache_dir is None:
        cache_dir = os.environ.get("KERASVIZ_CACHE_DIR") or os.path.join(
            os.path.expanduser("~"), ".cache", "kerasviz"
        )
    fname = (
        f"demo_{name}_s{seed}_e{epochs}_v{ARCHITECTURE_VERSION}"
        f"_k{keras.__version__}.keras"
    )
    return os.path.join(os.fspath(cache_dir), fname)


def _train(name, seed, epochs, verbose, callbacks=None):
    import keras

    train, test = demo_data(name)
    x, y = _training_set(name, train, np.random.default_rng(seed))
    model = _build_model(name, train.images.shape[1:], len(train.class_names), seed)
    steps = epochs * -(-len(y) // _BATCH_SIZE)
    _compile(model, keras.optimizers.schedules.CosineDecay(_LEARNING_RATE, steps))
    model.fit(
        x, y, batch_size=_BATCH_SIZE, epochs=epochs, shuffle=False,
        validation_data=(test.images, test.labels), verbose=verbose,
        callbacks=callbacks,
    )
    return model


def _save_atomically(model, path):
    directory, fname = os.path.split(path)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{fname}.{os.getpid()}.{uuid.uuid4().hex}.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def demo_model(
    name: str = "shapes",
    *,
    seed: int = 0,
    epochs: int | None = None,
    cache_dir: str | None = None,
    verbose: int = 0,
    callbacks: list | None = None,
) -> keras.Model:
    """Returns a small ConvNet trained on a demo dataset, cached on disk.

    A functional model with an input named `"image"`: three 3x3 convolutions
    with fused ReLU (`"conv1"`, `"conv2"`, `"conv3"`; 16, 32 and 64 filters)
    with max pooling between them (`"pool1"`, `"pool2"`); then global max
    pooling (`"global_pool"`, shapes: the object may be anywhere) or
    `"pool3"` and `"flatten"` (digits: the layout matters); a fully connected
    `"fc"` layer (64 units, ReLU), the class scores `"logits"` and the
    softmax output `"probabilities"`.

    It trains on `demo_data(name)[0]` (digits with one randomly shifted copy
    of each image) with Adam and a cosine-decayed learning rate, in about
    5-10 s on two CPU cores, to about 0.97 test accuracy or more. Training
    is deterministic given `seed`: seeded initializers, data shuffled once
    with NumPy and `fit(shuffle=False)`; no global seed is set. The model is
    saved atomically in the cache directory and loaded from there next
    time; a damaged cache file is trained again and replaced (with a
    warning).

    Args:
        name: `"shapes"` or `"digits"`.
        seed: non-negative int seeding the initializers and the shuffling.
        epochs: training epochs; `None` means the default for `name`
            (6 for shapes, 8 for digits).
        cache_dir: directory of the cached models; defaults to the
            `KERASVIZ_CACHE_DIR` environment variable, else
            `~/.cache/kerasviz`.
        verbose: verbosity passed to `Model.fit`.
        callbacks: Keras callbacks to attach to the training run (for
            example `kerasviz.callbacks` to watch it learn). When given, the
            model is trained even if a cached copy exists, so that the
            callbacks see every epoch; the result still replaces the cache.

    Returns:
        A `keras.Model` whose output is class probabilities, compiled with
        Adam and sparse categorical crossentropy (metric: accuracy).

    Raises:
        ValueError: if `name` is unknown or `seed`/`epochs` out of range.
        TypeError: if `seed`, `epochs`, `verbose` or `cache_dir` has the
            wrong type.

    Example:
    >>> model = demo_model("shapes")
    >>> train, test = demo_data("shapes")
    >>> model.predict(test.images[:4], verbose=0).shape
    (4, 5)
    """
    _check_name(name)
    seed = _check_int("seed", seed, minimum=0)
    epochs = _check_int("epochs", _DEFAULT_EPOCHS[name] if epochs is None else epochs)
    verbose = _check_int("verbose", verbose, minimum=0)
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(
            f"Received an invalid value for `cache_dir`: {cache_dir!r}. "
            "Expected a path (str or os.PathLike) or None."
        )
    import keras

    path = _cache_path(name, seed, epochs, cache_dir)
    if os.path.exists(path) and not callbacks:
        try:
            return _compile(keras.models.load_model(path, compile=False))
        except Exception as e:  # A damaged file: train again and replace it.
            warnings.warn(
                f"Could not load the cached demo model {path!r} ({e!r}); "
                "training it again.",
                stacklevel=2,
            )
    model = _train(name, seed, epochs, verbose, callbacks)
    _save_atomically(model, path)
    return model
