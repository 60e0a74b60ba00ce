"""A tiny microscope of the shapes demo model: the settings the microscope tests share, and reading it back.

`build` runs `kerasviz.inside.build_microscope` on the first `IMAGES` images
of the shapes test split (with their shape and colour masks), for
`CHANNELS` channels of conv2 and conv3, with few steps; `read` returns the
records of a run directory as `{(tag, step): (header, arrays)}`, read from
the event files with TensorBoard's own loader.
"""

import os

from tensorboard.backend.event_processing import event_file_loader
from tensorboard.util import tensor_util

from tb_plugin import metadata

IMAGES = 48
LAYERS = ("conv2", "conv3")
CHANNELS = (0, 1, 2)
SETTINGS = dict(steps=4, facets=2, k=3, fan=4, grid=3, samples=120, layout="pca", atlas_steps=3, sources=2,
                effect_images=4, seed=0)


def data():
    """`((images, masks), concept names, class names)` of the first `IMAGES` shapes test images."""
    import kerasviz
    from kerasviz import inside

    test = kerasviz.demo.demo_data("shapes")[1]
    masks, names = inside.shapes_concepts(test)
    return (test.images[:IMAGES], masks[:IMAGES]), names, list(test.class_names)


def build(model, log_dir, run_name="microscope", **overrides):
    from kerasviz import inside

    (images, masks), names, classes = data()
    settings = dict(SETTINGS, concepts=names, class_names=classes, run_name=run_name)
    settings.update(overrides)
    return inside.build_microscope(model, (images, masks), str(log_dir), list(LAYERS), list(CHANNELS), **settings)


def read(run_dir):
    """`{(tag, step): (header, arrays)}` of every kerasviz record in `run_dir`'s event files."""
    found = {}
    for name in sorted(os.listdir(run_dir)):
        if "tfevents" not in name:
            continue
        for event in event_file_loader.EventFileLoader(os.path.join(run_dir, name)).Load():
            for value in event.summary.value:
                blobs = tensor_util.make_ndarray(value.tensor)
                found[(value.tag, event.step)] = (metadata.decode_header(blobs[0]), metadata.decode_arrays(blobs[1]))
    return found
