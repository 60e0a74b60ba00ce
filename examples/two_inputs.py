"""A model with two inputs, an image and a side vector, explained per input in the dashboard's Attribution tab.

Trains a small model on `kerasviz.demo.load_shapes` (64 x 64, one shape per image) whose second input is a
side vector of two numbers: a noisy hint of the class and pure noise. `AttributionCallback` takes the probe
examples as a dict by input name and writes one series per input at the end of each epoch: maps over the
image for saliency, Grad-CAM (at the image branch's last feature block, found in the model's graph) and
Integrated Gradients, and the side input's signed attributions as bars for the methods told to attribute it
(`attribute="all"`). `tensorboard --logdir LOGDIR`, tab "Attribution": one column group per input.

    python examples/two_inputs.py --logdir logs/two_inputs        # about a minute on two cores
"""

import argparse

import keras
import numpy as np

import kerasviz

SIZE, CLASSES = 64, 5


def side_values(labels, rng):
    """`[N, 2]`: the class / 4 plus noise (a hint), and noise alone (nothing to learn from)."""
    return np.stack([labels / 4.0 + rng.normal(0, 0.4, len(labels)), rng.normal(0, 1, len(labels))],
                    axis=1).astype(np.float32)


def two_input_model():
    image = keras.Input((SIZE, SIZE, 3), name="image")
    side = keras.Input((2,), name="side")
    x = image
    for i, filters in enumerate((16, 32, 64)):  # the demo ConvNet's image branch
        x = x if i == 0 else keras.layers.MaxPooling2D()(x)
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
    features = keras.layers.GlobalMaxPooling2D()(x)  # the shape is anywhere
    merged = keras.layers.Concatenate()([features, keras.layers.Dense(8, activation="relu")(side)])
    hidden = keras.layers.Dense(32, activation="relu")(merged)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", name="classes")(hidden)
    return keras.Model({"image": image, "side": side}, outputs, name="image_and_side")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", default="logs/two_inputs")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    train, test = kerasviz.demo.load_shapes(n=2000, seed=0), kerasviz.demo.load_shapes(n=200, seed=1)
    x = {"image": train.images, "side": side_values(train.labels, rng)}
    x_test = {"image": test.images, "side": side_values(test.labels, rng)}
    model = two_input_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    probe = {name: value[:6] for name, value in x_test.items()}
    callback = kerasviz.callbacks.AttributionCallback(
        args.logdir, probe, test.labels[:6], class_names=test.class_names,
        methods=(("saliency", {"attribute": "all"}), "grad_cam",
                 ("integrated_gradients", {"attribute": "all", "steps": 32})))
    model.fit(x, train.labels, batch_size=32, epochs=args.epochs, validation_data=(x_test, test.labels),
              verbose=2, callbacks=[callback])
    print(f"tensorboard --logdir {args.logdir}   (tab Attribution: one column group per input)")


if __name__ == "__main__":
    main()
