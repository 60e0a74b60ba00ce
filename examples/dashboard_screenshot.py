"""Screenshots of the kerasviz dashboard: TensorBoard with the plugin over a logdir, in headless Chromium.

    python examples/dashboard_screenshot.py LOGDIR --run blocks --tab "Building blocks" --out docs/blocks.png \\
        --hover "canvas.kv-blocks-groups-picture" 0.3 0.5
    python examples/dashboard_screenshot.py LOGDIR --run detector --tab Regions --out docs/regions_boxes.png
    python examples/dashboard_screenshot.py LOGDIR --run kerasviz --tab Attribution --wait "#kv-grid th.kv-group" \\
        --out docs/multi_input_dashboard.png --size 1366 1100

Needs /usr/bin/chromium and the `playwright` package. `serve` and `browse` are also what
`examples/microscope_screenshots.py` uses.
"""

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
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


def list_runs(url):
    """Our `/runs` route's answer: `[{"name", "tags": [...]}, ...]`."""
    with urllib.request.urlopen(url + "/data/plugin/kerasviz/runs", timeout=5) as response:
        return json.load(response)["runs"]


@contextlib.contextmanager
def serve(logdir, ready=lambda runs: bool(runs), timeout=60):
    """The URL of TensorBoard (with our plugin) over `logdir` on a free loopback port, once `ready(runs)`."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([sys.executable, "-c", SERVER, "--logdir", logdir, "--host", "127.0.0.1", "--port",
                               str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if ready(list_runs(url)):
                    break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError(f"TensorBoard did not serve {logdir} within {timeout} s")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait()


@contextlib.contextmanager
def browse(url, viewport=(1366, 900)):
    """`(page, frame)`: `url` in headless Chromium and the kerasviz iframe in it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="kerasviz_chromium_"), executable_path="/usr/bin/chromium", headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu"],
            viewport={"width": viewport[0], "height": viewport[1]})
        try:
            page = context.new_page()
            page.goto(url)
            for _ in range(300):
                frame = next((f for f in page.frames if "plugin_entry.html?name=kerasviz" in f.url), None)
                if frame is not None:
                    break
                page.wait_for_timeout(100)
            else:
                raise RuntimeError("TensorBoard did not open the kerasviz frame")
            yield page, frame
        finally:
            context.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logdir")
    parser.add_argument("--run", required=True)
    parser.add_argument("--tab", required=True, help="the tab's title, e.g. Regions")
    parser.add_argument("--out", required=True)
    parser.add_argument("--hover", nargs=3, metavar=("SELECTOR", "X", "Y"), default=None,
                        help="hover an element at (X, Y) in fractions of its size before the shot")
    parser.add_argument("--click", nargs=3, metavar=("SELECTOR", "X", "Y"), default=None)
    parser.add_argument("--size", nargs=2, type=int, default=(1366, 900))
    parser.add_argument("--wait", default=None, metavar="SELECTOR",
                        help="a CSS selector to wait for, for views that do not mark what they show (Attribution)")
    args = parser.parse_args()
    with serve(args.logdir, lambda runs: any(r["name"] == args.run and r["tags"] for r in runs)) as url:
        with browse(url + "/#kerasviz", tuple(args.size)) as (page, frame):
            frame.wait_for_selector(f"#kv-run option[value='{args.run}']", state="attached", timeout=60000)
            frame.select_option("#kv-run", args.run)
            frame.click(f".kv-tab:text-is('{args.tab}')")
            if args.wait:
                frame.wait_for_selector(args.wait, timeout=60000)
            else:
                frame.wait_for_function("run => [...document.querySelectorAll('[data-shown]')].some("
                                        "s => s.dataset.shown.startsWith(run + '|'))", arg=args.run, timeout=60000)
            page.wait_for_timeout(1500)  # images and canvases
            for action, spec in (("hover", args.hover), ("click", args.click)):
                if spec:
                    selector, x, y = spec
                    element = frame.locator(selector).first
                    box = element.bounding_box()
                    getattr(element, action)(position={"x": float(x) * box["width"], "y": float(y) * box["height"]})
                    page.wait_for_timeout(800)
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            page.screenshot(path=args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
