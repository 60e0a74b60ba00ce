"""Feature visualization quality and speed: pixel vs Fourier+decorrelated parameterizations, with and without transforms.

Quality, per model and setting, over the same channels, seed and number of steps:

- objective: the mean over channels of each image's final channel activation,
  measured on the image itself (no transforms);
- high-frequency share: the share of each image's spectral energy (grey
  levels, mean removed) at radial frequencies above half the Nyquist frequency
  (> 0.25 cycles per pixel), averaged over images. Lower means fewer
  high-frequency artefacts; natural photos are at a few percent.

The same comparison picks the defaults of the other recipes on the engine,
at equal steps (their own defaults otherwise):

- class visualization (one image per class): the class score (logit)
  reached, the target class's softmax probability, the high-frequency share;
- texture synthesis (from the demo's own sample images): the Gram loss
  reached (lower is better) and the high-frequency share against the
  texture's own;
- DeepDream (on sample images, one octave): the layer objective reached and
  the high-frequency share.

Speed: optimization steps per second (Fourier, decorrelated, standard
transforms) as a ratio to the model's own compiled forward+backward input
gradient at the same batch, both after a warm-up (tracing is not throughput).

Usage:
    python benchmarks/feature_visualization.py
    python benchmarks/feature_visualization.py --steps 256 --channels 16
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasviz  # noqa: E402
import kerasviz.art.deepdream  # noqa: E402
import kerasviz.art.style  # noqa: E402
import kerasviz.gradients.synthesis  # noqa: E402
from kerasviz import targets  # noqa: E402

import limits  # noqa: E402  (benchmarks/limits.py, beside this script)
import picture_quality  # noqa: E402  (the picture measures, beside this script)
from kerasviz.art.deepdream import deep_dream  # noqa: E402
from kerasviz.art.style import texture_synthesis  # noqa: E402
from kerasviz.gradients.class_visualization import class_visualization  # noqa: E402
from kerasviz.gradients.feature_visualization import feature_visualization  # noqa: E402

SETTINGS = (  # name, parameterization, transforms, learning rate
    ("pixel ascent (today's optimize)", None, None, 0.01),
    ("pixels + Adam", "pixels", None, 0.05),
    ("pixels + Adam + transforms", "pixels", "standard", 0.05),
    ("fourier+decorrelated", "fourier", None, 0.05),
    ("fourier+decorrelated + transforms", "fourier", "standard", 0.05),
)


def high_frequency_share(images):
    """Mean share of spectral energy above half the Nyquist frequency, over grey images."""
    return float(np.mean(picture_quality.high_frequency_share(images)))


def quality(name, model, steps, channels):
    for label, parameterization, transforms, rate in SETTINGS:
        start = time.perf_counter()
        result = feature_visualization(model, channels=channels, steps=steps, learning_rate=rate,
                                       parameterization=parameterization, transforms=transforms)
        print(f"{name:8s} {result.layer:6s} {label:36s} objective {np.mean(result.objectives):8.3f}  "
              f"high-freq share {high_frequency_share(result.images):6.3f}  ({time.perf_counter() - start:5.1f} s)",
              flush=True)


RECIPE_SETTINGS = (  # name, parameterization, transforms (each recipe's own learning rates)
    ("pixel ascent (recipe default)", None, None),
    ("pixel ascent + transforms", None, "standard"),
    ("pixels + Adam + transforms", "pixels", "standard"),
    ("fourier+decorrelated", "fourier", None),
    ("fourier+decorrelated + transforms", "fourier", "standard"),
)


def _samples(model, count):
    """Demo sample images at the model's input shape (grey for a 1-channel model), in [0, 1]."""
    height, width, channels = model.input_shape[1:]
    images = [v for _, v in sorted(kerasviz.demo.sample_images(height).items())][:count]
    images = np.stack(images).astype(np.float32)
    return images.mean(axis=-1, keepdims=True) if channels == 1 else images[..., :channels]


def recipe_quality(name, model, steps):
    n_classes = model.output_shape[-1]
    texture, photo = _samples(model, 2)[:1], _samples(model, 2)[1:]
    for label, parameterization, transforms in RECIPE_SETTINGS:
        start = time.perf_counter()
        classes = list(range(n_classes))
        result = class_visualization(model, classes, steps=steps, parameterization=parameterization,
                                     transforms=transforms)
        logits = kerasviz.gradients.synthesis.objective_values(model, classes, result.image)
        probability = model.predict(result.image, verbose=0)[np.arange(n_classes), classes]
        print(f"{name:8s} class vis  {label:36s} logit {np.mean(logits):8.2f}  probability "
              f"{np.mean(probability):5.3f}  high-freq share {high_frequency_share(result.image):6.3f}  "
              f"({time.perf_counter() - start:5.1f} s)", flush=True)
        layers = kerasviz.art.style.default_style_layers(model, texture.shape[1:])
        result = texture_synthesis(model, texture, steps=steps, parameterization=parameterization,
                                   transforms=transforms)
        loss = -kerasviz.gradients.synthesis.objective_values(
            model, kerasviz.art.style._Texture(layers), result.image, layers=layers, reads_logits=False,
            extras=[kerasviz.art.style.gram_matrix(f) for f in kerasviz.art.style._features(model, layers, texture)])
        print(f"{name:8s} texture    {label:36s} Gram loss {np.mean(loss):8.4f}  high-freq share "
              f"{high_frequency_share(result.image):6.3f} (texture {high_frequency_share(texture):6.3f})", flush=True)
        dream_layers = kerasviz.art.deepdream.default_dream_layers(model, photo.shape[1:])
        result = deep_dream(model, photo, octaves=1, steps_per_octave=steps // 4, parameterization=parameterization,
                            transforms=transforms)
        objective = sum(kerasviz.gradients.synthesis.objective_values(model, targets.LayerL2(p), result.image)
                        for p in dream_layers)
        print(f"{name:8s} DeepDream  {label:36s} objective {np.mean(objective):8.3f}  high-freq share "
              f"{high_frequency_share(result.image):6.3f} (photo {high_frequency_share(photo):6.3f})", flush=True)


def limit_rate(model, images, repeats):
    """Compiled forward+backward input gradients per second (batches per second)."""
    return limits.forward_backward_rate(model, images, repeats, np.median)


def speed(name, model, channels, steps, repeats):
    shape = model.input_shape[1:]
    images = np.random.default_rng(0).uniform(0.4, 0.6, (channels, *shape)).astype(np.float32)
    run = lambda n: feature_visualization(model, channels=channels, steps=n)  # noqa: E731
    run(1)  # warm-up: the trace
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        run(steps)
        rates.append(steps / (time.perf_counter() - start))
    limit = limit_rate(model, images, repeats)
    rate = float(np.median(rates))
    print(f"{name:8s} batch {channels:2d} {shape[0]}x{shape[1]}  limit {limit:8.2f} passes/s  engine (fourier + "
          f"transforms) {rate:8.2f} steps/s  ratio {rate / limit:5.2f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--skip", nargs="*", default=[], choices=["quality", "recipes", "speed"])
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores, "
          f"devices {[d.device_type for d in tf.config.list_logical_devices()]}")
    for name in ("shapes", "digits"):
        model = kerasviz.demo.demo_model(name)
        if "quality" not in args.skip:
            quality(name, model, args.steps, args.channels)
        if "recipes" not in args.skip:
            recipe_quality(name, model, args.steps)
        if "speed" not in args.skip:
            speed(name, model, args.channels, 50, args.repeats)


if __name__ == "__main__":
    main()
