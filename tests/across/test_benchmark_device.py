"""The device benchmark runs on the CPU too (its `--smoke` mode), so it cannot rot before a GPU is lent."""

import os
import re
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "device.py")


def test_device_benchmark_smoke_run_gives_a_ratio_for_every_case(tmp_path):
    out = tmp_path / "table.md"
    done = subprocess.run([sys.executable, SCRIPT, "--smoke", "--out", str(out)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split("|")[1:-1] for line in out.read_text().splitlines() if line.startswith("| tiny")]
    cases = {(cells[1].strip(), cells[2].strip()): cells for cells in rows}
    expected = {"saliency", "smoothgrad", "integrated_gradients", "grad_cam", "occlusion", "rise",
                "class_visualization", "feature_visualization", "deep_dream"}
    assert set(cases) == {(setting, case) for setting in ("fp32", "xla") for case in expected}
    for key, cells in cases.items():
        assert cells[7].strip() == "", (key, cells[7])  # no error
        assert float(cells[5]) > 0 and re.fullmatch(r"\d+, \d+", cells[3].strip()), (key, cells)
    # The passes are the registry's: occlusion on 32 px with its default geometry, RISE with 256 masks.
    assert cases[("fp32", "rise")][3].strip() == "257, 0"
    assert "Peak RSS of the tiny / fp32 worker" in out.read_text()
