"""TensorBoard with our plugin, looked at in headless Chromium: the harness of the dashboard's browser tests.

`start_tensorboard` starts `tensorboard --logdir D --host 127.0.0.1 --port P`
with our plugin (the default Rust data server reads the data);
`open_dashboard` loads `#kerasviz` in headless Chromium driven by Playwright.
Browser tests set `pytestmark = browser.MARKS`: they are marked `browser` and
skipped only when /usr/bin/chromium or the `playwright` package is missing
(`MISSING` says which).
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from tests.helpers.processes import REPO

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER = """
import sys
from tensorboard import default, program
from tb_plugin.plugin import KerasvizLoader
plugins = [p for p in default.get_plugins() if p is not KerasvizLoader]
tensorboard = program.TensorBoard(plugins=plugins + [KerasvizLoader])
tensorboard.configure(["tensorboard"] + sys.argv[1:])
sys.exit(tensorboard.main())
"""

try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None

MISSING = ("/usr/bin/chromium is missing" if not os.path.exists(CHROMIUM) else
           "the `playwright` package is missing" if sync_playwright is None else None)
if MISSING:
    print(f"browser tests: skipped: {MISSING}", file=sys.stderr)
MARKS = [pytest.mark.browser, pytest.mark.skipif(bool(MISSING), reason=f"browser tests need it: {MISSING}")]


def free_port():
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def list_runs(base):
    """Our `/runs` route's answer from the TensorBoard at `base`, by run name."""
    with urllib.request.urlopen(base + "/data/plugin/kerasviz/runs", timeout=5) as response:
        return {run["name"]: run for run in json.load(response)["runs"]}


def start_tensorboard(logdir, request, ready, log_name="tensorboard.log"):
    """Starts TensorBoard with our plugin on a free loopback port; returns its URL once `ready(runs)`.

    `runs` is our `/runs` route's answer by run name; the server is stopped by
    `request`'s finalizer, and its output goes to `log_name` next to `logdir`.
    """
    port = free_port()
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log = open(os.path.join(logdir, "..", log_name), "w")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port),
         "--reload_interval", "1"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    def stop():
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()

    request.addfinalizer(stop)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:  # answering, and every series loaded by the data server
        assert process.poll() is None, f"tensorboard exited; see {log_name} next to the logdir"
        try:
            if ready(list_runs(url)):
                return url
        except OSError:
            pass
        assert time.time() < deadline, "tensorboard did not answer within 60 s"
        time.sleep(0.3)


@contextlib.contextmanager
def open_dashboard(server, viewport=(1366, 768), fragment="kerasviz"):
    """(page, frame, events): TensorBoard's page at `#<fragment>` in headless Chromium (`viewport`: width, height), and our iframe."""
    profile = tempfile.mkdtemp(prefix="kerasviz_chromium_")
    width, height = viewport
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS, viewport={"width": width, "height": height})
        events = {"dialogs": [], "errors": [], "requests": []}
        page = context.new_page()
        page.on("dialog", lambda dialog: (events["dialogs"].append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: events["errors"].append(str(error)))
        page.on("request", lambda req: events["requests"].append(req.url))
        page.goto(server + "/#" + fragment)
        frame = None
        deadline = time.time() + 30
        while frame is None:
            frame = next((f for f in page.frames if "plugin_entry.html?name=kerasviz" in f.url), None)
            assert time.time() < deadline, "TensorBoard did not open the kerasviz iframe"
            page.wait_for_timeout(100)
        try:
            yield page, frame, events
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def set_range(frame, selector, value):
    frame.eval_on_selector(selector, "(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }", str(value))


def wait_shown(frame, run=None, step=None, cls=None, painted=""):
    """Waits until the attribution grid shows (run, step, class) and its first map canvas was painted with `painted` settings."""
    frame.wait_for_function(
        """([run, step, cls, painted]) => {
            const grid = document.getElementById('kv-grid-box');
            if (!grid || !grid.dataset.key) return false;
            const [r, s, c] = grid.dataset.key.split('|');
            if ((run !== null && r !== run) || (step !== null && s !== step) || (cls !== null && c !== cls)) return false;
            const canvas = grid.querySelector('td.kv-map canvas');
            return !!canvas && !!canvas.dataset.painted && canvas.dataset.painted !== 'image'
                && canvas.dataset.painted.startsWith(painted);
        }""", arg=[run, None if step is None else str(step), None if cls is None else str(cls), painted])


def image_pixels(frame, selector):
    """RGBA values of an <img> at its natural size."""
    return frame.eval_on_selector(selector, """img => { const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight; const x = c.getContext('2d');
        x.drawImage(img, 0, 0); return Array.from(x.getImageData(0, 0, c.width, c.height).data); }""")


def shot(page, screenshots, name):
    """Saves a screenshot of `page` as `name` in `screenshots` and returns its path (over 10 kB: not blank)."""
    path = os.path.join(screenshots, name)
    page.screenshot(path=path)
    assert os.path.getsize(path) > 10_000
    return path
