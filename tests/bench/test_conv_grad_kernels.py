"""bench/conv_grad_kernels.py: its exact-phase input gradient is the gradient autograd takes, on geometries the
shipped pilots do not have (padding, stride 3, a kernel shorter than the stride), and the bench runs end to end
(it checks every way against oneDNN's input gradient before timing it). Nothing here reads a timing."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from conv_grad_kernels import exact_phases  # noqa: E402


@pytest.mark.parametrize("out_ch, in_ch, k, stride, pad, H, W", [
    (4, 3, 5, 2, 0, 17, 20), (4, 3, 5, 2, 2, 17, 20), (4, 3, 3, 2, 1, 16, 15), (5, 2, 4, 3, 1, 20, 19),
    (4, 3, 3, 1, 1, 9, 9), (4, 3, 2, 3, 0, 11, 10)])
def test_exact_phases_is_the_input_gradient(out_ch, in_ch, k, stride, pad, H, W):
    w = torch.randn(out_ch, in_ch, k, k, dtype=torch.float64)
    x = torch.randn(2, in_ch, H, W, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.conv2d(x, w, stride=stride, padding=pad)
    g = torch.randn_like(y)
    (expected,) = torch.autograd.grad(y, x, g)
    got = exact_phases(g.contiguous(memory_format=torch.channels_last), w, (stride, stride), (pad, pad), (H, W))
    torch.testing.assert_close(got, expected)


@pytest.mark.slow
def test_the_conv_gradient_bench_runs():
    run = subprocess.run([sys.executable, str(BENCH / "conv_grad_kernels.py"), "--models", "pilotnet",
                          "--threads", "1", "--repeats", "1", "--batch", "4"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [line for line in run.stdout.splitlines() if line.startswith("features.conv")]
    assert len(rows) == 5, run.stdout
    assert "phases" in run.stdout and "the fastest way per layer" in run.stdout
