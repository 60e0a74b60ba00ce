"""On a trained model, attribution maps point at the object (ground-truth masks of the shapes data).

`python -m pytest tests/across/test_pointing_game.py -s` prints what each method reaches on the first 24
test images (the object covers ~4% of the image); the assertions sit well below.
"""

import numpy as np
import pytest
from scipy import ndimage

import kerasviz
from kerasviz import registry

N = 24


def _pointing_and_mass(maps, masks):
    maps = np.maximum(maps, 0)
    near = np.stack([ndimage.binary_dilation(m, iterations=2) for m in masks])  # 2-px tolerance
    peaks = maps.reshape(len(maps), -1).argmax(axis=1)
    pointing = near.reshape(len(maps), -1)[np.arange(len(maps)), peaks].mean()
    mass = (maps * masks).sum(axis=(1, 2)) / np.maximum(maps.sum(axis=(1, 2)), 1e-12)
    return pointing, float(np.mean(mass / masks.mean(axis=(1, 2))))


@pytest.mark.parametrize("name", ["saliency", "guided_backprop", "smoothgrad", "integrated_gradients", "grad_cam", "guided_grad_cam"])
def test_gradient_maps_point_at_the_object(name, shapes_model):
    model, test = shapes_model
    x, y, masks = test.images[:N], test.labels[:N], test.masks[:N]
    pointing, mass_ratio = _pointing_and_mass(registry.ATTRIBUTION_METHODS[name](model, x, target=y), masks)
    random_pointing, random_ratio = _pointing_and_mass(np.random.default_rng(0).uniform(size=x.shape[:3]), masks)
    print(f"{name}: pointing {pointing:.2f}, mass/area {mass_ratio:.1f}x (random: {random_pointing:.2f}, {random_ratio:.1f}x)")
    assert pointing >= 0.65 and pointing > random_pointing + 0.5
    assert mass_ratio >= 5.0 and random_ratio < 1.5


def test_occlusion_drop_points_at_the_object(shapes_model):
    model, test = shapes_model
    x, y, masks = test.images[:N], test.labels[:N], test.masks[:N]
    heat = kerasviz.occlusion(model, x, target=y, patch=8, stride=4)
    clean = model.predict(x, verbose=0)[np.arange(N), y]
    drop = kerasviz.occlusion_to_input(np.maximum(clean[:, None, None] - heat, 0), x.shape[1:3], 8, 4)
    pointing, mass_ratio = _pointing_and_mass(drop, masks)
    print(f"occlusion drop: pointing {pointing:.2f}, mass/area {mass_ratio:.1f}x")
    assert pointing >= 0.8 and mass_ratio >= 5.0
