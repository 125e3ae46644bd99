"""What each conv layer's input gradient costs against its forward pass, layer by layer, every way torch offers.

    python bench/conv_grad_kernels.py                              # shipped PilotNet and donkey, batch 32, 2 threads
    python bench/conv_grad_kernels.py --threads 1 2 --repeats 21

A gradient needs the forward pass and then, at each conv, the input gradient (a transposed convolution with
the same multiply-adds). If that cost what the forward conv costs, a gradient would cost 2x the forward
pass plus the activations' and the head's backward: the "physical limit" issue 23 counts on. This prints,
per conv of the shipped pilots (channels_last, as the explainers run them), the forward conv and each way
of computing its input gradient, in ms and as a multiple of that conv's forward:

  onednn      aten.convolution_backward (input gradient only), channels_last: what autograd runs
  nchw        the same on NCHW tensors
  tconv       F.conv_transpose2d on channels_last tensors (oneDNN's deconvolution)
  no mkldnn   F.conv_transpose2d with oneDNN switched off (torch's own im2col and GEMM), channels_last
  phases      pilotlens's forward-convolution form (methods/_fast_input_grad.py: one stride-1 conv with
              s*s*C outputs, the kernel padded to a multiple of the stride, then depth to space)
  exact       the same by s*s separate stride-1 convs with each phase's exact sub-kernel, written into
              the strided positions of the result (no padded taps, s*s smaller convs)

The last row sums the fastest way per layer: the least the convs' input gradients cost with these kernels,
as a multiple of the convs' forward time. Every way is checked against `onednn` before it is timed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import explain_speed as es  # noqa: E402

from pilotlens.methods._fast_input_grad import conv_input_grad  # noqa: E402

CL = torch.channels_last


def ways(conv: nn.Conv2d, inp: torch.Tensor, out: torch.Tensor) -> dict:
    """name -> a callable computing the conv's input gradient from a made-up output gradient (or its forward)."""
    w, b = conv.weight.detach(), None if conv.bias is None else conv.bias.detach()
    stride, padding, size = tuple(conv.stride), tuple(conv.padding), tuple(inp.shape[-2:])
    x_cl, x_nc = inp.contiguous(memory_format=CL), inp.contiguous()
    g_cl = torch.randn(out.shape).contiguous(memory_format=CL)
    g_nc = g_cl.contiguous()

    def backward(g, like):
        return torch.ops.aten.convolution_backward(g, like, w, None, stride, padding, tuple(conv.dilation), False,
                                                   (0, 0), conv.groups, (True, False, False))[0]

    extra = tuple(n - ((o - 1) * s - 2 * p + k) for n, o, s, p, k in
                  zip(size, out.shape[-2:], stride, padding, w.shape[-2:]))

    def tconv(g):
        return F.conv_transpose2d(g, w, None, stride, padding, extra)

    def no_mkldnn():
        with torch.backends.mkldnn.flags(enabled=False):
            return tconv(g_cl)

    found = {"forward": lambda: F.conv2d(x_cl, w, b, stride, padding),
             "onednn": lambda: backward(g_cl, x_cl), "nchw": lambda: backward(g_nc, x_nc),
             "tconv": lambda: tconv(g_cl), "no mkldnn": no_mkldnn}
    if max(stride) > 1 and conv.groups == 1 and tuple(conv.dilation) == (1, 1):
        found["phases"] = lambda: conv_input_grad(g_cl, w, stride, padding, size)
        found["exact"] = lambda: exact_phases(g_cl, w, stride, padding, size)
    return found


def exact_phases(g: torch.Tensor, w: torch.Tensor, stride, padding, size) -> torch.Tensor:
    """The input gradient by one stride-1 convolution per phase with its exact sub-kernel.

    Input row y = a + s*q (phase a) meets the taps k = r + s*t, r = (a + p) % s, from output rows
    i = q + d - t, d = (a + p - r) / s: a full correlation of g with the flipped sub-kernel, read at q + d."""
    (sh, sw), (ph, pw), (H, W) = stride, padding, size
    out = torch.zeros(g.shape[0], w.shape[1], H, W, dtype=g.dtype).contiguous(memory_format=CL)
    for a in range(sh):
        ra = (a + ph) % sh
        da = (a + ph - ra) // sh
        for c in range(sw):
            rc = (c + pw) % sw
            dc = (c + pw - rc) // sw
            sub = w[:, :, ra::sh, rc::sw]
            if sub.numel() == 0:
                continue
            th, tw = sub.shape[-2:]
            r = F.conv2d(g, sub.flip(-2, -1).transpose(0, 1), padding=(th - 1, tw - 1))
            q0, q1 = max(0, -da), min(len(range(a, H, sh)), r.shape[-2] - da)
            p0, p1 = max(0, -dc), min(len(range(c, W, sw)), r.shape[-1] - dc)
            if q1 > q0 and p1 > p0:
                out[:, :, a + q0 * sh:a + (q1 - 1) * sh + 1:sh, c + p0 * sw:c + (p1 - 1) * sw + 1:sw] = \
                    r[:, :, q0 + da:q1 + da, p0 + dc:p1 + dc]
    return out


def timed(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", choices=["pilotnet", "donkey"], default=["pilotnet", "donkey"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, nargs="+", default=[2])
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args(argv)
    allocator = es.steady_allocator()
    columns = ["forward", "onednn", "nchw", "tconv", "no mkldnn", "phases", "exact"]
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"conv input gradients — {es.machine()}; {allocator}; load average {es.load()}")
        for b in es.benches(args.models):
            x = b.batch(args.batch).contiguous(memory_format=CL)
            print(f"\n== {b.name} {'x'.join(map(str, b.shape))}, batch {args.batch}: ms, and × that conv's forward")
            print(f"{'conv':<16}{'in → out':<24}" + "".join(f"{c:>17}" for c in columns))
            total_fwd = total_best = total_onednn = 0.0
            for name, conv, inp, out in es.convs_with_io(b.model, x):
                found = ways(conv, inp, out)
                reference = found["onednn"]()
                for way, fn in found.items():
                    if way != "forward":
                        err = float((fn() - reference).abs().max())
                        scale = float(reference.abs().max()) or 1.0
                        if err > 1e-4 * scale:
                            raise SystemExit(f"{name}: {way} differs from oneDNN's input gradient by {err:.2e}")
                ms = {way: timed(fn, args.repeats) for way, fn in found.items()}
                best = min(v for k, v in ms.items() if k != "forward")
                total_fwd, total_best, total_onednn = total_fwd + ms["forward"], total_best + best, \
                    total_onednn + ms["onednn"]
                shape = f"{tuple(inp.shape[1:])}→{conv.out_channels}"
                print(f"{name:<16}{shape:<24}" + "".join(
                    f"{'—':>17}" if c not in ms else f"{ms[c]:8.2f} ({ms[c] / ms['forward']:4.2f}×)"
                    for c in columns))
            print(f"all convs: forward {total_fwd:.2f} ms; input gradients by oneDNN {total_onednn:.2f} ms "
                  f"({total_onednn / total_fwd:.2f}×), the fastest way per layer {total_best:.2f} ms "
                  f"({total_best / total_fwd:.2f}×)")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
