"""Every metric of `kerasviz.metrics.METRICS` for every registered method on the ImageNet model, on real photos.

EfficientNet-Lite3 of `../shared/imagenet` (raw 0-255 input), photos centre-cropped and resized to 280 x 280.
Methods run with small settings (below) so that the whole table fits a CPU; each metric with its defaults.
Prints the table and the seconds each metric took summed over methods.

The localisation metrics read a box drawn by hand around the object of each photo (`BOXES`, the boxes of
`examples/imagenet_lrp.py`). The cascading randomisation tests (`randomization`, `smooth_mprt`) randomise the
`--randomize-top` weighted layers nearest the output (default 6; the full cascade is some 150 layers, one
call of the method each, hours per method on a CPU). `--json` is also read back: cells already in it are
kept and not recomputed, so an interrupted run continues.

The moving metrics (noise, translations, imputation) clip the images they build into the model's range
(`value_range=(0, 255)`), as `compare(value_range=...)` does.

    python benchmarks/metrics_imagenet_compare.py [--photos dog.jpg eagle.jpg giraffe.jpg] [--metrics ...] [--methods ...]
"""

import argparse
import functools
import json
import os
import time

import keras
import numpy as np
from PIL import Image

from kerasviz import registry
from kerasviz.cli.microscope import augmented
from kerasviz.metrics import catalog, randomisation, sanity

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "imagenet")
SMALL = {
    "smoothgrad": {"samples": 8}, "smoothgrad_squared": {"samples": 8}, "vargrad": {"samples": 8},
    "integrated_gradients": {"steps": 16}, "blur_integrated_gradients": {"steps": 16},
    "expected_gradients": {"samples": 8}, "guided_integrated_gradients": {"steps": 16},
    "occlusion": {"patch": 56, "stride": 28}, "score_cam": {"max_channels": 32},
    "rise": {"masks": 256}, "lime": {"samples": 128}, "kernel_shap": {"samples": 128}, "xrai": {"steps": 16},
    "gradient_shap": {"samples": 8, "value_range": (0, 255)}, "deeplift_shap": {"samples": 8},
    "layer_integrated_gradients": {"steps": 16}, "layer_conductance": {"steps": 16}, "neuron_conductance": {"steps": 16},
    "lrp": {"value_range": (0, 255)},
}
# Methods that draw reference images get the photos not explained (`references=None` would draw the photo itself),
# or the photos mirrored left-right when every photo is explained.
WITH_REFERENCES = ("expected_gradients", "gradient_shap", "deeplift_shap")

# (top, left, bottom, right) in pixels of the 280 x 280 centre crop, around the predicted object.
BOXES = {"dog.jpg": (100, 10, 270, 110), "eagle.jpg": (40, 10, 250, 255), "giraffe.jpg": (110, 130, 240, 240)}


def box_masks(photos, size=280):
    masks = np.zeros((len(photos), size, size), bool)
    for mask, name in zip(masks, photos):
        top, left, bottom, right = BOXES[name]
        mask[top:bottom, left:right] = True
    return masks


VALUE_RANGE = (0, 255)  # the model's input: raw 0-255 pixels


def randomised_top(model, images, record, method, maps, classes, metric, top, params, batch_size):
    """`randomization` or `smooth_mprt` cascading over the `top` weighted layers nearest the output."""
    layers = sanity._layers_to_randomize(model, None)[:top]
    if metric == "randomization":
        result = sanity.sanity_check(model, images, method, classes, layers=layers, seed=0, batch_size=batch_size)
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(result.correlations)
            return np.where(valid, result.correlations, 0).sum(0) / valid.sum(0)
    run = catalog.MethodRun(model, images, method, maps, catalog.pixel_maps(record, maps, images.shape[1:3], params),
                            classes, None, batch_size, 0, record, params)
    return randomisation.smooth_mprt(model, images, catalog._pixel_method(run), classes, layers=layers, seed=0,
                                     batch_size=batch_size, value_range=VALUE_RANGE)


def photo(name, size=280):
    with Image.open(os.path.join(FOLDER, "photos", name)) as image:
        image = image.convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
        return np.asarray(image, np.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", nargs="+", default=sorted(BOXES))
    parser.add_argument("--methods", nargs="+", default=list(registry.METHODS))
    parser.add_argument("--metrics", nargs="+", default=list(catalog.METRICS))
    parser.add_argument("--randomize-top", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", default=None)
    parser.add_argument("--augment", action="store_true",
                        help="also each photo flipped and cropped twice (`kerasviz microscope --augment`): several "
                             "views of one class, for the metrics that compare the maps of a batch (no boxes then)")
    args = parser.parse_args()
    model = keras.models.load_model(os.path.join(FOLDER, "efficientnet_lite3.keras"), compile=False)
    images = np.stack([photo(p) for p in args.photos])
    if args.augment:
        images = np.stack([view for image in images for view in augmented(image)])
    seconds, values = {}, {}
    if args.json and os.path.exists(args.json):
        with open(args.json) as f:
            done = json.load(f)
        values = {tuple(k.split("|")): v for k, v in done["values"].items()}
        seconds = {tuple(k.split("|")): v for k, v in done["seconds"].items()}
    masks = box_masks(args.photos) if all(p in BOXES for p in args.photos) and not args.augment else None
    others = [photo(p) for p in sorted(os.listdir(os.path.join(FOLDER, "photos"))) if p not in args.photos]
    others = np.stack(others) if others else images[:, :, ::-1]  # every photo explained: their mirror images
    for name in args.methods:
        params = dict(SMALL.get(name, {}), **({"references": others} if name in WITH_REFERENCES else {}))
        record = registry.get(name)
        method = functools.partial(record.function, **params)  # as `compare` binds it
        classes = np.argmax(model.predict(images, verbose=0), axis=-1).astype(np.int32)
        todo = [metric for metric in args.metrics if (name, metric) not in values]
        if not todo:
            continue
        start = time.perf_counter()
        maps = method(model, images, classes, batch_size=args.batch_size)
        seconds[(name, "maps")] = time.perf_counter() - start
        for metric in todo:
            start = time.perf_counter()
            try:
                if metric in ("randomization", "smooth_mprt"):
                    out = randomised_top(model, images, record, method, maps, classes, metric, args.randomize_top,
                                         params, args.batch_size)
                else:
                    out = catalog.run_metrics(model, images, record, method, maps, classes, [metric], params=params,
                                              masks=masks, batch_size=args.batch_size, seed=0,
                                              value_range=VALUE_RANGE)[metric]
                values[(name, metric)] = float(np.nanmean(out)) if np.isfinite(out).any() else float("nan")
            except Exception as error:  # reported in the table, the run goes on
                values[(name, metric)] = f"{type(error).__name__}: {error}"[:80]
            seconds[(name, metric)] = time.perf_counter() - start
            value = values[(name, metric)]
            shown = f"{value:12.4g}" if isinstance(value, float) else value
            print(f"{name:28s} {metric:26s} {shown} {seconds[(name, metric)]:7.1f} s", flush=True)
            if args.json:
                save(args, values, seconds)


def save(args, values, seconds):
    with open(args.json, "w") as f:
        json.dump({"values": {f"{a}|{b}": v for (a, b), v in values.items()},
                   "seconds": {f"{a}|{b}": v for (a, b), v in seconds.items()}, "photos": args.photos,
                   "small": SMALL, "batch_size": args.batch_size, "randomize_top": args.randomize_top}, f, indent=1)


if __name__ == "__main__":
    main()
