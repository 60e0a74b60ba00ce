"""The README's pictures of a real network: kerasviz on a Keras ImageNet classifier and real photos.

Writes five PNG figures into `--out` (default `docs/`; existing files of these names are replaced),
each titled in words (class names, probabilities, layers) by kerasviz's own figure helpers
(`kerasviz.image.comparison_figure`, `tile`, `titled`, `class_label`):

- `imagenet_attributions.png`: three photos (dog, eagle, giraffe), a row each titled with the
  predicted class and its probability; columns: saliency, SmoothGrad, Grad-CAM, guided Grad-CAM,
  occlusion (the probability drop) and XRAI on SmoothGrad's map (its top 30% regions).
- `imagenet_class_visualizations.png`: eight classes (animals, objects, scenes), each image titled
  with its class and the model's probability of that class on the image (library defaults).
- `imagenet_feature_visualization.png`: the first eight channels of the default feature-visualization
  layer, then four facets of the most excited of them (the default diversity term).
- `imagenet_deep_dream.png`: two photos (kite, scream) and their dreams at the default layer.
- `imagenet_top_patches.png`: the eight strongest patches of six channels of a middle layer. Seven
  photos are too few for a meaningful top-k (a channel's top 8 positions are neighbours on one
  spot), so the data are the photos and six crops of each (49 images, each object at a second
  scale and place), and each row keeps one patch per spot of a photo and none cut by the border
  (`crops`, `distinct`, `ranked_channels`).

Figures are about 900-1150 px wide (the titles' font is fixed: wider figures shrink it in a README)
and written as 256-colour dithered PNGs when the RGB file would pass 600 KB.

On the EfficientNet-Lite3 of `../shared/imagenet` (280 x 280, raw pixels 0-255), the default:

    python examples/imagenet.py                                   # 6-8 minutes on 2 busy CPU cores
    python examples/imagenet.py --quick --out /tmp/pictures       # a smoke test: 45 s, rough pictures
    python examples/imagenet.py --only attributions deep_dream    # a subset of the figures

Measured here (2 shared cores): attributions 48 s, class visualizations 158 s, feature visualization
149 s, DeepDream 7 s, top patches 7 s; 375 s in all with loading (504 s when the machine was busier).

On a `keras.applications` model (downloads its ImageNet weights; the value range comes from the
table `APPLICATION_RANGES`, `--value-range` overrides it), or on your own saved classifier:

    python examples/imagenet.py --application ResNet50 --out pictures/
    python examples/imagenet.py --model my_imagenet_model.keras --value-range tf --out pictures/

Every photo is the centre crop of the file to the model's aspect ratio, resized bicubic to its input
size (`kerasviz.cli.common`). The layer each default picked is printed, and so is the time of each stage.
"""

import argparse
import glob
import os
import re
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "imagenet"))

FIGURES = ("attributions", "class_visualizations", "feature_visualization", "deep_dream", "top_patches")

# The input range each keras.applications family expects (its `preprocess_input`), first match wins.
APPLICATION_RANGES = (
    (r"EfficientNet", (0.0, 255.0)),  # B0-B7 and V2: rescaling inside the model
    (r"ConvNeXt", (0.0, 255.0)),
    (r"MobileNetV3", (0.0, 255.0)),  # include_preprocessing=True
    (r"ResNet\d+V2", "tf"),
    (r"ResNet", "caffe"),  # ResNet50, ResNet101, ResNet152
    (r"VGG", "caffe"),
    (r"DenseNet", "torch"),
    (r"MobileNet|Inception|Xception|NASNet", "tf"),
)

# Animals, objects and scenes: bald eagle, zebra, goldfish, flamingo, lion, monarch, balloon, volcano.
CLASSES = (22, 340, 1, 130, 291, 323, 417, 980)
# The photos of each figure, where the folder has them (else the model's most confident photos).
ATTRIBUTION_PHOTOS = ("dog", "eagle", "giraffe")
DREAM_PHOTOS = ("kite", "scream")
ATTRIBUTION_METHODS = ("saliency", "smoothgrad", "grad_cam", "guided_grad_cam", "occlusion", "xrai")
MAX_BYTES = 600_000  # a larger PNG is written with a 256-colour palette
# Sizes in pixels of the pictures in the figures (kerasviz's titles are in a fixed ~11-px font: figures about
# 1000-1150 px wide stay readable when a README shows them narrower).
ATTRIBUTION_TILE = 160  # 7 columns: the photo and 6 methods
GRID_TILE = 256  # 4 columns
FEATURE_TILE = 224  # 4 columns of textures: at 256 px the figure is 730 KB even as a palette PNG
PATCH_TILE = 120  # 8 patches a row
PATCH_CHANNELS, PATCHES, PATCH_CANDIDATES = 6, 8, 384  # channels, patches shown, candidates searched for distinct ones
FLAT = 0.1  # a patch whose grey standard deviation is below this share of the range is flat (sky, a wall)


def application_range(name):
    """The value range of `keras.applications.<name>` from `APPLICATION_RANGES`, or None."""
    for pattern, value_range in APPLICATION_RANGES:
        if re.match(pattern, name):
            return value_range
    return None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", default=None,
                        help="a saved Keras ImageNet classifier (default: ../shared/imagenet/efficientnet_lite3.keras "
                        "from the repository root, input 0-255)")
    source.add_argument("--application", default=None, metavar="NAME",
                        help="a keras.applications model with its ImageNet weights, e.g. EfficientNetB0, ResNet50, "
                        "VGG16, MobileNetV2 (downloads them)")
    parser.add_argument("--value-range", nargs="+", default=None, metavar="RANGE",
                        help="the model's input range: LOW HIGH or a preset (tf, torch, caffe); default: 0 255 for "
                        "--model, the family's for --application")
    parser.add_argument("--labels", default=os.path.join(SHARED, "imagenet_labels.txt"),
                        help="the 1000 class names, one a line (the text before the first comma is shown)")
    parser.add_argument("--photos", default=os.path.join(SHARED, "photos"), help="a folder of .jpg/.png photos")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs"), help="output folder (default: docs/)")
    parser.add_argument("--patches-layer", default=None, metavar="LAYER",
                        help="the layer of the top patches (default: the middle rectified layer of the middle "
                        "resolution stage)")
    parser.add_argument("--quick", action="store_true", help="few steps and samples: a smoke test, rough pictures")
    parser.add_argument("--only", nargs="+", choices=FIGURES, default=list(FIGURES), metavar="FIGURE",
                        help=f"make only these figures ({', '.join(FIGURES)})")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from kerasviz.cli import common

    try:
        context = Context(args)
    except common.UsageError as error:
        sys.exit(f"imagenet.py: {error}")
    os.makedirs(args.out, exist_ok=True)
    times = {}
    for name in FIGURES:
        if name in args.only:
            print(f"\n== {name} ==", flush=True)
            start = time.perf_counter()
            path = MAKERS[name](context)
            times[name] = time.perf_counter() - start
            print(f"wrote {path} ({os.path.getsize(path) / 1000:.0f} KB) in {times[name]:.0f} s", flush=True)
    print("\nTimes: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in times.items())
          + f"; in all {time.perf_counter() - context.start:.0f} s (with loading the model and photos)")


class Context:
    """The model, its value range, the class names, the photos and the settings every figure shares."""

    def __init__(self, args):
        from kerasviz.cli import common

        self.start = time.perf_counter()
        self.args, self.quick, self.out = args, args.quick, args.out
        self.model, self.value_range = self._model(args)
        paths = sorted(p for p in glob.glob(os.path.join(args.photos, "*"))
                       if p.lower().endswith((".jpg", ".jpeg", ".png")))
        if not paths:
            raise common.UsageError(f"--photos {args.photos!r}: no .jpg or .png files.")
        self.names = class_names(args.labels, self.model)
        self.photo_paths = {os.path.splitext(os.path.basename(p))[0]: p for p in paths}
        self.photo_names = list(self.photo_paths)
        self.photos = common.load_images(paths, self.model, self.value_range)  # centre crops, bicubic
        self.probabilities = probabilities(self.model, self.photos)
        print(common.fit_note(self.photos.shape[1:], stretch=False))
        print(f"{len(paths)} photos from {args.photos}; predictions:")
        for name, p in zip(self.photo_names, self.probabilities):
            print(f"  {name}: {self.label(p.argmax(), p)}")
        print(f"Loaded in {time.perf_counter() - self.start:.0f} s", flush=True)

    def _model(self, args):
        import keras

        from kerasviz.cli import common

        if args.application:
            constructor = getattr(keras.applications, args.application, None)
            if constructor is None or not callable(constructor):
                raise common.UsageError(f"--application {args.application!r}: not a keras.applications model.")
            value_range = application_range(args.application)
            if value_range is None and args.value_range is None:
                raise common.UsageError(f"--application {args.application!r}: its input range is not in "
                                        "APPLICATION_RANGES; pass --value-range.")
            print(f"Model: keras.applications.{args.application}(weights='imagenet')", flush=True)
            try:
                model = constructor(weights="imagenet")
            except Exception as error:  # noqa: BLE001 - no network, a full disk: said in one line
                raise common.UsageError(f"--application {args.application}: cannot get its ImageNet weights "
                                        f"({type(error).__name__}: {str(error).strip()[:200]}).") from None
            self.model_name = args.application
        else:
            path = args.model or os.path.join(SHARED, "efficientnet_lite3.keras")
            print(f"Model: {path}", flush=True)
            model = common.load_model(path)
            self.model_name = "EfficientNet-Lite3" if args.model is None else model.name
            value_range = (0.0, 255.0)
        if args.value_range is not None:
            value_range = common.value_range(args.value_range)
        print(f"Value range: {value_range}; input {tuple(model.inputs[0].shape[1:])}", flush=True)
        return model, value_range

    def label(self, k, p=None):
        """`"22: bald eagle 65.1%"`: kerasviz's class label with the short name."""
        import kerasviz

        return kerasviz.image.class_label(int(k), self.names, None if p is None else float(p[int(k)]))

    def pick(self, preferred, count):
        """Indices of the `preferred` photos where the folder has them, else of the most confident ones."""
        import numpy as np

        keys = self.photo_names
        chosen = [keys.index(name) for name in preferred if name in keys][:count]
        for k in np.argsort(-self.probabilities.max(axis=1)):
            if len(chosen) < min(count, len(keys)) and int(k) not in chosen:
                chosen.append(int(k))
        return chosen

    def display(self, images, width=None):
        """Images of the model's input space -> display space [0, 1], optionally resized to `width` pixels wide."""
        import kerasviz

        shown = kerasviz.image.to_display(images, self.value_range)
        return shown if width is None else resize(shown, width)


def class_names(path, model):
    """The short class names (before the first comma) of the labels file, one per output of `model`."""
    from kerasviz.cli import common

    common.check_file(path, "--labels")
    with open(path, encoding="utf-8") as f:
        names = [line.split(",")[0].strip() for line in f.read().splitlines() if line.strip()]
    classes = int(model.outputs[0].shape[-1])
    if len(names) != classes:
        raise common.UsageError(f"--labels {path!r}: {len(names)} names, but the model has {classes} outputs.")
    return names


def probabilities(model, images):
    """Class probabilities `[B, classes]` (softmax of the outputs of a model that ends in logits)."""
    import numpy as np

    import kerasviz

    outputs = np.asarray(model.predict(images, verbose=0, batch_size=8), np.float64)
    if kerasviz.models.output_activation(model) is None:
        outputs = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
        outputs /= outputs.sum(axis=-1, keepdims=True)
    return outputs


def resize(pictures, width):
    """Display images `[B, H, W, C]` resized to `width` pixels wide, aspect kept (area when shrunk, else bicubic)."""
    import numpy as np
    import tensorflow as tf

    size = (max(1, round(width * pictures.shape[1] / pictures.shape[2])), width)
    if pictures.shape[1:3] == size:
        return pictures
    method = "area" if pictures.shape[2] > width else "bicubic"
    return np.clip(tf.image.resize(pictures, size, method=method, antialias=True).numpy(), 0.0, 1.0)


def save(context, name, picture):
    """Writes `picture` ([H, W, 3] in [0, 1]) as `<out>/imagenet_<name>.png`, palette PNG if too large."""
    import io

    import numpy as np
    from PIL import Image

    import kerasviz

    path = os.path.join(context.out, f"imagenet_{name}.png")
    data = kerasviz.image.encode_png(picture)
    if len(data) > MAX_BYTES:
        pixels = kerasviz.image.to_uint8(picture)
        rgb = Image.fromarray(pixels)
        colours = rgb.quantize(254, method=Image.Quantize.MEDIANCUT).getpalette()[:254 * 3]
        colours += [0, 0, 0] * (254 - len(colours) // 3) + [255, 255, 255, 0, 0, 0]  # exact white and black
        palette = Image.new("P", (1, 1))
        palette.putpalette(colours)
        indices = np.asarray(rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)).copy()  # no banding
        indices[(pixels == 255).all(axis=-1)] = 254  # the canvas and text stay pure (Pillow's lookup is approximate)
        indices[(pixels == 0).all(axis=-1)] = 255
        pil = Image.fromarray(indices, "P")
        pil.putpalette(colours)
        buffer = io.BytesIO()
        pil.save(buffer, format="PNG", optimize=True)
        print(f"  {len(data) / 1000:.0f} KB as RGB: written with a 256-colour palette "
              f"({len(buffer.getvalue()) / 1000:.0f} KB)")
        data = buffer.getvalue()
    with open(path, "wb") as f:
        f.write(data)
    return path


def stack(pictures, pad=6):
    """Pictures `[H_i, W, 3]` of one width, top to bottom, white between them."""
    import numpy as np

    width = max(p.shape[1] for p in pictures)
    rows = []
    for k, p in enumerate(pictures):
        if p.shape[1] < width:
            p = np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0)), constant_values=1.0)
        rows += [p] if k == 0 else [np.ones((pad, width, 3), np.float32), p]
    return np.concatenate(rows)


def attributions_figure(context):
    """Three photos (rows): the photo, then one map per method over it, each method in its own words.

    SmoothGrad's map is also XRAI's attribution (with its default, Integrated Gradients, XRAI's regions
    fall on the background of these photos); occlusion's scores are shown as the drop below their top,
    XRAI as the photo kept in its top 30% regions (the `lower_is_important` and `shown_as_regions` of
    their `kerasviz.registry` records).
    """
    import kerasviz
    from kerasviz import models, registry

    chosen = context.pick(ATTRIBUTION_PHOTOS, 3)
    images = context.photos[chosen]
    layer = models.default_layer(context.model, "grad_cam", images.shape[1:])
    print(f"Photos: {', '.join(context.photo_names[k] for k in chosen)}; Grad-CAM's layer (the default: the last "
          f"feature block): {layer}")
    quick = context.quick
    settings = {  # method: (its title, its keyword arguments)
        "saliency": ("saliency", {}),
        "smoothgrad": ("SmoothGrad", {"samples": 4 if quick else 25, "value_range": context.value_range}),
        "grad_cam": ("Grad-CAM", {}),
        "guided_grad_cam": ("guided Grad-CAM", {}),
        "occlusion": ("occlusion (drop)", {"patch": 140, "stride": 70} if quick else {}),
        "xrai": ("XRAI on SmoothGrad", {}),
    }
    maps = {}
    for name in ATTRIBUTION_METHODS:
        title, params = settings[name]
        if name == "xrai":
            params = {"attribution": maps["SmoothGrad"]}
        start = time.perf_counter()
        found = registry.ATTRIBUTION_METHODS[name](context.model, images, **params)
        if registry.METHODS[name].lower_is_important:  # scores under perturbation: show the drop, bright = important
            found = found.max(axis=(1, 2), keepdims=True) - found
        maps[title] = found
        print(f"  {title}: {time.perf_counter() - start:.1f} s", flush=True)
    regions = {settings[name][0] for name in ATTRIBUTION_METHODS if registry.METHODS[name].shown_as_regions}
    labels = [context.label(p.argmax(), p) for p in context.probabilities[chosen]]
    figure = kerasviz.image.comparison_figure(context.display(images, ATTRIBUTION_TILE), maps, labels=labels,
                                    regions=regions)
    title = (f"{context.model_name}: where each method finds the evidence for the predicted class (above each "
             f"photo); Grad-CAM at {layer}")
    return save(context, "attributions", kerasviz.image.titled(figure, title))


def class_visualizations_figure(context):
    """Eight classes, one image each, titled with the class and the model's probability of it on the image."""
    import kerasviz

    steps = 4 if context.quick else 256
    print(f"Classes: {', '.join(context.label(k) for k in CLASSES)}; {steps} steps (the default recipe: "
          "Fourier parameterization, decorrelated colours, random transforms, Adam)", flush=True)
    result = kerasviz.class_visualization(context.model, list(CLASSES), steps=steps,
                                          value_range=context.value_range, verbose=1)
    p = probabilities(context.model, result.image)
    titles = [context.label(k, p[i]) for i, k in enumerate(CLASSES)]
    print("  p(class) on its image: " + ", ".join(titles))
    grid = kerasviz.image.tile(context.display(result.image, GRID_TILE), cols=4, pad=4, titles=titles)
    title = (f"{context.model_name}: the image each class asks for (class visualization, {steps} steps), "
             "titled with the model's probability of that class on it")
    return save(context, "class_visualizations", kerasviz.image.titled(grid, title))


def feature_visualization_figure(context):
    """Eight channels of the default layer, then four facets of the most excited of them."""
    import numpy as np

    import kerasviz

    steps = 4 if context.quick else 256
    result = kerasviz.feature_visualization(context.model, channels=8, steps=steps, value_range=context.value_range,
                                            verbose=1)
    print(f"Layer (the default: the middle rectified block of the second-deepest stage): {result.layer}; "
          f"{steps} steps; channel objectives " + ", ".join(f"{c}: {v:.3g}" for c, v in
                                                           zip(result.channels, result.objectives)), flush=True)
    channel = int(result.channels[int(np.argmax(result.objectives))])
    facets = kerasviz.feature_visualization(context.model, result.layer, channels=[channel], images_per_channel=4,
                                            steps=steps, value_range=context.value_range, verbose=1)
    print(f"Facets of channel {channel} (the most excited of the eight): objectives "
          + ", ".join(f"{v:.3g}" for v in facets.objectives), flush=True)
    top = kerasviz.image.tile(context.display(result.images, FEATURE_TILE), cols=4, pad=4,
                              titles=[f"channel {c}" for c in result.channels])
    bottom = kerasviz.image.tile(context.display(facets.images, FEATURE_TILE), cols=4, pad=4,
                                 titles=[f"channel {channel}, facet {k + 1}" for k in range(len(facets.images))])
    figure = stack([kerasviz.image.titled(top, f"{context.model_name}, layer {result.layer}: the image that excites "
                                          f"each channel most (feature visualization, {steps} steps)"),
                    kerasviz.image.titled(bottom, f"Four facets of channel {channel}: four images pushed apart by "
                                          "the diversity term")], pad=12)
    return save(context, "feature_visualization", figure)


def deep_dream_figure(context):
    """Two photos and their dreams at the default layer."""
    import numpy as np

    import kerasviz
    from kerasviz.art import deepdream

    chosen = context.pick(DREAM_PHOTOS, 2)
    photos = context.photos[chosen]
    layers = deepdream.default_dream_layers(context.model, photos.shape[1:])
    settings = {"octaves": 2, "steps_per_octave": 3} if context.quick else {}
    print(f"Photos: {', '.join(context.photo_names[k] for k in chosen)}; layer (the default): "
          f"{', '.join(layers)}", flush=True)
    dreams = kerasviz.deep_dream(context.model, photos, value_range=context.value_range, **settings)
    print(f"  {dreams.steps} steps; objective {dreams.losses[0]:.3g} -> {dreams.losses[-1]:.3g}")
    cells, titles = [], []
    for k, index in enumerate(chosen):
        cells += [photos[k], dreams.image[k]]
        titles += [context.photo_names[index], f"{context.photo_names[index]}, dreamt"]
    grid = kerasviz.image.tile(context.display(np.stack(cells), GRID_TILE), cols=4, pad=4, titles=titles)
    title = (f"{context.model_name}: DeepDream at {', '.join(layers)} "
             f"({settings.get('octaves', 4)} octaves), what the layer sees amplified")
    return save(context, "deep_dream", kerasviz.image.titled(grid, title))


def crops(context):
    """Crops of every photo at the model's input size: the centre crop the model sees and, unless `--quick`,
    six more of 0.65 its side (at the left, centre and right; top and bottom of the file).

    Returns `(images [N, H, W, C] in the model's input space, photo index [N], crop box in the file's pixels
    (left, top, width, height) [N, 4])`. Seven photos alone give top patches from seven images; the crops show
    each object at a second scale and position, so a channel's strongest patches come from more places
    (`distinct` then drops the repeats of one spot across crops).
    """
    import numpy as np
    from PIL import Image

    from kerasviz import files, inputs

    height, width = context.photos.shape[1:3]
    units, owners, boxes = [], [], []
    for index, path in enumerate(context.photo_paths.values()):
        with Image.open(path) as picture:
            picture = picture.convert("RGB")
            w, h = picture.size
            scale = min(w / width, h / height)  # the centre crop of the model's aspect ratio, as load_images cuts
            crop_w, crop_h = min(w, round(width * scale)), min(h, round(height * scale))
            found = [((w - crop_w) // 2, (h - crop_h) // 2, crop_w, crop_h)]
            if not context.quick:
                small_w, small_h = round(0.65 * crop_w), round(0.65 * crop_h)
                found += [(round(fx * (w - small_w)), round(fy * (h - small_h)), small_w, small_h)
                          for fx in (0.0, 0.5, 1.0) for fy in (0.0, 1.0)]
            for left, top, cw, ch in found:
                cut = files.fit_picture(picture.crop((left, top, left + cw, top + ch)), (height, width))
                units.append(np.asarray(cut, np.float32) / 255.0)
                owners.append(index)
                boxes.append((left, top, cw, ch))
    units = np.stack(units)
    resolved = inputs.check_value_range(context.value_range, 3)
    units = units[..., ::-1] if resolved.bgr else units
    images = (resolved.low + units * (resolved.high - resolved.low)).astype(np.float32)
    return images, np.asarray(owners), np.asarray(boxes, np.float64)


def distinct(result, owners, boxes, image_size, k):
    """The indices of the `k` strongest patches of distinct spots in a one-channel `TopPatches`, strongest first.

    Patches whose receptive field reaches over the image's border (partly padding, drawn grey) are left out.
    A patch repeats a stronger one of the same photo when they share more than 40% of the smaller one's
    area in the file's pixels (through the crops they came from): the same spot in another crop, or at a
    neighbouring position of the layer.
    """
    height, width = image_size
    kept = []
    for j in range(result.scores.shape[1]):
        image = int(result.image_index[0, j])
        left, top, cw, ch = boxes[image]
        t, l, b, r = result.boxes[0, j]
        if (b - t, r - l) != tuple(result.receptive_field.size):  # cut by the border: partly padding
            continue
        box = (left + l * cw / width, top + t * ch / height, left + r * cw / width, top + b * ch / height)
        if not any(owners[image] == owner and _overlap(box, seen) > 0.4 for owner, seen, _ in kept):
            kept.append((owners[image], box, j))
        if len(kept) == k:
            break
    return [j for _, _, j in kept]


def _overlap(a, b):
    """The intersection of boxes `(x0, y0, x1, y1)` over the smaller one's area."""
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / max(1e-9, min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])))


def ranked_channels(context, images, owners, layer, field):
    """The selective channels of `layer` that respond to structure, most selective first: `[(channel, photo)]`.

    Selectivity is the ratio of a channel's 16th-strongest activation (at positions whose receptive field lies
    inside the image) to its mean. A channel whose 16 strongest patches are flat (median grey contrast below
    `FLAT` of the range: plain sky or wall, whose row would be blank squares) is left out. `photo` is the
    photo of its strongest activation.
    """
    import numpy as np

    import kerasviz

    shape = tuple(kerasviz.models.get_layer(context.model, layer)[1].output.shape[1:])
    maps = kerasviz.features(context.model, images, layer, pool=None, batch_size=8).reshape((len(images),) + shape)
    height, width = images.shape[1:3]
    starts = np.asarray([[field.start(i, j) for j in range(shape[1])] for i in range(shape[0])])  # [h, w, 2]
    inside = ((starts >= 0).all(-1) & (starts[..., 0] + field.size[0] <= height)
              & (starts[..., 1] + field.size[1] <= width))
    maps, starts = maps[:, inside], starts[inside]  # [N, positions inside, C], [positions inside, 2]
    flat = maps.reshape(-1, shape[-1])
    strong = np.sort(flat, axis=0)[-min(16, len(flat))]
    ratio = strong / np.maximum(flat.mean(axis=0), 1e-6)
    grey = context.display(images).mean(axis=-1)
    ranked = []
    for c in np.argsort(-ratio):
        if strong[c] <= 0:
            break
        best = np.argsort(maps[..., c], axis=None)[::-1][:16]
        contrast = np.median([grey[n, t:t + field.size[0], l:l + field.size[1]].std() for n, (t, l) in
                              zip(best // maps.shape[1], starts[best % maps.shape[1]])])
        if contrast >= FLAT:
            ranked.append((int(c), int(owners[best[0] // maps.shape[1]])))
    return ranked


def patches_layer(model, image_shape):
    """The middle rectified layer of the middle resolution stage: mid-level parts and textures.

    Stages are the distinct spatial sizes of the rectified layers' outputs (`kerasviz.models.has_rectifier`);
    on EfficientNet-Lite3 the stride-8 stage, `depthwise_conv_2d_19_act`, receptive field 75 px of 280. The
    library's own default (`kerasviz.models.default_layer(model, "patches")`: the deepest layer whose receptive
    field fits in half the image, `conv_2d_29_act`, 123 px) gives patches of whole object parts, too few of
    them distinct in seven photos. Falls back to that default when no layer ends in a rectifier.
    """
    from kerasviz import models

    stages = {}
    for path, layer in models.iter_layers(model):
        try:
            shape = tuple(layer.output.shape) if models.has_rectifier(layer) else ()
        except (AttributeError, ValueError):  # a layer called more than once, or not built
            continue
        if len(shape) == 4 and shape[1] is not None:
            stages.setdefault(shape[1], []).append(path)
    if not stages:
        return models.default_layer(model, "patches", image_shape)
    stage = stages[sorted(stages, reverse=True)[len(stages) // 2]]
    return stage[(len(stage) - 1) // 2]


def top_patches_figure(context):
    """A row per channel of a middle layer: its strongest patches over the photos and their crops, one per spot.

    Channels: the most selective ones with structure (`ranked_channels`), each peaking on another photo
    while photos are left, and with `PATCHES` distinct patches inside the images.
    """
    import collections

    import kerasviz

    images, owners, boxes = crops(context)
    layer = context.args.patches_layer or patches_layer(context.model, images.shape[1:])
    said = "" if context.args.patches_layer else " (the middle rectified layer of the middle resolution stage)"
    field = kerasviz.receptive_field(context.model, layer)
    print(f"Layer{said}: {layer}, receptive field {field.size[0]} px, stride {field.stride[0]}; {len(images)} "
          f"images: the {len(context.photo_paths)} photos{'' if context.quick else ' and six crops of each'}",
          flush=True)
    rows, photos, shown = [], set(), []
    for channel, photo in ranked_channels(context, images, owners, layer, field):
        if photo in photos and len(photos) < len(context.photo_paths):
            continue
        # One channel at a time: many candidates (neighbouring positions and crops repeat a spot), memory for one.
        one = kerasviz.top_patches(context.model, images, layer, channels=[channel], k=PATCH_CANDIDATES,
                                   batch_size=8)
        kept = distinct(one, owners, boxes, images.shape[1:3], PATCHES)
        if len(kept) < PATCHES:  # its strongest spots reach over the border
            continue
        cells = context.display(one.patches[0][kept], PATCH_TILE)  # whole receptive fields only
        counts = collections.Counter(context.photo_names[owners[one.image_index[0, j]]] for j in kept)
        where = ", ".join(f"{name} x{n}" if n > 1 else name for name, n in counts.most_common())
        rows.append(kerasviz.image.titled(kerasviz.image.tile(cells, cols=len(cells), pad=4),
                                          f"channel {channel}: {where}"))
        photos.add(photo)
        shown.append(f"{channel} (peak on {context.photo_names[photo]})")
        if len(rows) == PATCH_CHANNELS:
            break
    print(f"Channels (selective, with structure, each peaking on another photo): {', '.join(shown)}", flush=True)
    figure = kerasviz.image.titled(stack(rows, pad=8), (
        f"{context.model_name}, layer {layer}: the {PATCHES} strongest patches of {len(rows)} channels "
        f"(receptive field {field.size[0]} px) over the photos and crops of them, one per spot"))
    return save(context, "top_patches", figure)


MAKERS = {
    "attributions": attributions_figure,
    "class_visualizations": class_visualizations_figure,
    "feature_visualization": feature_visualization_figure,
    "deep_dream": deep_dream_figure,
    "top_patches": top_patches_figure,
}


if __name__ == "__main__":
    main()
