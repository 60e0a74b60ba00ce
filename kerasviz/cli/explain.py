"""`kerasviz explain`: attribution maps and metrics of a whole image folder, in resumable shards."""

import os

from kerasviz import registry
from kerasviz.cli import common

DEFAULT_METHODS = ("saliency", "grad_cam")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def add_parser(commands, parents):
    p = commands.add_parser(
        "explain", parents=parents, help="explain a whole image folder: maps and metrics, resumable shards",
        description="Runs kerasviz.explain_dataset: each method and metric on every image, written as atomic "
        "shards with a manifest to --out. Run the same command again to resume an interrupted run; other "
        "arguments with an existing --out are refused. Prints the mean and 95% t-interval of each metric.")
    p.add_argument("model", help="a saved Keras model (.keras)")
    p.add_argument("images", nargs="+", metavar="IMAGE_DIR|FILES",
                   help="a directory of images (its image files, sorted by name; not its subdirectories) or "
                   "image files, resized to the model's input size")
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), metavar="METHOD",
                   help=f"method names (default: {' '.join(DEFAULT_METHODS)})")
    p.add_argument("--metrics", nargs="+", default=[], metavar="METRIC",
                   help="metric names from kerasviz.metrics.METRICS (default: none)")
    p.add_argument("--target", type=int, default=None, metavar="CLASS",
                   help="the class to explain in every image (default: each image's predicted class)")
    p.add_argument("--cam-layer", default=None, metavar="L",
                   help="the layer of the methods that take one (Grad-CAM and its kin; default: the last "
                   "feature block)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="images per batch (default: 32)")
    p.add_argument("--shard-size", type=int, default=256, metavar="N",
                   help="images per shard, the unit of resumption (default: 256)")
    p.add_argument("--seed", type=int, default=0, help="seed of the stochastic methods and metrics (default: 0)")
    p.add_argument("--logdir", default=None, metavar="DIR",
                   help="also write the summary for the kerasviz dashboard's Dataset tab (metric table, histograms, "
                   "best and worst images per method) into DIR/kerasviz, at the step after its last one")
    p.add_argument("--k", type=int, default=8, metavar="N",
                   help="with --logdir: the best and worst images kept per method (default: 8)")
    common.add_value_range(p)
    common.add_out(p)
    p.set_defaults(run=run)


def image_files(arguments):
    """The image files named by the positional arguments: one directory's image files, or the files."""
    if len(arguments) == 1 and os.path.isdir(arguments[0]):
        directory = arguments[0]
        files = sorted(os.path.join(directory, f) for f in os.listdir(directory)
                       if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(directory, f)))
        if not files:
            raise common.UsageError(f"image directory {directory!r}: no image files "
                                    f"({', '.join(IMAGE_EXTENSIONS)}) in it.")
        return files
    for path in arguments:
        if os.path.isdir(path):
            raise common.UsageError(f"image {path!r}: a directory; pass one directory alone, or image files.")
        common.check_file(path, "image")
    return list(arguments)


def run(args):
    """Explains the images into --out (resuming a run there), then prints the metrics' summary."""
    import kerasviz
    from kerasviz import inputs

    unknown = [m for m in args.methods if m not in registry.METHODS]
    if unknown:
        raise common.UsageError(f"--methods: unknown method(s) {', '.join(unknown)}; choose from "
                                f"{', '.join(registry.METHODS)}.")
    unknown = [m for m in args.metrics if m not in kerasviz.metrics.METRICS]
    if unknown:
        raise common.UsageError(f"--metrics: unknown metric(s) {', '.join(unknown)}; choose from "
                                f"{', '.join(kerasviz.metrics.METRICS)}.")
    for option, value in (("--batch-size", args.batch_size), ("--shard-size", args.shard_size), ("--k", args.k)):
        if value is not None and value < 1:
            raise common.UsageError(f"{option}: expected a positive number; received {value}.")
    if args.logdir is not None:  # a logdir that cannot be written fails before the images are explained
        from kerasviz import eventfile

        try:
            eventfile.check_run_dir(args.logdir, "kerasviz")
        except (TypeError, ValueError) as error:
            raise common.UsageError(f"--logdir: {error}") from None
    value_range = common.value_range(args.value_range)
    files = image_files(args.images)
    model = common.load_model(args.model)
    params = {}
    layered = [m for m in args.methods if registry.METHODS[m].takes_layer]
    if layered:
        layer = (common.check_layer(model, args.cam_layer, "--cam-layer") if args.cam_layer is not None else
                 common.default_layer(model, "grad_cam", inputs.model_input_shape(model), "--cam-layer"))
        params["layer"] = layer
        print(f"Layer of {', '.join(layered)}: {layer!r}"
              + ("" if args.cam_layer else " (the default: the last feature block)"), flush=True)
    print(f"Explaining {len(files)} images with {', '.join(args.methods)} into {args.out} (run again to resume)",
          flush=True)
    result = kerasviz.explain_dataset(model, files, list(args.methods), out=args.out, target=args.target,
                                      metrics=list(args.metrics), batch_size=args.batch_size,
                                      shard_size=args.shard_size, seed=args.seed, value_range=value_range,
                                      verbose=1, **params)
    print(f"Wrote {len(result)} images' maps{' and metrics' if args.metrics else ''} to {args.out} "
          "(read them with kerasviz.load_explanations)")
    if args.metrics:
        print(result.summary().table())
    written = result.write(args.logdir, k=args.k) if args.logdir is not None else None
    if written is not None:
        run_dir, step = written
        print(f"Wrote the dataset summary to {run_dir} at step {step} (tensorboard --logdir {args.logdir}, "
              "kerasviz tab, Dataset)")
