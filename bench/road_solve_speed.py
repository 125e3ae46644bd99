"""ROAD's exact imputation, solver against solver, on the masks `pilotlens evaluate` really draws.

    python bench/road_solve_speed.py                 # shipped PilotNet, 4 synthetic frames, every fast method
    python bench/road_solve_speed.py --frames 2 --methods grad_cam gradient random

The masks are ROAD's own (`road.removal_masks`: MoRF and LeRF, fractions 0.1 .. 0.9) on the maps of the
shipped PilotNet for frames of the synthetic drive (seed 7). For each fraction it prints the mean
milliseconds per system, one thread, of:

  band     pilotlens's solver: banded Cholesky (LAPACK ?pbtrf/?pbtrs), float64, a batch of masks at once
  superlu  SuperLU with pilotlens's nested-dissection order, float64 (the solver before, one at a time)
  band32   the same band in float32 (not used: its error moved ROAD's third decimal)

then the whole set again on 1 and 2 threads (`road_solve.solve_many`, what evaluate calls), and the
largest difference between band and SuperLU, relative to the image's range. Each solver runs on the
same systems, in turn, so the columns are comparable; absolute times on a shared machine are noise.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from pilotlens.data import open_source
from pilotlens.evaluate import applicable_methods, road_solve
from pilotlens.evaluate.road import FRACTIONS, removal_masks
from pilotlens.explain import explain
from pilotlens.models.pilot import Pilot


def systems(frames: int, methods: list[str] | None):
    """(fraction, image C x H x W float64, removed H x W) for every method, order, fraction and frame."""
    pilot = Pilot.load("pilotnet")
    x = pilot.prepare([f.image for f in open_source("synthetic", seed=7, frames=frames)]).contiguous()
    names = methods or [getattr(m, "name", m) for m in applicable_methods(pilot.model, x)] + ["random"]
    out = []
    for name in names:
        maps = explain(pilot.model, x, name).maps.reshape(x.shape[0], *x.shape[2:]).detach()
        for removed, rows in removal_masks(maps, FRACTIONS, 0).values():
            for j in range(removed.shape[0]):
                out.append((FRACTIONS[j % len(FRACTIONS)], x[rows[j]].double().numpy(), removed[j].numpy()))
    return names, out


def per_system(fn, items) -> float:
    """Mean ms per system of fn(images K x C x H x W, masks K x H x W) over items, given all at once."""
    images, masks = np.stack([it[1] for it in items]), np.stack([it[2] for it in items])
    t = time.perf_counter()
    fn(images, masks)
    return (time.perf_counter() - t) / len(items) * 1e3


def one_by_one(solve):
    return lambda images, masks: [solve(a, m) for a, m in zip(images, masks)]


def band32(images, masks):
    """The band in float32: its chunks as band_solve cuts them, one thread."""
    with road_solve._blas_single_threaded():
        for i in range(0, len(images), 2):
            road_solve._band_chunk(images[i:i + 2].astype(np.float32), masks[i:i + 2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--methods", nargs="*", default=None)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    names, items = systems(args.frames, args.methods)
    print(f"{len(items)} systems: {args.frames} frames x {len(names)} maps x 2 orders x {len(FRACTIONS)} fractions, "
          f"{items[0][1].shape[1]} x {items[0][1].shape[2]}")
    solvers = {"band": lambda im, m: road_solve.band_solve(im, m, 1),
               "superlu": one_by_one(road_solve._impute_one), "band32": band32}
    for fn in solvers.values():             # warm: LAPACK's table, thread controls, caches
        per_system(fn, items[:2])
    print("\nms per system, one thread")
    print(f"{'fraction':>8} " + " ".join(f"{k:>8}" for k in solvers))
    totals = dict.fromkeys(solvers, 0.0)
    for f in FRACTIONS:
        chosen = [it for it in items if it[0] == f]
        row = {k: per_system(fn, chosen) for k, fn in solvers.items()}
        for k in solvers:
            totals[k] += row[k] * len(chosen)
        print(f"{f:>8.1f} " + " ".join(f"{row[k]:>8.2f}" for k in solvers))
    print(f"{'mean':>8} " + " ".join(f"{totals[k] / len(items):>8.2f}" for k in solvers))
    images = np.stack([it[1] for it in items])
    masks = np.stack([it[2] for it in items])
    print("\nsolve_many (what evaluate calls), ms per system:")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        t = time.perf_counter()
        for i in range(0, len(items), 64):
            road_solve.solve_many(images[i:i + 64], masks[i:i + 64])
        print(f"  {threads} thread(s): {(time.perf_counter() - t) / len(items) * 1e3:.2f}")
    worst = 0.0
    for _, image, removed in items[::7]:
        a = road_solve.band_solve(image[None], removed[None])[0]
        b = road_solve._impute_one(image, removed)
        worst = max(worst, float(np.abs(a - b).max() / (image.max() - image.min())))
    print(f"\nband against SuperLU (every 7th system): largest difference {worst:.1e} of the image's range")


if __name__ == "__main__":
    main()
