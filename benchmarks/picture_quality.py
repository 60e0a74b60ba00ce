"""Picture quality without a person: class and feature visualization and DeepDream on a real ImageNet network.

The pictures people come for are judged here by numbers a person's eye
agrees with, on any Keras ImageNet classifier (default: the EfficientNet-Lite3
of `../shared/imagenet`, raw 0-255 input), with the library's defaults in the
model's own value range:

- **class visualization** of ten classes (animals, objects, scenes), one
  image each: p(target), the softmax probability of the class on the image
  itself; **held-out p(target)**, its mean over transforms the optimization
  never saw (a horizontal flip, a 1.25x centre zoom, a half-resolution round
  trip, a 1.15x off-centre zoom of the flipped image): a natural picture
  survives them, an adversarial pattern does not; **contrast**, the RMS
  contrast of the grey image in units of the value range (a flat grey square
  is near 0, photos about 0.2); **high-frequency share**, the share of
  spectral energy above half the Nyquist frequency (photos: a few percent).
- **feature visualization** of the default layer's first channels: the
  channel's mean activation (after the layer's rectifier) on its image, the
  share of channels that fire (> 0), contrast, high-frequency share;
- **facets**: four images of one channel without and with the default
  diversity term, and how alike they are: the mean pairwise cosine of their
  Gram matrices at the layer and at an earlier layer the objective does not
  read (1: the same picture; pixel distances say little of textures whose
  phase is random anyway).
- **DeepDream** of a photo at the defaults: the RMS change in grey levels of
  255, the layer objective's gain, and the high-frequency share.

Each part writes its pictures to `--out` (PNG) to be looked at.

Usage:
    python benchmarks/picture_quality.py                       # every part, the defaults
    python benchmarks/picture_quality.py --parts class --set parameterization=None
    python benchmarks/picture_quality.py --model my_imagenet_model.keras --value-range 0 255
"""

import argparse
import ast
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

import kerasviz  # noqa: E402
import kerasviz.art.deepdream  # noqa: E402
import kerasviz.gradients.feature_visualization  # noqa: E402
import kerasviz.gradients.synthesis  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGENET = os.path.join(HERE, "..", "..", "shared", "imagenet")
# Bald eagle, zebra, goldfish, flamingo (the four), lion, monarch, balloon, lighthouse, strawberry, volcano.
CLASSES = (22, 340, 1, 130, 291, 323, 417, 437, 949, 980)


def high_frequency_share(units):
    """Mean share of spectral energy above half the Nyquist frequency, per grey image (mean removed)."""
    grey = units.mean(axis=-1)
    grey = grey - grey.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(grey)) ** 2
    fy = np.fft.fftfreq(grey.shape[1])[:, None]
    fx = np.fft.fftfreq(grey.shape[2])[None, :]
    high = np.sqrt(fx**2 + fy**2) > 0.25
    return power[:, high].sum(axis=1) / np.maximum(power.sum(axis=(1, 2)), 1e-12)


def contrast(units):
    """RMS contrast per image: the standard deviation of the grey image, in units of the value range."""
    return units.mean(axis=-1).std(axis=(1, 2))


def _zoom(images, factor, dy=0.0, dx=0.0):
    """A crop of `1 / factor` of each side (offset by `dy`, `dx` of the side), resized back."""
    height, width = images.shape[1:3]
    h, w = int(round(height / factor)), int(round(width / factor))
    top = int(round((height - h) / 2 + dy * height))
    left = int(round((width - w) / 2 + dx * width))
    crop = images[:, top:top + h, left:left + w]
    return tf.image.resize(crop, (height, width), method="bicubic").numpy()


HELD_OUT = {
    "flip": lambda x: x[:, :, ::-1],
    "zoom 1.25": lambda x: _zoom(x, 1.25),
    "half resolution": lambda x: tf.image.resize(
        tf.image.resize(x, [d // 2 for d in x.shape[1:3]], antialias=True), x.shape[1:3], method="bicubic").numpy(),
    "flip + zoom 1.15 off-centre": lambda x: _zoom(x[:, :, ::-1], 1.15, 0.04, -0.04),
}


def probabilities(model, images):
    outputs = model.predict(images, verbose=0, batch_size=16)
    if kerasviz.models.output_activation(model) is None:  # logits
        outputs = kerasviz.models.probabilities(outputs, None).numpy()
    return np.asarray(outputs, np.float64)


def class_quality(model, images, classes, low, high):
    """Per image: p(target), held-out p(target) (mean over `HELD_OUT`), contrast, high-frequency share."""
    rows = np.arange(len(classes))
    p = probabilities(model, images)[rows, classes]
    held = []
    for transform in HELD_OUT.values():
        changed = np.clip(transform(images), low, high)
        held.append(probabilities(model, changed)[rows, classes])
    units = (images - low) / (high - low)
    return {"p": p, "held-out p": np.mean(held, axis=0), "worst held-out p": np.min(held, axis=0),
            "contrast": contrast(units), "high-freq": high_frequency_share(units)}


def _labels(path):
    with open(path) as f:
        return [line.strip().split(",")[0] for line in f]


def _save(path, picture):
    Image.fromarray(np.clip(np.round(picture * 255), 0, 255).astype(np.uint8)).save(path)
    print(f"  wrote {path}")


def _print_table(title, names, quality):
    print(f"\n{title}")
    keys = list(quality)
    print(f"  {'':16s}" + "".join(f"{k:>18s}" for k in keys))
    for i, name in enumerate(names):
        print(f"  {name[:16]:16s}" + "".join(f"{quality[k][i]:18.3f}" for k in keys))
    print(f"  {'mean':16s}" + "".join(f"{np.mean(quality[k]):18.3f}" for k in keys))


def part_class(model, args, value_range, names, settings):
    low, high = value_range
    start = time.perf_counter()
    result = kerasviz.class_visualization(model, list(args.classes), value_range=value_range, seed=args.seed,
                                          verbose=args.verbose, **settings)
    seconds = time.perf_counter() - start
    quality = class_quality(model, result.image, np.asarray(args.classes), low, high)
    _print_table(f"class visualization ({seconds:.0f} s, {result.steps} steps, settings {settings or 'defaults'})",
                 [names[c] for c in args.classes], quality)
    display = kerasviz.image.to_display(result.image, value_range)
    titles = [f"{names[c]}\np={p:.2f} held-out {h:.2f}" for c, p, h in
              zip(args.classes, quality["p"], quality["held-out p"])]
    _save(os.path.join(args.out, "class_visualization.png"), kerasviz.image.tile(display, cols=5, titles=titles))
    return quality


def part_features(model, args, value_range, settings):
    start = time.perf_counter()
    result = kerasviz.feature_visualization(model, channels=args.channels, value_range=value_range, seed=args.seed,
                                            verbose=args.verbose, **settings)
    seconds = time.perf_counter() - start
    units = (result.images - value_range[0]) / (value_range[1] - value_range[0])
    alive = float(np.mean(result.objectives > 0))
    print(f"\nfeature visualization of {result.layer!r} ({seconds:.0f} s, {len(result.channels)} channels, "
          f"settings {settings or 'defaults'}):")
    print(f"  channels firing {alive:.2f}; mean activation {np.mean(result.objectives):.3f} "
          f"(min {np.min(result.objectives):.3f}); contrast {np.mean(contrast(units)):.3f}; "
          f"high-frequency share {np.mean(high_frequency_share(units)):.3f}")
    _save(os.path.join(args.out, "feature_visualization.png"), result.grid)
    return result


def gram_similarity(model, images, path):
    """Mean pairwise cosine similarity of the images' Gram matrices at `path` (1: the same style)."""
    activations = kerasviz.models.run_layers(model, tf.constant(images), (path,))[path].numpy()
    flat = activations.reshape(len(images), -1, activations.shape[-1])
    grams = np.einsum("bpi,bpj->bij", flat, flat).reshape(len(images), -1)
    grams /= np.linalg.norm(grams, axis=1, keepdims=True)
    cosines = grams @ grams.T
    return float((cosines.sum() - np.trace(cosines)) / (len(images) * (len(images) - 1)))


def part_facets(model, args, value_range, settings):
    """Four images of one channel without and with the default diversity: how alike they are."""
    settings = dict(settings)
    layer = settings.pop("layer", None) or kerasviz.gradients.feature_visualization.default_layer(model)
    probe = kerasviz.models.default_layers(model, "style")[2]  # an earlier layer the objective does not read
    for weight in (0.0, None):
        extra = {} if weight is None else {"diversity": weight}
        facets = kerasviz.feature_visualization(model, layer, channels=[args.facet_channel], images_per_channel=4,
                                                value_range=value_range, seed=args.seed, **{**settings, **extra})
        print(f"\nfour facets of {layer!r} channel {args.facet_channel}, diversity "
              f"{'default' if weight is None else weight}: activation {np.mean(facets.objectives):.3f}; mean pairwise "
              f"Gram cosine {gram_similarity(model, facets.images, layer):.3f} at the layer, "
              f"{gram_similarity(model, facets.images, probe):.3f} at {probe!r} (1: the same picture)")
        _save(os.path.join(args.out, f"facets_{'plain' if weight == 0 else 'diverse'}.png"), facets.grid)


def part_dream(model, args, value_range, settings):
    low, high = value_range
    photo = load_photo(os.path.join(IMAGENET, "photos", args.photo), model, value_range)
    start = time.perf_counter()
    result = kerasviz.deep_dream(model, photo, value_range=value_range, seed=args.seed, verbose=args.verbose,
                                 **settings)
    seconds = time.perf_counter() - start
    change = (result.image - photo) / (high - low) * 255.0
    layers = settings.get("layers") or kerasviz.art.deepdream.default_dream_layers(model, photo.shape[1:])
    layers = [layers] if isinstance(layers, str) else layers
    objective = sum((kerasviz.targets.LayerL2(layer) for layer in layers), 0)
    values = [kerasviz.gradients.synthesis.objective_values(model, objective, x) for x in (photo, result.image)]
    units = (result.image - low) / (high - low)
    print(f"\nDeepDream of {args.photo} ({seconds:.0f} s, {result.steps} steps, settings {settings or 'defaults'}): "
          f"RMS change {np.sqrt(np.mean(change**2)):.1f} grey levels of 255; objective "
          f"{float(values[0][0]):.3f} -> {float(values[1][0]):.3f}; high-frequency share "
          f"{float(high_frequency_share((photo - low) / (high - low))[0]):.3f} -> "
          f"{float(high_frequency_share(units)[0]):.3f}")
    _save(os.path.join(args.out, "deep_dream.png"),
          kerasviz.image.tile(kerasviz.image.to_display(np.concatenate([photo, result.image]), value_range), cols=2))
    return result


def load_photo(path, model, value_range):
    """A photo as the model sees it: the centre square crop resized to its input size (bicubic), in its range."""
    size = model.inputs[0].shape[1:3]
    with Image.open(path) as image:
        image = image.convert("RGB")
        side = min(image.size)
        left, top = (image.size[0] - side) // 2, (image.size[1] - side) // 2
        image = image.crop((left, top, left + side, top + side)).resize((size[1], size[0]), Image.BICUBIC)
        unit = np.asarray(image, np.float32) / 255.0
    return (value_range[0] + unit * (value_range[1] - value_range[0]))[None].astype(np.float32)


def _settings(pairs):
    settings = {}
    for pair in pairs or ():
        key, _, value = pair.partition("=")
        try:
            settings[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            settings[key] = value
    return settings


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join(IMAGENET, "efficientnet_lite3.keras"))
    parser.add_argument("--labels", default=os.path.join(IMAGENET, "imagenet_labels.txt"))
    parser.add_argument("--value-range", type=float, nargs=2, default=(0.0, 255.0))
    parser.add_argument("--parts", nargs="+", default=["class", "features", "facets", "dream"],
                        choices=["class", "features", "facets", "dream"])
    parser.add_argument("--classes", type=int, nargs="+", default=CLASSES)
    parser.add_argument("--channels", type=int, default=8, help="feature visualization: the first N channels")
    parser.add_argument("--facet-channel", type=int, default=0, help="facets: the channel")
    parser.add_argument("--photo", default="dog.jpg", help="DeepDream: a photo of ../shared/imagenet/photos")
    parser.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="settings passed to the recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--out", default="picture-quality")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    model = keras.models.load_model(args.model, compile=False)
    value_range = tuple(args.value_range)
    settings = _settings(args.set)
    print(f"model {model.name!r} ({args.model}), value range {value_range}, kerasviz at "
          f"{os.popen('git -C ' + HERE + ' rev-parse --short HEAD').read().strip()}")
    if "class" in args.parts:
        part_class(model, args, value_range, _labels(args.labels), settings)
    if "features" in args.parts:
        part_features(model, args, value_range, settings)
    if "facets" in args.parts:
        part_facets(model, args, value_range, settings)
    if "dream" in args.parts:
        part_dream(model, args, value_range, settings)


if __name__ == "__main__":
    main()
