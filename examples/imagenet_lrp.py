"""LRP beside Grad-CAM on a real ImageNet network: the README's `docs/imagenet_lrp.png`, and conservation.

On the EfficientNet-Lite3 of `../shared/imagenet` (280 x 280, raw pixels 0-255, `value_range=(0, 255)`),
three photos (dog, eagle, giraffe), a row each: the photo titled with the predicted class, Grad-CAM,
then LRP with the presets (`epsilon_plus`, `epsilon_gamma_box`, `epsilon_alpha2_beta1`, iNNvestigate's
`preset_a` and `preset_b`); the maps show the positive relevance (evidence for the class). For each
preset it prints the relevance's sum against the explained logit (conservation), the time of a call, and
where the map's peak and its positive mass lie against a box around the object in each photo (`BOXES`,
drawn by hand on the 280 x 280 centre crops): the pointing game (Zhang et al. 2018) and the share of
positive relevance inside the box, beside Grad-CAM's.

    python examples/imagenet_lrp.py                      # about 3 minutes on 2 busy CPU cores
    python examples/imagenet_lrp.py --out /tmp/pictures
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import imagenet  # noqa: E402  (the shared model, photos, labels and figure helpers)

PHOTOS = ("dog", "eagle", "giraffe")
PRESETS = ("epsilon_plus", "epsilon_gamma_box", "epsilon_alpha2_beta1", "preset_a", "preset_b")
# (top, left, bottom, right) in pixels of the 280 x 280 centre crop, around the predicted object.
BOXES = {"dog": (100, 10, 270, 110), "eagle": (40, 10, 250, 255), "giraffe": (110, 130, 240, 240)}  # the zebra


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(imagenet.ROOT, "docs"))
    args = parser.parse_args(argv)
    import kerasviz

    context = imagenet.Context(imagenet.parse_args(["--out", args.out]))
    chosen = [context.photo_names.index(name) for name in PHOTOS]
    images = context.photos[chosen]
    classes = context.probabilities[chosen].argmax(axis=1)
    logits = np.asarray(kerasviz.models.run(context.model, images)[0])[np.arange(len(images)), classes]
    maps = {"grad_cam": kerasviz.grad_cam(context.model, images, classes)}
    print(f"{'method':22s} {'seconds':>8s} {'sum / logit per photo':>34s} {'peak in box':>12s} "
          f"{'positive in box':>16s}")
    report("grad_cam", maps["grad_cam"], None, None, images)
    for preset in PRESETS:
        kerasviz.lrp(context.model, images[:1], classes[:1], composite=preset, value_range=context.value_range)
        start = time.perf_counter()
        relevance = kerasviz.lrp(context.model, images, classes, composite=preset, value_range=context.value_range)
        seconds = time.perf_counter() - start
        report(preset, relevance, relevance.sum(axis=(1, 2)) / logits, seconds, images)
        maps[preset] = np.maximum(relevance, 0)
    labels = [context.label(k, context.probabilities[i]) for i, k in zip(chosen, classes)]
    figure = kerasviz.image.compare(context.display(images, imagenet.ATTRIBUTION_TILE), maps, labels=labels)
    title = (f"{context.model_name}: Grad-CAM and LRP presets (positive relevance) for the predicted class; "
             "value_range=(0, 255)")
    print("wrote", imagenet.save(context, "lrp", kerasviz.image.titled(figure, title)))


def report(name, maps, ratios, seconds, images):
    peaks, shares = [], []
    for photo, m in zip(PHOTOS, maps):
        top, left, bottom, right = BOXES[photo]
        scale = images.shape[1] / m.shape[0]
        y, x = np.unravel_index(np.argmax(m), m.shape)
        peaks.append(top <= y * scale < bottom and left <= x * scale < right)
        positive = np.maximum(m, 0)
        inside = positive[int(top / scale):int(bottom / scale), int(left / scale):int(right / scale)].sum()
        shares.append(inside / max(positive.sum(), 1e-12))
    ratio = "" if ratios is None else " ".join(f"{r:.3f}" for r in ratios)
    timing = "" if seconds is None else f"{seconds:.1f}"
    print(f"{name:22s} {timing:>8s} {ratio:>34s} {sum(peaks)}/{len(peaks):>10} "
          f"{' '.join(f'{s:.2f}' for s in shares):>16s}", flush=True)


if __name__ == "__main__":
    main()
