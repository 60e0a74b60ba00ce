"""Peak memory of `dissect`, `sample_activations`, `build_microscope` and `craft` over 1,000 and 10,000 shapes images.

Each (function, size) runs in a fresh process, so that its peak is its own. In it, the demo model and the
shapes test set (`kerasviz.demo.demo_data("shapes")[1]`, with its concept masks from
`kerasviz.inside.shapes_concepts`: 5 shapes and 8 colours) are loaded, and the function reads a stream of N
images: the test set repeated, `tf.data.Dataset.from_tensor_slices(...).repeat().take(N).batch(32)` (the input
takes no memory that grows with N). Measured: the resident set just before the call and its maximum during it,
sampled every 10 ms (`/proc/self/statm`), and the wall and CPU time of the call. Memory is flat when the peak
minus the resident set before is the same at 1k and 10k (within a few MiB: the quantile sketch of `dissect`
grows by `units * capacity` floats per doubling of the positions, 2 MiB for 64 units).

Usage:
    python benchmarks/inside_memory.py                          # dissect and sample_activations, 1k and 10k
    python benchmarks/inside_memory.py --sizes 1000 --functions dissect --layer conv2
    python benchmarks/inside_memory.py --state-dir              # the same with a state_dir (checkpoints on disk)
    python benchmarks/inside_memory.py --functions build_microscope  # 2 channels of conv3, tiny renders, a 4x4 atlas
    python benchmarks/inside_memory.py --functions craft        # craft_concepts streamed: 10 concepts of conv3
    python benchmarks/inside_memory.py --functions craft_in_memory --sizes 1000  # the same images as one array

`craft` streams (MiniBatchNMF, `kerasviz.inside.craft_stream`): its result holds each patch's 10 coefficients
and origin (64 bytes a patch, 16 patches an image: 1 MiB per 1,000 images), the rest is flat; `craft_in_memory`
holds the images and every patch's activations. Measured on the shared two-core machine (commit 2deb6c3):
craft 1k +40.3 MiB (wall 101 s), 10k +48.1 MiB (wall 397 s; the 7.8 MiB between them are the result's
144,000 more patch rows, 8.4 MiB); craft_in_memory 1k +109.7 MiB.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 32


def child(function, n, layer, state_dir):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    import kerasviz
    from kerasviz import inside
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from limits import RssSampler

    model = kerasviz.demo.demo_model("shapes")
    test = kerasviz.demo.demo_data("shapes")[1]
    if function in ("dissect", "build_microscope"):
        masks, names = inside.shapes_concepts(test)
        stream = tf.data.Dataset.from_tensor_slices((test.images, masks)).repeat().take(n).batch(BATCH)
    else:
        stream = tf.data.Dataset.from_tensor_slices(test.images).repeat().take(n).batch(BATCH)
    extra_fields = {}
    with tempfile.TemporaryDirectory() as folder:
        extra = {"state_dir": folder} if state_dir else {}
        rss = RssSampler()
        wall, cpu = time.perf_counter(), time.process_time()
        with rss:
            if function == "dissect":
                result = inside.dissect(model, stream, layer, names, batch_size=BATCH, value_range=(0, 1), **extra)
                check = result.positions
            elif function == "build_microscope":  # the records go to the temporary folder; tiny renders
                result = inside.build_microscope(model, stream, folder, [layer], [0, 1], concepts=names, steps=2,
                                                 facets=1, grid=4, samples=2000, atlas_steps=2, effect_images=4,
                                                 value_range=(0, 1), batch_size=BATCH)
                check = len(result.written)
            elif function in ("craft", "craft_in_memory"):
                if function == "craft_in_memory":  # the images as one array: they and all patches are held
                    stream = np.concatenate([test.images] * (n // len(test.images) + 1))[:n]
                result = inside.craft_concepts(model, stream, layer, 10, batch_size=BATCH, value_range=(0, 1))
                check = len(result.patch_origins)
                extra_fields["reconstruction_error"] = round(result.error, 4)
            else:
                result = inside.sample_activations(model, stream, layer, 10000, batch_size=BATCH,
                                                   value_range=(0, 1), **extra)
                check = result.seen
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"function": function, "n": n, "layer": layer, "state_dir": state_dir, "wall_s": round(wall, 1),
                      "cpu_s": round(cpu, 1), "rss_before_mib": round(rss.before / 2**20, 1),
                      "peak_rss_mib": round(rss.peak / 2**20, 1),
                      "growth_mib": round((rss.peak - rss.before) / 2**20, 1),
                      "process_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "positions": int(check), **extra_fields, "numpy": np.__version__}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--functions", nargs="+", default=["dissect", "sample_activations"])
    parser.add_argument("--layer", default="conv3")
    parser.add_argument("--state-dir", action="store_true", help="save the state after each shard")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.layer, args.state_dir)
        return
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for function in args.functions:
        for n in args.sizes:
            command = [sys.executable, os.path.abspath(__file__), "--child", function, str(n), "--layer", args.layer]
            if args.state_dir:
                command.append("--state-dir")
            lines = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
            print(lines.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
