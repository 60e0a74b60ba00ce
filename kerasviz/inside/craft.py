"""CRAFT: a class's concepts by NMF of a layer's patch activations, their Sobol importance, and where they are."""

import typing
import warnings

import numpy as np
import tensorflow as tf
from sklearn.decomposition import non_negative_factorization
from sklearn.exceptions import ConvergenceWarning

from kerasviz import compiled, inputs, models, targets
from kerasviz.inside import building_blocks, craft_stream, sobol, streams

#: Fel et al., 2023 (and the authors' code, github.com/deel-ai/Craft): 64-pixel crops of 224-pixel images,
#: taken every 0.8 crop widths (`craft_stream.STRIDE_FRACTION`), each resized back to the input size; 10
#: concepts in the authors' quick start (20 in their class's default); 32 designs of the Sobol masks.
PATCH_FRACTION = 64 / 224
CONCEPTS = 10
DESIGNS = 32


class ConceptBank(typing.NamedTuple):
    """A class's concepts in a layer (CRAFT): `pooled activation of a patch ~ coefficients @ bank`.

    Attributes:
        bank: float32 `[k, C]`, each concept's channel mix (`W` in the paper; rows of unit length).
        patch_coefficients: float32 `[P, k]`, each patch's concept coefficients (`U`).
        patch_origins: int64 `[P, 3]`, each patch's `(image, row, col)`: its image and top-left pixel.
        patch_size: the crops' side in pixels.
        layer: the layer's path.
        error: the relative reconstruction error of the patches' activations (Frobenius).
    """

    bank: np.ndarray
    patch_coefficients: np.ndarray
    patch_origins: np.ndarray
    patch_size: int
    layer: str
    error: float


class ConceptImportance(typing.NamedTuple):
    """How much a class score depends on each concept (Sobol indices over concept masks).

    Attributes:
        total: float32 `[k]`, the total Sobol index of each concept, averaged over the images (CRAFT's importance).
        first_order: float32 `[k]`, the first-order index, averaged likewise.
        per_image: float32 `[N, k]`, each image's total indices.
        target: the class explained.
    """

    total: np.ndarray
    first_order: np.ndarray
    per_image: np.ndarray
    target: int


def craft_concepts(model, images, layer, concepts: int = CONCEPTS, *, patch_size=None, batch_size=None,
                   seed: int = 0, max_iter: int = 1000, passes: int = craft_stream.PASSES,
                   value_range=None) -> ConceptBank:
    """Extracts a class's concepts from a layer: NMF of its patches' pooled activations.

    CRAFT (Fel, Picard, Bethune, Boissin, Vigouroux, Colin, Cadène & Serre,
    2023, "CRAFT: Concept Recursive Activation FacTorization for
    Explainability", CVPR, section 3.1): the model is split at `layer`
    (`f = h o g`); the images (of the class to explain) are cropped into
    patches of `patch_size` pixels every `0.8 * patch_size` (the paper's
    64-pixel crops of 224-pixel ImageNet images; the default keeps that
    ratio, `round(64 / 224 * side)`), each crop resized back to the input
    size (bilinear: bicubic, as in the authors' code, overshoots the value
    range), and `g` of each crop averaged over positions gives a
    non-negative matrix `A [P, C]`, factored by NMF as `A ~ U W`: the rows
    of `W` (`bank`, unit length) are the concepts. One forward pass of the
    model up to `layer` per crop; all crops' pooled activations are held
    (`P * C` floats) and one batch of crops.

    Streamed (`images` a `tf.data.Dataset` or another re-iterable source of
    batches, for many images): a first pass samples 4096 patches uniformly,
    whose in-memory NMF starts scikit-learn's `MiniBatchNMF`, refined by
    `partial_fit` on chunks of 1024 patches over `passes` passes of the
    data; a last pass writes each patch in `W` (`kerasviz.inside.craft_stream`).
    Memory holds one batch, the sample and each patch's `k` coefficients,
    not its `C` activations; `passes + 2` forward passes run per crop.
    Deterministic for a fixed order of the images; its reconstruction
    error is close to, not equal to, the in-memory fit's.

    Args:
        model: a built Keras image model.
        images: `[N, H, W, c]` images of the class, in the model's input
            space, or a stream of batches of them (`(images, labels)`
            elements: the labels are dropped).
        layer: a rectified spatial layer (name, path, index or object).
        concepts: the number of concepts `k` (at most the layer's channels).
        patch_size: the crops' side in pixels (default `round(64 / 224 * min(H, W))`).
        batch_size: crops per compiled call (default 32).
        seed: seeds the factorization.
        max_iter: NMF's iterations at most (in memory).
        passes: `partial_fit` passes over a stream (streamed only).
        value_range: when given, images outside it raise (nothing is clipped).

    Returns:
        A `ConceptBank`.

    Raises:
        ValueError, TypeError: an invalid argument (named); negative
            activations (a layer before its ReLU); more concepts than channels.

    Example:

    >>> bank = craft_concepts(model, class_images, "conv3", concepts=10)
    >>> importance = concept_importance(model, class_images, bank, target=3)
    """
    models.check_model(model)
    concepts = inputs.check_positive_int(concepts, "concepts")
    max_iter = inputs.check_positive_int(max_iter, "max_iter")
    seed = inputs.check_seed(seed)
    batch_size = inputs.check_batch_size(batch_size)
    passes = inputs.check_positive_int(passes, "passes")
    path = _spatial_layer(model, layer)
    streamed = craft_stream.is_stream(images)
    checked = streams.check_batch(model, craft_stream.first_batch(images, batch_size) if streamed else images,
                                  value_range, "images")
    height, width = checked.shape[1:3]
    if patch_size is None:
        patch_size = max(1, round(PATCH_FRACTION * min(height, width)))
    elif isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)) or \
            not 1 <= patch_size <= min(height, width):
        raise ValueError(f"Received an invalid value for `patch_size`: {patch_size!r}. Expected an int in "
                         f"[1, {min(height, width)}] (the images are {height}x{width}).")
    if streamed:
        bank, coefficients, origins, error = craft_stream.streamed_factorization(
            model, images, path, int(patch_size), concepts, batch_size=batch_size, seed=seed, passes=passes,
            value_range=value_range)
        return ConceptBank(bank, coefficients, origins, int(patch_size), path, error)
    pooled, origins = [], []
    for a, b in inputs.batches(len(checked), max(1, batch_size // 4)):
        values, where = craft_stream.pooled_patches(model, checked[a:b], path, int(patch_size), batch_size)
        pooled.append(values)
        origins.append(where + [a, 0, 0])
    matrix = np.concatenate(pooled).astype(np.float64)
    if concepts > min(matrix.shape):
        raise ValueError(f"Received `concepts={concepts}`, more than the {min(matrix.shape)} that the patches' "
                         f"activations {matrix.shape} (patches x channels of {path!r}) allow.")
    coefficients, bank, error = building_blocks.factorize(matrix, concepts, seed, max_iter, path)
    return ConceptBank(bank.astype(np.float32), coefficients.astype(np.float32), np.concatenate(origins),
                       int(patch_size), path, error)


def _spatial_layer(model, layer):
    path = streams.layer_path(model, layer)
    shape = models.output_shape(model, path)
    if shape is not None and len(shape) != 3:
        raise ValueError(f"Received an invalid value for `layer`: {layer!r} is not spatial (output {tuple(shape)}); "
                         "CRAFT's concept maps need a layer [B, h, w, C].")
    return path


def _check_bank(model, bank):
    if not isinstance(bank, ConceptBank):
        raise TypeError(f"Expected `bank` to be a `ConceptBank` from `craft_concepts`. Received: "
                        f"{type(bank).__name__}.")
    models.check_model(model)
    return _spatial_layer(model, bank.layer)


def concept_coefficients(model, images, bank: ConceptBank, *, batch_size=None, value_range=None) -> np.ndarray:
    """Each position's concept coefficients in the bank's layer: float32 `[N, h, w, k]`.

    The activation vector `a` at every position of `images` is written as
    `a ~ u W` with `u >= 0` and the bank `W` held fixed (the non-negative
    least squares of scikit-learn's `non_negative_factorization`, CRAFT's
    `transform`). One forward pass up to the layer per image.
    """
    path = _check_bank(model, bank)
    checked = streams.check_batch(model, images, value_range, "images")
    values = streams.non_negative(streams.activations(model, checked, path, inputs.check_batch_size(batch_size)),
                                  path)
    if values.ndim != 4 or values.shape[-1] != bank.bank.shape[1]:
        raise ValueError(f"Received `bank` of {bank.bank.shape[1]} channels for {path!r} of output "
                         f"{values.shape[1:]}.")
    with warnings.catch_warnings():  # a least-squares fit: its residual is CRAFT's reconstruction error
        warnings.simplefilter("ignore", ConvergenceWarning)
        coefficients, _, _ = non_negative_factorization(
            values.reshape(-1, values.shape[-1]).astype(np.float64), H=bank.bank.astype(np.float64),
            n_components=len(bank.bank), update_H=False, max_iter=2000, tol=1e-6)
    return coefficients.reshape(values.shape[:3] + (len(bank.bank),)).astype(np.float32)


def _score_function(model, path, image_shape, grid_shape, channels):
    """The compiled `(image [1, ...], u [h, w, k], W [k, C], masks [m, k], class) -> class score [m]`.

    The layer's output is replaced by `(u * mask) @ W` (`models.replacing_output`) and the model run to its
    logits: the upper half `h` of the split, on the image repeated once per mask.
    """

    def build(model_ref):
        def scores(image, coefficients, bank, masks, class_index):
            replacement = tf.einsum("yxk,mk,kc->myxc", coefficients, masks, bank)
            images = tf.repeat(image, tf.shape(masks)[0], axis=0)
            override = models.replacing_output(model_ref(), path, lambda out: tf.cast(replacement, out.dtype))
            logits, _ = models.run(model_ref(), images, overrides=override)
            return logits[:, class_index]

        return scores

    # The bank's channel count is static: layers above (a depthwise convolution) build from it.
    signature = [tf.TensorSpec([1, *image_shape], tf.float32), tf.TensorSpec(grid_shape, tf.float32),
                 tf.TensorSpec([grid_shape[-1], channels], tf.float32),
                 tf.TensorSpec([None, grid_shape[-1]], tf.float32), tf.TensorSpec([], tf.int32)]
    key = ("inside_craft_scores", path, tuple(image_shape), tuple(grid_shape), int(channels))
    return compiled.compiled_function(model, key, build, signature)


def concept_importance(model, images, bank: ConceptBank, target: int, *, designs: int = DESIGNS, seed: int = 0,
                       batch_size=None, value_range=None) -> ConceptImportance:
    """How much the class score depends on each concept: Sobol indices of concept masks.

    CRAFT (Fel et al., 2023, section 3.2): each image's activation is
    written in concepts, `a(y, x) ~ u(y, x) W` (`concept_coefficients`);
    a mask `m` in `[0, 1]^k` scales each concept's coefficient at every
    position, `a_m = (u * m) W`, and `h(a_m)` is the class score (the logit
    behind a softmax). The masks are the `(k + 2) * designs` points of a
    scrambled Sobol design (`kerasviz.inside.sobol_design`, the paper's
    quasi-Monte-Carlo masks, `designs = 32` as in the authors' code); each
    concept's importance is its total Sobol index (Jansen's estimator, the
    paper's choice), averaged over the images; first-order indices come too.
    The masked activation drops what the bank does not reconstruct, as in
    the paper. Costs `(k + 2) * designs` forward passes of the whole model
    per image (the layer's output is replaced while the model runs, so
    the part below the layer runs too).

    Args:
        model: a built Keras image model.
        images: `[N, H, W, c]` images of the class.
        bank: the `ConceptBank` of `craft_concepts`.
        target: the class index whose score to explain.
        designs: `N` of the Sobol design (a power of two).
        seed: seeds the design's scrambling.
        batch_size: masks per compiled call (default 32).
        value_range: when given, images outside it raise.

    Returns:
        A `ConceptImportance`.

    Raises:
        ValueError, TypeError: an invalid argument (named).
    """
    path = _check_bank(model, bank)
    checked = streams.check_batch(model, images, value_range, "images")
    classes = targets.num_classes(model, checked.shape[1:])
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < classes:
        raise ValueError(f"Received an invalid value for `target`: {target!r}. Expected a class index in "
                         f"[0, {classes}).")
    batch_size = inputs.check_batch_size(batch_size)
    count = len(bank.bank)
    masks = sobol.sobol_design(count, designs, seed=seed).astype(np.float32)
    coefficients = concept_coefficients(model, checked, bank, batch_size=batch_size)
    function = _score_function(model, path, checked.shape[1:], coefficients.shape[1:], bank.bank.shape[1])
    weights, index = tf.constant(bank.bank), tf.constant(int(target), tf.int32)
    totals, firsts = [], []
    for image, u in zip(checked, coefficients):
        scores = np.concatenate([function(tf.constant(image[None]), tf.constant(u), weights,
                                          tf.constant(masks[a:b]), index).numpy()
                                 for a, b in inputs.batches(len(masks), batch_size)])
        indices = sobol.sobol_estimates(scores, count, designs)
        totals.append(indices.total)
        firsts.append(indices.first_order)
    totals, firsts = np.array(totals, np.float32), np.array(firsts, np.float32)
    return ConceptImportance(totals.mean(axis=0), firsts.mean(axis=0), totals, int(target))


def concept_maps(model, images, bank: ConceptBank, importance: typing.Optional[ConceptImportance] = None, *,
                 batch_size=None, value_range=None) -> np.ndarray:
    """Where each concept is in each image: float32 `[N, H, W, k]`.

    CRAFT's concept attribution maps (Fel et al., 2023, section 3.3, in
    the form of the authors' code): each concept's coefficient at every
    position of the layer (`concept_coefficients`), upsampled to the image
    (bilinear) and, when `importance` is given, multiplied by the
    concept's total Sobol index.

    Args:
        model, images, bank, batch_size, value_range: as in `concept_importance`.
        importance: a `ConceptImportance` of `bank` (its `total` weights the maps), or None.

    Returns:
        float32 `[N, H, W, k]`.
    """
    if importance is not None and (not isinstance(importance, ConceptImportance)
                                   or importance.total.shape != (len(getattr(bank, "bank", ())),)):
        raise TypeError(f"Expected `importance` to be the `ConceptImportance` of `bank` (from "
                        f"`concept_importance`). Received: {importance!r}.")
    checked = streams.check_batch(model, images, value_range, "images")
    coefficients = concept_coefficients(model, checked, bank, batch_size=batch_size)
    maps = tf.image.resize(coefficients, checked.shape[1:3], method="bilinear").numpy()
    if importance is not None:
        maps = maps * importance.total
    return maps.astype(np.float32)
