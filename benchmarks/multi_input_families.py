"""The method families on a model with several inputs: time per call next to the model's own forward pass.

The two-input fixture of `tests/helpers/dense_models.py` (a 24 x 24 image and a
2-value side input, trained a few seconds on the shapes dataset), 32 images:
each method's best of 3 calls after its trace, and the model's compiled forward
pass on the same 32 images (one `tf.function` call), timed in the same process.

Usage:
    PYTHONPATH=. python benchmarks/multi_input_families.py
"""

import time
import warnings

import tensorflow as tf

import kerasviz
from tests.helpers import dense_models

METHODS = {"saliency": {}, "integrated_gradients": {"steps": 16}, "grad_cam": {}, "guided_grad_cam": {},
           "score_cam": {}, "occlusion": {"patch": 4, "stride": 4}, "lrp": {}, "deeplift": {}}


def best_of(call, repeats=3):
    call()  # the trace
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    model = dense_models.two_input_model()
    data = dense_models.shapes(n=32, seed=11)
    inputs = {"image": data.images, "side": dense_models.side_values(data.labels, 11)}
    forward = tf.function(lambda image, side: model({"image": image, "side": side}, training=False))
    tensors = [tf.constant(inputs["image"]), tf.constant(inputs["side"])]
    one_pass = best_of(lambda: forward(*tensors).numpy(), 10)
    print(f"{'forward pass':22s} {one_pass * 1e3:8.2f} ms / 32 images (compiled)")
    for name, params in METHODS.items():
        method = getattr(kerasviz, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            seconds = best_of(lambda: method(model, inputs, data.labels, **params))
        print(f"{name:22s} {seconds * 1e3:8.2f} ms / 32 images ({seconds / one_pass:6.1f} forward passes)")


if __name__ == "__main__":
    main()
