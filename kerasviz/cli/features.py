"""`kerasviz features`: what a layer's channels respond to (feature visualization), and where (feature maps)."""

import os

from kerasviz.cli import common


def add_parser(commands, parents):
    p = commands.add_parser("features", parents=parents,
                            help="feature visualization of a layer's channels; with images, their feature maps")
    p.add_argument("model", help="a saved Keras model (.keras)")
    p.add_argument("images", nargs="*",
                   help="image files for feature maps (centre-cropped and resized to the model's input size; see "
                   "--stretch); none: only the feature visualization")
    p.add_argument("--layer", default=None, metavar="L",
                   help="the layer (default: feature visualization's, a block of the second-deepest stage, or at 80%% of the depth; "
                   "feature maps': the last spatial block)")
    p.add_argument("--channels", type=int, nargs="+", default=None, metavar="N",
                   help="channel indices (default: the first 16 for the feature visualization, the 16 most "
                   "active over the images for the feature maps, most active first)")
    p.add_argument("--steps", type=int, default=256, help="optimization steps (default: 256)")
    p.add_argument("--seed", type=int, default=0, help="the optimization's seed (default: 0)")
    common.add_value_range(p)
    common.add_stretch(p)
    common.add_out(p)
    p.set_defaults(run=run)


def _check(args):
    if args.steps < 1:
        raise common.UsageError(f"--steps: expected a positive number; received {args.steps}.")
    if args.seed < 0:
        raise common.UsageError(f"--seed: expected a number >= 0; received {args.seed}.")
    if args.channels is not None and min(args.channels) < 0:
        raise common.UsageError(f"--channels: expected channel indices >= 0; received {min(args.channels)}.")


def run(args):
    _check(args)
    value_range = common.value_range(args.value_range)
    model = common.load_model(args.model)
    if args.layer is not None:
        common.check_layer(model, args.layer, "--layer")
    images = common.load_images(args.images, model, value_range, stretch=args.stretch) if args.images else None
    write_figures(args.out, model, images, value_range, layer=args.layer, channels=args.channels,
                  steps=args.steps, seed=args.seed)


def _default(model, shape):
    """Feature visualization's default layer, or `UsageError` saying to pass `--layer`."""
    from kerasviz.gradients import feature_visualization

    try:
        return feature_visualization.default_layer(model, shape)
    except ValueError as error:
        raise common.UsageError(f"{error} Pass --layer NAME.") from None


def _said(layer, default):
    return f"layer {layer!r}" + (f" (the default: {default})" if default else "")


def write_figures(directory, model, images=None, value_range=(0.0, 1.0), *, layer=None, channels=None, steps=256,
                  seed=0, stage=None):
    """`feature_visualization.png` and, given images, `feature_maps.png`; returns the paths written.

    Each figure says its layer; a default layer is printed as such. `stage` (a
    `common.Stages`) times each.
    """
    import kerasviz

    stage = stage or common.Stages()
    os.makedirs(directory, exist_ok=True)
    written = []
    shape = None if images is None else images.shape[1:]
    fv_layer = layer if layer is not None else _default(model, shape)
    if images is not None:  # a layer or channels the maps cannot take fail now, not after the optimization
        fm_layer = layer or common.default_layer(model, "grad_cam", shape, "--layer")
        kerasviz.feature_maps(model, images[:1], fm_layer, channels=channels)
    said = _said(fv_layer, None if layer else "a block of the second-deepest stage, or at 80% of the depth")
    with stage(f"feature visualization: {said}"):
        result = kerasviz.feature_visualization(model, fv_layer, channels, steps=steps, value_range=value_range,
                                                seed=seed, verbose=1)
        title = (f"feature visualization of {result.layer}: per channel, the image that excites it most "
                 f"({steps} steps; over each: layer, channel and its mean activation)")
        written.append(common.save_png(os.path.join(directory, "feature_visualization.png"),
                                       kerasviz.image.titled(result.grid, title)))
    if images is not None:
        said = _said(fm_layer, None if layer else "the last spatial block")
        with stage(f"feature maps: {said}, {len(images)} image(s)"):
            maps = kerasviz.feature_maps(model, images, fm_layer, channels=channels)
            figure = maps_figure(maps, kerasviz.image.to_display(images, value_range))
            written.append(common.save_png(os.path.join(directory, "feature_maps.png"), figure))
    print("Wrote " + ", ".join(written), flush=True)
    return written


def maps_figure(maps, shown):
    """A `kerasviz.feature_maps` result as one picture: a row per image (the image, then its grid), titled.

    Args:
        maps: the `FeatureMaps` of the images.
        shown: the images in display space, `[B, H, W, C]` in [0, 1].
    """
    import numpy as np

    import kerasviz

    rows = []
    for picture, grid in zip(shown, maps.grids):
        grid = np.repeat(grid[..., None], picture.shape[-1], axis=-1)
        factor = max(1, grid.shape[0] // (2 * picture.shape[0]))
        rows.append(common.side_by_side([np.kron(picture, np.ones((factor, factor, 1))), grid]))
    return kerasviz.image.titled(_stacked(rows), f"feature maps of {maps.layer}: each image, then its channels "
                                 "(most active over the images first; labels: channel: its mean activation in "
                                 "the image; each image's maps scaled together)")


def _stacked(rows, pad=6):
    """Rows `[H_i, W_i, C]` one under the other, left-aligned, padded white."""
    import numpy as np

    width = max(r.shape[1] for r in rows)
    out = []
    for r in rows:
        filled = np.ones((r.shape[0], width, r.shape[2]), np.float32)
        filled[:, :r.shape[1]] = r
        out += [filled, np.ones((pad, width, r.shape[2]), np.float32)]
    return np.concatenate(out[:-1], axis=0)
