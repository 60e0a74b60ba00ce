"""`kerasviz attribute`: attribution maps of your model on your image files."""

import os
import time

from kerasviz import registry
from kerasviz.cli import common

# The default: fast and informative on a real photo classifier. Measured on EfficientNet-Lite3 (ImageNet, 280 x 280)
# with two photos on two CPU cores: 32 s of methods, 42 s in all, where `all` is estimated at 11 minutes (RISE's 4000
# masks 5 min, Score-CAM's 1280 channels 2 min, LIME's and KernelSHAP's 1000 samples 80 s each; it took 13.6 minutes
# with occlusion's old 8-px patch). Each shows something the others do not: the plain gradient (1 pass), its average
# over noisy copies (SmoothGrad, 25 passes: on photos much cleaner than Integrated Gradients' 50), the class's coarse
# region (Grad-CAM, 1 pass), the detail inside it (guided Grad-CAM, 2 passes), and occlusion, which reads only the
# model's outputs (its patch an eighth of the image: ~256 passes).
DEFAULT_METHODS = ("saliency", "smoothgrad", "grad_cam", "guided_grad_cam", "occlusion")


def add_parser(commands, parents):
    p = commands.add_parser("attribute", parents=parents, help="attribution maps of your model on your images")
    p.add_argument("model", help="a saved Keras model (.keras)")
    p.add_argument("images", nargs="+",
                   help="image files (centre-cropped to the model's aspect ratio and resized to its input size; "
                   "see --stretch)")
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), metavar="METHOD",
                   help="method names, or 'all' for every registered method (minutes per image on a CPU: RISE, "
                   "LIME, KernelSHAP and Score-CAM run hundreds to thousands of passes). Default: "
                   f"{' '.join(DEFAULT_METHODS)}: a fast, informative set (the gradient, its noise-averaged "
                   "SmoothGrad, Grad-CAM's class region and guided Grad-CAM's detail inside it, and occlusion, "
                   "which needs no gradient), about 40 s for two 280 x 280 photos on two CPU cores. The time "
                   "of each method is estimated and printed before it runs")
    p.add_argument("--target", type=int, nargs="+", default=None,
                   help="class index (one for all images, or one per image); default: predicted")
    p.add_argument("--unit", type=int, default=None, metavar="K",
                   help="explain unit K of a regression output (kerasviz.OutputUnit) instead of a class")
    p.add_argument("--output", default=None, metavar="NAME",
                   help="the output to explain, for a model with several outputs (kerasviz.OnOutput): the class "
                   "(--target, default: predicted) or --unit read there")
    p.add_argument("--cam-layer", default=None, metavar="L",
                   help="the layer of the methods that take one: Grad-CAM and its kin (default: the last "
                   "feature block)")
    common.add_class_names(p)
    common.add_value_range(p)
    common.add_stretch(p)
    common.add_out(p)
    p.set_defaults(run=run)


def output_target(model, images, target, unit, output):
    """The target of `--target`, `--unit` and `--output`, checked on the model (a UsageError naming the option)."""
    import kerasviz

    if unit is not None and target is not None:
        raise common.UsageError("--unit and --target: give one (a regression unit or a class).")
    if unit is not None:
        target = kerasviz.OutputUnit(unit)
    if output is not None:
        target = kerasviz.OnOutput(output, target)
    try:
        kerasviz.targets.resolve(model, target, images)
    except ValueError as error:
        option = "--output" if output is not None else "--unit" if unit is not None else "--target"
        raise common.UsageError(f"{option}: {error}") from None
    return target


def target_scores(model, images, target):
    """The score of `target` (as every method reads it: before a softmax) for each image, float64 `[B]`."""
    import numpy as np
    import tensorflow as tf

    import kerasviz

    bound, class_idx = kerasviz.targets.resolve(model, target, images)
    outputs, _ = kerasviz.models.run(model, tf.constant(images))
    return np.asarray(bound.score(outputs, {}, tf.constant(class_idx)), np.float64)


def _importance(name, maps):
    """Maps for display, bright = important: scores under occlusion become the drop below their top."""
    if name in registry.METHODS and registry.METHODS[name].lower_is_important:
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
    """The comparison figure: a row per image (titled with `labels`), the image then one overlay per method.

    Occlusion's scores are shown as the drop below their top; XRAI's regions
    as the image kept in its top 30 % and dimmed elsewhere
    (`kerasviz.image.top_regions`).
    """
    import kerasviz

    shown = {name: _importance(name, m) for name, m in maps.items()}
    with open(path, "wb") as f:
        f.write(kerasviz.image.encode_png(kerasviz.image.comparison_figure(images, shown, titles=True, labels=labels,
                                                                 regions=registry.names_with("shown_as_regions"))))
    return path


def _methods(asked):
    methods = list(registry.METHODS) if asked == ["all"] else asked
    unknown = [m for m in methods if m not in registry.METHODS]
    if unknown:
        raise common.UsageError(f"--methods: unknown method(s) {', '.join(unknown)}; choose from "
                                f"{', '.join(registry.METHODS)} or all.")
    return list(dict.fromkeys(methods))


def _params(methods, layered, cam_layer, value_range):
    """`{name: keyword arguments}`: the CAM family at `cam_layer`, progress bars on, the noise in the value range."""
    params = {}
    for name in methods:
        method = registry.METHODS[name]
        params[name] = {"layer": cam_layer} if name in layered else {}
        if method.accepts("verbose"):
            params[name]["verbose"] = 1  # the methods of many model evaluations per image show progress
        if method.accepts("value_range"):
            params[name]["value_range"] = value_range
    return params


def _seconds(seconds):
    return f"{seconds:.1f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _passes(cost):
    parts = [f"{n} {what}" for n, what in ((cost.backward, "forward+backward"), (cost.forward, "forward")) if n]
    return " + ".join(parts) or "no model pass"


def estimate(model, images, params):
    """Times the model, prints each method's passes and estimated time and the total; returns `{name: seconds}`."""
    from kerasviz import model_cost

    costs = {name: registry.cost(name, model, images.shape[1:], p) for name, p in params.items()}
    print("Timing one pass of the model on these images ...", flush=True)
    times = model_cost.time_passes(model, images, forward=any(c.forward for c in costs.values()),
                                   backward=any(c.backward for c in costs.values()))
    said = [f"{what} {1000 * seconds:.3g} ms per image" for what, seconds in
            (("forward+backward", times.backward), ("forward", times.forward)) if seconds]
    print(f"  {', '.join(said)}; compiling a method's function about "
          f"{_seconds(max(times.trace_backward, times.trace_forward))}", flush=True)
    seconds = {name: times.seconds(cost, len(images)) for name, cost in costs.items()}
    width, passes = max(len(name) for name in costs), {name: _passes(cost) for name, cost in costs.items()}
    room = max(len(p) for p in passes.values())
    print(f"Estimated time for {len(images)} image(s) (passes of the model per image, then the time):")
    for name in costs:
        print(f"  {name:<{width}}  {passes[name]:<{room}}  ~{_seconds(seconds[name])}")
    print(f"  {'total':<{width}}  {'':<{room}}  ~{_seconds(sum(seconds.values()))}", flush=True)
    return seconds


def run(args):
    """Writes one comparison figure (image, then one overlay per method) and the raw maps."""
    import numpy as np

    import kerasviz

    methods = _methods(args.methods)
    # The methods that read a layer (the CAM family) share --cam-layer.
    layered = {m for m in methods if registry.METHODS[m].takes_layer}
    value_range = common.value_range(args.value_range)
    model = common.load_model(args.model)
    images = common.load_images(args.images, model, value_range, stretch=args.stretch)
    names = common.class_names(args.class_names, model, images.shape[1:])
    print(common.fit_note(images.shape[1:], args.stretch), flush=True)
    if args.target is not None and len(args.target) not in (1, len(images)):
        raise common.UsageError(f"--target: expected one class or one per image ({len(images)}); "
                                f"received {len(args.target)}: {' '.join(map(str, args.target))}.")
    target = args.target if args.target is None or len(args.target) > 1 else args.target[0]
    target = output_target(model, images, target, args.unit, args.output)
    cam_layer = None
    if layered:
        if args.cam_layer is not None:
            cam_layer = common.check_layer(model, args.cam_layer, "--cam-layer")
        elif args.methods in (["all"], list(DEFAULT_METHODS)):  # not asked by name: left out, and said
            try:
                cam_layer = kerasviz.models.default_layer(model, "grad_cam", images.shape[1:])
            except ValueError as error:
                common.skipped(", ".join(sorted(layered)), f"{error} Pass --cam-layer NAME to include them.")
                methods = [m for m in methods if m not in layered]
        else:
            cam_layer = common.default_layer(model, "grad_cam", images.shape[1:], "--cam-layer")
    params = _params(methods, layered, cam_layer, value_range)
    try:
        estimated = estimate(model, images, params)
    except ValueError as error:  # parameters the method itself refuses (an occluder larger than the image)
        raise common.UsageError(str(error)) from None
    maps = {}
    for name in methods:
        if name in layered:
            said = "" if args.cam_layer else ", the default: the last feature block"
            print(f"{name} (layer {cam_layer!r}{said}) ...", flush=True)
        else:
            print(f"{name} ...", flush=True)
        start = time.perf_counter()
        maps[name] = registry.METHODS[name].function(model, images, target=target, **params[name])
        print(f"  {name}: {_seconds(time.perf_counter() - start)} (estimated ~{_seconds(estimated[name])})",
              flush=True)
    os.makedirs(args.out, exist_ok=True)
    display = kerasviz.image.to_display(images, value_range)
    prefixes = [os.path.basename(f) for f in args.images]
    if args.unit is None and args.output is None:
        labels = prediction_labels(model, images, names, prefixes=prefixes)
    else:  # a regression unit or a named output: the explained score itself
        labels = [f"{prefix} {value:.4g}" for prefix, value in zip(prefixes, target_scores(model, images, target))]
    figure = write_figure(os.path.join(args.out, "attributions.png"), display, maps, labels)
    np.savez_compressed(os.path.join(args.out, "attributions.npz"), **maps)
    print(("Predictions:\n" if args.unit is None and args.output is None else f"Scores of {target!r}:\n")
          + "\n".join(f"  {label}" for label in labels))
    shown_as = [f"{name} as the image kept in its top 30% regions" for name in methods
                if name in registry.names_with("shown_as_regions")]
    shown_as += [f"{name} as the probability drop" for name in methods
                 if name in registry.names_with("lower_is_important")]
    print(f"Wrote {figure} (rows: {', '.join(args.images)}, each titled with the predicted class; columns: "
          f"image, {', '.join(methods)}{'; ' if shown_as else ''}{', '.join(shown_as)})")
    if "guided_grad_cam" in methods or "guided_backprop" in methods:
        print("Guided backprop and guided Grad-CAM draw sharp, image-like detail that barely changes when the "
              "model's weights are randomized (Adebayo et al. 2018): read it as edges, not evidence "
              "(kerasviz evaluate --metrics randomization shows it).")
    print(f"Raw maps: {os.path.join(args.out, 'attributions.npz')}")
