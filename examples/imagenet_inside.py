"""`kerasviz.inside` on a real ImageNet network, with its defaults, over the photos and augmentations of them.

On the EfficientNet-Lite3 of `../shared/imagenet` (280 x 280, raw pixels 0-255, `value_range=(0, 255)`),
at the feature-visualization layer (`feature_visualization.default_layer`), over the photos plus flips
and zoomed crops of them (8 views each):

- Network Dissection with colour concepts (hue thresholds: the photos have no segmentation labels),
  each unit's best colour and IoU; how many units are detectors at the paper's IoU 0.04.
- TCAV: does "green" (crops whose pixels are mostly green) matter to each photo's predicted class,
  against random crops, with the random-concept significance test.
- CRAFT: the concepts of the crops of the most confident photo's class, their Sobol importance.

    python examples/imagenet_inside.py          # a few minutes on 2 busy cores
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import imagenet  # noqa: E402  (the shared model, photos, labels and figure helpers)

VIEWS = 8  # the photo, its flip, and six zoomed crops


def views(photos, size, seed=0):
    """Each photo, its mirror image and six crops (1.25x to 2x zoom at random places), resized back: [8 N, ...]."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    out = []
    for photo in photos:
        out += [photo, photo[:, ::-1]]
        for _ in range(VIEWS - 2):
            side = int(size / rng.uniform(1.25, 2.0))
            top, left = rng.integers(0, size - side + 1, 2)
            crop = photo[top:top + side, left:left + side]
            out.append(tf.image.resize(crop[None], (size, size), method="bicubic").numpy()[0].clip(0, 255))
    return np.stack(out).astype(np.float32)


def crops(images, side, stride):
    """All `side` x `side` crops of the images at `stride`, resized to the images' size (TCAV's concept pool)."""
    import tensorflow as tf

    size = images.shape[1]
    boxes, owners = [], []
    for i in range(len(images)):
        for top in range(0, size - side + 1, stride):
            for left in range(0, size - side + 1, stride):
                boxes.append([top / size, left / size, (top + side) / size, (left + side) / size])
                owners.append(i)
    return tf.image.crop_and_resize(images, np.asarray(boxes, np.float32), np.asarray(owners, np.int32),
                                    (size, size), method="bilinear").numpy().clip(0, 255)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(imagenet.ROOT, "docs"))
    parser.add_argument("--layer", default=None)
    args = parser.parse_args(argv)
    from kerasviz import inside
    from kerasviz.gradients import feature_visualization

    context = imagenet.Context(imagenet.parse_args(["--out", args.out]))
    model, value_range = context.model, context.value_range
    layer = args.layer or feature_visualization.default_layer(model)
    images = views(context.photos, context.photos.shape[1])
    print(f"{len(images)} views of {len(context.photos)} photos at {layer}", flush=True)

    start = time.perf_counter()
    masks, names = inside.colour_concepts(images, value_range)
    units = inside.dissect(model, (images, masks), layer, names, value_range=value_range)
    found = {names[c]: int(n) for c, n in zip(*np.unique(units.best_concept[units.detector], return_counts=True))}
    print(f"Network Dissection: {int(units.detector.sum())} of {len(units.detector)} units are colour detectors "
          f"(IoU >= 0.04): {found}; {time.perf_counter() - start:.0f} s")
    print("  strongest:", "; ".join(units.labels()[u] for u in np.argsort(-units.best_iou)[:5]), flush=True)

    start = time.perf_counter()
    pool = crops(images[::VIEWS], 112, 56)  # 16 crops of each photo
    green = names.index("green")
    share = inside.colour_concepts(pool, value_range)[0][..., green].mean(axis=(1, 2))
    concept = pool[share > 0.4]
    others = pool[share < 0.05]
    order = np.random.default_rng(0).permutation(len(others))
    per_set = max(4, min(len(concept), len(others) // 6))
    randoms = [others[order[per_set * i:per_set * (i + 1)]] for i in range(6)]
    print(f"TCAV: {len(concept)} green crops, 6 random sets of {per_set}", flush=True)
    classes = context.probabilities.argmax(axis=1)
    for name, k, photo in zip(context.photo_names, classes, range(len(context.photos))):
        members = images[photo * VIEWS:(photo + 1) * VIEWS]
        result = inside.tcav_significance(model, members, layer, concept, randoms, target=int(k),
                                          comparisons=len(classes), value_range=value_range)
        print(f"  green -> {context.label(k)} ({name}): TCAV {result.score:.2f} (random "
              f"{result.random_scores.mean():.2f}), p = {result.p_value:.3g}, significant: {result.significant}")
    print(f"  {time.perf_counter() - start:.0f} s", flush=True)

    start = time.perf_counter()
    photo = int(np.argmax(context.probabilities.max(axis=1)))
    k = int(classes[photo])
    members = images[photo * VIEWS:(photo + 1) * VIEWS]
    bank = inside.craft_concepts(model, members, layer, value_range=value_range)
    importance = inside.concept_importance(model, members, bank, k, value_range=value_range)
    where = inside.concept_maps(model, members, bank, importance, value_range=value_range)
    ranked = np.argsort(-importance.total)
    print(f"CRAFT: {len(importance.total)} concepts of {context.label(k)} ({context.photo_names[photo]}, "
          f"{len(members)} views); total Sobol indices, most important first: "
          f"{np.round(importance.total[ranked], 3).tolist()}; {time.perf_counter() - start:.0f} s")
    top = ranked[0]
    peak = np.unravel_index(np.argmax(where[0, ..., top]), where.shape[1:3])
    print(f"  the most important concept ({top}) peaks at pixel {tuple(int(v) for v in peak)} of the photo", flush=True)


if __name__ == "__main__":
    main()
