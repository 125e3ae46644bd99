"""Closed loop: a pilot drives the synthetic world from its own predictions.

    result = drive(Pilot.load("pilotnet"), seed=901, frames=2000)
    print(result)       # autonomy, interventions, mean / max distance from the centre line

Each frame the world renders the view from the car's pose, the pilot predicts the steering angle
from it, and a kinematic bicycle (WHEELBASE m, wheel angle = angle * MAX_STEER) moves the car for
1/fps s at the world driver's speed for that stretch of road (the pilot steers; it does not choose the
speed). The car drives on the middle of its road, as the world's driver does. It has **left its
lane** when its centre is further than ``half-width - CAR_HALF_WIDTH`` from the centre line (a wheel
on the grass); then a safety driver intervenes: the car is put back on the centre line, pointing
along the road, and the drive goes on. As in the PilotNet paper (Bojarski et al. 2016), every
intervention costs 6 seconds:

    autonomy = 1 - (interventions * 6 s) / elapsed time       (elapsed = frames / fps; floored at 0)

`pilot` can also be any controller ``steer(image, pose, world) -> angle`` (the oracle in the tests
steers from the world's true geometry). With `out`, the drive is written as an explained video
(`pipeline.movie`): the frames the pilot saw, with its steering next to the good driver's.
`pilotlens drive` (cli/drive.py) is this function on the command line.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from .data.source import Record, Source
from .data.world import CAR_HALF_WIDTH, MAX_STEER, WHEELBASE, Pose, SyntheticWorld
from .models.pilot import Pilot

__all__ = ["DriveResult", "drive", "INTERVENTION_SECONDS"]

INTERVENTION_SECONDS = 6.0
Controller = Callable[[np.ndarray, Pose, SyntheticWorld], float]


@dataclass
class DriveResult:
    """How a closed-loop drive went. Distances in metres, times in seconds.

    poses: the pose each frame was rendered from; steering: the angle the pilot gave there;
    interventions: the frames after which the car was put back on the centre line.
    """

    seed: int
    frames: int
    fps: float
    interventions: list[int]
    offsets: np.ndarray
    steering: np.ndarray
    poses: list[Pose] = field(repr=False, default_factory=list)
    distance: float = 0.0
    video: Path | None = None

    @property
    def elapsed(self) -> float:
        return self.frames / self.fps

    @property
    def autonomy(self) -> float:
        if self.elapsed <= 0:
            return 1.0
        return max(0.0, 1.0 - len(self.interventions) * INTERVENTION_SECONDS / self.elapsed)

    @property
    def mean_offset(self) -> float:
        return float(np.abs(self.offsets).mean()) if self.offsets.size else 0.0

    @property
    def max_offset(self) -> float:
        return float(np.abs(self.offsets).max()) if self.offsets.size else 0.0

    def __str__(self) -> str:
        video = f"; video {self.video}" if self.video is not None else ""
        return (f"seed {self.seed}: {self.frames} frames ({self.elapsed:.0f} s, {self.distance:.0f} m): autonomy "
                f"{100 * self.autonomy:.1f} % ({len(self.interventions)} intervention(s)), distance from the centre "
                f"line mean {self.mean_offset:.2f} m, max {self.max_offset:.2f} m{video}")


def _pilot_controller(pilot: Pilot) -> Controller:
    """Steer with the pilot's "angle" output (its first output when none is called that)."""
    name = "angle" if "angle" in pilot.outputs else pilot.outputs[0]

    def steer(image: np.ndarray, pose: Pose, world: SyntheticWorld) -> float:
        return float(np.asarray(pilot.predict(image[None])[name]).reshape(-1)[0])
    return steer


def drive(pilot: Pilot | Controller, seed: int = 901, frames: int = 2000, *, size: tuple[int, int] = (160, 120),
          fps: float = 20.0, start: Pose | None = None, world_options: dict | None = None,
          out: str | Path | None = None, methods: Sequence[str] = ("visual_backprop",), progress: bool = False,
          **movie_options) -> DriveResult:
    """Let `pilot` drive `frames` frames of synthetic world `seed` (see the module docstring).

    size, fps, world_options: the world's (SyntheticWorld options: randomize, shadows, ...).
    start: the first pose (default: on the centre line at s = 0, pointing along the road).
    out: write the drive as an explained video (methods; movie_options go to `pipeline.movie`).
    """
    if frames < 1:
        raise ValueError(f"drive: frames must be >= 1, got {frames}")
    if fps <= 0:
        raise ValueError(f"drive: fps must be positive, got {fps}")
    if out is not None:
        from .outputs import check_output_file
        out = check_output_file(out, what="drive video")
    world = SyntheticWorld(seed, size, fps=fps, **(world_options or {}))
    steer = _pilot_controller(pilot) if isinstance(pilot, Pilot) else pilot
    if not callable(steer):
        raise TypeError(f"drive: pilot must be a Pilot or a function (image, pose, world) -> angle, got "
                        f"{type(pilot).__name__}")
    s, offset, heading = (start.s, start.offset, start.heading) if start is not None else (0.0, 0.0, 0.0)
    dt = 1.0 / fps
    poses, offsets, angles, interventions = [], np.empty(frames), np.empty(frames), []
    travelled = 0.0
    for i in tqdm(range(frames), desc=f"driving seed {seed}", unit="frame", disable=not progress, file=sys.stderr):
        pose = Pose(s, offset, heading)
        image, _, _ = world.render(pose)
        angle = float(np.clip(steer(image, pose, world), -1.0, 1.0))
        poses.append(pose)
        offsets[i], angles[i] = offset, angle
        # a kinematic bicycle in road coordinates: the road turns under the car at its curvature
        v = float(world.speed_at(s))
        heading += (v * math.tan(angle * MAX_STEER) / WHEELBASE - v * float(world.curvature_at(s))) * dt
        offset += v * math.sin(heading) * dt
        step = v * math.cos(heading) * dt
        s += step
        travelled += step
        if abs(offset) > world.half_width(s) - CAR_HALF_WIDTH:      # a wheel on the grass: put it back
            interventions.append(i)
            offset, heading = 0.0, 0.0
    result = DriveResult(seed=int(seed), frames=frames, fps=fps, interventions=interventions, offsets=offsets,
                         steering=angles, poses=poses, distance=travelled)
    if out is not None:
        if not isinstance(pilot, Pilot):
            raise TypeError("drive: a video needs a Pilot to explain (not a controller function)")
        from .pipeline import movie
        movie(pilot, DriveReplay(world, poses, fps), str(out), methods, progress=progress, **movie_options)
        result.video = Path(out)
    return result


class DriveReplay(Source):
    """The frames of a drive, rendered again from its poses (labels: the good driver's angle and
    throttle there), for `pipeline.movie`."""

    name = "drive"

    def __init__(self, world: SyntheticWorld, poses: Sequence[Pose], fps: float):
        super().__init__()
        self.world, self.poses, self.fps = world, list(poses), float(fps)

    def _count(self) -> int:
        return len(self.poses)

    def _records(self) -> Iterator[Record]:
        where = f"drive(seed={self.world.seed})"
        for i, pose in enumerate(self.poses):
            yield Record(index=i, source=where, load=partial(lambda p: self.world.render(p)[0], pose),
                         time=i / self.fps, labels=self.world.labels(pose))

