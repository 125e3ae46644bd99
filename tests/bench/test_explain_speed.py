"""bench/explain_speed.py end to end on a short budget: every reference it names imports, their maps are
pilotlens's to the documented Δmap, and the target lines print. Nothing here reads a timing."""
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "explain_speed.py"


@pytest.mark.slow
def test_the_explain_bench_runs_with_every_reference():
    run = subprocess.run([sys.executable, str(BENCH), "--models", "pilotnet", "--threads", "1", "--no-slow",
                          "--occlusion-rounds", "0", "--repeats", "1", "--seconds", "1"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    header = next(line for line in run.stdout.splitlines() if line.startswith("references:"))
    for library in ("captum 0.", "torchcam 0.", "pytorch-grad-cam 1.5.7"):
        assert library in header, header
    assert "not available" not in header
    # the Markdown table's grad_cam row ends with the Δmap of captum, torchcam and pytorch-grad-cam
    row = next(line for line in run.stdout.splitlines() if line.startswith("| grad_cam |"))
    captum, torchcam, gradcam = (float(cell) for cell in row.strip(" |").split("|")[-3:])
    assert captum < 1e-5 and gradcam < 1e-5   # the same map, to rounding
    assert torchcam < 0.1                       # normalised at the layer's resolution, then upsampled
    assert "target grad_cam" in run.stdout and "target gradient" in run.stdout
