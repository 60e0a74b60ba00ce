"""Attribution maps on your own model and image.

    python examples/attributions.py                      # the demo model and a test image
    python examples/attributions.py my_model.keras cat.jpg --value-range -1 1

Each method is one call with the same shape: `method(model, images, target=None, ...)`. Images are
in the model's own input space: here pixels 0..255 are mapped to `--value-range` (for a
keras.applications model, use its own `preprocess_input` instead).
"""

import argparse

import numpy as np
from PIL import Image

import kerasviz


def load(path, model, value_range):
    height, width, channels = model.inputs[0].shape[1:]
    image = Image.open(path).convert("L" if channels == 1 else "RGB").resize((width, height))
    pixels = np.asarray(image, np.float32).reshape(height, width, channels) / 255.0
    low, high = value_range
    return pixels[None] * (high - low) + low  # a batch of one


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", help="a .keras file (default: the demo model)")
    parser.add_argument("image", nargs="?", help="an image file (default: a demo test image)")
    parser.add_argument("--value-range", type=float, nargs=2, default=(0.0, 1.0))
    parser.add_argument("--out", default="attributions.png")
    args = parser.parse_args()

    if args.model:
        import keras

        model = keras.models.load_model(args.model, compile=False)
        images = load(args.image, model, args.value_range)
    else:
        model = kerasviz.demo.demo_model("shapes")
        images = kerasviz.demo.demo_data("shapes")[1].images[:1]

    probabilities = model.predict(images, verbose=0)[0]
    predicted = int(np.argmax(probabilities))
    print(f"predicted class {predicted} (p = {probabilities[predicted]:.3f})")

    maps = {
        "saliency": kerasviz.saliency(model, images),
        "guided backprop": kerasviz.guided_backprop(model, images),
        "SmoothGrad": kerasviz.smoothgrad(model, images, samples=25, noise=0.15),
        "Integrated Gradients": kerasviz.integrated_gradients(model, images, steps=50),
        "Grad-CAM": kerasviz.grad_cam(model, images),  # the last conv layer, also in a nested backbone
        "guided Grad-CAM": kerasviz.guided_grad_cam(model, images),
    }
    heat = kerasviz.occlusion(model, images, patch=max(4, images.shape[1] // 8))
    maps["occlusion (drop)"] = heat.max() - heat  # bright where hiding the pixels hurts the class

    # How faithful is each map? Deleting the most important pixels first should drop the score fast.
    for name in ("saliency", "Grad-CAM"):
        curve = kerasviz.metrics.deletion(model, images, maps[name], steps=10)
        print(f"deletion AUC of {name}: {curve.auc[0]:.3f} (lower is better)")

    display = kerasviz.image.to_display(images, tuple(args.value_range))
    with open(args.out, "wb") as f:
        f.write(kerasviz.image.encode_png(kerasviz.image.comparison_figure(display, maps)))
    print(f"wrote {args.out}: the image, then {', '.join(maps)}")


if __name__ == "__main__":
    main()
