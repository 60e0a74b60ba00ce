"""Building Blocks on a real ImageNet network: the README's `docs/imagenet_building_blocks.png`, and a logdir.

On the EfficientNet-Lite3 of `../shared/imagenet` (280 x 280, raw pixels 0-255, `value_range=(0, 255)`),
each chosen photo seen through one layer (default: the feature-visualization layer,
`kerasviz.gradients.feature_visualization.default_layer(model)`), as Olah et al. (2018) show it: the layer's
activations factored into neuron groups (NMF), each group rendered by feature visualization and
attributed to the predicted class, and the channels of the positions' semantic dictionaries rendered.
The figure has a row per photo: the photo, its groups in their colours, the spatial attribution, then
each group's render titled with its attribution. `--logdir` also writes the records the dashboard's
"Building blocks" tab reads (`tensorboard --logdir LOGDIR`).

    python examples/imagenet_blocks.py                                  # about 10 minutes on 2 busy cores
    python examples/imagenet_blocks.py --photos dog --steps 64 --logdir logs/blocks
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import imagenet  # noqa: E402  (the shared model, photos, labels and figure helpers)

COLORS = np.array([[31, 119, 180], [214, 39, 40], [44, 160, 44], [255, 127, 14], [148, 103, 189],
                   [140, 86, 75], [227, 119, 194], [23, 190, 207]], np.float32) / 255
TILE = 200


def nearest(values, size):
    """`values` [h, w, ...] blown up to `size` (height, width) by nearest neighbour: the layer's positions as blocks."""
    rows = np.minimum((np.arange(size[0]) * values.shape[0]) // size[0], values.shape[0] - 1)
    cols = np.minimum((np.arange(size[1]) * values.shape[1]) // size[1], values.shape[1] - 1)
    return values[rows][:, cols]


def group_overlay(photo, amounts):
    """The photo (display space) under its groups: each position in its strongest group's colour, opacity by amount."""
    colour = nearest(COLORS[amounts.argmax(-1) % len(COLORS)], photo.shape[:2])
    alpha = 0.75 * nearest(amounts.max(-1) / max(float(amounts.max()), 1e-12), photo.shape[:2])[..., None]
    return photo * (1 - alpha) + colour * alpha


def attribution_overlay(photo, spatial):
    """The photo under the spatial attribution: red where a position adds to the class score, blue where it takes."""
    scaled = nearest(spatial / max(float(np.abs(spatial).max()), 1e-12), photo.shape[:2])[..., None]
    red, blue = np.array([0.84, 0.15, 0.16]), np.array([0.12, 0.47, 0.71])
    colour = np.where(scaled >= 0, red, blue)
    weight = 0.85 * np.abs(scaled)
    return photo * (1 - weight) + colour * weight


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(imagenet.ROOT, "docs"))
    parser.add_argument("--photos", nargs="+", default=["dog", "eagle"])
    parser.add_argument("--layer", default=None)
    parser.add_argument("--groups", type=int, default=6)
    parser.add_argument("--steps", type=int, default=96)
    parser.add_argument("--logdir", default=None)
    args = parser.parse_args(argv)
    import tensorflow as tf

    import kerasviz
    from kerasviz import inside
    from kerasviz.gradients import feature_visualization

    context = imagenet.Context(imagenet.parse_args(["--out", args.out]))
    layer = args.layer or feature_visualization.default_layer(context.model)
    writer = tf.summary.create_file_writer(args.logdir) if args.logdir else None
    rows = []
    for name in args.photos:
        index = context.photo_names.index(name)
        start = time.perf_counter()
        blocks = inside.building_blocks_of(context.model, context.photos[index], layer, groups=args.groups, top=4,
                                        max_channels=12, steps=args.steps, value_range=context.value_range)
        print(f"{name}: {context.label(blocks.target, context.probabilities[index])} at {blocks.layer}: groups "
              f"{np.round(blocks.group_attribution, 3).tolist()} (outside the groups {blocks.residual:.3f}, NMF "
              f"error {blocks.groups.error:.3f}), {time.perf_counter() - start:.0f} s", flush=True)
        if writer is not None:
            with writer.as_default(step=0):
                blocks.write(class_names=context.names, value_range=context.value_range, name=name)
        photo = context.display(context.photos[index:index + 1], TILE)[0]
        renders = context.display(blocks.group_images, TILE)
        labels = [f"{name}: {context.label(blocks.target)}", "neuron groups", "spatial attribution"]
        labels += [f"group {j}: {value:+.2f}" for j, value in enumerate(blocks.group_attribution)]
        tiles = [photo, group_overlay(photo, blocks.amounts), attribution_overlay(photo, blocks.spatial_attribution)]
        rows.append(kerasviz.image.tile(np.stack([*tiles, *renders]), cols=len(labels), pad=4, titles=labels))
    title = (f"{context.model_name}: Building Blocks at {layer} (Olah et al. 2018): NMF neuron groups, their "
             "attribution to the predicted class, and renders; value_range=(0, 255)")
    print("wrote", imagenet.save(context, "building_blocks", kerasviz.image.titled(imagenet.stack(rows), title)))


if __name__ == "__main__":
    main()
