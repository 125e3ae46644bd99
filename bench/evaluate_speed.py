"""How long `pilotlens evaluate` takes, metric by metric, before and after (issue 14).

    python bench/evaluate_speed.py                          # this tree: 8 frames, 2 methods, every metric
    python bench/evaluate_speed.py --src /tmp/eval-old/src  # the same on another checkout (e.g. `main`)
    python bench/evaluate_speed.py --frames 32 --methods all_fast
    python bench/evaluate_speed.py --frames 32 --methods all --src /tmp/eval-old/src   # evaluate's default: every method
    python bench/evaluate_speed.py --cli                    # also time the README's default command

Each metric is timed alone (`evaluate(..., metrics=[name])`), on the shipped PilotNet and frames of the
synthetic drive (seed 7), so that the time of a metric includes the clean maps it needs (computed once
per run). `--src` imports pilotlens from another source tree, to measure the code before a change on
the same machine in the same minute: make one with `git worktree add --detach /tmp/eval-old main` (and `git worktree remove /tmp/eval-old` after). Absolute
times on a shared machine are noise: compare the two columns of one run (`--src` runs the other tree in
a subprocess, interleaved metric by metric).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

FAST = ["visual_backprop", "grad_cam", "gradient", "guided_backprop", "activation"]
HERE = Path(__file__).resolve().parent.parent / "src"


def _time_metric(src: str, metric: str, frames: int, methods: list[str], threads: int) -> float:
    """Seconds one metric takes in the tree at `src` (a fresh interpreter: no warm caches shared)."""
    code = f"""
import sys, time, warnings
sys.path.insert(0, {src!r})
warnings.filterwarnings("ignore")
import torch
torch.set_num_threads({threads})
from pilotlens.data import open_source
from pilotlens.evaluate import evaluate
from pilotlens.models.pilot import Pilot
pilot = Pilot.load("pilotnet")
source = open_source("synthetic", seed=7, frames={frames})
t = time.perf_counter()
evaluate(pilot, source, methods={methods!r}, metrics=[{metric!r}], progress=False, seed=0)
print(time.perf_counter() - t)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": src})
    if out.returncode != 0:
        raise RuntimeError(f"{src}: {metric}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return float(out.stdout.strip().splitlines()[-1])


def _metrics(src: str) -> list[str]:
    code = f"import sys; sys.path.insert(0, {src!r}); from pilotlens.evaluate import METRICS; print(' '.join(METRICS))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": src})
    return out.stdout.split()


def _time_cli(src: str, extra: list[str]) -> float:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pilotlens.cli", "evaluate", "--model", "pilotnet", "--input", "synthetic",
               "--method", "visual_backprop", "--method", "grad_cam", "--out", tmp, "--quiet", *extra]
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": src})
        took = time.perf_counter() - t
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip().splitlines()[-1])
        return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=None, help="another pilotlens source tree to time next to this one")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--methods", nargs="+", default=["visual_backprop", "grad_cam"],
                    help="methods to score ('all_fast': the five fast methods; 'all': evaluate's default, every one that applies)")
    ap.add_argument("--metrics", nargs="+", default=None, help="default: every metric of this tree")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-after", action="store_true", help="time only the --src tree")
    ap.add_argument("--cli", action="store_true", help="also time the README's default command")
    ap.add_argument("--json", default=None, help="write the timings here as well")
    args = ap.parse_args()
    methods = FAST if args.methods == ["all_fast"] else None if args.methods == ["all"] else args.methods
    trees = {"this tree": str(HERE)}
    if args.src:
        trees = {"before (" + args.src + ")": str(Path(args.src).resolve()), "after (this tree)": str(HERE)}
        if args.no_after:
            trees.pop("after (this tree)")
    names = {label: set(_metrics(src)) for label, src in trees.items()}
    metrics = args.metrics or sorted(set().union(*names.values()), key=lambda m: (m not in names[list(trees)[0]], m))
    print(f"{args.frames} frames of synthetic drive seed 7, shipped PilotNet, methods {', '.join(methods) if methods else '(every one that applies)'} "
          f"(+ random), {args.threads} threads; seconds per metric, each in a fresh process")
    print(f"| metric | " + " | ".join(trees) + (" | ratio |" if len(trees) == 2 else " |"))
    print("|---|" + "---:|" * (len(trees) + (len(trees) == 2)))
    table: dict[str, dict[str, float | None]] = {}
    for metric in metrics:
        row = {}
        for label, src in trees.items():
            row[label] = _time_metric(src, metric, args.frames, methods, args.threads) if metric in names[label] else None
        table[metric] = row
        cells = [f"{v:.1f}" if v is not None else "—" for v in row.values()]
        vals = list(row.values())
        ratio = f" | {vals[0] / vals[1]:.1f}x" if len(vals) == 2 and None not in vals and vals[1] > 0 else (" | —" if len(vals) == 2 else "")
        print(f"| {metric} | " + " | ".join(cells) + ratio + " |", flush=True)
    if args.cli:
        for label, src in trees.items():
            took = _time_cli(src, [])
            table.setdefault("cli default", {})[label] = took
            print(f"README default command ({label}): {took:.1f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
