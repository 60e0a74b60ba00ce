"""The public surface changes only on purpose: update this snapshot when you mean to."""

import inspect

import kerasviz
from tests.helpers.processes import REPO

PUBLIC = {
    "FeatureMapsCallback": "(log_dir, images, *, layer=None, channels=None, max_channels=16, every=1, value_range=(0.0, 1.0), max_images=8, run_name='kerasviz', on_error='warn', batch_size=None)",
    "FeatureVisualizationCallback": "(log_dir, layer=None, channels=None, *, every=1, steps=64, images_per_channel=1, image_shape=None, value_range=(0.0, 1.0), seed=0, run_name='kerasviz', on_error='warn', **params)",
    "Channel": "(layer, channel, pre_activation=False)",
    "ClassScore": "(index=None)",
    "Direction": "(layer, vector, pre_activation=False)",
    "Diversity": "(layer, group_size=None)",
    "LayerL2": "(layer)",
    "feature_visualization": "(model, layer=None, channels=None, *, images_per_channel=1, image_shape=None, steps=256, learning_rate=0.1, parameterization='fourier', transforms='standard', diversity=10.0, pre_activation=None, l2=0.0, tv=0.0, value_range=(0.0, 1.0), seed=0, callback=None, verbose=0)",
    "feature_maps": "(model, images, layer=None, *, channels=None, max_channels=16, order='mean', batch_size=None, pad=1)",
    "Neuron": "(layer, index, pre_activation=False)",
    "Region": "(index, mask=None)",
    "OutputUnit": "(index=0)",
    "WeightedUnits": "(weights)",
    "OnOutput": "(output, target=None)",
    "Detection": "(box, index, iou_with=None, boxes='boxes', scores='scores')",
    "grad_cam": "(model, images, target=None, *, layer=None, batch_size=None, attribute=None)",
    "grad_cam_plus_plus": "(model, images, target=None, *, layer=None, batch_size=None, attribute=None)",
    "layer_cam": "(model, images, target=None, *, layer=None, batch_size=None, attribute=None)",
    "score_cam": "(model, images, target=None, *, layer=None, batch_size=None, max_channels=None, attribute=None)",
    "guided_backprop": "(model, images, target=None, *, batch_size=None, signed=False)",
    "guided_grad_cam": "(model, images, target=None, *, layer=None, batch_size=None, signed=False, attribute=None)",
    "integrated_gradients": "(model, images, target=None, *, batch_size=None, baseline=0.0, steps=50, rule='midpoint', max_sigma=None, signed=False, verbose=0, attribute=None)",
    "blur_integrated_gradients": "(model, images, target=None, *, batch_size=None, steps=50, rule='midpoint', max_sigma=None, signed=False, verbose=0)",
    "expected_gradients": "(model, images, target=None, *, batch_size=None, references=None, samples=50, seed=0, signed=False, verbose=0)",
    "guided_integrated_gradients": "(model, images, target=None, *, batch_size=None, baseline=0.0, steps=50, fraction=0.25, max_dist=0.02, signed=False, verbose=0)",
    "occlusion": "(model, images, target=None, *, patch=None, stride=None, value=None, batch_size=None, inference='auto', verbose=0, attribute=None)",
    "occlusion_plan": "(model, images, target=None, *, patch=None, stride=None, inference='auto')",
    "occlusion_coarse_to_fine": "(model, images, target=None, *, patch=None, stride=None, coarse=4, threshold=0.1, value=None, batch_size=None, inference='auto', verbose=0)",
    "occlusion_to_input": "(heatmap, image_size, patch=None, stride=None)",
    "occlusion_geometry": "(height, width, patch=None, stride=None)",
    "saliency": "(model, images, target=None, *, batch_size=None, signed=False, attribute=None)",
    "show": "(obj, images=None, *, value_range=(0.0, 1.0), title=None, labels=None, alpha=0.6, colormap_name='inferno')",
    "smoothgrad": "(model, images, target=None, *, batch_size=None, samples=25, noise=0.15, value_range=None, seed=0, signed=False, magnitude=None, verbose=0, attribute=None)",
    "smoothgrad_squared": "(model, images, target=None, *, batch_size=None, samples=25, noise=0.15, value_range=None, seed=0, signed=False, verbose=0)",
    "vargrad": "(model, images, target=None, *, batch_size=None, samples=25, noise=0.15, value_range=None, seed=0, signed=False, verbose=0)",
    "noise_tunnel": "(model, images, target=None, *, method='saliency', reduce='mean', batch_size=None, samples=25, noise=0.15, value_range=None, seed=0, signed=False, verbose=0, **params)",
    "gradient_x_input": "(model, images, target=None, *, batch_size=None, signed=False, attribute=None)",
    "deconvnet": "(model, images, target=None, *, batch_size=None, signed=False)",
    "rise": "(model, images, target=None, *, batch_size=None, seed=0, masks=4000, grid=7, keep=0.5, baseline=0.0, verbose=0, attribute=None)",
    "lime": "(model, images, target=None, *, batch_size=None, seed=0, samples=1000, segments='slic', segment_params=None, baseline=None, kernel_width=0.25, alpha=1.0, verbose=0)",
    "kernel_shap": "(model, images, target=None, *, batch_size=None, seed=0, samples=1000, segments='slic', segment_params=None, baseline=None, verbose=0)",
    "xrai": "(model, images, target=None, *, batch_size=None, attribution=None, steps=50, scales=(50, 100, 150, 250, 500, 1200), sigma=0.8, min_size=None, verbose=0)",
    "superpixels": "(images, method='slic', *, value_low=0.0, **params)",
    "embedding_grid": "(images, coords, *, grid=None, cell=None)",
    "features": "(model, data, layer=None, *, batch_size=None, pool='avg', out=None, verbose=0)",
    "nearest_neighbors": "(features, queries=None, k=5, *, metric='euclidean', exclude_self=False, index='auto')",
    "neighbors_figure": "(images, indices, *, query_images=None, pad=2)",
    "project": "(features, method='pca', *, dims=2, seed=0, perplexity=30.0, verbose=0)",
    "filter_grid": "(model, layer=None, *, max_filters=64, max_channels=16, pad=1)",
    "patches_grid": "(result, *, value_range=(0.0, 1.0), pad=2)",
    "top_patches": "(model, data, layer=None, channels=0, *, k=9, batch_size=None, verbose=0)",
    "receptive_field": "(model, layer=None, *, input_shape=None, method='auto')",
    "class_visualization": "(model, target, *, init=None, image_shape=None, steps=256, learning_rate=None, l2=None, blur_every=None, blur_sigma=0.5, jitter=None, parameterization=Parameterization('fourier', decorrelate=None, squash='sigmoid', decay=1.25), transforms='standard', value_range=(0.0, 1.0), seed=0, callback=None, verbose=0)",
    "fooling_image": "(model, image, target_class, *, max_steps=100, learning_rate=None, value_range=(0.0, 1.0), verbose=0)",
    "fgsm": "(model, images, target=None, *, target_class=None, epsilon=0.007, value_range=(0.0, 1.0), batch_size=None)",
    "invert_features": "(model, image_or_features, layer, *, steps=200, learning_rate=None, tv=0.05, l2=0.0, value_range=(0.0, 1.0), init=None, seed=0, callback=None, verbose=0)",
    "deep_dream": "(model, image, layers=None, *, octaves=4, octave_scale=1.4, steps_per_octave=20, learning_rate=None, jitter=None, parameterization=None, transforms=None, value_range=(0.0, 1.0), seed=0, callback=None, verbose=0)",
    "style_transfer": "(model, content, style, content_layer=None, style_layers=None, *, content_weight=1.0, style_weight=10.0, tv_weight=0.01, init='content', steps=200, learning_rate=None, parameterization=None, transforms=None, value_range=(0.0, 1.0), seed=0, callback=None, verbose=0)",
    "texture_synthesis": "(model, texture, layers=None, *, init=None, steps=200, learning_rate=None, tv_weight=0.01, jitter=None, parameterization=None, transforms=None, value_range=(0.0, 1.0), seed=0, callback=None, verbose=0)",
    "gram_matrix": "(activations)",
    "optimize": "(model, objective, init, *, layers=None, extras=(), objective_key=None, steps=100, learning_rate=0.01, value_range=(0.0, 1.0), l2=0.0, tv=0.0, jitter=0, blur_every=0, blur_sigma=0.5, normalize_gradient=True, seed=0, callback=None, verbose=0, stop=None, parameterization=None, transforms=None, reads_logits=True)",
    "explain_dataset": "(model, dataset, methods, *, out, target=None, metrics=(), strategy=None, batch_size=None, shard_size=256, seed=0, value_range=None, verbose=1, **method_params)",
    "load_explanations": "(out)",
    "lrp": "(model, images, target=None, *, batch_size=None, composite='epsilon_plus', value_range=None, signed=False, attribute=None)",
    "gradient_shap": "(model, images, target=None, *, batch_size=None, references=None, samples=50, noise=0.1, value_range=None, seed=0, signed=False, verbose=0)",
    "layer_gradient_x_activation": "(model, images, target=None, *, layer=None, batch_size=None, output='pixels')",
    "layer_integrated_gradients": "(model, images, target=None, *, layer=None, batch_size=None, baseline=0.0, steps=50, rule='midpoint', output='pixels', verbose=0)",
    "layer_conductance": "(model, images, target=None, *, layer=None, batch_size=None, baseline=0.0, steps=50, rule='midpoint', output='pixels', verbose=0)",
    "neuron_conductance": "(model, images, target=None, *, neuron=None, layer=None, batch_size=None, baseline=0.0, steps=50, rule='midpoint', signed=False, verbose=0)",
    "explain_regions": "(model, images, method='saliency', *, classes=None, background=None, min_pixels=1, batch_size=None, **params)",
    "explain_detections": "(model, images, method='saliency', *, top=3, min_score=0.0, boxes='boxes', scores='scores', iou=False, batch_size=None, **params)",
    "deeplift": "(model, images, target=None, *, batch_size=None, baseline=0.0, rule='rescale', signed=False, attribute=None)",
    "deeplift_shap": "(model, images, target=None, *, batch_size=None, references=None, samples=16, seed=0, rule='rescale', signed=False)",
}
MODULES = ["callbacks", "data", "demo", "display", "image", "inside", "metrics", "models", "relevance", "summary", "targets"]

CALLBACKS = {
    "BuildingBlocksCallback": "(log_dir, images, layer=None, *, groups=6, target=None, top=4, max_channels=24, steps=128, image_shape=None, names=None, every=None, value_range=(0.0, 1.0), class_names=None, seed=0, batch_size=None, run_name='blocks', on_error='warn')",
    "CraftCallback": "(log_dir, images, target, layer=None, *, concepts=10, designs=32, patch_size=None, shown=16, max_iter=1000, name=None, every=None, value_range=(0.0, 1.0), class_names=None, seed=0, batch_size=None, run_name='concepts', on_error='warn')",
    "TCAVCallback": "(log_dir, images, concepts, random_sets, targets, layer=None, *, alpha=0.05, name='tcav', every=None, value_range=(0.0, 1.0), class_names=None, seed=0, batch_size=None, run_name='concepts', on_error='warn')",
}
CALLBACK_NAMES = ["AttributionCallback", "BuildingBlocksCallback", "ClassVisualizationCallback", "CraftCallback",
                  "DEFAULT_METHODS", "EmbeddingCallback", "FeatureMapsCallback", "FeatureVisualizationCallback",
                  "FilterCallback", "MicroscopeCallback", "PatchesCallback", "TCAVCallback", "VisualizationCallback",
                  "chief_of", "is_chief"]


def test_all_is_the_snapshot():
    assert sorted(kerasviz.__all__) == sorted(list(PUBLIC) + MODULES)


def _plain(signature):
    """The signature without annotations: names, kinds and defaults."""
    empty = inspect.Parameter.empty
    return str(signature.replace(
        parameters=[p.replace(annotation=empty) for p in signature.parameters.values()],
        return_annotation=empty,
    ))


def test_signatures_are_the_snapshot():
    for name, signature in PUBLIC.items():
        assert _plain(inspect.signature(getattr(kerasviz, name))) == signature, name


def test_callbacks_are_the_snapshot():
    assert sorted(kerasviz.callbacks.__all__) == sorted(CALLBACK_NAMES)
    for name, signature in CALLBACKS.items():
        assert _plain(inspect.signature(getattr(kerasviz.callbacks, name))) == signature, name


def test_attribution_methods_share_the_call_shape():
    from kerasviz import registry

    for name, method in registry.ATTRIBUTION_METHODS.items():
        parameters = list(inspect.signature(method).parameters.values())
        assert [p.name for p in parameters[:3]] == ["model", "images", "target"], name
        assert parameters[2].default is None, name
        assert inspect.signature(method).parameters["batch_size"].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert method.__doc__ and "Args:" in method.__doc__ and "Returns:" in method.__doc__, name


def test_the_readmes_method_table_is_the_registry():
    """Every registered method has its row in the README's table, with the paper its record cites, and no other."""
    import os
    import re

    from kerasviz import registry

    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        rows = re.findall(r"^\| `([a-z_]+)`(?: \([^|]*\))? \| ([^|]+?) \|", f.read(), re.MULTILINE)
    # The methods' table: a paper in the second column (the metrics' has the function there); the noise tunnel
    # wraps a method and has its row, marked "not in the registry".
    methods = {name: paper for name, paper in rows if ("et al." in paper or "&" in paper) and name != "noise_tunnel"}
    assert methods == {name: method.paper for name, method in registry.METHODS.items()}
