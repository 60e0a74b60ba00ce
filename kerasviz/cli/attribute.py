"""`kerasviz attribute`: attribution maps of your model on your image files."""

import inspect
import os

from kerasviz.cli import common



def add_parser(commands, parents):
    p = commands.add_parser("attribute", parents=parents, help="attribution maps of your model on your images")
    p.add_argument("model", help="a saved Keras model (.keras)")
    p.add_argument("images", nargs="+", help="image files (resized to the model's input size)")
    p.add_argument("--methods", nargs="+", default=["all"], help="method names, or 'all' (default)")
    p.add_argument("--target", type=int, nargs="+", default=None,
                   help="class index (one for all images, or one per image); default: predicted")
    p.add_argument("--cam-layer", default=None, metavar="L",
                   help="the layer of the methods that take one: Grad-CAM and its kin (default: the last "
                   "feature block)")
    common.add_value_range(p)
    common.add_out(p)
    p.set_defaults(run=run)


def _importance(name, maps):
    """Maps for display, bright = important: scores under occlusion become the drop below their top."""
    from kerasviz import registry

    if name in registry.LOWER_IS_IMPORTANT:
        return maps.max(axis=(1, 2), keepdims=True) - maps
    return maps


def prediction_labels(model, images, class_names=None, prefixes=None):
    """One label per image: `"<prefix> pred 3: dog 93.1%"`, the model's top class and its probability."""
    import numpy as np

    import kerasviz

    outputs = np.asarray(model.predict(images, verbose=0), np.float64)
    if kerasviz.models.output_activation(model) is None:  # logits
        outputs = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
        outputs /= outputs.sum(axis=-1, keepdims=True)
    top = outputs.argmax(axis=-1)
    prefixes = prefixes or [""] * len(images)
    return [f"{prefix} pred {kerasviz.image.class_label(int(k), class_names, float(p[k]))}".strip()
            for prefix, k, p in zip(prefixes, top, outputs)]


def write_figure(path, images, maps, labels=None):
    """The comparison figure: a row per image (titled with `labels`), the image then one overlay per method."""
    import kerasviz

    shown = {name: _importance(name, m) for name, m in maps.items()}
    with open(path, "wb") as f:
        f.write(kerasviz.image.encode_png(kerasviz.image.compare(images, shown, titles=True, labels=labels)))
    return path


def _methods(asked):
    from kerasviz import registry

    methods = list(registry.ATTRIBUTION_METHODS) if asked == ["all"] else asked
    unknown = [m for m in methods if m not in registry.ATTRIBUTION_METHODS]
    if unknown:
        raise common.UsageError(f"--methods: unknown method(s) {', '.join(unknown)}; choose from "
                                f"{', '.join(registry.ATTRIBUTION_METHODS)} or all.")
    return methods


def run(args):
    """Writes one comparison figure (image, then one overlay per method) and the raw maps."""
    import numpy as np

    import kerasviz
    from kerasviz import registry

    methods = _methods(args.methods)
    # The methods that read a layer (the CAM family) share --cam-layer.
    layered = {m for m in methods if m in registry.CAM_METHODS}
    value_range = common.value_range(args.value_range)
    model = common.load_model(args.model)
    images = common.load_images(args.images, model, value_range)
    if args.target is not None and len(args.target) not in (1, len(images)):
        raise common.UsageError(f"--target: expected one class or one per image ({len(images)}); "
                                f"received {len(args.target)}: {' '.join(map(str, args.target))}.")
    target = args.target if args.target is None or len(args.target) > 1 else args.target[0]
    cam_layer = None
    if layered:
        if args.cam_layer is not None:
            cam_layer = common.check_layer(model, args.cam_layer, "--cam-layer")
        elif args.methods == ["all"]:
            try:
                cam_layer = kerasviz.models.default_layer(model, "grad_cam", images.shape[1:])
            except ValueError as error:
                common.skipped(", ".join(sorted(layered)), f"{error} Pass --cam-layer NAME to include them.")
                methods = [m for m in methods if m not in layered]
        else:
            cam_layer = common.default_layer(model, "grad_cam", images.shape[1:], "--cam-layer")
    maps = {}
    for name in methods:
        params = {}
        if name in layered:
            params["layer"] = cam_layer
            said = "" if args.cam_layer else ", the default: the last feature block"
            print(f"{name} (layer {cam_layer!r}{said}) ...", flush=True)
        else:
            print(f"{name} ...", flush=True)
        if "verbose" in inspect.signature(registry.ATTRIBUTION_METHODS[name]).parameters:
            params["verbose"] = 1  # the methods of many model evaluations per image show progress
        if name == "smoothgrad":
            params["value_range"] = value_range
        maps[name] = registry.ATTRIBUTION_METHODS[name](model, images, target=target, **params)
    os.makedirs(args.out, exist_ok=True)
    display = kerasviz.image.to_display(images, value_range)
    labels = prediction_labels(model, images, prefixes=[os.path.basename(f) for f in args.images])
    figure = write_figure(os.path.join(args.out, "attributions.png"), display, maps, labels)
    np.savez_compressed(os.path.join(args.out, "attributions.npz"), **maps)
    print(f"Wrote {figure} (rows: {', '.join(args.images)}, each titled with the predicted class; columns: "
          f"image, {', '.join(methods)}; occlusion shown as the probability drop)")
    print(f"Raw maps: {os.path.join(args.out, 'attributions.npz')}")
