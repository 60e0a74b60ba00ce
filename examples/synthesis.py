"""Images made by gradient ascent and descent on the input: class visualizations, fooling images,
FGSM adversarial examples and feature inversions.

    python examples/synthesis.py                  # the demo model on the shapes test split
    python examples/synthesis.py --out synth/ --quick

With your own model, replace `model`, `images`, `labels` and `value_range` below (images in the
model's input space, `value_range` its `(min, max)`).
"""

import argparse
import os

import numpy as np

import kerasviz


def save(path, pictures, scale=3):
    """Display images `[N, H, W, C]` in [0, 1], in one row, enlarged `scale` times."""
    row = kerasviz.image.tile(np.asarray(pictures, np.float32), cols=len(pictures), pad=2)
    with open(path, "wb") as f:
        f.write(kerasviz.image.encode_png(np.kron(row, np.ones((scale, scale, 1)))))
    print("wrote", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="synthesis")
    parser.add_argument("--quick", action="store_true", help="few steps (a smoke test, rougher pictures)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    steps = 20 if args.quick else 150

    model = kerasviz.demo.demo_model("shapes")
    test = kerasviz.demo.demo_data("shapes")[1]
    images, labels, value_range = test.images, test.labels, (0.0, 1.0)
    names = test.class_names
    show = lambda x: kerasviz.image.to_display(x, value_range)  # noqa: E731
    predict = lambda x: np.argmax(model.predict(x, verbose=0), axis=-1)  # noqa: E731

    # Class visualizations (Simonyan et al. 2013; a Fourier parameterization and transforms, Olah et al. 2017).
    dreams = kerasviz.class_visualization(model, list(range(len(names))), steps=steps, value_range=value_range)
    print(f"class visualizations of {', '.join(names)}: mean class score "
          f"{dreams.losses[0]:.2f} -> {dreams.losses[-1]:.2f} over {dreams.steps} steps")
    save(os.path.join(args.out, "class_visualizations.png"), show(dreams.image))

    # A fooling image: the smallest push that makes the model call image 0 another class.
    original = images[:1]
    before = int(predict(original)[0])
    goal = (before + 1) % len(names)
    fooled = kerasviz.fooling_image(model, original, goal, value_range=value_range)
    after = int(predict(fooled.image)[0])
    print(f"fooling image: predicted class before {names[before]}, after {names[after]} "
          f"(target {names[goal]}) in {fooled.steps} steps; largest pixel change "
          f"{np.abs(fooled.perturbation).max():.4f}")
    save(os.path.join(args.out, "fooling.png"),
         np.concatenate([show(original), fooled.magnified_perturbation, show(fooled.image)]))

    # FGSM (Goodfellow et al. 2015): one signed-gradient step of a few grey levels, away from the true label.
    batch = images[:8]
    adversarial = kerasviz.fgsm(model, batch, labels[:8], epsilon=0.03, value_range=value_range)
    clean = predict(batch)
    attacked = predict(adversarial)
    print(f"FGSM flips {int(np.sum(clean != attacked))} of {len(batch)} predictions (epsilon 0.03 of the range); "
          f"clean accuracy {np.mean(clean == labels[:8]):.0%}, attacked {np.mean(attacked == labels[:8]):.0%}")
    save(os.path.join(args.out, "fgsm.png"), np.concatenate([show(batch), show(adversarial)]), scale=2)

    # Feature inversion (Mahendran & Vedaldi 2015): deeper layers keep less of the image.
    series = [show(original)[0]]
    for layer in ("conv1", "conv2", "conv3"):
        result = kerasviz.invert_features(model, original, layer, steps=steps, value_range=value_range)
        mse = float(np.mean((result.image - original) ** 2))
        print(f"inversion from {layer}: pixel MSE {mse:.4f}, feature loss {-result.losses[-1]:.4f}")
        series.append(show(result.image)[0])
    save(os.path.join(args.out, "inversion.png"), series)


if __name__ == "__main__":
    main()
