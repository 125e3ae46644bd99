"""Reproduce the shipped pilots (src/pilotlens/models/weights/*.pt) from the synthetic world.

    python bench/train_shipped.py                 # both: pilotnet.pt and donkey.pt (~10 min of one core)
    python bench/train_shipped.py pilotnet --out /tmp/pilotnet.pt
    python bench/train_shipped.py --score-only    # score the files as they are

Training: 24 synthetic drives (seeds 101-124, 125 frames each, one in 16), the best epoch chosen by
validation MSE on two other drives (seeds 201-202); see pilotlens.train.train_shipped. Then the
saved file is loaded back (for donkey: its float16 weights) and scored on two more drives never used
for training or selection (seeds 301-302), next to the constant baseline (the training mean angle).
One CPU thread, seed 0: on the same machine the files come out the same to the bit (the weights
depend on the CPU's float kernels and the thread count, not only on the seed).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from pilotlens.models.pilot import WEIGHTS_DIR, Pilot
from pilotlens.train import (SHIPPED, SHIPPED_TEST, SHIPPED_TRAIN, prediction_error, shipped_drives,
                             train_shipped)


def training_mean() -> float:
    angles = [f.labels["angle"] for f in shipped_drives(SHIPPED_TRAIN)]
    return sum(angles) / len(angles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(SHIPPED), help=f"which: {', '.join(SHIPPED)} (default all)")
    parser.add_argument("--out", help="the file to write (one name only; default the package's weights folder)")
    parser.add_argument("--score-only", action="store_true", help="do not train: score the existing files")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args()
    if args.out and len(args.names) != 1:
        parser.error("--out takes one pilot name")
    torch.set_num_threads(1)
    for name in args.names:
        path = Path(args.out) if args.out else WEIGHTS_DIR / f"{name}.pt"
        if not args.score_only:
            start = time.perf_counter()
            result = train_shipped(name, path, progress=not args.quiet)
            for h in result.history:
                print(f"  epoch {h['epoch']:2d}: train loss {h['train_loss']:.5f}, validation MSE {h['val_mse']:.5f} "
                      f"MAE {h['val_mae']:.4f} ({h['seconds']:.0f} s)")
            print(f"{name}: {result} [{time.perf_counter() - start:.0f} s]", flush=True)
        pilot = Pilot.load(path)
        test = prediction_error(pilot, shipped_drives(SHIPPED_TEST), constant=training_mean())
        print(f"{name}: test drives (seeds {', '.join(map(str, SHIPPED_TEST[0]))}, {test['n']} frames, file as saved): "
              f"angle MSE {test['mse']:.5f} MAE {test['mae']:.4f} vs constant baseline MSE {test['baseline_mse']:.5f} "
              f"MAE {test['baseline_mae']:.4f} ({test['baseline_mse'] / test['mse']:.1f}x lower MSE); "
              f"{path.stat().st_size / 1e6:.2f} MB", flush=True)


if __name__ == "__main__":
    main()
