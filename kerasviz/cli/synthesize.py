"""`kerasviz synthesize`: class visualizations, fooling images, feature inversion, DeepDream, textures, style."""

import inspect
import os

from kerasviz.cli import common


def add_parser(commands, parents):
    p = commands.add_parser("synthesize", parents=parents,
                            help="class visualizations, fooling images, feature inversion, DeepDream, "
                            "textures, style transfer")
    p.add_argument("model", help="a saved Keras model (.keras)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--class", dest="classes", type=int, nargs="+", metavar="N",
                      help="classes to visualize (one image each, titled with its class; its name with "
                      "--class-names)")
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
                   help="--dream's scales (default: deep_dream's, 4; a model of fixed input size runs its "
                   "layers up to the dream layers at every scale)")
    p.add_argument("--content-layer", default=None, metavar="L", help="--style's content layer")
    p.add_argument("--style-layers", nargs="+", default=None, metavar="L", help="--style's Gram layers")
    p.add_argument("--steps", type=int, default=None,
                   help="optimization steps (default: the method's; the most steps for --fool; "
                   "per octave for --dream)")
    common.add_class_names(p)
    common.add_value_range(p)
    common.add_stretch(p)
    common.add_out(p)
    p.set_defaults(run=run)


def _check(args):
    if args.steps is not None and args.steps < 1:
        raise common.UsageError(f"--steps: expected a positive number; received {args.steps}.")
    if args.octaves is not None and args.octaves < 1:
        raise common.UsageError(f"--octaves: expected a positive number; received {args.octaves}.")
    if args.fool is not None and args.target_class is None:
        raise common.UsageError("--fool needs --target-class N.")
    if args.invert is not None and args.layer is None:
        raise common.UsageError("--invert needs --layer L.")


def _class_title(index, names):
    """`"class 3"`, or with `--class-names` `"3: dog"`."""
    import kerasviz

    return kerasviz.image.class_label(index, names) if names else f"class {index}"


def run(args):
    """Runs the one method asked for; writes its inputs and result side by side as a PNG."""
    import numpy as np

    import kerasviz

    _check(args)
    value_range = common.value_range(args.value_range)
    model = common.load_model(args.model)
    names = common.class_names(args.class_names, model)
    if args.layer is not None:
        common.check_layer(model, args.layer, "--layer")
    os.makedirs(args.out, exist_ok=True)

    def shown(images):
        return list(kerasviz.image.to_display(np.asarray(images, np.float32), value_range))

    steps = {} if args.steps is None else {"steps": args.steps}
    if args.classes is not None:
        name = "class_visualization.png"
        result = kerasviz.class_visualization(model, list(args.classes), value_range=value_range, verbose=1,
                                              **steps)
        titles = [_class_title(k, names) for k in args.classes]
        pictures = [kerasviz.image.titled(p, t) for p, t in zip(shown(result.image), titles)]
        summary = (f"class visualization of {'; '.join(titles)}: mean class score "
                   f"{result.losses[0]:.3f} -> {result.losses[-1]:.3f} over {result.steps} steps")
    elif args.fool is not None:
        name, original = "fooling.png", common.load_image(args.fool, model, value_range, stretch=args.stretch)
        print("fooling image ...", flush=True)
        result = kerasviz.fooling_image(model, original, args.target_class, value_range=value_range,
                                        **({"max_steps": args.steps} if args.steps else {}))
        pictures = shown(original) + list(result.magnified_perturbation) + shown(result.image)
        summary = (f"fooling image: {'fooled' if result.fooled else 'NOT fooled'} into "
                   f"{_class_title(args.target_class, names)} after {result.steps} steps (original, perturbation "
                   "magnified, fooled image)")
    elif args.invert is not None:
        name, original = "inversion.png", common.load_image(args.invert, model, value_range, stretch=args.stretch)
        result = kerasviz.invert_features(model, original, args.layer, value_range=value_range, verbose=1,
                                          **steps)
        pictures = shown(original) + shown(result.image)
        summary = (f"feature inversion at layer {args.layer!r}: loss {result.losses[0]:.3f} -> "
                   f"{result.losses[-1]:.3f} over {result.steps} steps (original, reconstruction)")
    else:
        name, sources, result, summary = _art(args, model, value_range)
        pictures = [shown(p)[0] for p in [*sources, result.image]]
    path = common.save_png(os.path.join(args.out, name), common.side_by_side(pictures))
    print(summary)
    print(f"Wrote {path}")


def _art(args, model, value_range):
    """`--dream`, `--texture` or `--style`: `(file name, source images, result, summary)`."""
    import kerasviz

    steps = {} if args.steps is None else {"steps": args.steps}

    def load(path):
        return common.load_image(path, model, value_range, fixed_size=False, stretch=args.stretch)

    if args.dream is not None:
        image = load(args.dream)
        octaves = (args.octaves if args.octaves is not None
                   else inspect.signature(kerasviz.deep_dream).parameters["octaves"].default)
        result = kerasviz.deep_dream(model, image, args.layers, octaves=octaves, value_range=value_range,
                                     verbose=1, **({} if args.steps is None else {"steps_per_octave": args.steps}))
        return "deep_dream.png", [image], result, (
            f"DeepDream with {octaves} octave(s): objective {result.losses[0]:.3f} -> "
            f"{result.losses[-1]:.3f} over {result.steps} steps (original, dream)")
    if args.texture is not None:
        image = load(args.texture)
        result = kerasviz.texture_synthesis(model, image, args.layers, value_range=value_range, verbose=1,
                                            **steps)
        return "texture.png", [image], result, (
            f"texture synthesis: Gram loss {-result.losses[0]:.3f} -> {-result.losses[-1]:.3f} "
            f"over {result.steps} steps (texture, synthesized)")
    content, style = load(args.style[0]), load(args.style[1])
    result = kerasviz.style_transfer(model, content, style, args.content_layer, args.style_layers,
                                     value_range=value_range, verbose=1, **steps)
    return "style_transfer.png", [content, style], result, (
        f"style transfer: loss {-result.losses[0]:.3f} -> {-result.losses[-1]:.3f} "
        f"over {result.steps} steps (content, style, result)")
