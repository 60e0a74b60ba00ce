"""`kerasviz microscope`: a page per channel and an activation atlas per layer, for the dashboard's Microscope tab."""

import os

from kerasviz.cli import common
from kerasviz.cli.explain import image_files

SHAPES = "shapes"


def add_parser(commands, parents):
    p = commands.add_parser(
        "microscope", parents=parents, help="precompute a page per channel and an activation atlas (Microscope tab)",
        description="Runs kerasviz.inside.microscope over a dataset: for each chosen channel its feature "
        "visualization and facets, top dataset patches, dissection label (with --data shapes), strongest input "
        "and output channels by weight and its place in the atlas; per layer the activation atlas. Written to "
        "LOGDIR/RUN_NAME for `tensorboard --logdir LOGDIR` (kerasviz tab, Microscope). Run the same command again "
        "to resume an interrupted run: records already written are skipped.")
    p.add_argument("--model", required=True, metavar="M", help="a saved Keras model (.keras)")
    p.add_argument("--data", required=True, nargs="+", metavar="IMAGE_DIR|FILES|shapes",
                   help="a directory of images (its image files, sorted by name), image files, or `shapes`: the "
                   "demo shapes test split with its shape and colour masks (then each unit is dissected)")
    p.add_argument("--logdir", required=True, metavar="DIR", help="the TensorBoard log directory")
    p.add_argument("--run-name", default="microscope", metavar="NAME", help="the run under DIR (default: microscope)")
    p.add_argument("--layers", nargs="+", default=None, metavar="L",
                   help="spatial layers (default: feature visualization's, a block of the second-deepest stage)")
    p.add_argument("--channels", type=int, nargs="+", default=None, metavar="N",
                   help="channel indices (default: the first 8 of each layer)")
    p.add_argument("--augment", action="store_true",
                   help="also each image flipped left-right, and two crops of 80%% of it (centre, top left) resized back")
    p.add_argument("--steps", type=int, default=128, help="feature-visualization steps (default: 128)")
    p.add_argument("--facets", type=int, default=3, help="diverse facets per channel (default: 3; 0: none)")
    p.add_argument("--k", type=int, default=8, help="top dataset patches per channel (default: 8)")
    p.add_argument("--grid", type=int, default=8, help="atlas cells per side (default: 8)")
    p.add_argument("--samples", type=int, default=2000, help="activation vectors sampled for the atlas (default: 2000)")
    p.add_argument("--layout", choices=("tsne", "pca"), default="tsne", help="the atlas layout (default: tsne)")
    p.add_argument("--atlas-steps", type=int, default=None, help="rendering steps per atlas cell (default: --steps)")
    p.add_argument("--effect-images", type=int, default=16,
                   help="images estimating each cell's effect on the logits (default: 16)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="images per batch (default: 32)")
    p.add_argument("--seed", type=int, default=0, help="the seed (default: 0)")
    common.add_class_names(p)
    common.add_value_range(p)
    p.set_defaults(run=run)


def _check(args):
    common.check_positive(args, "steps", "k", "grid", "samples", "effect_images", "batch_size", "atlas_steps")
    if args.facets < 0 or args.seed < 0:
        raise common.UsageError(f"--facets and --seed: expected numbers >= 0; received {args.facets}, {args.seed}.")
    if args.channels is not None and min(args.channels) < 0:
        raise common.UsageError(f"--channels: expected channel indices >= 0; received {min(args.channels)}.")
    common.check_run_dir(args)


def augmented(image):
    """One image `[H, W, C]`, then (flipped left-right, the centre 80% crop, the top-left 80% crop) resized back."""
    import numpy as np
    import tensorflow as tf

    height, width = image.shape[:2]
    h, w = int(round(0.8 * height)), int(round(0.8 * width))
    top, left = (height - h) // 2, (width - w) // 2
    crops = [image[top:top + h, left:left + w], image[:h, :w]]
    resized = [tf.image.resize(c, (height, width), "bilinear").numpy().astype(np.float32) for c in crops]
    return [image, image[:, ::-1].copy()] + resized


def file_dataset(files, model, value_range, augment):
    """A `tf.data.Dataset` of the images of `files` (read one at a time), augmented when asked."""
    import numpy as np
    import tensorflow as tf

    first = common.load_image(files[0], model, value_range)[0]

    def generate():
        for path in files:
            image = common.load_image(path, model, value_range)[0].astype(np.float32)
            yield from (augmented(image) if augment else [image])

    return tf.data.Dataset.from_generator(generate, output_signature=tf.TensorSpec(first.shape, tf.float32))


def _shapes_data(augment):
    import numpy as np

    import kerasviz
    from kerasviz import inside

    test = kerasviz.demo.demo_data(SHAPES)[1]
    masks, names = inside.shapes_concepts(test)
    images = test.images
    if augment:
        images, masks = np.concatenate([images, images[:, :, ::-1]]), np.concatenate([masks, masks[:, :, ::-1]])
    return (images, masks), names, list(test.class_names), len(images)


def run(args):
    """Precomputes the microscope into --logdir and says every default it took."""
    _check(args)
    value_range = common.value_range(args.value_range)
    model = common.load_model(args.model)
    from kerasviz.gradients import feature_visualization
    from kerasviz.inside import microscope

    if args.data == [SHAPES] and not os.path.exists(SHAPES):
        data, concepts, class_names, count = _shapes_data(args.augment)
        print(f"Data: the shapes test split, {count} images{' (with flips)' if args.augment else ''}, "
              f"dissected against {len(concepts)} concepts", flush=True)
    else:
        files = image_files(args.data)
        data, concepts, count = file_dataset(files, model, value_range, args.augment), None, len(files)
        class_names = common.class_names(args.class_names, model)
        print(f"Data: {count} image files" + (", each also flipped and cropped twice (4 images each)"
                                              if args.augment else "") + "; no concept masks: no dissection", flush=True)
    layers = [common.check_layer(model, name, "--layers") for name in args.layers] if args.layers else None
    if layers is None:
        print(f"Layers: {feature_visualization.default_layer(model)!r} (the default: a block of the second-deepest "
              "stage, or at 80% of the depth)", flush=True)
    channels = args.channels if args.channels is not None else microscope.DEFAULT_CHANNELS
    if args.channels is None:
        print(f"Channels: the first {microscope.DEFAULT_CHANNELS} of each layer (the default)", flush=True)
    print(f"Settings: {args.steps} steps, {args.facets} facets, top {args.k} patches, a {args.grid}x{args.grid} atlas "
          f"of {args.samples} samples laid out by {args.layout}, {args.atlas_steps or args.steps} steps per cell",
          flush=True)
    report = microscope.build_microscope(
        model, data, args.logdir, layers, channels, run_name=args.run_name, concepts=concepts, steps=args.steps,
        facets=args.facets, k=args.k, grid=args.grid, samples=args.samples, layout=args.layout,
        atlas_steps=args.atlas_steps, classes=None, class_names=class_names, effect_images=args.effect_images,
        value_range=value_range, seed=args.seed, batch_size=args.batch_size, verbose=1)
    print(f"Wrote {len(report.written)} records to {report.run_dir} ({report.skipped} already there); "
          f"tensorboard --logdir {args.logdir}, kerasviz tab, Microscope", flush=True)
