"""`kerasviz activations`: filters, neighbours, an embedding grid and top patches of your model."""

import os

from kerasviz.cli import common

EMBEDDED_IMAGES = 300
TSNE_MIN_IMAGES = 101  # fewer images: PCA (t-SNE needs more than 3 * perplexity = 90)
NEIGHBOURS_MIN_IMAGES = 3


def add_parser(commands, parents):
    p = commands.add_parser("activations", parents=parents,
                            help="filters, neighbours, embedding grid, top patches")
    p.add_argument("model", help="a saved Keras model (.keras)")
    p.add_argument("images", nargs="+",
                   help="image files (centre-cropped to the model's aspect ratio and resized to its input size; "
                   "see --stretch)")
    p.add_argument("--patches-layer", "--layer", dest="patches_layer", default=None, metavar="L",
                   help="spatial layer for top patches (default: the deepest block whose receptive field "
                   "fits in half the image)")
    p.add_argument("--embedding-layer", default=None, metavar="L",
                   help="layer whose features give neighbours and the embedding grid (default: the "
                   "classifier's input)")
    p.add_argument("--filters-layer", default=None, metavar="L",
                   help="conv layer whose filters are drawn (default: the first)")
    p.add_argument("--channels", type=int, default=8, help="channels shown in top patches (default: 8)")
    common.add_value_range(p)
    common.add_stretch(p)
    common.add_out(p)
    p.set_defaults(run=run)


def run(args):
    if args.channels < 1:
        raise common.UsageError(f"--channels: expected a positive number; received {args.channels}.")
    value_range = common.value_range(args.value_range)
    model = common.load_model(args.model)
    images = common.load_images(args.images, model, value_range, stretch=args.stretch)
    write_figures(args.out, model, images, value_range, patches_layer=args.patches_layer,
                  embedding_layer=args.embedding_layer, filters_layer=args.filters_layer,
                  channels=args.channels)


def _layer(model, name, role, shape, option, said, figures):
    """`(layer, how it is said)` for `figures`: the user's (checked), else the default, else None (skipped)."""
    import kerasviz

    if name is not None:
        return common.check_layer(model, name, option), ""
    try:
        return kerasviz.models.default_layer(model, role, shape), f" (the default: {said})"
    except ValueError as error:
        common.skipped(figures, f"{error} Pass {option} NAME to draw them.")
        return None, None


def write_figures(directory, model, images, value_range=(0.0, 1.0), *, patches_layer=None,
                  embedding_layer=None, filters_layer=None, channels=8, stage=None):
    """The activations family's pictures: filters, neighbours, a t-SNE (or PCA) grid, top patches.

    `stage` (a `common.Stages`) times each; every figure left out is said, with why.
    """
    import numpy as np

    import kerasviz
    from kerasviz.activations import embeddings, filters, patches

    stage = stage or common.Stages()
    written = []
    for name, option in ((filters_layer, "--filters-layer"), (embedding_layer, "--embedding-layer"),
                         (patches_layer, "--patches-layer")):
        if name is not None:
            common.check_layer(model, name, option)
    os.makedirs(directory, exist_ok=True)
    with stage("filters"):
        grid = filters.filter_grid(model, filters_layer)
        picture = kerasviz.image.titled(grid.image, grid.description)
        written.append(common.save_png(os.path.join(directory, "filters.png"), picture))
    subset, layer = images[:EMBEDDED_IMAGES], None
    if len(subset) < NEIGHBOURS_MIN_IMAGES:
        common.skipped("neighbors.png and the embedding grid",
                       f"they need at least {NEIGHBOURS_MIN_IMAGES} images; received {len(subset)}.")
    else:
        layer, said = _layer(model, embedding_layer, "embedding", images.shape[1:], "--embedding-layer",
                             "the classifier's input", "neighbors.png and the embedding grid")
    if layer is not None:
        projection = "tsne" if len(subset) >= TSNE_MIN_IMAGES else "pca"
        with stage(f"embeddings: layer {layer!r}{said}, nearest neighbours and {projection.upper()}"):
            display = kerasviz.image.to_display(subset, value_range)
            codes = embeddings.features(model, subset, layer)
            queries = np.arange(min(8, len(subset)))
            indices, _ = embeddings.nearest_neighbors(codes, queries, min(6, len(subset) - 1), exclude_self=True)
            figure = embeddings.neighbors_figure(display, indices, query_images=display[queries])
            figure = kerasviz.image.titled(figure, f"nearest neighbours in {layer} (first column: the query)")
            written.append(common.save_png(os.path.join(directory, "neighbors.png"), figure))
            if projection == "pca":
                print(f"   (PCA, not t-SNE: t-SNE needs at least {TSNE_MIN_IMAGES} images; "
                      f"received {len(subset)})", flush=True)
            coords = embeddings.project(codes, projection, seed=0, verbose=1)
            picture = kerasviz.image.titled(embeddings.embedding_grid(display, coords).image,
                                            f"{projection.upper()} of {layer}")
            written.append(common.save_png(os.path.join(directory, f"{projection}_grid.png"), picture))
    layer, said = _layer(model, patches_layer, "patches", images.shape[1:], "--patches-layer",
                         "the deepest block whose receptive field fits in half the image", "top_patches.png")
    if layer is None:
        print("Wrote " + ", ".join(written), flush=True)
        return
    n_channels = kerasviz.models.get_layer(model, layer)[1].output.shape[-1]
    with stage(f"top patches: layer {layer!r}{said}, {min(channels, n_channels)} channels"):
        top = patches.top_patches(model, images, layer, list(range(min(channels, n_channels))), k=8, verbose=1)
        picture = kerasviz.image.titled(patches.patches_grid(top, value_range=value_range),
                                        f"top patches of {layer}: a row per channel, strongest first")
        written.append(common.save_png(os.path.join(directory, "top_patches.png"), picture))
    print("Wrote " + ", ".join(written), flush=True)
