"""Occlusion with several window sizes: pilotlens (incremental) against captum's Occlusion, same windows,
same map. Run by explain_speed.py (its occlusion section), or alone:

    python bench/occlusion_speed.py --threads 1 2

Captum takes one window size per call; the map for several sizes is the mean over every covering window,
so captum's per-size maps (each a mean over its own windows) are recombined with the window counts:
sum_s map_s * count_s / sum_s count_s. Captum is timed at each `perturbations_per_eval` of PER_EVAL in the
first round, and at its fastest one in the later rounds; the speedup is the median over rounds of
captum's time / pilotlens's time, taken next to each other.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from dataclasses import dataclass

import torch
from torch import nn

import pilotlens
from pilotlens.methods.occlusion import window_boxes

warnings.filterwarnings("ignore")

PER_EVAL = (4, 16, 64)


class SmallVGG(nn.Module):
    """An ImageNet-style CNN at 224 x 224: VGG's shape (3x3 convs with padding, 2x2 max pools, a
    global-average-pool head), thinner (16-128 channels) so captum's full passes fit a bench run."""

    def __init__(self, classes: int = 1000):
        super().__init__()
        layers, cin = [], 3
        for cout, convs in ((16, 2), (32, 2), (64, 2), (128, 2), (128, 2)):
            for _ in range(convs):
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]
                cin = cout
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))
        for m in self.modules():  # He init: with torch's default the signal fades over ten layers, and an
            if isinstance(m, (nn.Conv2d, nn.Linear)):  # occluded window then changes the score by float noise
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.uniform_(m.bias, -0.1, 0.1)

    def forward(self, x):
        return self.head(self.features(x))


@dataclass
class OcclusionCase:
    name: str
    model: nn.Module
    x: torch.Tensor
    windows: list[int]


def cases(batch: int) -> list[OcclusionCase]:
    from explain_speed import shipped
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    return [
        OcclusionCase("PilotNet 3x66x200", shipped("pilotnet"), torch.rand(batch, 3, 66, 200, generator=gen) * 255,
                      [8, 16, 32]),
        OcclusionCase("VGG-like 3x224x224", SmallVGG().eval(), torch.rand(batch, 3, 224, 224, generator=gen),
                      [16, 32]),
    ]


def ours(c: OcclusionCase, incremental: bool = True) -> torch.Tensor:
    return pilotlens.explain(c.model, c.x, "occlusion", target=0, window=c.windows, baseline=0.0,
                             incremental=incremental).raw


def captum_map(c: OcclusionCase, per_eval: int) -> torch.Tensor:
    from captum.attr import Occlusion
    occ, (C, H, W) = Occlusion(c.model), c.x.shape[1:]
    total, count = torch.zeros(c.x.shape[0], H, W, dtype=torch.float64), torch.zeros(H, W, dtype=torch.float64)
    for w in c.windows:
        stride = max(1, w // 2)
        n = torch.zeros(H, W, dtype=torch.float64)
        for t, b, l, r in window_boxes((H, W), (w, w), (stride, stride)):
            n[t:b, l:r] += 1
        a = occ.attribute(c.x, sliding_window_shapes=(C, w, w), strides=(C, stride, stride), baselines=0.0,
                          target=0, perturbations_per_eval=per_eval)[:, 0]
        total += a.double() * n
        count += n
    return (total / count).float()


def forward_ms(c: OcclusionCase) -> float:
    with torch.no_grad():
        t0 = time.perf_counter()
        c.model(c.x)
        return (time.perf_counter() - t0) * 1e3


def measure(c: OcclusionCase, rounds: int, full: bool) -> dict:
    """Interleaved rounds: captum (every PER_EVAL in round 1, its fastest after), pilotlens, [full passes]."""
    ours(c)  # warm-up (fx trace, allocations)
    fwd = statistics.median(forward_ms(c) for _ in range(5))
    captum_s: dict[int, list[float]] = {p: [] for p in PER_EVAL}
    our_s, full_s, speedups = [], [], []
    best, refs = None, {}
    for r in range(rounds):
        t0 = time.perf_counter()
        mine = ours(c)
        t_ours = time.perf_counter() - t0
        our_s.append(t_ours)
        for p in (PER_EVAL if best is None else (best,)):
            t0 = time.perf_counter()
            ref = captum_map(c, p)
            captum_s[p].append(time.perf_counter() - t0)
            refs.setdefault(p, ref)
        best = min((p for p in PER_EVAL if captum_s[p]), key=lambda p: statistics.median(captum_s[p]))
        speedups.append(captum_s[best][-1] / t_ours)
        if full and r == 0:
            t0 = time.perf_counter()
            plain = ours(c, incremental=False)
            full_s.append(time.perf_counter() - t0)
            full_diff = float((plain - mine).abs().max() / mine.abs().max())
    scale = float(ref.abs().max())
    # captum against itself at other perturbations_per_eval: the float-rounding floor of the comparison
    floor = max(float((a - ref).abs().max()) for a in refs.values()) / scale
    return {"floor": floor, "case": c, "forward_ms": fwd, "ours_s": statistics.median(our_s), "best": best,
            "captum_s": {p: statistics.median(v) for p, v in captum_s.items() if v},
            "speedup": statistics.median(speedups), "speedups": speedups,
            "diff": float((mine - ref).abs().max()) / scale, "full_s": statistics.median(full_s) if full_s else None,
            "full_diff": full_diff if full else None, "windows": sum(len(window_boxes(tuple(c.x.shape[-2:]),
                                                                                      (w, w), (w // 2, w // 2)))
                                                                      for w in c.windows)}


def report(results: list[dict], threads: int) -> list[str]:
    lines = []
    for r in results:
        c = r["case"]
        captum = ", ".join(f"{p}: {s:.2f} s" for p, s in sorted(r["captum_s"].items()))
        lines.append(f"== occlusion, {c.name}, batch {c.x.shape[0]}, windows {c.windows} px stride half "
                     f"({r['windows']} windows per image), {threads} thread(s); forward {r['forward_ms']:.1f} ms")
        lines.append(f"  pilotlens incremental  {r['ours_s']:.2f} s  ({r['ours_s'] * 1e3 / r['forward_ms']:.0f}x forward)")
        if r["full_s"] is not None:
            lines.append(f"  pilotlens full passes  {r['full_s']:.2f} s  (incremental=False; rel Δ to incremental "
                         f"{r['full_diff']:.0e})")
        lines.append(f"  captum Occlusion       {r['captum_s'][r['best']]:.2f} s at perturbations_per_eval={r['best']} "
                     f"(tried {captum})")
        lines.append(f"  speedup vs captum's best: {r['speedup']:.1f}x (median of {len(r['speedups'])} rounds: "
                     f"{', '.join(f'{v:.1f}' for v in r['speedups'])}); Δmap max|ours - captum| / max|captum| "
                     f"= {r['diff']:.0e} (captum vs itself at other perturbations_per_eval: {r['floor']:.0e})")
        lines.append(f"  target ≥ 5x captum: {'met' if r['speedup'] >= 5 else 'MISSED'}")
    return lines


def markdown(rows: list[tuple[int, dict]]) -> str:
    out = ["| model, windows | threads | pilotlens s | captum s (best perturbations_per_eval) | speedup | Δmap | "
           "captum vs itself |", "|---|---:|---:|---:|---:|---:|---:|"]
    for threads, r in rows:
        c = r["case"]
        out.append(f"| {c.name}, {'/'.join(map(str, c.windows))} px, batch {c.x.shape[0]} | {threads} | "
                   f"{r['ours_s']:.2f} | {r['captum_s'][r['best']]:.2f} ({r['best']}) | {r['speedup']:.1f}× | "
                   f"{r['diff']:.0e} | {r['floor']:.0e} |")
    return "\n".join(out)


def run(threads: list[int], rounds: int, batch: int, full: bool = True) -> list[tuple[int, dict]]:
    rows = []
    for t in threads:
        torch.set_num_threads(t)
        for c in cases(batch):
            r = measure(c, rounds, full and c.name.startswith("PilotNet"))  # VGG's full passes: captum's time again
            print("\n".join(report([r], t)), flush=True)
            rows.append((t, r))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=1)
    args = p.parse_args(argv)
    from explain_speed import steady_allocator
    print(steady_allocator())  # as explain_speed.py, which runs this section after its own
    rows = run(args.threads, args.rounds, args.batch)
    print("\n" + markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
