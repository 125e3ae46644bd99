"""Closed loop: do the shipped pilots keep their lane on drives they never saw?

    python bench/closed_loop.py                          # both pilots, seeds 901-910, 2000 frames each
    python bench/closed_loop.py --pilots pilotnet --seeds 901 902 --frames 400

Each pilot drives each seed's randomised world from its own predictions (`pilotlens.drive.drive`:
20 frames a second, a kinematic bicycle at the world driver's speed); whenever the car's centre is
further than half-width - 0.8 m from the centre line (a wheel on the grass) it is put back on the
centre line. Autonomy, as in the PilotNet paper: 1 - interventions x 6 s / elapsed time, per seed
and over all seeds together (the target: >= 99 % over 10 seeds of 2000 frames, i.e. at most one
intervention in 1000 s). A `never steers` row (angle always 0) shows how much the roads demand.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pilotlens.drive import INTERVENTION_SECONDS, drive
from pilotlens.models.pilot import Pilot

SEEDS = tuple(range(901, 911))


def never_steers(image, pose, world) -> float:
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pilots", nargs="+", default=["pilotnet", "donkey"], help="shipped names or pilot files")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="worlds (default 901-910)")
    parser.add_argument("--frames", type=int, default=2000, help="frames per seed (default 2000, 100 s)")
    parser.add_argument("--baseline", action="store_true", help="also drive the never-steering baseline")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    drivers = [(name, Pilot.load(name)) for name in args.pilots]
    if args.baseline:
        drivers.append(("never steers", never_steers))
    print(f"seeds {', '.join(map(str, args.seeds))}, {args.frames} frames each at 20 fps\n")
    print("| pilot | seed | autonomy | interventions | mean distance from centre (m) | max (m) | metres driven |")
    print("|---|---|---|---|---|---|---|")
    summary = []
    for name, pilot in drivers:
        start = time.perf_counter()
        results = []
        for seed in args.seeds:
            r = drive(pilot, seed=seed, frames=args.frames)
            results.append(r)
            print(f"| {name} | {seed} | {100 * r.autonomy:.1f} % | {len(r.interventions)} | {r.mean_offset:.3f} | "
                  f"{r.max_offset:.2f} | {r.distance:.0f} |", flush=True)
        n = sum(len(r.interventions) for r in results)
        elapsed = sum(r.elapsed for r in results)
        offsets = np.concatenate([np.abs(r.offsets) for r in results])
        autonomy = max(0.0, 1 - n * INTERVENTION_SECONDS / elapsed)
        summary.append(f"| {name} | {len(results)} seeds | {100 * autonomy:.1f} % "
                       f"| {n} | {offsets.mean():.3f} | {offsets.max():.2f} | {sum(r.distance for r in results):.0f} | "
                       f"{min(r.autonomy for r in results) * 100:.1f} % | {time.perf_counter() - start:.0f} |")
    print("\n| pilot | drives | autonomy (all together) | interventions | mean distance (m) | max (m) | metres | "
          "worst seed | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
