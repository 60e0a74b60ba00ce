"""`kerasviz blocks` (Building Blocks of images) and `kerasviz concepts` (CRAFT concepts of a class), for the dashboard."""

import os

from kerasviz.cli import common
from kerasviz.cli.explain import image_files


def add_parser(commands, parents):
    blocks = commands.add_parser(
        "blocks", parents=parents, help="Building Blocks of images (Building blocks tab)",
        description="Runs kerasviz.inside.building_blocks_of on each image: the layer's neuron groups (NMF), their "
        "attribution to the class and renders, the spatial attribution and each position's semantic dictionary. "
        "Written to LOGDIR/RUN_NAME, a series per image, for `tensorboard --logdir LOGDIR` (kerasviz tab, Building "
        "blocks).")
    blocks.add_argument("--groups", type=int, default=6, help="neuron groups (default: 6)")
    blocks.add_argument("--top", type=int, default=4, help="channels per position in the dictionary (default: 4)")
    blocks.add_argument("--max-channels", type=int, default=24, help="dictionary channels rendered (default: 24)")
    blocks.add_argument("--target", type=int, default=None, help="the class (default: each image's predicted one)")
    concepts = commands.add_parser(
        "concepts", parents=parents, help="CRAFT concepts of a class (Concepts tab)",
        description="Runs CRAFT (kerasviz.inside.craft_concepts, concept_importance, concept_maps) on images of one "
        "class: the class's concepts at a layer, their importance (total Sobol indices) and where they are in the "
        "images. With --tcav and --random: TCAV (kerasviz.inside.tcav_significance) of your concepts instead, each "
        "against the random directories (two-sided t-test, Bonferroni-corrected for the concepts tested). Written to "
        "LOGDIR/RUN_NAME for `tensorboard --logdir LOGDIR` (kerasviz tab, Concepts).")
    concepts.add_argument("--target", type=int, required=True, help="the class the images show")
    concepts.add_argument("--concepts", type=int, default=10, help="concepts (default: 10, as CRAFT)")
    concepts.add_argument("--designs", type=int, default=32, help="Sobol designs per concept (default: 32, as CRAFT)")
    concepts.add_argument("--tcav", nargs="+", default=None, metavar="CONCEPT_DIR",
                          help="TCAV instead of CRAFT: tests your concepts, a directory of example images each (named "
                          "by the directory), for --target on the images (needs --random)")
    concepts.add_argument("--random", nargs="+", default=None, metavar="RANDOM_DIR",
                          help="with --tcav: at least 3 directories of random images, TCAV's null concepts")
    for p in (blocks, concepts):
        p.add_argument("--model", required=True, metavar="M", help="a saved Keras model (.keras)")
        p.add_argument("--images", required=True, nargs="+", metavar="IMAGE_DIR|FILES",
                       help="a directory of images (its image files, sorted by name) or image files")
        p.add_argument("--logdir", required=True, metavar="DIR", help="the TensorBoard log directory")
        p.add_argument("--run-name", default=p.prog.split()[-1], metavar="NAME", help="the run under DIR")
        p.add_argument("--layer", default=None, metavar="L",
                       help="a rectified spatial layer (default: feature visualization's)")
        p.add_argument("--steps", type=int, default=128, help="render steps (default: 128; blocks only)")
        p.add_argument("--batch-size", type=int, default=None, metavar="N", help="images per batch (default: 32)")
        p.add_argument("--seed", type=int, default=0, help="the seed (default: 0)")
        common.add_class_names(p)
        common.add_value_range(p)
    blocks.set_defaults(run=run_blocks)
    concepts.set_defaults(run=run_concepts)


def _check(args, *options):
    common.check_positive(args, "steps", "batch_size", *options)
    if args.seed < 0:
        raise common.UsageError(f"--seed: expected a number >= 0; received {args.seed}.")
    common.check_run_dir(args)


def _setup(args):
    """`(model, value_range, files, images, layer, class_names)`, saying the defaults taken."""
    value_range = common.value_range(args.value_range)
    model = common.load_model(args.model)
    files = image_files(args.images)
    images = common.load_images(files, model, value_range)
    if args.layer is None:
        from kerasviz.gradients import feature_visualization

        layer = feature_visualization.default_layer(model)
        print(f"Layer: {layer!r} (the default: feature visualization's)", flush=True)
    else:
        layer = common.check_layer(model, args.layer, "--layer")
    return model, value_range, files, images, layer, common.class_names(args.class_names, model)


def run_blocks(args):
    """Building Blocks of each image into --logdir."""
    _check(args, "groups", "top", "max_channels")
    model, value_range, files, images, layer, class_names = _setup(args)
    import tensorflow as tf

    from kerasviz import inside

    print(f"Settings: {args.groups} groups, top {args.top} channels a position, {args.max_channels} rendered, "
          f"{args.steps} render steps", flush=True)
    writer = tf.summary.create_file_writer(os.path.join(args.logdir, args.run_name))
    for path, image in zip(files, images):
        blocks = inside.building_blocks_of(
            model, image, layer, groups=args.groups, target=args.target, top=args.top,
            max_channels=args.max_channels, steps=args.steps, value_range=value_range, seed=args.seed,
            batch_size=args.batch_size)
        name = os.path.splitext(os.path.basename(path))[0]
        with writer.as_default(step=0):
            blocks.write(class_names=class_names, value_range=value_range, name=name)
        print(f"{name}: class {blocks.target}, group attributions {[round(float(v), 3) for v in blocks.group_attribution]}"
              f" (outside the groups {blocks.residual:.3f}, NMF error {blocks.groups.error:.3f})", flush=True)
    writer.close()
    print(f"tensorboard --logdir {args.logdir}, kerasviz tab, Building blocks", flush=True)


def _concept_directories(args):
    """`({name: directory}, [random directories])` of --tcav and --random, or a UsageError naming the option."""
    if args.tcav is None:
        if args.random is not None:
            raise common.UsageError("--random: only with --tcav (the random images are TCAV's null concepts).")
        return None, None
    if args.random is None or len(args.random) < 3:
        raise common.UsageError(f"--random: expected at least 3 directories with --tcav; received "
                                f"{0 if args.random is None else len(args.random)}.")
    for option, folders in (("--tcav", args.tcav), ("--random", args.random)):
        for folder in folders:
            if not os.path.isdir(folder):
                raise common.UsageError(f"{option} {folder!r}: not a directory of images.")
    names = [os.path.basename(os.path.normpath(folder)) for folder in args.tcav]
    if len(set(names)) != len(names):
        raise common.UsageError(f"--tcav: the concepts are named by their directories, and two share a name: {names}.")
    return dict(zip(names, args.tcav)), list(args.random)


def run_concepts(args):
    """CRAFT concepts of --target from the images (or TCAV of the --tcav concepts) into --logdir."""
    _check(args, "concepts", "designs")
    concepts, randoms = _concept_directories(args)
    model, value_range, files, images, layer, class_names = _setup(args)
    if concepts is not None:
        return _run_tcav(args, model, value_range, images, layer, class_names, concepts, randoms)
    import numpy as np
    import tensorflow as tf

    from kerasviz import inside

    print(f"Settings: {args.concepts} concepts of class {args.target} from {len(files)} images, {args.designs} Sobol "
          "designs per concept", flush=True)
    bank = inside.craft_concepts(model, images, layer, args.concepts, batch_size=args.batch_size, seed=args.seed,
                                 value_range=value_range)
    importance = inside.concept_importance(model, images, bank, args.target, designs=args.designs, seed=args.seed,
                                           batch_size=args.batch_size, value_range=value_range)
    maps = inside.concept_maps(model, images[:16], bank, importance, batch_size=args.batch_size,
                               value_range=value_range)
    with tf.summary.create_file_writer(os.path.join(args.logdir, args.run_name)).as_default(step=0):
        inside.write_concepts(images, bank, importance, maps, class_names=class_names, value_range=value_range)
    ranked = np.argsort(-importance.total)
    print("Concepts by importance: " + ", ".join(f"{c}: {importance.total[c]:.3f}" for c in ranked)
          + f" (NMF error {bank.error:.3f}); tensorboard --logdir {args.logdir}, kerasviz tab, Concepts", flush=True)


def _run_tcav(args, model, value_range, images, layer, class_names, concepts, randoms):
    """TCAV of each --tcav concept against the --random sets, for --target on the images, into --logdir."""
    import tensorflow as tf

    from kerasviz import inside, targets

    classes = targets.num_classes(model, images.shape[1:])
    if not 0 <= args.target < classes:
        raise common.UsageError(f"--target: expected a class in [0, {classes}); received {args.target}.")
    load = lambda folder: common.load_images(image_files([folder]), model, value_range)  # noqa: E731
    examples = {name: load(folder) for name, folder in concepts.items()}
    random_sets = [load(folder) for folder in randoms]
    listed = ", ".join(f"{n}: {len(x)} images" for n, x in examples.items())
    print(f"Settings: TCAV of {len(examples)} concepts ({listed})"
          f" for class {args.target} on {len(images)} images, against {len(random_sets)} random sets; "
          f"Bonferroni over {len(examples)} tests (CRAFT not run: --tcav tests your concepts)", flush=True)
    tests = {(name, args.target): inside.tcav_significance(
                 model, images, layer, x, random_sets, args.target, comparisons=len(examples),
                 batch_size=args.batch_size, seed=args.seed, value_range=value_range)
             for name, x in examples.items()}
    with tf.summary.create_file_writer(os.path.join(args.logdir, args.run_name)).as_default(step=0):
        inside.write_tcav(tests, layer=layer, class_names=class_names)
    for (name, _), test in tests.items():
        print(f"{name}: TCAV score {test.score:.3f} (random {float(test.random_scores.mean()):.3f}), p = "
              f"{test.p_value:.3g}, {'significant' if test.significant else 'not significant'}, CAV accuracy "
              f"{float(test.accuracies.mean()):.2f}", flush=True)
    print(f"tensorboard --logdir {args.logdir}, kerasviz tab, Concepts", flush=True)
