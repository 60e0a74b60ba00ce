"""How fast the dashboard's Microscope switches channels, in headless Chromium inside a real TensorBoard.

Opens a layer's first channel page by its URL, then presses → through its
channels (first visits: each record read from the plugin, its neighbours read
ahead) and ← back (cached), timing each switch from the key press until the
page and all its images are shown.

Usage (a logdir written by `kerasviz microscope`):
    python benchmarks/dashboard_microscope.py /tmp/ms_imagenet --layer conv_2d_48_act
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from examples.microscope_screenshots import REPO, SERVER, kerasviz_frame, free_port, list_runs  # noqa: E402

SHOWN = ("(k) => { const p = document.getElementById('kv-ms-page'); return p && p.dataset.shown === k"
         " && !p.dataset.loading && [...p.querySelectorAll('img')].every(i => i.complete); }")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logdir")
    parser.add_argument("--run", default="microscope")
    parser.add_argument("--layer", required=True)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([sys.executable, "-c", SERVER, "--logdir", args.logdir, "--host", "127.0.0.1",
                               "--port", str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                if list_runs(url):
                    break
            except OSError:
                pass
            time.sleep(0.3)
        tag = f"kerasviz/microscope/channel/{args.layer.replace('/', '__')}"
        query = urllib.parse.urlencode({"run": args.run, "tag": tag})
        with urllib.request.urlopen(f"{url}/data/plugin/kerasviz/steps?{query}", timeout=30) as response:
            channels = [s["step"] for s in json.load(response)["steps"]]
        state = {"family": "microscope", "run": args.run, "layer": args.layer, "channel": channels[0]}
        key = f"{args.run}|{args.layer}|%d"
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                                  args=["--no-sandbox", "--disable-gpu"])
            page = chromium.new_page(viewport={"width": 1366, "height": 900})
            page.goto(f"{url}/#kerasviz&kv={urllib.parse.quote(json.dumps(state))}")
            frame = kerasviz_frame(page)
            frame.wait_for_function(SHOWN, arg=key % channels[0], timeout=60000)
            frame.click("#kv-ms-title")
            for name, keyname, order in (("forward, first visits", "ArrowRight", channels[1:]),
                                         ("back, cached", "ArrowLeft", channels[-2::-1])):
                times = []
                for channel in order:
                    start = time.perf_counter()
                    page.keyboard.press(keyname)
                    frame.wait_for_function(SHOWN, arg=key % channel, timeout=60000, polling=10)
                    times.append(round((time.perf_counter() - start) * 1000))
                print(f"{name}: ms per channel switch, page and images shown: {times}")
            chromium.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
