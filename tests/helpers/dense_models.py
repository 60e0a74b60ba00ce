"""Real models of the other kinds, trained in seconds on the shapes dataset (`kerasviz.demo.load_shapes`).

A segmenter (tiny U-Net), a box regressor and classifier (a one-box
detector), a two-input model (image plus side values) and a regression
model (the shape's area). Each is seeded and trained for a few epochs on
24 x 24 images; build them once per test module (a `scope="module"`
fixture), they take a few seconds each on two cores (the segmenter and the
detector up to 3x more than the others: they learn the shape's class from
4-8 px objects, so they see more images).

On 500 held-out images (`shapes(n=500, seed=7)`, `segmenter_accuracy` and
`detector_quality`): the segmenter labels 0.47 of the shape pixels with the
right class (0.19 with the earlier two-level U-Net on 480 images), the
detector's box has a mean IoU of 0.42 with the true one and its class is
right for 0.62 of the images (0.26 and 0.20 before).
"""

import keras
import numpy as np

from kerasviz import demo

SIZE, CLASSES = 24, len(demo.SHAPE_CLASSES)
TRAIN = 480
DENSE_TRAIN = (1000, 1200)  # images the segmenter and the detector train on: the shape's class needs more


def shapes(n=TRAIN, seed=0):
    """The shapes dataset at `SIZE` px: images, labels, masks."""
    return demo.load_shapes(n=n, size=SIZE, seed=seed)


def boxes_of(masks):
    """Each mask's bounding box `(y0, x0, y1, x1)` in fractions of the image (pixel edges), float32 `[N, 4]`."""
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    first = lambda a: a.argmax(axis=1)  # noqa: E731
    last = lambda a: a.shape[1] - a[:, ::-1].argmax(axis=1)  # noqa: E731
    return np.stack([first(rows), first(cols), last(rows), last(cols)], axis=1).astype(np.float32) / SIZE


def _fit(model, x, y, loss, epochs, seed, sample_weight=None):
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss=loss)
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=False, sample_weight=sample_weight)
    return model


def _conv(filters, name=None, activation="relu"):
    return keras.layers.Conv2D(filters, 3, padding="same", activation=activation, name=name)


def segmenter(seed=0, epochs=10):
    """`[B, 24, 24, 3]` -> per-pixel softmax over background + the 5 shapes `[B, 24, 24, 6]`: a tiny U-Net.

    Three levels (24, 12 and 6 px): the 6 px level sees the whole shape, which
    the class of each of its pixels needs.
    """
    keras.utils.set_random_seed(seed)
    data = shapes(n=DENSE_TRAIN[0], seed=seed)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    skip = _conv(16, "down")(inputs)
    middle = _conv(32, "middle")(keras.layers.MaxPooling2D()(skip))
    lowest = _conv(32, "lowest")(_conv(32, "lowest_in")(keras.layers.MaxPooling2D()(middle)))
    middle = keras.layers.Concatenate()([middle, keras.layers.UpSampling2D()(lowest)])
    deep = _conv(32, "bottom")(middle)
    up = keras.layers.UpSampling2D()(deep)
    merged = _conv(16, "up")(keras.layers.Concatenate()([skip, up]))
    outputs = keras.layers.Conv2D(CLASSES + 1, 1, activation="softmax", name="classes")(merged)
    model = keras.Model(inputs, outputs, name="segmenter")
    labels = np.where(data.masks, data.labels[:, None, None] + 1, 0)
    weights = np.where(data.masks, 8.0, 1.0).astype(np.float32)  # the shapes cover ~5% of the pixels
    return _fit(model, data.images, labels, "sparse_categorical_crossentropy", epochs, seed, weights)


def _features(inputs, levels=2):
    x = _conv(8, "conv1")(inputs)
    x = _conv(16, "conv2")(keras.layers.MaxPooling2D()(x))
    if levels == 3:
        x = _conv(16, "conv3")(keras.layers.MaxPooling2D()(x))
    return keras.layers.Flatten()(keras.layers.MaxPooling2D()(x))


def box_detector(seed=0, epochs=12):
    """`[B, 24, 24, 3]` -> `boxes` `[B, 1, 4]` (y0, x0, y1, x1 in fractions) and `scores` `[B, 1, 5]` (softmax)."""
    keras.utils.set_random_seed(seed)
    data = shapes(n=DENSE_TRAIN[1], seed=seed)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    hidden = keras.layers.Dense(64, activation="relu", name="fc")(_features(inputs, levels=3))
    boxes = keras.layers.Reshape((1, 4), name="boxes")(keras.layers.Dense(4, activation="sigmoid")(hidden))
    scores = keras.layers.Reshape((1, CLASSES))(keras.layers.Dense(CLASSES)(hidden))
    scores = keras.layers.Softmax(name="scores")(scores)
    model = keras.Model(inputs, {"boxes": boxes, "scores": scores}, name="detector")
    targets = {"boxes": boxes_of(data.masks)[:, None], "scores": data.labels[:, None]}
    return _fit(model, data.images, targets, {"boxes": "mse", "scores": "sparse_categorical_crossentropy"},
                epochs, seed)


def side_values(labels, seed=0):
    """Side inputs `[N, 2]`: a noisy hint of the class (its index / 4 plus noise) and pure noise."""
    rng = np.random.default_rng(seed + 100)
    return np.stack([labels / 4.0 + rng.normal(0, 0.3, len(labels)), rng.normal(0, 1, len(labels))],
                    axis=1).astype(np.float32)


def two_input_model(seed=0, epochs=10):
    """`{"image": [B, 24, 24, 3], "side": [B, 2]}` -> the shape's class (softmax)."""
    keras.utils.set_random_seed(seed)
    data = shapes(seed=seed)
    image = keras.Input((SIZE, SIZE, 3), name="image")
    side = keras.Input((2,), name="side")
    merged = keras.layers.Concatenate()([_features(image), keras.layers.Dense(4, activation="relu")(side)])
    hidden = keras.layers.Dense(32, activation="relu", name="fc")(merged)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", name="classes")(hidden)
    model = keras.Model({"image": image, "side": side}, outputs, name="image_and_side")
    x = {"image": data.images, "side": side_values(data.labels, seed)}
    return _fit(model, x, data.labels, "sparse_categorical_crossentropy", epochs, seed)


def area_regressor(seed=0, epochs=10):
    """`[B, 24, 24, 3]` -> the shape's area, a fraction of the image `[B, 1]` (linear output)."""
    keras.utils.set_random_seed(seed)
    data = shapes(seed=seed)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    hidden = keras.layers.Dense(32, activation="relu", name="fc")(_features(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, name="area")(hidden), name="area")
    return _fit(model, data.images, data.masks.mean(axis=(1, 2))[:, None] * 10.0, "mse", epochs, seed)


def segmenter_accuracy(model, data):
    """The share of the shape pixels of `data` (a `shapes` result) the segmenter labels with the shape's class."""
    predicted = np.asarray(model.predict(data.images, verbose=0)).argmax(-1)
    truth = np.broadcast_to(data.labels[:, None, None] + 1, predicted.shape)
    return float((predicted[data.masks] == truth[data.masks]).mean())


def box_iou(a, b):
    """IoU of boxes `(y0, x0, y1, x1)` `[N, 4]` with boxes `[N, 4]`, `[N]`."""
    inter = [np.clip(np.minimum(a[:, k + 2], b[:, k + 2]) - np.maximum(a[:, k], b[:, k]), 0, None) for k in (0, 1)]
    area = lambda q: np.clip(q[:, 2] - q[:, 0], 0, None) * np.clip(q[:, 3] - q[:, 1], 0, None)  # noqa: E731
    overlap = inter[0] * inter[1]
    return overlap / np.maximum(area(a) + area(b) - overlap, 1e-9)


def detector_quality(model, data):
    """`(mean box IoU, class accuracy)` of the detector on `data` (a `shapes` result)."""
    outputs = model.predict(data.images, verbose=0)
    iou = box_iou(np.asarray(outputs["boxes"])[:, 0], boxes_of(data.masks))
    return float(iou.mean()), float((np.asarray(outputs["scores"])[:, 0].argmax(-1) == data.labels).mean())
