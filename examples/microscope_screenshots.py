"""Screenshots of the dashboard's Microscope: a channel page and the atlas, from a logdir `kerasviz microscope` wrote.

    kerasviz microscope --model M --data photos/ --logdir logs/microscope ...
    python examples/microscope_screenshots.py logs/microscope --channel 2 --out docs/

Starts TensorBoard with the kerasviz plugin on 127.0.0.1, opens the channel's
page by its URL in headless Chromium (needs /usr/bin/chromium and the
`playwright` package), then the layer's atlas with its fullest cell opened,
and saves `microscope_channel.png` and `microscope_atlas.png`.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

SERVER = """
import sys
from tensorboard import default, program
from tb_plugin.plugin import KerasvizLoader
plugins = [p for p in default.get_plugins() if p is not KerasvizLoader]
tensorboard = program.TensorBoard(plugins=plugins + [KerasvizLoader])
tensorboard.configure(["tensorboard"] + sys.argv[1:])
sys.exit(tensorboard.main())
"""
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def list_runs(url):
    with urllib.request.urlopen(url + "/data/plugin/kerasviz/runs", timeout=5) as response:
        return json.load(response)["runs"]


def kerasviz_frame(page):
    for _ in range(300):
        frame = next((f for f in page.frames if "plugin_entry.html?name=kerasviz" in f.url), None)
        if frame is not None:
            return frame
        page.wait_for_timeout(100)
    raise RuntimeError("TensorBoard did not open the kerasviz frame")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logdir")
    parser.add_argument("--run", default="microscope")
    parser.add_argument("--channel", type=int, default=0)
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([sys.executable, "-c", SERVER, "--logdir", args.logdir, "--host", "127.0.0.1",
                               "--port", str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        layer = None
        for _ in range(200):
            try:
                run = next((r for r in list_runs(url) if r["name"] == args.run), None)
                layer = run and next((t["layer"] for t in run["tags"] if t.get("method") == "channel"), None)
            except OSError:
                pass
            if layer:
                break
            time.sleep(0.3)
        state = {"family": "microscope", "run": args.run, "layer": layer, "channel": args.channel, "mode": "channel"}
        with sync_playwright() as playwright:
            profile = tempfile.mkdtemp(prefix="kerasviz_chromium_")
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path="/usr/bin/chromium", headless=True,
                args=["--headless", "--no-sandbox", "--disable-gpu"], viewport={"width": 1366, "height": 900})
            page = context.new_page()
            page.goto(f"{url}/#kerasviz&kv={urllib.parse.quote(json.dumps(state))}")
            frame = kerasviz_frame(page)
            frame.wait_for_function("() => { const p = document.getElementById('kv-ms-page');"
                                    " return p && p.dataset.shown && !p.dataset.loading"
                                    " && [...p.querySelectorAll('img')].every(i => i.complete); }", timeout=60000)
            os.makedirs(args.out, exist_ok=True)
            page.screenshot(path=os.path.join(args.out, "microscope_channel.png"))
            frame.click("#kv-ms-mode-atlas")
            frame.wait_for_selector("#kv-ms-atlas[data-shown] img.kv-ms-cell", timeout=60000)
            fullest = frame.eval_on_selector_all(
                "img.kv-ms-cell", "cells => cells.map(c => [Number(c.title.split(': ')[1].split(' ')[0]), c.dataset.index])"
                ".sort((a, b) => b[0] - a[0])[0][1]")
            frame.click(f"img.kv-ms-cell[data-index='{fullest}']")
            frame.wait_for_function("() => { const i = document.getElementById('kv-ms-sources');"
                                    " return i && i.complete && i.naturalWidth > 0; }", timeout=60000)
            frame.wait_for_function("() => [...document.querySelectorAll('img.kv-ms-cell')].every(i => i.complete)")
            page.screenshot(path=os.path.join(args.out, "microscope_atlas.png"))
            context.close()
    finally:
        server.terminate()
        server.wait()
    print("wrote", os.path.join(args.out, "microscope_channel.png"), os.path.join(args.out, "microscope_atlas.png"))


if __name__ == "__main__":
    main()
