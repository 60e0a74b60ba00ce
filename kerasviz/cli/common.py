"""What the subcommands share: argument checks, reading models and images, writing PNGs, stage timings.

Nothing here imports TensorFlow at module level: `kerasviz --help` must not.
A user's mistake raises `UsageError`, which `kerasviz.cli.main` prints as one
line (exit code 2).
"""

import contextlib
import os
import time

# The names of `kerasviz.inputs.VALUE_RANGE_PRESETS` (a test keeps the two equal): listed here so that
# `--help` needs no TensorFlow.
VALUE_RANGE_PRESETS = ("caffe", "tf", "torch")


class UsageError(Exception):
    """A mistake in what the user passed: printed as one line, exit code 2, no traceback."""


def add_value_range(parser):
    parser.add_argument(
        "--value-range", nargs="+", default=["0", "1"], metavar="RANGE",
        help="the model's input range that pixels 0..255 map to: two numbers LOW HIGH, or a preset "
        f"({', '.join(VALUE_RANGE_PRESETS)}; caffe also swaps RGB to BGR) (default: 0 1)")


def add_out(parser):
    parser.add_argument("--out", default="kerasviz-out", help="output directory (default: kerasviz-out)")


def value_range(tokens):
    """`--value-range`'s tokens -> a preset name or a `(low, high)` pair, else `UsageError`."""
    if len(tokens) == 1 and tokens[0] in VALUE_RANGE_PRESETS:
        return tokens[0]
    try:
        if len(tokens) != 2:
            raise ValueError
        low, high = (float(t) for t in tokens)
    except ValueError:
        raise UsageError(f"--value-range: expected two numbers LOW HIGH or one of "
                         f"{', '.join(VALUE_RANGE_PRESETS)}; received {' '.join(tokens)!r}.") from None
    if not low < high:
        raise UsageError(f"--value-range: LOW must be below HIGH; received {low:g} {high:g}.")
    return low, high


def check_positive(args, *options):
    """A UsageError naming the first of `options` (attribute names of `args`) set below 1."""
    for option in options:
        value = getattr(args, option)
        if value is not None and value < 1:
            raise UsageError(f"--{option.replace('_', '-')}: expected a positive number; received {value}.")


def check_run_dir(args):
    """A UsageError when the run `args.logdir/args.run_name` cannot be written."""
    from kerasviz import eventfile

    try:
        eventfile.check_run_dir(args.logdir, args.run_name)
    except (TypeError, ValueError) as error:
        raise UsageError(f"--logdir/--run-name: {error}") from None


def check_file(path, what):
    """`UsageError` naming `what` and `path` unless `path` is an existing file."""
    if not os.path.exists(path):
        raise UsageError(f"{what} {path!r}: no such file.")
    if not os.path.isfile(path):
        raise UsageError(f"{what} {path!r}: not a file.")


def load_model(path):
    """A saved Keras model, or `UsageError` saying why the file cannot be one."""
    check_file(path, "model")
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - any failure to load means: not a model we can read
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"model {path!r}: cannot be loaded as a Keras model ({reason}).") from None


def add_stretch(parser):
    parser.add_argument(
        "--stretch", action="store_true",
        help="resize each whole image to the model's input size, distorting its aspect ratio (as Keras's "
        "image_dataset_from_directory does by default); default: the centre crop to the model's aspect ratio, "
        "then a bicubic resize, as ImageNet classifiers are evaluated")


def fit_note(image_shape, stretch):
    """One line saying how the image files were brought to the model's input size."""
    height, width = image_shape[:2]
    if stretch:
        return f"Images: each whole image resized to {height} x {width} (bicubic, aspect ratio not kept: --stretch)"
    return (f"Images: the centre crop of each image to the model's aspect ratio, resized to {height} x {width} "
            "(bicubic; --stretch resizes the whole image instead)")


def load_image(path, model, value_range_, *, fixed_size=True, stretch=False):
    """One image file -> `[1, H, W, C]` (`kerasviz.files.read_image`), or `UsageError` saying why not."""
    check_file(path, "image")
    from kerasviz import files

    try:
        return files.read_image(path, model, value_range_, fixed_size=fixed_size, stretch=stretch,
                                range_argname="--value-range")
    except ValueError as error:
        raise UsageError(str(error)) from None


def load_images(paths, model, value_range_, *, stretch=False):
    """Image files -> `[B, H, W, C]` at the model's input size (see `load_image`)."""
    import numpy as np

    return np.concatenate([load_image(path, model, value_range_, stretch=stretch) for path in paths])


def side_by_side(pictures, pad=2):
    """Display images `[H_i, W_i, C]` in [0, 1] in one row, bottoms padded white to the tallest."""
    import numpy as np

    height = max(p.shape[0] for p in pictures)
    row = []
    for picture in pictures:
        filled = np.ones((height, picture.shape[1], picture.shape[2]), np.float32)
        filled[:picture.shape[0]] = picture
        row += [filled, np.ones((height, pad, picture.shape[2]), np.float32)]
    return np.concatenate(row[:-1], axis=1)


def add_class_names(parser):
    parser.add_argument(
        "--class-names", default=None, metavar="FILE",
        help="a text file of the model's class names, one a line (line 1 names class 0), for the labels "
        "(default: class indices)")


def class_names(path, model, image_shape=None):
    """`--class-names FILE`'s names, one per class of `model` (None without a file), else `UsageError`.

    Empty lines at the end of the file are ignored; any other count of lines
    than the model's classes (2 for a single sigmoid unit) is a mistake.
    `image_shape` (default: the model's input shape) is needed only to count
    a subclassed model's classes.
    """
    if path is None:
        return None
    check_file(path, "--class-names")
    try:
        with open(path, encoding="utf-8") as f:
            names = [line.strip() for line in f.read().splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--class-names {path!r}: cannot be read as text ({error}).") from None
    while names and not names[-1]:
        names.pop()
    from kerasviz import layer_graph, targets

    image_shape = layer_graph.image_shape_of(model) if image_shape is None else image_shape
    count = max(targets.num_classes(model, image_shape), 2)  # a single sigmoid unit: 2 classes
    if len(names) != count:
        raise UsageError(f"--class-names {path!r}: {len(names)} names (one a line), but the model {model.name!r} "
                         f"has {count} classes; give one name per class, in the order of its outputs.")
    return names


def default_layer(model, role, image_shape, option):
    """The default layer for `role`, or `UsageError` telling the user which option to pass."""
    import kerasviz

    try:
        return kerasviz.models.default_layer(model, role, image_shape)
    except ValueError as error:
        raise UsageError(f"{error} Pass {option} NAME.") from None


def check_layer(model, name, option):
    """`UsageError` naming `option` unless `name` is a layer of `model`."""
    import kerasviz

    try:
        kerasviz.models.get_layer(model, name)
    except ValueError as error:
        raise UsageError(f"{option} {name!r}: {error}") from None
    return name


def save_png(path, picture, *, enlarge_to=256):
    """Writes a [0, 1] picture, small ones enlarged (pixelated) to at least `enlarge_to` pixels."""
    import numpy as np

    import kerasviz

    factor = max(1, -(-enlarge_to // max(picture.shape[:2])))
    picture = np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)
    with open(path, "wb") as f:
        f.write(kerasviz.image.encode_png(picture))
    return path


def skipped(what, why):
    """Says that an output was left out, and why."""
    print(f"Skipped {what}: {why}", flush=True)


class Stages:
    """Times the stages of a command; each is announced, then said done with its duration."""

    def __init__(self):
        self.times = []

    @contextlib.contextmanager
    def __call__(self, name):
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        yield
        self.times.append((name, time.perf_counter() - start))
        print(f"   {name}: {self.times[-1][1]:.1f} s", flush=True)

    def summary(self):
        """A table of the stages (each named by what precedes its first colon) and their durations."""
        names = [name.split(":")[0] for name, _ in self.times]
        width = max(len(name) for name in names + ["total"])
        lines = [f"  {name:<{width}}  {seconds:6.1f} s" for name, (_, seconds) in zip(names, self.times)]
        total = sum(seconds for _, seconds in self.times)
        return "\n".join(["Stage timings:", *lines, f"  {'total':<{width}}  {total:6.1f} s"])
