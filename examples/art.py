"""DeepDream, texture synthesis and neural style transfer on scikit-learn's two sample photos.

    python examples/art.py                   # small models, runs offline in about a minute on a laptop
    python examples/art.py --out art/ --quick

The models here are small on purpose: DeepDream through the demo model's trained conv layers,
textures through random filters (which already give textures: Ustyuzhaninov et al., 2016). With
internet access, use a pretrained VGG for the papers' results (inputs in VGG's caffe space):

    vgg = keras.applications.VGG16(weights="imagenet", include_top=False, input_shape=(None, None, 3))
    to_vgg = lambda x: keras.applications.vgg16.preprocess_input(255.0 * x)    # [0, 1] -> caffe BGR
    vgg_range = None                                                            # no clipping there
    dream = kerasviz.deep_dream(vgg, to_vgg(photo[None]), octaves=4, value_range=vgg_range)
    painting = kerasviz.style_transfer(vgg, to_vgg(content[None]), to_vgg(style[None]), value_range=vgg_range)
"""

import argparse
import os

import keras
import numpy as np

import kerasviz


def save(path, pictures, scale=1):
    """Display images `[H, W, C]` in [0, 1] (one height), in one row, enlarged `scale` times."""
    row = kerasviz.image.tile(np.stack(pictures).astype(np.float32), cols=len(pictures), pad=2)
    with open(path, "wb") as f:
        f.write(kerasviz.image.encode_png(np.kron(row, np.ones((scale, scale, 1)))))
    print("wrote", path)


def demo_convs():
    """A fully convolutional model (any input size) from the demo model's trained conv layers.

    Calling the demo's layers on a new input adds nodes to them: fine for a model of our own,
    never do it to a model that is not yours to change.
    """
    demo = kerasviz.demo.demo_model("shapes")
    inputs = keras.Input((None, None, 3))
    x = inputs
    for name in ("conv1", "pool1", "conv2", "pool2", "conv3"):
        x = demo.get_layer(name)(x)
    return keras.Model(inputs, x, name="demo_convs")


def random_convs(seed=0):
    """A small conv net with random (never trained) filters, for Gram-matrix textures."""
    init = keras.initializers.HeNormal
    inputs = keras.Input((None, None, 3))
    x = inputs
    for i, (filters, size) in enumerate([(32, 3), (64, 3), (64, 3), (128, 3)]):
        if i:
            x = keras.layers.AveragePooling2D(2, name=f"pool{i}")(x)
        x = keras.layers.Conv2D(filters, size, padding="same", activation="relu",
                                kernel_initializer=init(seed + i), name=f"conv{i + 1}")(x)
    return keras.Model(inputs, x, name="random_convs")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="art")
    parser.add_argument("--quick", action="store_true", help="few steps (a smoke test, rougher pictures)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    few = args.quick

    photos = kerasviz.demo.sample_images(size=192)
    china = photos["china"]
    flower = photos["flower"][64:128, 64:128]  # a 64x64 crop of petals
    small_china = kerasviz.demo.sample_images(size=64)["china"]

    # DeepDream (Mordvintsev et al., 2015) through the demo's trained convs, three octaves.
    convs = demo_convs()
    dream = kerasviz.deep_dream(convs, china[None], ["conv3"], octaves=2 if few else 3,
                                steps_per_octave=4 if few else 20)
    print(f"DeepDream: objective {dream.losses[0]:.3f} at start, {dream.losses[-1]:.3f} at the end "
          f"({dream.steps} steps; the octaves start smaller, so the first loss is at the smallest scale)")
    save(os.path.join(args.out, "deep_dream.png"), [china, dream.image[0]])

    # Texture synthesis (Gatys et al., 2015) with random filters: new petals from noise.
    random_net = random_convs()
    texture = kerasviz.texture_synthesis(random_net, flower[None], steps=30 if few else 200)
    print(f"texture synthesis: Gram loss {-texture.losses[0]:.4f} at start, {-texture.losses[-1]:.4f} at the end "
          f"({texture.steps} steps)")
    save(os.path.join(args.out, "texture.png"), [flower, texture.image[0]], scale=3)

    # Style transfer (Gatys et al., 2016): china's content, flower's style, through the same random net.
    painting = kerasviz.style_transfer(random_net, small_china[None], flower[None], "conv3",
                                       ["conv1", "conv2", "conv3", "conv4"], steps=30 if few else 200)
    print(f"style transfer: loss {-painting.losses[0]:.4f} at start, {-painting.losses[-1]:.4f} at the end "
          f"({painting.steps} steps)")
    save(os.path.join(args.out, "style_transfer.png"), [small_china, flower, painting.image[0]], scale=3)


if __name__ == "__main__":
    main()
