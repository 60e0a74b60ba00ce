"""TCAV: how much a user-defined concept matters to a class, through concept activation vectors."""

import logging
import typing
import warnings

import numpy as np
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from kerasviz import inputs, models
from kerasviz.inside import streams

#: Kim et al., 2018, section 3.5: the significance level of the t-test, before the Bonferroni correction.
ALPHA = 0.05


class CAV(typing.NamedTuple):
    """A concept activation vector: the unit normal of a linear concept-vs-random boundary.

    Attributes:
        vector: float32 `[D]`, unit length, over the layer's flattened
            activation `[h * w * C]` (`[C]` for a 2-D layer), pointing towards
            the concept.
        layer: the layer's path.
        shape: the activation's shape per image (`(h, w, C)`).
        accuracy: the classifier's accuracy on the held-out third of the
            examples (a CAV near 0.5 describes no concept the layer separates).
    """

    vector: np.ndarray
    layer: str
    shape: tuple
    accuracy: float


class TCAVScore(typing.NamedTuple):
    """Attributes: `score` (the fraction of images with a positive directional derivative) and
    `derivatives` (float32 `[N]`, each image's `S_{C,k,l}(x)`)."""

    score: float
    derivatives: np.ndarray


class TCAVTest(typing.NamedTuple):
    """A concept's TCAV scores against random concepts' (Kim et al., 2018, section 3.5).

    Attributes:
        score: the mean TCAV score of the concept's CAVs.
        scores: float `[R]`, the TCAV score of the CAV of the concept against each random set.
        random_scores: float `[R]`, the TCAV scores of random-against-random CAVs.
        p_value: the two-sided t-test's p-value (1.0 where both sets of scores are one constant).
        significant: `p_value < alpha / comparisons` (Bonferroni).
        accuracies: float `[R]`, the held-out accuracies of the concept's CAVs.
    """

    score: float
    scores: np.ndarray
    random_scores: np.ndarray
    p_value: float
    significant: bool
    accuracies: np.ndarray


def _flat_activations(model, images, path, batch_size, argname, value_range):
    checked = streams.check_batch(model, images, value_range, argname)
    values = streams.activations(model, checked, path, batch_size)
    return values.reshape(len(values), -1), values.shape[1:]


def concept_activation_vector(model, layer, concept_images, random_images, *, batch_size=None,
                              seed: int = 0, value_range=None) -> CAV:
    """The CAV of a concept at a layer: the normal of a linear classifier of concept vs random activations.

    Kim, Wattenberg, Gilmer, Cai, Wexler, Viegas & Sayres, 2018,
    "Interpretability Beyond Feature Attribution: Quantitative Testing with
    Concept Activation Vectors (TCAV)", section 3.2: the layer's activations
    of the concept's examples and of random counterexamples, flattened, are
    separated by a linear classifier (scikit-learn's L2-regularized logistic
    regression, liblinear's dual solver, on two thirds of the examples,
    seeded); the CAV is the unit
    normal of its boundary, towards the concept. One forward pass per image
    (up to the layer); all activations are held in memory (concept sets are
    tens to hundreds of images: `N * h * w * C` floats).

    Args:
        model: a built Keras image model.
        layer: the layer (name, path, index or object).
        concept_images: images `[N, H, W, C]` of the concept, in the model's input space.
        random_images: random counterexamples `[M, H, W, C]`.
        batch_size: images per compiled call (default 32).
        seed: seeds the train/held-out split and the classifier.
        value_range: the model's input range (a preset or `(min, max)`);
            when given, images outside it raise (nothing is clipped).

    Returns:
        A `CAV`.

    Raises:
        ValueError: invalid images (named), fewer than 3 images in a set, an invalid `layer`.

    Example:

    >>> cav = concept_activation_vector(model, "mixed4c", striped, random)
    """
    models.check_model(model)
    path = streams.layer_path(model, layer)
    batch_size = inputs.check_batch_size(batch_size)
    seed = inputs.check_seed(seed)
    concept, shape = _flat_activations(model, concept_images, path, batch_size, "concept_images", value_range)
    counter, _ = _flat_activations(model, random_images, path, batch_size, "random_images", value_range)
    return _fit(concept, counter, path, shape, seed)


def _fit(concept, counter, path, shape, seed):
    """The CAV separating the flattened activations `concept` `[N, D]` from `counter` `[M, D]`."""
    for name, values in (("concept_images", concept), ("random_images", counter)):
        if len(values) < 3:
            raise ValueError(f"Received {len(values)} images for `{name}`; a CAV needs at least 3 of each.")
    features = np.concatenate([concept, counter]).astype(np.float64)
    labels = np.r_[np.ones(len(concept)), np.zeros(len(counter))]
    train_x, test_x, train_y, test_y = train_test_split(features, labels, test_size=1 / 3, random_state=seed % 2**32,
                                                        stratify=labels)
    # centred (liblinear regularizes the intercept too) and in units of the activations' spread
    centre, scale = train_x.mean(axis=0), np.std(train_x) or 1.0
    # liblinear's dual solver: its cost grows with the examples, not the dimensions (tens of examples, 10^4-10^6
    # dimensions: 50 times faster than lbfgs on 40 x 16,384, the same normal to 1e-4)
    classifier = LogisticRegression(solver="liblinear", dual=True, max_iter=10000, random_state=seed % 2**32)
    with warnings.catch_warnings(record=True) as caught:  # said once, on the logger, not once per CAV
        warnings.simplefilter("always", ConvergenceWarning)
        classifier.fit((train_x - centre) / scale, train_y)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        logging.getLogger("kerasviz").info(
            "The CAV's classifier at %r stopped before converging (overlapping concept and random examples?); "
            "its held-out accuracy says how well it separates them.", path)
    normal = classifier.coef_[0]
    norm = np.linalg.norm(normal)
    if not norm:
        raise ValueError(f"The activations of `concept_images` and `random_images` at {path!r} are not separable "
                         "by any direction (the classifier's normal is zero).")
    accuracy = float(classifier.score((test_x - centre) / scale, test_y))
    return CAV((normal / norm).astype(np.float32), path, tuple(shape), accuracy)


def _check_cav(cav, model):
    if not isinstance(cav, CAV):
        raise TypeError(
            f"Expected `cav` to be a `CAV` from `concept_activation_vector`. Received: {type(cav).__name__}.")
    shape = models.output_shape(model, cav.layer)
    if shape is not None and None not in shape and int(np.prod(shape)) != len(cav.vector):
        raise ValueError(f"Received a `cav` of {len(cav.vector)} numbers for the layer {cav.layer!r} of output "
                         f"{tuple(shape)}.")


def directional_derivatives(model, images, cav, target=None, *, batch_size=None, value_range=None) -> np.ndarray:
    """`S_{C,k,l}(x) = grad h_{l,k}(f_l(x)) . v_C` for each image: float32 `[N]`.

    Kim et al., 2018, section 3.3: the derivative of the class score (the
    logit behind a softmax) with respect to the layer's activation, along
    the CAV. One forward and backward pass per image.
    """
    models.check_model(model)
    _check_cav(cav, model)
    _, gradients, _ = streams.layer_gradients(model, images, cav.layer, target, batch_size, value_range)
    return (gradients.reshape(len(gradients), -1) @ cav.vector).astype(np.float32)


def tcav(model, images, layer, cav, target=None, *, batch_size=None, value_range=None) -> TCAVScore:
    """The TCAV score: the fraction of `images` whose class score rises along the concept's CAV.

    Kim et al., 2018, section 3.3: `TCAV_{Q,C,k,l} = |{x in X_k : S_{C,k,l}(x) > 0}| / |X_k|`,
    `X_k` the images of class `k`. Costs one forward and backward pass per
    image; the gradient is taken at the layer's output through kerasviz's
    attribution kernel (`kerasviz.gradients.core.gradient_step`).
    At a layer that feeds the logits through linear layers only (the last
    block before global pooling and the classifier) the gradient is the
    same for every image, so every score is 0 or 1: pick an earlier layer
    (on EfficientNet-Lite3, every CAV of the last block scored 0).

    Args:
        model: a built Keras image model.
        images: the class's images `[N, H, W, C]`, in the model's input space.
        layer: the CAV's layer (name, path, index or object).
        cav: a `CAV` from `concept_activation_vector` at that layer.
        target: None (the predicted class), an int, one int per image, or a
            `kerasviz.targets.Target`.
        batch_size: images per compiled call.
        value_range: the model's input range (a preset or `(min, max)`);
            when given, images outside it raise (nothing is clipped).

    Returns:
        A `TCAVScore(score, derivatives)`.

    Raises:
        ValueError, TypeError: an invalid argument, a `cav` of another layer.

    Example:

    >>> tcav(model, zebras, "mixed4c", striped_cav, target=340).score
    """
    models.check_model(model)
    path = streams.layer_path(model, layer)
    _check_cav(cav, model)
    if path != cav.layer:
        raise ValueError(f"Received `layer={layer!r}` ({path!r}) and a `cav` of the layer {cav.layer!r}.")
    derivatives = directional_derivatives(model, images, cav, target, batch_size=batch_size, value_range=value_range)
    return TCAVScore(float(np.mean(derivatives > 0)), derivatives)


def tcav_significance(model, images, layer, concept_images, random_sets, target=None, *, alpha: float = ALPHA,
                      comparisons: int = 1, batch_size=None, seed: int = 0, value_range=None) -> TCAVTest:
    """Tests a concept's TCAV scores against those of random concepts (two-sided t-test, Bonferroni).

    Kim et al., 2018, section 3.5: a CAV is learned for the concept
    against each random set `R_i` (i >= 1) and, as the null, for the random
    set `R_0` against each `R_i`; the two lists of TCAV scores are compared
    by a two-sided Student's t-test (`scipy.stats.ttest_ind`). The concept
    is significant when `p < alpha / comparisons`: the Bonferroni correction
    for the number of hypotheses tested together (concepts x classes x
    layers; pass it). Costs one forward pass of each set's images, one
    backward pass of `images`, and `2 * (len(random_sets) - 1)` linear fits.

    Args:
        model, images, layer, target, batch_size, value_range: as in `tcav`.
        concept_images: the concept's examples.
        random_sets: at least 3 sets of random images (`R_0, R_1, ...`).
        alpha: the significance level (0.05).
        comparisons: the number of hypotheses tested together (Bonferroni).
        seed: seeds each CAV's split (CAV `i` gets `seed + i`).

    Returns:
        A `TCAVTest`.

    Raises:
        ValueError, TypeError: an invalid argument (named).
    """
    if isinstance(random_sets, np.ndarray) or not isinstance(random_sets, (list, tuple)) or len(random_sets) < 3:
        raise ValueError("Received an invalid value for `random_sets`: expected a list of at least 3 image sets, "
                         f"received {type(random_sets).__name__}"
                         f"{' of ' + str(len(random_sets)) if hasattr(random_sets, '__len__') else ''}.")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"Received an invalid value for `alpha`: {alpha!r}. Expected a number in (0, 1).")
    comparisons = inputs.check_positive_int(comparisons, "comparisons")
    seed = inputs.check_seed(seed)
    models.check_model(model)
    path = streams.layer_path(model, layer)
    _, gradients, _ = streams.layer_gradients(model, images, path, target, batch_size, value_range)
    gradients = gradients.reshape(len(gradients), -1)

    checked = inputs.check_batch_size(batch_size)
    concept_values, shape = _flat_activations(model, concept_images, path, checked, "concept_images", value_range)
    random_values = [_flat_activations(model, r, path, checked, f"random_sets[{i}]", value_range)[0]
                     for i, r in enumerate(random_sets)]  # each set's activations once

    def score(positive, negative, index):
        cav = _fit(positive, negative, path, shape, seed + index)
        return float(np.mean(gradients @ cav.vector > 0)), cav.accuracy

    concept = [score(concept_values, random_values[i], i) for i in range(1, len(random_sets))]
    null = [score(random_values[0], random_values[i], i)[0] for i in range(1, len(random_sets))]
    scores = np.array([s for s, _ in concept])
    random_scores = np.array(null)
    if np.ptp(np.r_[scores, random_scores]) == 0:
        p_value = 1.0
    else:
        with warnings.catch_warnings():  # one list may be constant (all 1.0): its variance is 0, not a loss
            warnings.simplefilter("ignore", RuntimeWarning)
            p_value = float(stats.ttest_ind(scores, random_scores).pvalue)
        p_value = 0.0 if np.isnan(p_value) else p_value  # two constant, different lists: certainly apart
    return TCAVTest(float(scores.mean()), scores, random_scores, p_value, p_value < alpha / comparisons,
                    np.array([a for _, a in concept]))
