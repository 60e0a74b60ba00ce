"""What the layers of your model learned: filters, neighbours, a t-SNE grid, top patches.

    python examples/activations.py                 # the demo model on the shapes test split
    python examples/activations.py --out act/

With your own model, replace `model` and `images` below (images in the model's input space;
`value_range` is only for display).
"""

import argparse
import os

import numpy as np

import kerasviz


def save(path, picture):
    with open(path, "wb") as f:
        f.write(kerasviz.image.encode_png(picture))
    print("wrote", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="activations")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    model = kerasviz.demo.demo_model("shapes")
    test = kerasviz.demo.demo_data("shapes")[1]
    images, labels, value_range = test.images, test.labels, (0.0, 1.0)
    display = kerasviz.image.to_display(images, value_range)

    # First-layer filters as RGB tiles (higher layers: per-input-channel tiles).
    grid = kerasviz.filter_grid(model)
    print(grid.description)
    save(os.path.join(args.out, "filters.png"), np.kron(grid.image, np.ones((16, 16, 1))))

    # Penultimate-layer features: neighbours share the class even when the pixels differ.
    codes = kerasviz.features(model, images)
    queries = np.arange(8)
    indices, _ = kerasviz.nearest_neighbors(codes, queries, k=6, exclude_self=True)
    agree = (labels[indices] == labels[queries, None]).mean()
    print(f"neighbours in feature space sharing the query's class: {agree:.0%}")
    save(os.path.join(args.out, "neighbors.png"), kerasviz.neighbors_figure(display, indices, query_images=display[queries]))

    # t-SNE of the features, laid out on a grid (each cell one image).
    coords = kerasviz.project(codes[:300], "tsne", seed=0)
    save(os.path.join(args.out, "tsne_grid.png"), kerasviz.embedding_grid(display[:300], coords).image)

    # The image regions that excite channels of the last conv layer most.
    top = kerasviz.top_patches(model, images, "conv3", channels=list(range(8)), k=8)
    print(f"receptive field of conv3: {top.receptive_field.size} px, stride {top.receptive_field.stride}")
    save(os.path.join(args.out, "top_patches.png"), kerasviz.patches_grid(top, value_range=value_range))


if __name__ == "__main__":
    main()
