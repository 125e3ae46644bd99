"""Explained-video throughput against the same pipeline with no explanation, in one run.

Both runs decode the same mp4, run the same 160x120 donkeycar-shaped pilot, draw one panel of the
same size (the frame with the steering gauge, or the visual_backprop overlay with the gauge) and
encode H.264. Runs alternate (plain, explained, plain, ...) and the medians are compared.

    python bench/video_speed.py [--frames 600] [--repeats 3] [--method visual_backprop]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from pilotlens.data import open_source
from pilotlens.data.synthetic import SyntheticSource
from pilotlens.models.pilot import Pilot
from pilotlens.pipeline import movie
from pilotlens.render.look import Look
from pilotlens.render import open_sink


def make_drive(path: Path, frames: int) -> None:
    with open_sink(str(path), 20.0) as sink:
        for f in SyntheticSource(seed=11, frames=frames, size=(160, 120)):
            sink.write(f.image)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--method", default="visual_backprop")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    torch.manual_seed(0)
    try:
        pilot = Pilot.load("donkey")
    except (ValueError, FileNotFoundError):
        pilot = Pilot.from_arch("donkey_linear")
    with tempfile.TemporaryDirectory() as tmp:
        drive = Path(tmp) / "drive.mp4"
        make_drive(drive, args.frames)
        runs = {"plain": [], "explained": []}
        for _ in range(args.repeats):
            for kind, methods, look in (("plain", [], Look(show_input=True)),
                                        ("explained", [args.method], Look(show_input=False))):
                s = movie(pilot, open_source(drive), Path(tmp) / f"{kind}.mp4", methods, look=look,
                          batch_size=args.batch_size, progress=False)
                runs[kind].append(s.fps)
    plain, explained = statistics.median(runs["plain"]), statistics.median(runs["explained"])
    print(f"{args.frames} frames of 160x120, torch threads {torch.get_num_threads()}, {args.repeats} alternating runs each")
    print("| pipeline | frames/s (median) |\n|---|---|")
    print(f"| decode + model + encode (no explanation) | {plain:.1f} |")
    print(f"| decode + model + {args.method} + encode | {explained:.1f} |")
    print(f"\nexplained / plain throughput: {explained / plain:.2f}x (target >= 0.8x)")


if __name__ == "__main__":
    main()
