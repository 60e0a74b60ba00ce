"""A segmenter and a detector on the shapes dataset, explained region by region and box by box in the dashboard.

Trains two small models on `kerasviz.demo.load_shapes` (64 x 64, one shape per image): a U-Net-like
segmenter (background + 5 shapes per pixel) and a one-box detector (outputs "boxes" [B, 1, 4] as
(y0, x0, y1, x1) fractions and "scores" [B, 1, 5]). Then `kerasviz.explain_regions` and
`kerasviz.explain_detections` explain 8 held-out images with Integrated Gradients and write the
"Regions" records: `tensorboard --logdir LOGDIR`, tab "Regions", click a region or a box.

    python examples/dense_outputs.py --logdir logs/dense        # about 3 minutes on two cores
"""

import argparse
import os

import keras
import numpy as np
import tensorflow as tf

import kerasviz

SIZE = 64


def conv(filters, name=None):
    return keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)


def segmenter(classes):
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    skip = conv(16, "down1")(inputs)
    mid = conv(32, "down2")(keras.layers.MaxPooling2D()(skip))
    deep = conv(32, "bottom")(keras.layers.MaxPooling2D()(mid))
    up = conv(32, "up2")(keras.layers.Concatenate()([mid, keras.layers.UpSampling2D()(deep)]))
    up = conv(16, "up1")(keras.layers.Concatenate()([skip, keras.layers.UpSampling2D()(up)]))
    outputs = keras.layers.Conv2D(classes + 1, 1, activation="softmax", name="classes")(up)
    return keras.Model(inputs, outputs, name="segmenter")


def detector(classes):
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = inputs
    for filters in (16, 32, 64):
        x = keras.layers.MaxPooling2D()(conv(filters)(x))
    hidden = keras.layers.Dense(64, activation="relu")(keras.layers.Flatten()(x))
    boxes = keras.layers.Reshape((1, 4), name="boxes")(keras.layers.Dense(4, activation="sigmoid")(hidden))
    scores = keras.layers.Softmax(name="scores")(keras.layers.Reshape((1, classes))(keras.layers.Dense(classes)(hidden)))
    return keras.Model(inputs, {"boxes": boxes, "scores": scores}, name="detector")


def boxes_of(masks):
    """Each mask's bounding box (y0, x0, y1, x1) in fractions of the image."""
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    last = lambda a: a.shape[1] - a[:, ::-1].argmax(axis=1)  # noqa: E731
    return np.stack([rows.argmax(1), cols.argmax(1), last(rows), last(cols)], axis=1).astype(np.float32) / SIZE


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", default="logs/dense")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    train, test = kerasviz.demo.load_shapes(3000, SIZE, seed=0), kerasviz.demo.load_shapes(200, SIZE, seed=1)
    names = list(train.class_names)

    seg = segmenter(len(names))
    seg.compile(optimizer=keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy")
    labels = np.where(train.masks, train.labels[:, None, None] + 1, 0)
    weights = np.where(train.masks, 5.0, 1.0).astype(np.float32)  # the shapes cover about 8 % of the pixels
    seg.fit(train.images, labels, sample_weight=weights, batch_size=32, epochs=args.epochs, verbose=2)
    predicted = np.asarray(seg.predict(test.images, verbose=0)).argmax(-1)
    truth = np.where(test.masks, test.labels[:, None, None] + 1, 0)
    print(f"segmenter: pixel accuracy {np.mean(predicted == truth):.3f}, on the shapes' own pixels "
          f"{np.mean(predicted[test.masks] == truth[test.masks]):.3f}")

    det = detector(len(names))
    det.compile(optimizer=keras.optimizers.Adam(0.003),
                loss={"boxes": "mse", "scores": "sparse_categorical_crossentropy"})
    det.fit(train.images, {"boxes": boxes_of(train.masks)[:, None], "scores": train.labels[:, None]}, batch_size=32,
            epochs=args.epochs, verbose=2)
    out = det.predict(test.images, verbose=0)
    print(f"detector: class accuracy {np.mean(out['scores'][:, 0].argmax(-1) == test.labels):.3f}, mean box error "
          f"{np.abs(out['boxes'][:, 0] - boxes_of(test.masks)).mean():.3f} (fractions)")

    images = test.images[:8]
    regions = kerasviz.explain_regions(seg, images, "integrated_gradients", background=0, steps=32)
    boxes = kerasviz.explain_detections(det, images, "integrated_gradients", top=1, steps=32)
    for run, found, classes in (("segmenter", regions, ["background", *names]), ("detector", boxes, names)):
        with tf.summary.create_file_writer(os.path.join(args.logdir, run)).as_default(step=0):
            found.write(images, class_names=classes)
    print(f"wrote the Regions records to {args.logdir}: tensorboard --logdir {args.logdir}")


if __name__ == "__main__":
    main()
