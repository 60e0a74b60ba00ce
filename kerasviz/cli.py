"""The `kerasviz` command: the demo, and each family from the shell.

    kerasviz demo --logdir logs/demo
    kerasviz attribute model.keras cat.jpg dog.jpg --methods saliency grad_cam --out maps/
"""

import argparse
import os
import sys

DEMO_IMAGES = 8


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
    attribution = callbacks.AttributionCallback(
        args.logdir,
        test.images[probe],
        test.labels[probe],
        methods=tuple(registry.ATTRIBUTION_METHODS),
        class_names=test.class_names,
        metrics=True,
    )
    model = kerasviz.data.demo_model(
        "shapes",
        epochs=args.epochs,
        verbose=2,
        callbacks=[keras.callbacks.TensorBoard(args.logdir), attribution],
    )
    loss, accuracy = model.evaluate(test.images, test.labels, verbose=0)
    print(f"Test accuracy {accuracy:.3f} on {len(test.images)} held-out images.")

    display = kerasviz.image.to_display(test.images[probe])
    maps = {name: method(model, test.images[probe], target=test.labels[probe])
            for name, method in registry.ATTRIBUTION_METHODS.items()}
    figure = os.path.join(args.logdir, "attributions.png")
    _write_figure(figure, display, maps)
    print(f"Wrote {figure} (rows: test images; columns: image, {', '.join(maps)})")
    _serve(args)


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
