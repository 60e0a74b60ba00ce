"""The `kerasviz` command: the demo, and each family from the shell.

    kerasviz demo --logdir logs/demo
    kerasviz attribute model.keras cat.jpg dog.jpg --methods saliency grad_cam --out maps/
"""

import argparse
import os
import sys

DEMO_IMAGES = 8
EMBEDDED_IMAGES = 300


def _load_images(paths, model, value_range):
    """Image files -> `[B, H, W, C]` in the model's input space (resized to its input size)."""
    import numpy as np
    from PIL import Image

    from kerasviz import inputs

    shape = inputs.model_input_shape(model)
    if shape is None or None in shape[:2]:
        raise SystemExit("kerasviz: the model has no fixed input size; resize the images yourself.")
    height, width, channels = shape
    low, high = value_range
    batch = []
    for path in paths:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
            array = np.asarray(image, np.float32) / 255.0
        batch.append(array.reshape(height, width, channels) * (high - low) + low)
    return np.stack(batch)


def _importance(name, maps):
    """Maps for display, bright = important: occlusion's probabilities become the drop below their top."""
    if name == "occlusion":
        return maps.max(axis=(1, 2), keepdims=True) - maps
    return maps


def _write_figure(path, images, maps):
    import kerasviz

    shown = {name: _importance(name, m) for name, m in maps.items()}
    with open(path, "wb") as f:
        f.write(kerasviz.image.encode_png(kerasviz.image.compare(images, shown)))


def attribute(args):
    """Writes one comparison figure (image, then one overlay per method) and the raw maps."""
    import keras
    import numpy as np

    import kerasviz
    from kerasviz import registry

    model = keras.models.load_model(args.model, compile=False)
    images = _load_images(args.images, model, args.value_range)
    methods = list(registry.ATTRIBUTION_METHODS) if args.methods == ["all"] else args.methods
    unknown = [m for m in methods if m not in registry.ATTRIBUTION_METHODS]
    if unknown:
        raise SystemExit(f"kerasviz: unknown method(s) {unknown}; choose from {list(registry.ATTRIBUTION_METHODS)}.")
    target = args.target if args.target is None or len(args.target) > 1 else args.target[0]
    maps = {}
    for name in methods:
        print(f"{name} ...", flush=True)
        maps[name] = registry.ATTRIBUTION_METHODS[name](model, images, target=target)
    os.makedirs(args.out, exist_ok=True)
    display = kerasviz.image.to_display(images, args.value_range)
    figure = os.path.join(args.out, "attributions.png")
    _write_figure(figure, display, maps)
    np.savez_compressed(os.path.join(args.out, "attributions.npz"), **maps)
    print(f"Wrote {figure} (rows: {', '.join(args.images)}; columns: image, {', '.join(methods)}; "
          "occlusion shown as the probability drop)")
    print(f"Raw maps: {os.path.join(args.out, 'attributions.npz')}")


def demo(args):
    """Trains the demo model with kerasviz callbacks attached; writes everything to `--logdir`."""
    import keras

    import kerasviz
    from kerasviz import callbacks, registry

    train, test = kerasviz.data.demo_data("shapes")
    probe = slice(0, DEMO_IMAGES)
    print(f"kerasviz demo: training a small ConvNet on {len(train.images)} procedural shapes "
          f"({', '.join(train.class_names)}), logging to {os.path.abspath(args.logdir)}", flush=True)
    watchers = [
        keras.callbacks.TensorBoard(args.logdir),
        callbacks.AttributionCallback(
            args.logdir, test.images[probe], test.labels[probe],
            methods=tuple(registry.ATTRIBUTION_METHODS), class_names=test.class_names, metrics=True,
        ),
        callbacks.FilterCallback(args.logdir, layers=["conv1", "conv2"]),
        callbacks.EmbeddingCallback(
            args.logdir, test.images[:EMBEDDED_IMAGES], test.labels[:EMBEDDED_IMAGES],
            class_names=test.class_names,
        ),
        callbacks.PatchesCallback(args.logdir, test.images, layer="conv3", channels=range(8)),
    ]
    model = kerasviz.data.demo_model("shapes", epochs=args.epochs, verbose=2, callbacks=watchers)
    loss, accuracy = model.evaluate(test.images, test.labels, verbose=0)
    print(f"Test accuracy {accuracy:.3f} on {len(test.images)} held-out images.")

    display = kerasviz.image.to_display(test.images[probe])
    maps = {name: method(model, test.images[probe], target=test.labels[probe])
            for name, method in registry.ATTRIBUTION_METHODS.items()}
    figure = os.path.join(args.logdir, "attributions.png")
    _write_figure(figure, display, maps)
    print(f"Wrote {figure} (rows: test images; columns: image, {', '.join(maps)})")
    _write_activation_figures(args.logdir, model, test.images, patches_layer="conv3")
    _write_synthesis_figures(args.logdir, model, test)
    _serve(args)


def _write_synthesis_figures(directory, model, data):
    """The synthesis family's pictures: class visualizations, a fooling image, an inversion series."""
    import numpy as np

    import kerasviz

    def save(name, pictures):
        path = os.path.join(directory, name)
        tiles = np.stack([np.broadcast_to(p, pictures[0].shape) for p in pictures])
        with open(path, "wb") as f:
            f.write(kerasviz.image.encode_png(np.kron(kerasviz.image.tile(tiles, cols=len(tiles), pad=2),
                                                      np.ones((2, 2, 1)))))
        return path

    classes = list(range(len(data.class_names)))
    dreams = kerasviz.class_visualization(model, classes, steps=150)
    written = [save("class_visualizations.png", list(dreams.image))]
    original = data.images[:1]
    source = int(data.labels[0])
    fooled = kerasviz.fooling_image(model, original, (source + 1) % len(classes))
    written.append(save("fooling.png", [original[0], fooled.magnified_perturbation[0], fooled.image[0]]))
    series = [original[0]] + [kerasviz.invert_features(model, original, layer, steps=150).image[0]
                              for layer in ("conv1", "conv2", "conv3")]
    written.append(save("inversion.png", series))
    print("Wrote " + ", ".join(written) + f" (class visualizations of {', '.join(data.class_names)}; "
          f"a {data.class_names[source]} made into a {data.class_names[(source + 1) % len(classes)]} "
          f"in {fooled.steps} steps; inversions from conv1, conv2, conv3)")


def _write_activation_figures(directory, model, images, value_range=(0.0, 1.0), *, patches_layer=None,
                              channels=8):
    """The activations family's pictures: filters, neighbours, a t-SNE (or PCA) grid, top patches."""
    import numpy as np

    import kerasviz
    from kerasviz.activations import embeddings, filters, patches

    def save(name, picture):
        factor = max(1, -(-256 // max(picture.shape[:2])))  # small pictures (3x3 filters) enlarged, pixelated
        picture = np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(kerasviz.image.encode_png(picture))
        return path

    os.makedirs(directory, exist_ok=True)
    written = [save("filters.png", filters.filter_grid(model).image)]
    subset = images[:EMBEDDED_IMAGES]
    display = kerasviz.image.to_display(subset, value_range)
    codes = embeddings.features(model, subset)
    if len(subset) >= 3:
        queries = np.arange(min(8, len(subset)))
        k = min(6, len(subset) - 1)
        indices, _ = embeddings.nearest_neighbors(codes, queries, k, exclude_self=True)
        written.append(save("neighbors.png", embeddings.neighbors_figure(display, indices, query_images=display[queries])))
        projection = "tsne" if len(subset) > 100 else "pca"
        coords = embeddings.project(codes, projection, seed=0)
        written.append(save(f"{projection}_grid.png", embeddings.embedding_grid(display, coords).image))
    layer = patches_layer or kerasviz.models.default_layer(model, "last_conv")
    n_channels = kerasviz.models.get_layer(model, layer)[1].output.shape[-1]
    top = patches.top_patches(model, images, layer, list(range(min(channels, n_channels))), k=8)
    written.append(save("top_patches.png", patches.patches_grid(top, value_range=value_range)))
    print("Wrote " + ", ".join(written))


def activations(args):
    """Filters, neighbours, an embedding grid and top patches of your model on your images."""
    import keras

    model = keras.models.load_model(args.model, compile=False)
    images = _load_images(args.images, model, args.value_range)
    _write_activation_figures(args.out, model, images, tuple(args.value_range), patches_layer=args.layer,
                              channels=args.channels)


def _serve(args):
    command = f"tensorboard --logdir {args.logdir} --host 127.0.0.1 --port {args.port}"
    if args.no_tensorboard:
        print(f"To look at it: {command}")
        return
    print(f"Starting TensorBoard: http://127.0.0.1:{args.port}/ (Ctrl+C to stop). "
          "The image tab shows the maps per epoch; the kerasviz tab shows them interactively.", flush=True)
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir", args.logdir, "--host", "127.0.0.1", "--port", str(args.port)])
    board.main()


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kerasviz",
        description="See inside Keras ConvNets: attribution maps, filters, embeddings and more, "
        "written for TensorBoard.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("demo", help="train the demo model with every visualization attached")
    p.add_argument("--logdir", default="logs/demo", help="where to write (default: logs/demo)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the demo's)")
    p.add_argument("--port", type=int, default=6006, help="TensorBoard port (default: 6006)")
    p.add_argument("--no-tensorboard", action="store_true", help="do not start TensorBoard at the end")
    p.set_defaults(run=demo)

    p = commands.add_parser("attribute", help="attribution maps of your model on your images")
    p.add_argument("model", help="a saved Keras model (.keras)")
    p.add_argument("images", nargs="+", help="image files (resized to the model's input size)")
    p.add_argument("--methods", nargs="+", default=["all"], help="method names, or 'all' (default)")
    p.add_argument("--target", type=int, nargs="+", default=None,
                   help="class index (one for all images, or one per image); default: predicted")
    p.add_argument("--value-range", type=float, nargs=2, default=(0.0, 1.0), metavar=("LOW", "HIGH"),
                   help="the model's input range that pixels 0..255 map to (default: 0 1)")
    p.add_argument("--out", default="kerasviz-out", help="output directory (default: kerasviz-out)")
    p.set_defaults(run=attribute)

    p = commands.add_parser("activations", help="filters, neighbours, embedding grid, top patches")
    p.add_argument("model", help="a saved Keras model (.keras)")
    p.add_argument("images", nargs="+", help="image files (resized to the model's input size)")
    p.add_argument("--layer", default=None, help="spatial layer for top patches (default: the last)")
    p.add_argument("--channels", type=int, default=8, help="channels shown in top patches (default: 8)")
    p.add_argument("--value-range", type=float, nargs=2, default=(0.0, 1.0), metavar=("LOW", "HIGH"),
                   help="the model's input range that pixels 0..255 map to (default: 0 1)")
    p.add_argument("--out", default="kerasviz-out", help="output directory (default: kerasviz-out)")
    p.set_defaults(run=activations)
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
