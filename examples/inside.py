"""What the units of a model learned, over a dataset: Network Dissection, TCAV, neuron groups, an activation atlas, CRAFT.

    python examples/inside.py                 # the demo model on the shapes test split
    python examples/inside.py --out inside/

With your own model, replace `model`, `images`, `masks` and `names` below: images in the model's input
space, masks your segmentation labels (int concept ids [N, H, W] or binary [N, H, W, K]).
"""

import argparse
import os

import numpy as np

import kerasviz
from kerasviz import inside


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="inside")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    model = kerasviz.demo.demo_model("shapes")
    test = kerasviz.demo.demo_data("shapes")[1]
    images, value_range = test.images, (0.0, 1.0)
    masks, names = inside.shapes_concepts(test)  # 5 shapes and 8 colours (hue thresholds)

    # Network Dissection: each unit's best concept, a detector above IoU 0.04.
    for layer in ("conv1", "conv2", "conv3"):
        result = inside.dissect(model, (images, masks), layer, names, value_range=value_range)
        found = {names[c]: int(n) for c, n in zip(*np.unique(result.best_concept[result.detector], return_counts=True))}
        print(f"{layer}: {int(result.detector.sum())} of {len(result.detector)} units are detectors: {found}")
        best = np.argsort(-result.best_iou)[:3]
        print("   ", "; ".join(result.labels()[u] for u in best))

    # TCAV: does "a red object" matter to each class? The colour is drawn independently of the shape.
    red = names.index("red")
    red_images = images[masks[..., red].mean(axis=(1, 2)) > 0.02][:30]
    order = np.random.default_rng(0).permutation(len(images))  # disjoint random sets: no image on both sides
    randoms = [images[order[30 * i:30 * (i + 1)]] for i in range(6)]
    for k, name in enumerate(test.class_names):
        result = inside.tcav_significance(model, images[test.labels == k][:40], "conv3", red_images, randoms,
                                          target=k, comparisons=len(test.class_names), value_range=value_range)
        print(f"TCAV red -> {name}: {result.score:.2f} (random {result.random_scores.mean():.2f}), "
              f"p = {result.p_value:.3g}, significant: {result.significant}")

    # Building blocks: the groups of conv3 on one image, and what each adds to the predicted class.
    groups = inside.neuron_groups(model, images[:1], "conv3", groups=4)
    attribution = inside.group_attribution(model, images[:1], "conv3", groups)
    print(f"4 groups of conv3 (reconstruction error {groups.error:.2f}): attribution {attribution.groups[0].round(3)}, "
          f"residual {attribution.residual[0]:.3f}, total {attribution.total[0]:.3f}")

    # Activation atlas of conv3: 3,000 sampled positions, a 10 x 10 grid, the 8 fullest cells drawn.
    atlas = inside.activation_atlas(model, images, "conv3", grid=10, samples=3000, value_range=value_range)
    fullest = np.argsort(-atlas.counts.ravel())[:8]
    cells = np.stack(np.unravel_index(fullest, atlas.counts.shape), axis=1)
    for (row, col) in cells:
        k = int(np.argmax(atlas.effects[row, col]))
        print(f"cell ({row}, {col}): {atlas.counts[row, col]} positions, raises {test.class_names[k]} most "
              f"({atlas.effects[row, col, k]:.2f})")
    pictures, _ = inside.render_atlas_cells(model, atlas, cells, steps=128, value_range=value_range)
    path = os.path.join(args.out, "atlas_cells.png")
    with open(path, "wb") as f:
        f.write(kerasviz.image.encode_png(kerasviz.image.tile(kerasviz.image.to_display(pictures, value_range))))
    print("wrote", path)

    # CRAFT: the concepts of the class "circle" in conv3 (NMF of 18-pixel patches' activations), their
    # importance for its score (Sobol total indices over concept masks), and where the top two are.
    circle = test.class_names.index("circle")
    class_images = images[test.labels == circle][:40]
    bank = inside.craft_concepts(model, class_images, "conv3", concepts=6, value_range=value_range)
    importance = inside.concept_importance(model, class_images[:12], bank, circle, value_range=value_range)
    order = np.argsort(-importance.total)
    print(f"CRAFT: 6 concepts of conv3 for circle (patches of {bank.patch_size} px, reconstruction error "
          f"{bank.error:.2f}); importance {importance.total.round(2)}")
    maps = inside.concept_maps(model, class_images[:4], bank, importance, value_range=value_range)
    shown = [kerasviz.image.overlay(kerasviz.image.to_display(class_images[:4], value_range),
                                    kerasviz.image.normalize(maps[..., k])) for k in order[:2]]
    path = os.path.join(args.out, "craft_concept_maps.png")
    with open(path, "wb") as f:
        f.write(kerasviz.image.encode_png(kerasviz.image.tile(np.concatenate(shown), cols=4)))
    print("wrote", path, "(rows: the two most important concepts)")


if __name__ == "__main__":
    main()
