"""Concepts as dashboard records: the "Concepts" tab (CRAFT's concepts of a class, TCAV's tests).

`write_concepts`: one record (family `concepts`, tag
`kerasviz/concepts/<name>`) per class explained by CRAFT: each concept's
importance (total and first-order Sobol indices), its most typical patches
(those with its largest coefficient), and where it is in each image (its
concept map). The tab ranks the concepts by importance; a click on a concept
shows its maps over the images. `write_tcav`: TCAV's significance tests of
user concepts (header `kind: "tcav"`), a row per concept and class.
"""

import numpy as np
import tensorflow as tf

from kerasviz import image, summary
from kerasviz.inside.cavs import TCAVTest
from kerasviz.inside.craft import ConceptBank, ConceptImportance

MAP_SIDE = 64  # concept maps are stored at most this many pixels a side (they come from a coarse layer)


def write_concepts(images, bank: ConceptBank, importance: ConceptImportance, maps, *, step=None, name=None,
                   class_names=None, value_range=(0.0, 1.0), patches: int = 6) -> bool:
    """Writes a class's CRAFT concepts for the dashboard's "Concepts" tab.

    Args:
        images: `[N, H, W, C]`, the images `bank` was fitted on (its patches
            are cut from them), in the model's input space.
        bank: the `ConceptBank` of `inside.craft_concepts`.
        importance: its `ConceptImportance` (`inside.concept_importance`).
        maps: `[N', H, W, k]` concept maps (`inside.concept_maps`) of the
            images shown (stored at most `MAP_SIDE` pixels a side).
        step: the step (`None`: the default step).
        name: the series' name (default `class_<target>`).
        class_names: optional per-class names.
        value_range: the model's pixel range, for display.
        patches: the most typical patches kept per concept.

    Returns:
        True when the record was written.

    Raises:
        TypeError, ValueError: `bank`, `importance` or `maps` that do not go together.
    """
    if not isinstance(bank, ConceptBank) or not isinstance(importance, ConceptImportance):
        raise TypeError("Expected `bank` from `inside.craft_concepts` and `importance` from "
                        f"`inside.concept_importance`. Received: {type(bank).__name__}, {type(importance).__name__}.")
    k = len(bank.bank)
    maps = np.asarray(maps, np.float32)
    if importance.total.shape != (k,) or maps.ndim != 4 or maps.shape[-1] != k:
        raise ValueError(f"Expected the importance of {k} concepts and maps [N, H, W, {k}]. Received importance "
                         f"{importance.total.shape} and maps {maps.shape}.")
    if not summary.recording():
        return False
    images = np.asarray(images, np.float32)
    side = bank.patch_size
    best = np.argsort(-bank.patch_coefficients, axis=0, kind="stable")[:patches].T  # [k, m]
    crops = np.stack([images[n, r:r + side, c:c + side] for n, r, c in bank.patch_origins[best.ravel()]])
    if maps.shape[1] > MAP_SIDE or maps.shape[2] > MAP_SIDE:
        scale = MAP_SIDE / max(maps.shape[1:3])
        size = (max(1, round(maps.shape[1] * scale)), max(1, round(maps.shape[2] * scale)))
        maps = tf.image.resize(maps, size, method="area").numpy()
    shown = len(maps)
    header = {"layer": bank.layer, "target": int(importance.target), "patch_size": int(side),
              "patches_per_concept": int(best.shape[1]), "reconstruction_error": float(bank.error),
              "class_names": None if class_names is None else [str(c) for c in class_names]}
    arrays = {"images": image.to_uint8(image.to_display(images[:shown], value_range)),
              "crops": image.to_uint8(image.to_display(crops, value_range)),
              "total": importance.total.astype(np.float32), "first_order": importance.first_order.astype(np.float32),
              "maps": np.moveaxis(maps, -1, 1)}  # [N, k, h, w]: one 2-D slice per image and concept
    return summary.write_record("concepts", name or f"class_{int(importance.target)}", header, arrays, step=step)


def write_tcav(tests, *, step=None, name="tcav", layer=None, class_names=None) -> bool:
    """Writes TCAV's significance tests (`inside.tcav_significance`) as a table of the "Concepts" tab.

    Args:
        tests: `{(concept name, class): TCAVTest}`: a test per concept and class.
        step: the step (`None`: the default step).
        name: the series' name.
        layer: the layer the CAVs live in (shown).
        class_names: optional per-class names.

    Returns:
        True when the record was written.

    Raises:
        TypeError: `tests` that are not `TCAVTest`s keyed by (concept, class).
    """
    if not isinstance(tests, dict) or not tests or not all(
            isinstance(t, TCAVTest) and isinstance(k, tuple) and len(k) == 2 for k, t in tests.items()):
        raise TypeError("Expected `tests` to be a non-empty dict {(concept name, class): TCAVTest} "
                        f"(from `inside.tcav_significance`). Received: {type(tests).__name__}.")
    if not summary.recording():
        return False
    rows = [{"concept": str(concept), "class": int(k), "score": float(t.score),
             "random_mean": float(np.mean(t.random_scores)), "random_std": float(np.std(t.random_scores)),
             "p_value": float(t.p_value), "significant": bool(t.significant),
             "accuracy": float(np.mean(t.accuracies))} for (concept, k), t in tests.items()]
    header = {"kind": "tcav", "layer": layer, "rows": rows,
              "class_names": None if class_names is None else [str(c) for c in class_names]}
    return summary.write_record("concepts", name, header, {}, step=step)
