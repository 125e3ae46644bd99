"""ROAD's exact imputation, solver against solver, on the masks `pilotlens evaluate` really draws.

    python bench/road_solve_speed.py                 # shipped PilotNet, 4 synthetic frames, every fast method
    python bench/road_solve_speed.py --frames 2 --methods grad_cam gradient random

The masks are ROAD's own (`road.removal_masks`: MoRF and LeRF, fractions 0.1 .. 0.9) on the maps of the
shipped PilotNet for frames of the synthetic drive (seed 7). For each fraction it prints the mean
milliseconds per system, one thread, of:

  band     pilotlens's solver (`road_band`, compiled by numba): banded Cholesky, float64, a batch of masks
           at once, built, factored and solved in one pass
  lapack   the same band through LAPACK (`scipy.linalg.solveh_banded`: ?pbtrf, then ?pbtrs a channel at a
           time), float64, its band built here with numpy (not timed); pilotlens's solver before this one
  superlu  SuperLU with pilotlens's nested-dissection order, float64 (the solver before that, one at a time)
  lapack32 the LAPACK band in float32 (not used: its error moved ROAD's third decimal)

then the whole set again on 1 and 2 threads (`road_solve.solve_many`, what evaluate calls), and the
largest differences of band against SuperLU and LAPACK, relative to the image's range. Each solver runs on the
same systems, in turn, so the columns are comparable; absolute times on a shared machine are noise.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")    # scipy's LAPACK on one thread, like the other solvers

import argparse
import time
import warnings

import numpy as np
import torch
from scipy.linalg import solveh_banded

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


def per_system(fn, items, repeats: int = 3) -> float:
    """Mean ms per system of fn(images K x C x H x W, masks K x H x W) over items, given all at once: the
    best of `repeats` runs (the first touches fresh memory)."""
    images, masks = np.stack([it[1] for it in items]), np.stack([it[2] for it in items])
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        timed = fn(images, masks)      # a solver that builds its systems first returns the solve's own time
        best = min(best, timed if isinstance(timed, float) else time.perf_counter() - t)
    return best / len(items) * 1e3


def one_by_one(solve):
    return lambda images, masks: [solve(a, m) for a, m in zip(images, masks)]


def lapack_band(image: np.ndarray, removed: np.ndarray):
    """One system as LAPACK's lower band (kd + 1 x n) and right-hand sides (n x C), written here with the
    stencil of road.py, numbered down the columns (the short side of the wide frames this bench draws): a
    reference independent of pilotlens's builder."""
    c, h, w = image.shape
    assert h <= w, "lapack_band numbers a wide image's columns"
    xt, u = image.transpose(0, 2, 1).reshape(c, -1), removed.T.reshape(-1)     # pixel (r, col) at col * h + r
    var = np.cumsum(u) - 1
    unknown = np.flatnonzero(u)
    col, r = np.divmod(unknown, h)
    entries, rhs, diag = [], np.zeros((len(unknown), c)), np.zeros(len(unknown))
    for dc in (-1, 0, 1):
        for dr in (-1, 0, 1):
            if dc == dr == 0:
                continue
            wt = road_solve.DIRECT if dc == 0 or dr == 0 else road_solve.DIAGONAL
            inside = (col + dc >= 0) & (col + dc < w) & (r + dr >= 0) & (r + dr < h)
            nq = (col + dc) * h + r + dr
            diag[inside] += wt
            kept = inside & ~u[np.where(inside, nq, 0)]
            rhs[kept] += wt * xt[:, nq[kept]].T
            ahead = inside & ~kept & (np.where(inside, nq, 0) > unknown)
            entries.append((np.flatnonzero(ahead), var[nq[ahead]] - np.flatnonzero(ahead), -wt))
    kd = max([int(gap.max()) for _, gap, _ in entries if gap.size] + [0])
    ab = np.zeros((kd + 1, len(unknown)))
    ab[0] = diag
    for i, gap, wt in entries:
        ab[gap, i] = wt
    return ab, rhs


def lapack_solver(dtype):
    """The LAPACK band solve, systems built beforehand (only the solve is timed)."""
    def run(images, masks):
        built = [lapack_band(a, m) for a, m in zip(images, masks)]
        built = [(ab.astype(dtype), b.astype(dtype)) for ab, b in built]
        t = time.perf_counter()
        for ab, b in built:
            solveh_banded(ab, b, lower=True, check_finite=False)
        return time.perf_counter() - t
    return run


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
    solvers = {"band": lambda im, m: road_solve.band_solve(im, m, 1), "lapack": lapack_solver(np.float64),
               "superlu": one_by_one(road_solve._impute_one), "lapack32": lapack_solver(np.float32)}
    for fn in solvers.values():             # warm: numba's compiled code, caches
        per_system(fn, items[:2], 1)
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
    worst = {"SuperLU": 0.0, "LAPACK": 0.0}
    for _, image, removed in items[::7]:
        a = road_solve.band_solve(image[None], removed[None])[0]
        ab, b = lapack_band(image, removed)
        lapack = image.transpose(0, 2, 1).copy()                # the band's numbering: column by column
        lapack[:, removed.T] = solveh_banded(ab, b, lower=True).T
        lapack = lapack.transpose(0, 2, 1)
        span = image.max() - image.min()
        worst["SuperLU"] = max(worst["SuperLU"], float(np.abs(a - road_solve._impute_one(image, removed)).max() / span))
        worst["LAPACK"] = max(worst["LAPACK"], float(np.abs(a - lapack).max() / span))
    print("\nband against (every 7th system): " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
          + " of the image's range, largest difference")


if __name__ == "__main__":
    main()
