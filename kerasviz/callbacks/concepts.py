"""Concepts while a model trains (the dashboard's "Concepts" tab): `CraftCallback` and `TCAVCallback`.

Two callbacks, one per question: CRAFT finds a class's concepts in the
images of that class (no concept given); TCAV tests concepts the user gives
(folders of examples) against random ones. Both write at the end of training
(`every=None`, the default) or every `every` epochs (`InsideCallback`).
"""

import numpy as np

from kerasviz import inputs, models
from kerasviz.callbacks.inside import InsideCallback, check_class, check_images, check_target
from kerasviz.inside import streams
from kerasviz.inside.cavs import ALPHA, tcav_significance
from kerasviz.inside.concept_records import write_concepts, write_tcav
from kerasviz.inside.craft import CONCEPTS, DESIGNS, concept_importance, concept_maps, craft_concepts
from tb_plugin import metadata


class CraftCallback(InsideCallback):
    """A class's CRAFT concepts, their importance and where they are, while a model trains.

    Runs CRAFT (Fel et al., 2023, "CRAFT: Concept Recursive Activation
    FacTorization for Explainability"): `kerasviz.inside.craft_concepts`
    (NMF of the layer's patch activations over `images`, images of class
    `target`), `concept_importance` (total Sobol indices of concept
    masks), `concept_maps` of the first `shown` images, recorded by
    `write_concepts` (series `class_<target>`, or `name`) at the end of
    training (`every=None`, the default) or every `every` epochs. Each write
    costs one forward pass per patch, the NMF, and `(concepts + 2) * designs`
    forward passes per image: keep `images` few during training.

    Args:
        log_dir: the TensorBoard log directory.
        images: `[N, H, W, C]` images of the class, in the model's input space.
        target: the class the images show (an int).
        layer: a rectified spatial layer (default: feature visualization's).
        concepts, patch_size, max_iter: as in `craft_concepts`.
        designs: as in `concept_importance` (a power of two).
        shown: the images whose concept maps are recorded (the first so many).
        name: the series' name (default `class_<target>`).
        every: None (once, at the end of training) or a write every `every` epochs.
        value_range: the model's input range.
        class_names: optional per-class names, shown.
        seed, batch_size: as everywhere in kerasviz.
        run_name, on_error: as for every kerasviz callback.

    Raises:
        ValueError, TypeError: an invalid argument (named), at construction
            or before the first training step.

    Example:

    >>> cats = x_val[y_val == 3][:32]
    >>> model.fit(x, y, epochs=10, callbacks=[kerasviz.callbacks.CraftCallback("logs", cats, target=3)])
    """

    what = "craft"

    def __init__(self, log_dir, images, target, layer=None, *, concepts=CONCEPTS, designs=DESIGNS, patch_size=None,
                 shown=16, max_iter=1000, name=None, every=None, value_range=(0.0, 1.0), class_names=None, seed=0,
                 batch_size=None, run_name="concepts", on_error="warn"):
        super().__init__(log_dir, images, layer, every=every, run_name=run_name, on_error=on_error,
                         value_range=value_range, class_names=class_names, seed=seed, batch_size=batch_size)
        self.target = check_target(target)
        self.concepts = inputs.check_positive_int(concepts, "concepts")
        designs = inputs.check_positive_int(designs, "designs")
        if designs & (designs - 1):
            raise ValueError(f"Received an invalid value for `designs`: {designs!r}. Expected a power of two.")
        side = min(self.images.shape[1:3])
        if patch_size is not None and (isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer))
                                       or not 1 <= patch_size <= side):
            raise ValueError(f"Received an invalid value for `patch_size`: {patch_size!r}. Expected None or an int "
                             f"in [1, {side}].")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"Received an invalid value for `name`: {name!r}. Expected a non-empty string or None.")
        self.designs, self.patch_size, self.name = designs, patch_size, name or f"class_{self.target}"
        self.shown = inputs.check_positive_int(shown, "shown")
        self.max_iter = inputs.check_positive_int(max_iter, "max_iter")

    def configure(self, model):
        super().configure(model)
        check_class(model, self.images, self.target)
        channels = models.output_shape(model, self._path)[-1]
        if channels is not None and self.concepts > channels:
            raise ValueError(f"Received an invalid value for `concepts`: {self.concepts}, more than the {channels} "
                             f"channels of {self._path!r}.")

    def tags(self):
        return [metadata.tag_for("concepts", self.name)]

    def write(self, step):
        common = dict(batch_size=self.batch_size, value_range=self.value_range)
        bank = craft_concepts(self.model, self.images, self._path, self.concepts, patch_size=self.patch_size,
                              seed=self.seed, max_iter=self.max_iter, **common)
        importance = concept_importance(self.model, self.images, bank, self.target, designs=self.designs,
                                        seed=self.seed, **common)
        maps = concept_maps(self.model, self.images[:self.shown], bank, importance, **common)
        write_concepts(self.images, bank, importance, maps, step=step, name=self.name, class_names=self.class_names,
                       value_range=self.value_range)


class TCAVCallback(InsideCallback):
    """TCAV's significance tests of the user's concepts for some classes, while a model trains.

    Runs `kerasviz.inside.tcav_significance` (Kim et al., 2018,
    "Interpretability Beyond Feature Attribution: Quantitative Testing with
    Concept Activation Vectors (TCAV)", section 3.5) for each concept and
    each class of `targets` on `images`, the concept's CAVs against the
    random sets', Bonferroni-corrected for `len(concepts) * len(targets)`
    comparisons, and records the table with `write_tcav` (series `name`) at
    the end of training (`every=None`, the default) or every `every` epochs.
    Each write costs, per concept and class, one forward pass of each set,
    one backward pass of `images` and `2 * (len(random_sets) - 1)` linear fits.

    Args:
        log_dir: the TensorBoard log directory.
        images: `[N, H, W, C]` images to test (those of the classes), in the model's input space.
        concepts: `{name: [M, H, W, C] examples of the concept}`.
        random_sets: at least 3 sets of random images (`R_0, R_1, ...`).
        targets: the class tested (an int) or a list of them.
        layer: the layer of the CAVs (default: feature visualization's).
        alpha: the significance level before the correction (0.05, the paper's).
        name: the series' name.
        every: None (once, at the end of training) or a write every `every` epochs.
        value_range: the model's input range.
        class_names: optional per-class names, shown.
        seed, batch_size: as everywhere in kerasviz.
        run_name, on_error: as for every kerasviz callback.

    Raises:
        ValueError, TypeError: an invalid argument (named), at construction
            or before the first training step.

    Example:

    >>> kerasviz.callbacks.TCAVCallback("logs", zebras, {"striped": stripes}, [r0, r1, r2, r3], targets=340)
    """

    what = "tcav"
    rectified = False  # CAVs are linear probes: any layer

    def __init__(self, log_dir, images, concepts, random_sets, targets, layer=None, *, alpha=ALPHA, name="tcav",
                 every=None, value_range=(0.0, 1.0), class_names=None, seed=0, batch_size=None, run_name="concepts",
                 on_error="warn"):
        super().__init__(log_dir, images, layer, every=every, run_name=run_name, on_error=on_error,
                         value_range=value_range, class_names=class_names, seed=seed, batch_size=batch_size)
        if not isinstance(concepts, dict) or not concepts or not all(isinstance(k, str) and k for k in concepts):
            keys = f" {list(concepts)!r}" if isinstance(concepts, dict) else ""
            raise TypeError("Expected `concepts` to be a non-empty dict {name: concept images}. Received: "
                            f"{type(concepts).__name__}{keys}.")
        self.concepts = {k: check_images(v, f"concepts[{k!r}]") for k, v in concepts.items()}
        if not isinstance(random_sets, (list, tuple)) or len(random_sets) < 3:
            raise ValueError("Received an invalid value for `random_sets`: expected a list of at least 3 image sets, "
                             f"received {type(random_sets).__name__}"
                             f"{' of ' + str(len(random_sets)) if isinstance(random_sets, (list, tuple)) else ''}.")
        self.random_sets = [check_images(r, f"random_sets[{i}]") for i, r in enumerate(random_sets)]
        listed = list(targets) if isinstance(targets, (list, tuple)) else [targets]
        if not listed:
            raise ValueError("Received an invalid value for `targets`: an empty list. Expected an int class or a list.")
        self.targets = list(dict.fromkeys(check_target(t, "targets") for t in listed))
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
            raise ValueError(f"Received an invalid value for `alpha`: {alpha!r}. Expected a number in (0, 1).")
        if not isinstance(name, str) or not name:
            raise ValueError(f"Received an invalid value for `name`: {name!r}. Expected a non-empty string.")
        self.alpha, self.name = float(alpha), name

    def configure(self, model):
        super().configure(model)
        for concept, examples in self.concepts.items():
            streams.check_batch(model, examples, self.value_range, f"concepts[{concept!r}]")
        for i, examples in enumerate(self.random_sets):
            streams.check_batch(model, examples, self.value_range, f"random_sets[{i}]")
        for target in self.targets:
            check_class(model, self.images, target, "targets")

    def tags(self):
        return [metadata.tag_for("concepts", self.name)]

    def write(self, step):
        comparisons = len(self.concepts) * len(self.targets)
        tests = {(concept, target): tcav_significance(
                     self.model, self.images, self._path, examples, self.random_sets, target, alpha=self.alpha,
                     comparisons=comparisons, batch_size=self.batch_size, seed=self.seed,
                     value_range=self.value_range)
                 for concept, examples in self.concepts.items() for target in self.targets}
        write_tcav(tests, step=step, name=self.name, layer=self._path, class_names=self.class_names)
