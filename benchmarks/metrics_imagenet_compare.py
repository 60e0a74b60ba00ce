"""Every metric of `kerasviz.metrics.METRICS` for every registered method on the ImageNet model, on real photos.

EfficientNet-Lite3 of `../shared/imagenet` (raw 0-255 input), photos centre-cropped and resized to 280 x 280.
Methods run with small settings (below) so that the whole table fits a CPU; each metric with its defaults.
Prints the table and the seconds each metric took summed over methods.

    python benchmarks/metrics_imagenet_compare.py [--photos dog.jpg eagle.jpg] [--metrics ...] [--methods ...]
"""

import argparse
import functools
import json
import os
import time

import keras
import numpy as np
from PIL import Image

import kerasviz
from kerasviz import registry
from kerasviz.metrics import catalog

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "imagenet")
SMALL = {
    "smoothgrad": {"samples": 8}, "smoothgrad_squared": {"samples": 8}, "vargrad": {"samples": 8},
    "integrated_gradients": {"steps": 16}, "blur_integrated_gradients": {"steps": 16},
    "expected_gradients": {"samples": 8}, "guided_integrated_gradients": {"steps": 16},
    "occlusion": {"patch": 56, "stride": 28}, "score_cam": {"max_channels": 32},
    "rise": {"masks": 256}, "lime": {"samples": 128}, "kernel_shap": {"samples": 128}, "xrai": {"steps": 16},
}


def photo(name, size=280):
    with Image.open(os.path.join(FOLDER, "photos", name)) as image:
        image = image.convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
        return np.asarray(image, np.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", nargs="+", default=["dog.jpg"])
    parser.add_argument("--methods", nargs="+", default=list(registry.METHODS))
    parser.add_argument("--metrics", nargs="+", default=[k for k, m in catalog.METRICS.items() if not m.needs_masks])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    model = keras.models.load_model(os.path.join(FOLDER, "efficientnet_lite3.keras"), compile=False)
    images = np.stack([photo(p) for p in args.photos])
    seconds = {}
    values = {}
    for name in args.methods:
        params = SMALL.get(name, {})
        record = registry.get(name)
        method = functools.partial(record.function, **params)  # as `compare` binds it
        classes = np.argmax(model.predict(images, verbose=0), axis=-1).astype(np.int32)
        start = time.perf_counter()
        maps = method(model, images, classes, batch_size=args.batch_size)
        seconds[(name, "maps")] = time.perf_counter() - start
        for metric in args.metrics:
            start = time.perf_counter()
            try:
                out = catalog.run_metrics(model, images, record, method, maps, classes, [metric], params=params,
                                          batch_size=args.batch_size, seed=0)[metric]
                values[(name, metric)] = float(np.nanmean(out)) if np.isfinite(out).any() else float("nan")
            except Exception as error:  # reported in the table, the run goes on
                values[(name, metric)] = f"{type(error).__name__}: {error}"[:80]
            seconds[(name, metric)] = time.perf_counter() - start
            value = values[(name, metric)]
            shown = f"{value:12.4g}" if isinstance(value, float) else value
            print(f"{name:28s} {metric:26s} {shown} {seconds[(name, metric)]:7.1f} s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"values": {f"{a}|{b}": v for (a, b), v in values.items()},
                       "seconds": {f"{a}|{b}": v for (a, b), v in seconds.items()}, "photos": args.photos,
                       "small": SMALL, "batch_size": args.batch_size}, f, indent=1)


if __name__ == "__main__":
    main()
