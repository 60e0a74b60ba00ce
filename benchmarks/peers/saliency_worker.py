"""PAIR saliency 0.2.1's side of the peer benchmark (runs in benchmarks/.peers-venv).

PAIR's core API is framework-agnostic: one image per `GetMask` call and a
`call_model_function` the user writes. Ours is the one its TensorFlow
examples show, compiled once (`tf.function`, `reduce_retracing=True`): the
input gradient of the target logit for a batch of inputs, and for Grad-CAM
the last conv layer's values and their gradients. The 16 images are looped
in Python, as a user of PAIR does. Its SmoothGrad (`GetSmoothedMask`) calls
the model once per noisy sample (no batching); `stdev_spread` is a fraction
of each image's max - min. PAIR's `Occlusion` has stride 1 and a single
window size only, so it is not run. XRAI gets the same precomputed
attribution as kerasviz (`base_attribution`, repeated over the channels, as
PAIR requires the input's shape); Blur IG the same `max_sigma`.
"""

import numpy as np
import tensorflow as tf

import common

import saliency.core as pair  # noqa: E402

_CACHE = {}


def _functions(s):
    if "grad" not in _CACHE:
        logits_model, target = s.logits_model, s.target
        layer = s.model.get_layer(s.params["layer"])
        conv_model = tf.keras.Model(s.model.inputs, [layer.output, s.model.get_layer("logits").output])

        @tf.function(reduce_retracing=True)
        def grad(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = logits_model(x, training=False)[:, target]
            return tape.gradient(score, x)

        @tf.function(reduce_retracing=True)
        def conv(x):
            with tf.GradientTape() as tape:
                values, logits = conv_model(x, training=False)
                score = logits[:, target]
            return values, tape.gradient(score, values)

        _CACHE["grad"], _CACHE["conv"] = grad, conv
    return _CACHE["grad"], _CACHE["conv"]


def _call_model(s):
    grad, conv = _functions(s)

    def call_model_function(x, call_model_args=None, expected_keys=None):
        x = tf.convert_to_tensor(np.asarray(x, np.float32))
        if expected_keys and pair.base.CONVOLUTION_LAYER_VALUES in expected_keys:
            values, gradients = conv(x)
            return {pair.base.CONVOLUTION_LAYER_VALUES: values.numpy(),
                    pair.base.CONVOLUTION_OUTPUT_GRADIENTS: gradients.numpy()}
        return {pair.base.INPUT_OUTPUT_GRADIENTS: grad(x).numpy()}

    return call_model_function


def _each(s, mask):
    cmf = _call_model(s)
    return np.stack([mask(i, image, cmf) for i, image in enumerate(s.images)])


def _zeros(image):
    return np.zeros_like(image)


METHODS = {
    "saliency": lambda s: _each(s, lambda i, x, f: pair.GradientSaliency().GetMask(x, f)),
    "smoothgrad": lambda s: _each(s, lambda i, x, f: pair.GradientSaliency().GetSmoothedMask(
        x, f, stdev_spread=s.params["noise"], nsamples=s.params["samples"])),
    "integrated_gradients": lambda s: _each(s, lambda i, x, f: pair.IntegratedGradients().GetMask(
        x, f, x_baseline=_zeros(x), x_steps=s.params["steps"], batch_size=s.params["steps"])),
    "grad_cam": lambda s: _each(s, lambda i, x, f: pair.GradCam().GetMask(x, f, three_dims=False)),
    "xrai": lambda s: _each(s, lambda i, x, f: pair.XRAI().GetMask(
        x, f, base_attribution=np.repeat(s.attribution[i][..., None], x.shape[-1], axis=-1))),
    "guided_ig": lambda s: _each(s, lambda i, x, f: pair.GuidedIG().GetMask(
        x, f, x_baseline=_zeros(x), x_steps=s.params["steps"], fraction=0.25, max_dist=0.02)),
    "blur_ig": lambda s: _each(s, lambda i, x, f: pair.BlurIG().GetMask(
        x, f, max_sigma=s.params["max_sigma"], steps=s.params["steps"], batch_size=s.params["steps"])),
}

if __name__ == "__main__":
    common.run(METHODS)
