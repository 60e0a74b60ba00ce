"""Every metric of `kerasviz.metrics.METRICS`: its time as a ratio to the passes its record says it needs.

For each metric, on saliency maps of the images, the time of `run_metrics` is compared with what its
`MetricCost` (per image, default parameters) would take at the model's limit:

    nominal = forward * t_forward + method * t_method + per_layer * layers * t_method

`t_forward` is a compiled forward pass per image at batch 32 (`benchmarks/attributions.py`'s limit),
`t_method` the time per image of the method itself (saliency: one forward+backward) and `layers` the
layers with weights (the cascading randomisation tests). A ratio of 1.0 means the metric costs exactly its
passes; metrics that cost nothing (on the map) report their time alone. Times are medians of `--repeats`
runs after one warm-up (tracing excluded); the machine is shared, read them as indications.

Models: `shapes` (the demo ConvNet, 64 x 64, images from `load_shapes` with their masks) and `imagenet`
(EfficientNet-Lite3 of `../shared/imagenet`, raw 0-255 input, 280 x 280, the photos). The metrics get the
model's input range (`value_range`: (0, 1) and (0, 255)), as a user's `compare` call would.

    python benchmarks/metrics.py --models shapes --images 8
    python benchmarks/metrics.py --models imagenet --images 2 --only road_morf average_drop
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasviz import demo, models, registry  # noqa: E402
from kerasviz.metrics import catalog, sanity  # noqa: E402

from attributions import BATCH, model_limits  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGENET = os.path.join(HERE, "..", "..", "shared", "imagenet")
RANGES = {"shapes": (0.0, 1.0), "imagenet": (0.0, 255.0)}  # each model's input range


def shapes(n):
    model = demo.demo_model("shapes")
    test = demo.demo_data("shapes")[1]
    return model, test.images[:n], test.masks[:n]


def imagenet(n):
    from metrics_imagenet_compare import photo

    model = keras.models.load_model(os.path.join(IMAGENET, "efficientnet_lite3.keras"), compile=False)
    names = sorted(os.listdir(os.path.join(IMAGENET, "photos")))[:n]
    images = np.stack([photo(name) for name in names])
    masks = np.zeros(images.shape[:3], bool)  # no masks: a centred box stands in (cost only)
    masks[:, 70:210, 70:210] = True
    return model, images, masks


def median(function, repeats):
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["shapes", "imagenet"])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", nargs="+", default=None)
    args = parser.parse_args()
    record = registry.get("saliency")
    method = record.function
    for name in args.models:
        model, images, masks = (shapes if name == "shapes" else imagenet)(args.images)
        n = len(images)
        limit = model_limits(model, np.concatenate([images] * (-(-BATCH // n)))[:BATCH])["forward"]
        t_forward = median(limit, max(3, args.repeats)) / BATCH
        classes = np.argmax(model.predict(images, verbose=0), axis=-1).astype(np.int32)
        t_method = median(lambda: method(model, images, classes), max(3, args.repeats)) / n
        layers = sum(1 for _, layer in models.iter_layers(model) if sanity.is_weighted_leaf(layer))
        maps = method(model, images, classes)
        print(f"\n{name}: {n} images {images.shape[1:]}, forward {1e3 * t_forward:.2f} ms/image, "
              f"saliency {1e3 * t_method:.2f} ms/image, {layers} layers with weights")
        print(f"{'metric':36s} {'cost per image':44s} {'s/image':>9s} {'nominal':>9s} {'ratio':>7s}")
        for metric, record_ in catalog.METRICS.items():
            if args.only and metric not in args.only:
                continue
            cost = record_.cost
            seconds = median(lambda: catalog.run_metrics(model, images, record, method, maps, classes, [metric],
                                                         masks=masks, batch_size=BATCH, seed=0,
                                                         value_range=RANGES[name]), args.repeats) / n
            nominal = cost.forward * t_forward + (cost.method + cost.per_layer * layers) * t_method
            ratio = f"{seconds / nominal:7.2f}" if nominal else "      -"
            print(f"{metric:36s} {str(cost):44s} {seconds:9.4f} {nominal:9.4f} {ratio}", flush=True)


if __name__ == "__main__":
    main()
