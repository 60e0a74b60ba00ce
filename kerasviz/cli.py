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
    """Maps for display, bright = important: scores under occlusion become the drop below their top."""
    from kerasviz import registry

    if name in registry.LOWER_IS_IMPORTANT:
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
        layer = (f" (layer {kerasviz.models.default_layer(model, 'grad_cam', images.shape[1:])!r}, the default)"
                 if name in ("grad_cam", "guided_grad_cam") else "")
        print(f"{name}{layer} ...", flush=True)
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
        callbacks.ClassVisualizationCallback(
            args.logdir, list(range(len(test.class_names))), class_names=test.class_names, steps=60,
        ),
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
    written.append(_write_dream(directory, model))
    print("Wrote " + ", ".join(written) + f" (class visualizations of {', '.join(data.class_names)}; "
          f"a {data.class_names[source]} made into a {data.class_names[(source + 1) % len(classes)]} "
          f"in {fooled.steps} steps; inversions from conv1, conv2, conv3; a DeepDream of a sample photo)")


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
    embedding_layer = kerasviz.models.default_layer(model, "embedding", images.shape[1:])
    print(f"Embeddings: layer {embedding_layer!r} (the default: the classifier's input)", flush=True)
    codes = embeddings.features(model, subset, embedding_layer)
    if len(subset) >= 3:
        queries = np.arange(min(8, len(subset)))
        k = min(6, len(subset) - 1)
        indices, _ = embeddings.nearest_neighbors(codes, queries, k, exclude_self=True)
        written.append(save("neighbors.png", embeddings.neighbors_figure(display, indices, query_images=display[queries])))
        projection = "tsne" if len(subset) > 100 else "pca"
        coords = embeddings.project(codes, projection, seed=0)
        written.append(save(f"{projection}_grid.png", embeddings.embedding_grid(display, coords).image))
    layer = patches_layer or kerasviz.models.default_layer(model, "patches", images.shape[1:])
    print(f"Top patches: layer {layer!r}" + ("" if patches_layer else " (the default: the deepest block whose "
          "receptive field fits in half the image)"), flush=True)
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


def synthesize(args):
    """Class visualizations (tiled), a fooling image or a feature inversion of your model, as PNGs."""
    import keras
    import numpy as np

    import kerasviz

    value_range = tuple(args.value_range)
    if value_range[0] >= value_range[1]:
        raise SystemExit(f"kerasviz: --value-range needs LOW < HIGH; received {value_range}.")
    if args.fool is not None and args.target_class is None:
        raise SystemExit("kerasviz: --fool needs --target-class N.")
    if args.invert is not None and args.layer is None:
        raise SystemExit("kerasviz: --invert needs --layer L.")
    model = keras.models.load_model(args.model, compile=False)
    os.makedirs(args.out, exist_ok=True)
    written = []

    def save(name, pictures, cols=None):
        """`pictures` [N, H, W, C] in [0, 1], tiled in one row (small ones enlarged, pixelated)."""
        picture = kerasviz.image.tile(np.asarray(pictures, np.float32), cols=cols or len(pictures), pad=2)
        factor = max(1, -(-256 // max(picture.shape[:2])))
        picture = np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)
        path = os.path.join(args.out, name)
        with open(path, "wb") as f:
            f.write(kerasviz.image.encode_png(picture))
        written.append(path)

    def shown(images):
        return kerasviz.image.to_display(np.asarray(images, np.float32), value_range)

    steps = {} if args.steps is None else {"steps": args.steps}
    if args.classes is not None:
        result = kerasviz.class_visualization(model, list(args.classes), value_range=value_range, **steps)
        save("class_visualization.png", shown(result.image))
        print(f"class visualization of classes {list(args.classes)}: mean class score "
              f"{result.losses[0]:.3f} -> {result.losses[-1]:.3f} over {result.steps} steps")
    elif args.fool is not None:
        original = _load_images([args.fool], model, value_range)
        result = kerasviz.fooling_image(model, original, args.target_class, value_range=value_range,
                                        **({"max_steps": args.steps} if args.steps else {}))
        save("fooling.png", np.concatenate([shown(original), result.magnified_perturbation, shown(result.image)]))
        print(f"fooling image: {'fooled' if result.fooled else 'NOT fooled'} into class {args.target_class} "
              f"after {result.steps} steps (original, perturbation magnified, fooled image)")
    elif args.invert is not None:
        original = _load_images([args.invert], model, value_range)
        result = kerasviz.invert_features(model, original, args.layer, value_range=value_range, **steps)
        save("inversion.png", np.concatenate([shown(original), shown(result.image)]))
        print(f"feature inversion at layer {args.layer!r}: loss {result.losses[0]:.3f} -> "
              f"{result.losses[-1]:.3f} over {result.steps} steps (original, reconstruction)")
    else:
        written.append(_synthesize_art(args, model, value_range))
    print("Wrote " + ", ".join(written))


def _load_any_size(path, model, value_range):
    """One image file -> `[1, H, W, C]` in the model's input space, at its own size unless the model's is fixed."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from kerasviz import inputs

    shape = inputs.model_input_shape(model)
    channels = 3 if shape is None or shape[2] is None else shape[2]
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if shape is not None and shape[0] is not None and shape[1] is not None:
                image = image.resize((shape[1], shape[0]), Image.BILINEAR)
            array = np.asarray(image, np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as error:
        raise SystemExit(f"kerasviz: cannot read the image {path!r}: {error}") from None
    low, high = value_range
    return (array.reshape(*array.shape[:2], channels) * (high - low) + low)[None]


def _side_by_side(pictures, pad=2):
    """Display images `[H_i, W_i, C]` in [0, 1] in one row, bottoms padded white to the tallest."""
    import numpy as np

    height = max(p.shape[0] for p in pictures)
    row = []
    for picture in pictures:
        filled = np.ones((height, picture.shape[1], picture.shape[2]), np.float32)
        filled[:picture.shape[0]] = picture
        row += [filled, np.ones((height, pad, picture.shape[2]), np.float32)]
    return np.concatenate(row[:-1], axis=1)


def _synthesize_art(args, model, value_range):
    """`--dream`, `--texture` or `--style`: runs the art method, writes the inputs and the result side by side."""
    import numpy as np

    import kerasviz
    from kerasviz import inputs

    steps = {} if args.steps is None else {"steps": args.steps}
    try:
        if args.dream is not None:
            name, image = "deep_dream.png", _load_any_size(args.dream, model, value_range)
            shape = inputs.model_input_shape(model)
            fixed = shape is not None and (shape[0] is not None or shape[1] is not None)
            octaves = args.octaves if args.octaves is not None else (1 if fixed else 3)
            result = kerasviz.deep_dream(
                model, image, args.layers, octaves=octaves, value_range=value_range,
                **({} if args.steps is None else {"steps_per_octave": args.steps}))
            sources = [image]
            summary = (f"DeepDream with {octaves} octave(s): objective {result.losses[0]:.3f} -> "
                       f"{result.losses[-1]:.3f} over {result.steps} steps (original, dream)")
        elif args.texture is not None:
            name, image = "texture.png", _load_any_size(args.texture, model, value_range)
            result = kerasviz.texture_synthesis(model, image, args.layers, value_range=value_range, **steps)
            sources = [image]
            summary = (f"texture synthesis: Gram loss {-result.losses[0]:.3f} -> {-result.losses[-1]:.3f} "
                       f"over {result.steps} steps (texture, synthesized)")
        else:
            content = _load_any_size(args.style[0], model, value_range)
            style = _load_any_size(args.style[1], model, value_range)
            name = "style_transfer.png"
            result = kerasviz.style_transfer(model, content, style, args.content_layer, args.style_layers,
                                             value_range=value_range, **steps)
            sources = [content, style]
            summary = (f"style transfer: loss {-result.losses[0]:.3f} -> {-result.losses[-1]:.3f} "
                       f"over {result.steps} steps (content, style, result)")
    except (ValueError, TypeError) as error:
        hint = ""
        if args.dream is not None and "input size is fixed" in str(error):
            hint = " Hint: pass --octaves 1, or save the model with input_shape=(None, None, 3)."
        raise SystemExit(f"kerasviz: {error}{hint}") from None
    pictures = [kerasviz.image.to_display(np.asarray(p, np.float32), value_range)[0]
                for p in [*sources, result.image]]
    picture = _side_by_side(pictures)
    factor = max(1, -(-256 // max(picture.shape[:2])))
    picture = np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, name)
    with open(path, "wb") as f:
        f.write(kerasviz.image.encode_png(picture))
    print(summary)
    return path


def _write_dream(directory, model):
    """DeepDream of a scikit-learn sample photo through the demo's trained conv layers.

    The demo model takes 64x64 inputs only; octaves need other sizes, so the
    dream runs on a fully convolutional model made of the same (trained) conv
    and pooling layers. This reuses the demo's own layers; never do it to a
    model that is not yours to change (calling layers on new inputs adds
    nodes to them).
    """
    import keras
    import numpy as np

    import kerasviz

    inputs = keras.Input((None, None, 3))
    x = inputs
    for name in ("conv1", "pool1", "conv2", "pool2", "conv3"):
        x = model.get_layer(name)(x)
    convs = keras.Model(inputs, x, name="demo_convs")
    photo = kerasviz.data.sample_images(size=192)["china"][None]
    dream = kerasviz.deep_dream(convs, photo, ["conv3"], octaves=3, steps_per_octave=20)
    path = os.path.join(directory, "deep_dream.png")
    with open(path, "wb") as f:
        f.write(kerasviz.image.encode_png(np.concatenate([photo[0], dream.image[0]], axis=1)))
    return path


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

    p = commands.add_parser("synthesize", help="class visualizations, fooling images, feature inversion, "
                            "DeepDream, textures, style transfer")
    p.add_argument("model", help="a saved Keras model (.keras)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--class", dest="classes", type=int, nargs="+", metavar="N",
                      help="classes to visualize (one image each, tiled)")
    what.add_argument("--fool", metavar="IMAGE", help="an image file to turn into --target-class")
    what.add_argument("--invert", metavar="IMAGE", help="an image file to reconstruct from --layer's features")
    what.add_argument("--dream", metavar="IMAGE", help="an image file to DeepDream (amplifies --layers)")
    what.add_argument("--texture", metavar="IMAGE", help="an image file whose texture to synthesize anew")
    what.add_argument("--style", nargs=2, metavar=("CONTENT", "STYLE"),
                      help="two image files: paint CONTENT in the style of STYLE")
    p.add_argument("--target-class", type=int, default=None, metavar="N", help="the class --fool aims for")
    p.add_argument("--layer", default=None, help="the layer --invert matches")
    p.add_argument("--layers", nargs="+", default=None, metavar="L",
                   help="layers for --dream (to amplify) or --texture (Gram matrices); default: the method's")
    p.add_argument("--octaves", type=int, default=None, metavar="N",
                   help="--dream's scales (default: 3 if the model takes any image size, else 1)")
    p.add_argument("--content-layer", default=None, metavar="L", help="--style's content layer")
    p.add_argument("--style-layers", nargs="+", default=None, metavar="L", help="--style's Gram layers")
    p.add_argument("--steps", type=int, default=None,
                   help="optimization steps (default: the method's; the most steps for --fool; "
                   "per octave for --dream)")
    p.add_argument("--value-range", type=float, nargs=2, default=(0.0, 1.0), metavar=("LOW", "HIGH"),
                   help="the model's input range that pixels 0..255 map to (default: 0 1)")
    p.add_argument("--out", default="kerasviz-out", help="output directory (default: kerasviz-out)")
    p.set_defaults(run=synthesize)
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
