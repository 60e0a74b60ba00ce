"""The public surface changes only on purpose: update this snapshot when you mean to."""

import inspect

import kerasviz

PUBLIC = {
    "Channel": "(layer, channel)",
    "ClassScore": "(index=None)",
    "LayerL2": "(layer)",
    "Neuron": "(layer, index)",
    "grad_cam": "(model, images, target=None, *, layer=None, batch_size=None)",
    "guided_backprop": "(model, images, target=None, *, batch_size=None, signed=False)",
    "guided_grad_cam": "(model, images, target=None, *, layer=None, batch_size=None, signed=False)",
    "integrated_gradients": "(model, images, target=None, *, batch_size=None, baseline=0.0, steps=50, signed=False)",
    "occlusion": "(model, images, target=None, *, patch=8, stride=None, value=None, batch_size=None)",
    "occlusion_to_input": "(heatmap, image_size, patch, stride=None)",
    "saliency": "(model, images, target=None, *, batch_size=None, signed=False)",
    "smoothgrad": "(model, images, target=None, *, batch_size=None, samples=25, noise=0.15, value_range=None, seed=0, signed=False)",
}
MODULES = ["callbacks", "data", "image", "metrics", "models", "summary", "targets"]


def test_all_is_the_snapshot():
    assert sorted(kerasviz.__all__) == sorted(list(PUBLIC) + MODULES)


def test_signatures_are_the_snapshot():
    for name, signature in PUBLIC.items():
        assert str(inspect.signature(getattr(kerasviz, name))) == signature, name


def test_attribution_methods_share_the_call_shape():
    from kerasviz import registry

    for name, method in registry.ATTRIBUTION_METHODS.items():
        parameters = list(inspect.signature(method).parameters.values())
        assert [p.name for p in parameters[:3]] == ["model", "images", "target"], name
        assert parameters[2].default is None, name
        assert inspect.signature(method).parameters["batch_size"].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert method.__doc__ and "Args:" in method.__doc__ and "Returns:" in method.__doc__, name
