"""`kerasviz evaluate`: which attribution method suits your model? Every metric for every method, as a table."""

import json
import math
import os

from kerasviz import registry
from kerasviz.cli import common

# `kerasviz.callbacks.attribution.DEFAULT_METHODS`, listed here so that `--help` needs no TensorFlow (a test
# keeps the two equal).
DEFAULT_METHODS = ("saliency", "grad_cam")
SANITY_THRESHOLD = 0.5  # `kerasviz.metrics.SANITY_THRESHOLD`, for the same reason (the same test)


def add_parser(commands, parents):
    p = commands.add_parser(
        "evaluate", parents=parents, help="compare attribution methods on your model: every metric, as a table",
        description="Runs kerasviz.metrics.compare: each method on the images, then each metric on its maps "
        "(faithfulness, robustness, concision, localization, sanity checks). Prints the table (best of each "
        "metric marked *, failed sanity checks marked ✗), optionally writes it as JSON and for TensorBoard.")
    p.add_argument("model", help="a saved Keras model (.keras)")
    p.add_argument("images", nargs="+",
                   help="image files (centre-cropped to the model's aspect ratio and resized to its input size; "
                   "see --stretch)")
    p.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                   help=f"method names, or 'all' (default: {' '.join(DEFAULT_METHODS)})")
    p.add_argument("--metrics", nargs="+", default=None, metavar="METRIC",
                   help="metric names, or 'all' (default: one or two of each kind, kerasviz.metrics.DEFAULT_METRICS; "
                   "the localisation metrics only with --masks)")
    p.add_argument("--labels", type=int, nargs="+", default=None, metavar="CLASS",
                   help="the classes to explain: one for all images or one per image (default: predicted)")
    p.add_argument("--masks", nargs="+", default=None, metavar="FILE",
                   help="object masks for pointing_game: one image file per image (nonzero = object), "
                   "cropped and resized as the images, or one .npy file [N, H, W] at the model's input size")
    p.add_argument("--cam-layer", default=None, metavar="L",
                   help="the layer of the methods that take one (Grad-CAM and its kin; default: the last "
                   "feature block)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="batch size of every method")
    p.add_argument("--seed", type=int, default=0, help="seed of the stochastic metrics (default: 0)")
    p.add_argument("--sanity-threshold", type=float, default=SANITY_THRESHOLD, metavar="R",
                   help=f"a sanity check fails at a mean rank correlation >= R (default: {SANITY_THRESHOLD})")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="write {method: {metric: mean}} as JSON (null where undefined)")
    p.add_argument("--logdir", default=None, metavar="DIR",
                   help="write the table as a kerasviz record to DIR/RUN for the TensorBoard dashboard")
    p.add_argument("--run-name", default="kerasviz", metavar="RUN",
                   help="the run directory under --logdir (default: kerasviz, the callbacks' own)")
    p.add_argument("--step", type=int, default=None,
                   help="the record's step under --logdir, after the run's last comparison (default: the next "
                   "one, 0 in a new run)")
    common.add_value_range(p)
    common.add_stretch(p)
    p.set_defaults(run=run)


def _names(asked, known, option, default):
    """`asked` (or `default`; 'all' = every known name) checked against `known`, else `UsageError`."""
    if asked is None:
        return None if default is None else list(default)
    if asked == ["all"]:
        return list(known)
    unknown = [name for name in asked if name not in known]
    if unknown:
        raise common.UsageError(f"{option}: unknown name(s) {', '.join(unknown)}; choose from "
                                f"{', '.join(known)} or all.")
    if len(set(asked)) != len(asked):
        raise common.UsageError(f"{option}: a name given twice: {' '.join(asked)}.")
    return list(asked)


def _masks(paths, count, size, stretch):
    """`--masks` files -> bool `[count, H, W]` at the model's input size (cropped as the images), else `UsageError`."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from kerasviz import files

    for path in paths:
        common.check_file(path, "--masks")
    if len(paths) == 1 and paths[0].endswith(".npy"):
        try:
            masks = np.load(paths[0], allow_pickle=False)
        except (OSError, ValueError) as error:
            raise common.UsageError(f"--masks {paths[0]!r}: cannot be read as .npy ({error}).") from None
        if masks.shape != (count, *size):
            raise common.UsageError(f"--masks {paths[0]!r}: expected shape {(count, *size)} (one mask per image "
                                    f"at the model's input size); received {masks.shape}.")
        return masks != 0
    if len(paths) != count:
        raise common.UsageError(f"--masks: expected one mask file per image ({count}); received {len(paths)}.")
    masks = []
    for path in paths:
        try:
            with Image.open(path) as picture:
                picture = files.fit_picture(picture.convert("L"), size, stretch=stretch, resample=Image.NEAREST)
                masks.append(np.asarray(picture) > 0)
        except (OSError, UnidentifiedImageError, ValueError) as error:
            raise common.UsageError(f"--masks {path!r}: cannot be read ({error}).") from None
    return np.stack(masks)


def _method_params(names, cam_layer, value_range):
    """`(name, params)` pairs: the CAM family at `cam_layer`, the noisy methods told the value range."""
    entries = []
    for name in names:
        params = {}
        if registry.METHODS[name].takes_layer and cam_layer is not None:
            params["layer"] = cam_layer
        if registry.METHODS[name].accepts("value_range"):
            params["value_range"] = value_range
        entries.append((name, params))
    return entries


def as_json(result):
    """`result.as_dict()` with NaN as None (strict JSON)."""
    return {method: {metric: value if math.isfinite(value) else None for metric, value in row.items()}
            for method, row in result.as_dict().items()}


def run(args):
    """Prints the comparison table; writes it as JSON (`--json`) and as a record (`--logdir`)."""
    import kerasviz

    methods = _names(args.methods, list(registry.METHODS), "--methods", DEFAULT_METHODS)
    metrics = _names(args.metrics, list(kerasviz.metrics.METRICS), "--metrics", kerasviz.metrics.DEFAULT_METRICS)
    needing = [name for name in metrics if kerasviz.metrics.METRICS[name].needs_masks]
    if needing and args.masks is None:
        if args.metrics in (None, ["all"]):
            for name in needing:
                common.skipped(name, "it needs object masks; pass --masks FILE... to include it.")
                metrics.remove(name)
        else:
            raise common.UsageError(f"--metrics: {', '.join(needing)} need(s) object masks; pass --masks FILE...")
    if args.batch_size is not None and args.batch_size < 1:
        raise common.UsageError(f"--batch-size: expected a positive integer; received {args.batch_size}.")
    if not -1.0 <= args.sanity_threshold <= 1.0:
        raise common.UsageError(f"--sanity-threshold: expected a rank correlation in [-1, 1]; received "
                                f"{args.sanity_threshold:g}.")
    if args.step is not None and args.step < 0:
        raise common.UsageError(f"--step: expected an integer >= 0; received {args.step}.")
    if args.json is not None:
        directory = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(directory):
            raise common.UsageError(f"--json {args.json!r}: the directory {directory!r} does not exist.")
    if args.logdir is not None:
        from kerasviz import eventfile
        from kerasviz.metrics import report

        try:
            run_dir = eventfile.check_run_dir(args.logdir, args.run_name)
        except (TypeError, ValueError) as error:
            raise common.UsageError(f"--logdir/--run-name: {error}") from None
        last = report.last_step(run_dir)
        if args.step is not None and args.step <= last:
            raise common.UsageError(f"--step {args.step}: {run_dir!r} already holds a comparison at step {last} "
                                    "(TensorBoard would show only one); pass a later --step, no --step (the next one), "
                                    "or another --run-name.")
    value_range = common.value_range(args.value_range)
    model = common.load_model(args.model)
    images = common.load_images(args.images, model, value_range, stretch=args.stretch)
    if args.labels is not None and len(args.labels) not in (1, len(images)):
        raise common.UsageError(f"--labels: expected one class or one per image ({len(images)}); received "
                                f"{len(args.labels)}: {' '.join(map(str, args.labels))}.")
    target = None if args.labels is None else args.labels if len(args.labels) > 1 else args.labels[0]
    masks = None if args.masks is None else _masks(args.masks, len(images), images.shape[1:3], args.stretch)
    cam_layer = None if args.cam_layer is None else common.check_layer(model, args.cam_layer, "--cam-layer")
    layered = [name for name in methods if registry.METHODS[name].takes_layer]
    if layered and cam_layer is None and args.methods == ["all"]:
        try:
            kerasviz.models.default_layer(model, "grad_cam", images.shape[1:])
        except ValueError as error:
            common.skipped(", ".join(layered), f"{error} Pass --cam-layer NAME to include them.")
            methods, layered = [m for m in methods if m not in layered], []
    if layered:
        layer = cam_layer or common.default_layer(model, "grad_cam", images.shape[1:], "--cam-layer")
        said = "" if cam_layer else " (the default: the last feature block; --cam-layer to choose)"
        print(f"{', '.join(layered)} at layer {layer!r}{said}", flush=True)
    entries = _method_params(methods, cam_layer, value_range)
    explained = "the predicted classes" if target is None else f"classes {' '.join(map(str, args.labels))}"
    print(f"Comparing {', '.join(methods)} on {len(images)} image(s), explaining {explained} ...", flush=True)
    result = kerasviz.metrics.compare(model, images, entries, metrics, target, masks=masks,
                                      batch_size=args.batch_size, seed=args.seed, value_range=value_range,
                                      verbose=1)
    print(result.table(args.sanity_threshold))
    if args.json is not None:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(as_json(result), f, indent=2)
        print(f"Wrote {args.json}")
    if args.logdir is not None:
        try:
            run_dir, step = result.write(args.logdir, args.step, run_name=args.run_name,
                                         threshold=args.sanity_threshold)
        except ValueError as error:  # a --step not after the run's last comparison
            raise common.UsageError(f"--step: {error}") from None
        print(f"Wrote the table to {run_dir} (step {step}, tag kerasviz/attribution/comparison): "
              f"tensorboard --logdir {args.logdir}")
