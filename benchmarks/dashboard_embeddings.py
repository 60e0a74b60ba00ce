"""The dashboard's embeddings view with 100,000 points, in headless Chromium inside a real TensorBoard.

Writes one embeddings record of N points (default 100,000: 20 clusters,
labels, predictions, k=5 neighbours, 8x8 thumbnails; the record stays under
`tb_plugin.metadata.MAX_RECORD_BYTES`), starts TensorBoard with our plugin on
127.0.0.1 (the test suite's launcher), opens the view and measures:

- time to first draw: from the view asking for the record's summary to the
  first frame with every tile on screen drawn (the view's own clock,
  `performance.now()`), cold (the server decodes the record and builds its
  tile index) and then warm (page reloaded, `--repeats` times, median);
- frame time while panning: a mouse drag across the map in 60 moves, at the
  first zoom level and zoomed in 8x around a drawn point (new tiles load as the view moves): the
  view's draw time per frame (median, 95th percentile) and the interval
  between animation frames (median) while dragging.

Headless Chromium draws on the CPU (`--disable-gpu`), and the machine is
shared: numbers are an upper bound of what a desktop browser does.

Usage:
    python benchmarks/dashboard_embeddings.py [--points 100000] [--repeats 3]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from tests.helpers import browser, records  # noqa: E402


def write_record(run_dir, n):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 20, n)
    centres = rng.normal(0, 12, (20, 2))
    coords = (centres[labels] + rng.normal(size=(n, 2)) * rng.uniform(0.5, 2.5, (20, 1))[labels]).astype(np.float32)
    predictions = np.where(rng.random(n) < 0.1, rng.integers(0, 20, n), labels)
    header = {"family": "activations", "method": "embeddings", "layer": "fc", "projection": "tsne",
              "class_names": [f"class {k}" for k in range(20)], "labels": labels.tolist(),
              "predictions": predictions.tolist(), "probabilities": np.round(rng.random(n), 3).tolist(),
              "projector_run": None}
    arrays = {"coords": coords, "neighbors": rng.integers(0, n, (n, 5)).astype(np.int32),
              "thumbnails": rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)}
    writer = tf.summary.create_file_writer(run_dir)
    records.write_record(writer, "activations", "embeddings", header, arrays, 0, "fc")
    writer.close()


def start_tensorboard(logdir):
    port = browser.free_port()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen(
        [sys.executable, "-c", browser.SERVER, "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port),
         "--reload_interval", "0"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            runs = browser.list_runs(url)
            if "big" in runs and runs["big"]["tags"]:
                return process, url
        except OSError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError("tensorboard did not list the run within 300 s")


def open_view(frame):
    frame.wait_for_selector("#kv-run")
    frame.wait_for_function("() => document.querySelector('.kv-tab[aria-selected=\"true\"]')")
    frame.click(".kv-subtab[data-method='embeddings']")
    frame.wait_for_function("() => { const p = document.getElementById('kv-emb-plot');"
                            " return p && p.dataset.shown && p.kv.stats.firstDrawMs !== null; }", timeout=600_000)
    return frame.eval_on_selector("#kv-emb-plot", "p => p.kv.stats.firstDrawMs")


def pan(page, frame):
    """Drags across the plot in 60 moves; returns (draw ms list, animation-frame intervals ms)."""
    frame.evaluate("""() => { const p = document.getElementById('kv-emb-plot'); p.kv.stats.drawMs.length = 0;
        window.kvFrames = []; const tick = (t) => { window.kvFrames.push(t); if (window.kvFrames.length < 100000)
        window.kvRaf = requestAnimationFrame(tick); }; window.kvRaf = requestAnimationFrame(tick); }""")
    box = frame.frame_element().bounding_box()
    plot = frame.eval_on_selector("#kv-emb-plot", "p => { const r = p.getBoundingClientRect();"
                                  " return [r.left, r.top, r.width, r.height]; }")
    x0, y0 = box["x"] + plot[0] + plot[2] * 0.25, box["y"] + plot[1] + plot[3] * 0.5
    page.mouse.move(x0, y0)
    page.mouse.down()
    for k in range(1, 61):
        page.mouse.move(x0 + plot[2] * 0.5 * k / 60, y0 + plot[3] * 0.2 * np.sin(k / 9))
        page.wait_for_timeout(16)
    page.mouse.up()
    page.wait_for_timeout(300)
    draws = frame.eval_on_selector("#kv-emb-plot", "p => p.kv.stats.drawMs.slice()")
    frames = frame.evaluate("() => { cancelAnimationFrame(window.kvRaf); return window.kvFrames; }")
    return draws, np.diff(frames).tolist()


def row(label, draws, intervals, drawn):
    print(f"{label:30s} {len(draws):6d} {np.median(draws):9.2f} {np.percentile(draws, 95):9.2f} "
          f"{np.median(intervals):11.1f} {drawn:8d}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    logdir = tempfile.mkdtemp(prefix="kerasviz_bench_emb_")
    start = time.perf_counter()
    write_record(os.path.join(logdir, "big"), args.points)
    print(f"{args.points} points written in {time.perf_counter() - start:.1f} s; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    process, url = start_tensorboard(logdir)
    try:
        with browser.open_dashboard(url) as (page, frame, events):
            cold = open_view(frame)
            warm = []
            for _ in range(args.repeats):
                page.reload()
                frame = None
                while frame is None:
                    frame = next((f for f in page.frames if "plugin_entry.html?name=kerasviz" in f.url), None)
                    page.wait_for_timeout(100)
                warm.append(open_view(frame))
            drawn = int(frame.eval_on_selector("#kv-emb-plot", "p => p.dataset.drawn"))
            tiles = [u for u in events["requests"] if "/embedding_tile?" in u]
            print(f"time to first draw: cold {cold:.0f} ms (server decodes and indexes the record), warm median "
                  f"{np.median(warm):.0f} ms over {len(warm)} reloads ({', '.join(f'{w:.0f}' for w in warm)}); "
                  f"{drawn} points drawn at first, {len(tiles)} tile requests so far")
            print(f"{'panning':30s} {'frames':>6s} {'draw ms':>9s} {'p95 ms':>9s} {'frame ms':>11s} {'drawn':>8s}")
            draws, intervals = pan(page, frame)
            row("whole map (first level)", draws, intervals, drawn)
            box = frame.frame_element().bounding_box()  # zoom in 8x around a drawn point (a populated place)
            plot = frame.eval_on_selector("#kv-emb-plot", "p => { const r = p.getBoundingClientRect();"
                                          " return [r.left, r.top]; }")
            i = frame.eval_on_selector("#kv-emb-plot", "p => p.kv.drawnIndices()[0]")
            x, y = frame.eval_on_selector("#kv-emb-plot", "(p, i) => p.kv.plotXY(i)", i)
            page.mouse.move(box["x"] + plot[0] + x, box["y"] + plot[1] + y)
            for _ in range(3):
                page.mouse.wheel(0, -462)  # exp(0.0015 * 462) = 2
                page.wait_for_timeout(200)
            frame.wait_for_function("() => document.getElementById('kv-emb-plot').dataset.shown")
            page.wait_for_timeout(1500)
            draws, intervals = pan(page, frame)
            drawn = int(frame.eval_on_selector("#kv-emb-plot", "p => p.dataset.drawn"))
            level = frame.eval_on_selector("#kv-emb-plot", "p => p.dataset.level")
            row(f"zoomed 8x (level {level})", draws, intervals, drawn)
            assert not events["errors"], events["errors"]
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
