"""`kerasviz demo`: trains the demo model with every visualization attached, then draws each family."""

import os

from kerasviz import registry
from kerasviz.cli import attribute, common
from kerasviz.cli import activations as activation_figures
from kerasviz.cli import features as feature_figures

DEMO_IMAGES = 8
DEMO_EPOCHS = 4  # every callback writes each epoch: 4 show the learning, in less time than the model's default 6
EMBEDDED_IMAGES = 300
# The methods the demo draws every epoch and in its figure: the seed's seven, one of each idea. The
# registry holds many more (each epoch of each costs time); `kerasviz attribute --methods all` runs them all.
FEATURE_CHANNELS = 8  # channels of conv3 the features callbacks follow (each epoch costs their optimization)
FEATURE_STEPS = 32  # feature visualization steps per epoch (the figure at the end takes 128)
PROBE_IMAGES = 4  # probe images of the feature maps
DEMO_METHODS = ("saliency", "guided_backprop", "smoothgrad", "integrated_gradients", "grad_cam",
                "guided_grad_cam", "occlusion")


def add_parser(commands, parents):
    p = commands.add_parser("demo", parents=parents, help="train the demo model with every visualization attached")
    p.add_argument("--logdir", default="logs/demo", help="where to write (default: logs/demo)")
    p.add_argument("--epochs", type=int, default=DEMO_EPOCHS,
                   help=f"training epochs (default: {DEMO_EPOCHS}; the test accuracy is 0.99 or more by then)")
    p.add_argument("--port", type=int, default=6006, help="TensorBoard port (default: 6006)")
    p.add_argument("--no-tensorboard", action="store_true", help="do not start TensorBoard at the end")
    p.set_defaults(run=run)


def _watchers(logdir, test):
    """The callbacks that watch training: every family, written each epoch."""
    import keras

    from kerasviz import callbacks

    probe = slice(0, DEMO_IMAGES)
    return [
        keras.callbacks.TensorBoard(logdir),
        callbacks.AttributionCallback(
            logdir, test.images[probe], test.labels[probe],
            methods=DEMO_METHODS, class_names=test.class_names, metrics=True,
        ),
        callbacks.FilterCallback(logdir, layers=["conv1", "conv2"]),
        callbacks.EmbeddingCallback(
            logdir, test.images[:EMBEDDED_IMAGES], test.labels[:EMBEDDED_IMAGES], class_names=test.class_names,
        ),
        callbacks.PatchesCallback(logdir, test.images, layer="conv3", channels=range(8)),
        callbacks.ClassVisualizationCallback(
            logdir, list(range(len(test.class_names))), class_names=test.class_names, steps=60,
        ),
        callbacks.FeatureVisualizationCallback(logdir, "conv3", channels=FEATURE_CHANNELS, steps=FEATURE_STEPS),
        callbacks.FeatureMapsCallback(logdir, test.images[:PROBE_IMAGES], layer="conv3",
                                      max_channels=FEATURE_CHANNELS),
    ]


def run(args):
    """Trains the demo model with kerasviz callbacks attached; writes everything to `--logdir`."""
    if args.epochs is not None and args.epochs < 1:
        raise common.UsageError(f"--epochs: expected a positive number; received {args.epochs}.")
    import kerasviz

    stage = common.Stages()
    with stage("data"):
        train, test = kerasviz.demo.demo_data("shapes")
    print(f"kerasviz demo: training a small ConvNet on {len(train.images)} procedural shapes "
          f"({', '.join(train.class_names)}), logging to {os.path.abspath(args.logdir)}", flush=True)
    with stage("training: the callbacks write every family each epoch"):
        model = kerasviz.demo.demo_model("shapes", epochs=args.epochs, verbose=2,
                                         callbacks=_watchers(args.logdir, test))
        loss, accuracy = model.evaluate(test.images, test.labels, verbose=0)
    print(f"Test accuracy {accuracy:.3f} on {len(test.images)} held-out images.")
    probe = slice(0, DEMO_IMAGES)
    with stage("attribution figure"):
        display = kerasviz.image.to_display(test.images[probe])
        maps = {name: registry.METHODS[name].function(model, test.images[probe], target=test.labels[probe])
                for name in DEMO_METHODS}
        labels = [f"true {test.class_names[t]}," for t in test.labels[probe]]
        labels = attribute.prediction_labels(model, test.images[probe], test.class_names, labels)
        figure = attribute.write_figure(os.path.join(args.logdir, "attributions.png"), display, maps, labels)
    print(f"Wrote {figure} (rows: test images; columns: image, {', '.join(maps)})")
    activation_figures.write_figures(args.logdir, model, test.images, patches_layer="conv3", stage=stage)
    _synthesis_figures(args.logdir, model, test, stage)
    feature_figures.write_figures(args.logdir, model, test.images[:PROBE_IMAGES], layer="conv3",
                                  channels=list(range(FEATURE_CHANNELS)), steps=128, stage=stage)
    print(stage.summary(), flush=True)
    _serve(args)


def _save_row(directory, name, pictures):
    """Pictures `[H, W, C]` in [0, 1] in one row, enlarged twice."""
    import numpy as np

    import kerasviz

    tiles = np.stack([np.broadcast_to(p, pictures[0].shape) for p in pictures])
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(kerasviz.image.encode_png(np.kron(kerasviz.image.tile(tiles, cols=len(tiles), pad=2),
                                                  np.ones((2, 2, 1)))))
    return path


def _synthesis_figures(directory, model, data, stage):
    """The synthesis family's pictures: class visualizations, a fooling image, an inversion series, a dream."""
    import kerasviz

    classes = list(range(len(data.class_names)))
    with stage("class visualizations"):
        dreams = kerasviz.class_visualization(model, classes, steps=150, verbose=1)
        written = [_save_row(directory, "class_visualizations.png", list(dreams.image))]
    original, source = data.images[:1], int(data.labels[0])
    with stage("fooling image"):
        fooled = kerasviz.fooling_image(model, original, (source + 1) % len(classes))
        written.append(_save_row(directory, "fooling.png",
                                 [original[0], fooled.magnified_perturbation[0], fooled.image[0]]))
    with stage("feature inversion from conv1, conv2, conv3"):
        series = [original[0]] + [kerasviz.invert_features(model, original, layer, steps=150, verbose=1).image[0]
                                  for layer in ("conv1", "conv2", "conv3")]
        written.append(_save_row(directory, "inversion.png", series))
    with stage("DeepDream of a sample photo"):
        written.append(_write_dream(directory, model))
    print("Wrote " + ", ".join(written) + f" (class visualizations of {', '.join(data.class_names)}; "
          f"a {data.class_names[source]} made into a {data.class_names[(source + 1) % len(classes)]} "
          f"in {fooled.steps} steps; inversions from conv1, conv2, conv3; a DeepDream of a sample photo)")


def _write_dream(directory, model):
    """DeepDream of a scikit-learn sample photo (192 px) through the demo's trained conv layers.

    The demo model takes 64x64 inputs; `deep_dream` runs its layers up to
    conv3 at the photo's size and its octaves (without touching the model).
    """
    import numpy as np

    import kerasviz

    photo = kerasviz.demo.sample_images(size=192)["china"][None]
    dream = kerasviz.deep_dream(model, photo, ["conv3"], octaves=3, steps_per_octave=20, verbose=1)
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
