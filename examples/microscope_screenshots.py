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
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dashboard_screenshot import browse, serve  # noqa: E402  (TensorBoard with the plugin, headless Chromium)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logdir")
    parser.add_argument("--run", default="microscope")
    parser.add_argument("--channel", type=int, default=0)
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()

    def layer_of(runs):
        run = next((r for r in runs if r["name"] == args.run), None)
        return run and next((t["layer"] for t in run["tags"] if t.get("method") == "channel"), None)

    layer = []
    with serve(args.logdir, lambda runs: bool(layer.append(layer_of(runs)) or layer[-1])) as url:
        state = {"family": "microscope", "run": args.run, "layer": layer[-1], "channel": args.channel,
                 "mode": "channel"}
        with browse(f"{url}/#kerasviz&kv={urllib.parse.quote(json.dumps(state))}") as (page, frame):
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
    print("wrote", os.path.join(args.out, "microscope_channel.png"), os.path.join(args.out, "microscope_atlas.png"))

if __name__ == "__main__":
    main()
