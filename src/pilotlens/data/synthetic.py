"""The built-in synthetic driving world as a Source: a seeded, procedural front-camera drive.

A car drives along an endless two-lane road; the world (``data/world/``) is a pure function of
``(seed, options, frame index)``, so frames are random access. By default its look is randomised
per drive and along it (grass, asphalt and sky colours and textures, road width, marking styles,
camera height and pitch, lighting, shadows, boxes beside the road): only the road's geometry
predicts the steering. ``randomize=False`` gives the classic look (green grass, grey asphalt, a
dashed yellow centre line, white edge lines).

    source = open_source("synthetic", seed=0, frames=500)            # a SyntheticSource of Frames
    source = open_source("synthetic", seed=0, frames=500, recovery=True)   # off-centre poses too
    world = source.world                                              # world.render(Pose(...)), ...

Labels (what a good driver would do, from the road geometry only; the look never changes them):

``angle``
    Steering in normalised units, clipped to [-1, 1]; **angle > 0 steers RIGHT, angle < 0 steers
    LEFT** (donkeycar's ``user/angle`` convention). Pure pursuit toward the road centre line
    ``3 m + 0.5 s * speed`` ahead (see ``world/scene.py``). A road bending right gives angle > 0; a
    car right of the centre line (or pointing right of the road) gets angle < 0.
``throttle``
    ``speed / V_TOP``: the car slows down before and in sharp bends (throttle between 0.3 and 0.6).

Recovery (``recovery=True`` or a share of frames in (0, 1]), as NVIDIA trained PilotNet: the
chosen frames are rendered from the driver's pose shifted sideways by up to RECOVERY_SHIFT metres
and turned by up to RECOVERY_TURN radians (uniform, seeded per frame), kept on the road, and
labelled with the steering that brings the car back from there.

Ground-truth masks (bool, H x W), taken from the very arrays that paint the image: ``road`` (road
surface, markings included, where visible), ``lane_markings`` (centre and edge lines, where
visible), ``obstacles`` (boxes standing on the road) and ``distractors`` (boxes beside it).
"""
from __future__ import annotations

from functools import partial
from typing import Iterator

import numpy as np

from .source import Record, Source
from .world import MASKS, Pose, SyntheticWorld
from .world.scene import CAR_HALF_WIDTH, MAX_STEER, V_TOP, WHEELBASE

__all__ = ["Pose", "SyntheticWorld", "SyntheticSource", "MASKS", "WORLD_OPTIONS", "RECOVERY_SHIFT", "RECOVERY_TURN",
           "CAR_HALF_WIDTH", "MAX_STEER", "V_TOP", "WHEELBASE"]

WORLD_OPTIONS = ("randomize", "shadows", "lighting", "obstacles", "road_colored_obstacles", "distractors",
                 "curvature", "weave", "bend")
RECOVERY_SHIFT = 1.0     # metres: recovery frames are shifted sideways by up to this ...
RECOVERY_TURN = 0.15     # ... and turned by up to this (radians)


class SyntheticSource(Source):
    """``frames`` frames of a SyntheticWorld drive, labelled with "angle" and "throttle", at
    ``time = index / fps``; ``world_options`` are SyntheticWorld's (randomize, shadows, lighting,
    obstacles, road_colored_obstacles, distractors, curvature, weave, bend). ``recovery``: False,
    True (every frame) or the share of frames rendered from a pose shifted and turned off the
    driver's (see the module docstring).

    ``masks(index)`` gives the ground-truth masks of a frame; ``pose(index)`` the pose it was
    rendered from; ``world`` is the SyntheticWorld, for anything else (``world.render(Pose(...))``).
    """

    kind, unit = "drive", "frame"

    name = "synthetic"

    def __init__(self, seed: int = 0, frames: int = 500, size: tuple[int, int] = (160, 120), fps: float = 20.0,
                 start: int = 0, end: int | None = None, step: int = 1, strict: bool = False,
                 recovery: bool | float = False, **world_options):
        super().__init__(start=start, end=end, step=step, strict=strict)
        if frames < 0:
            raise ValueError(f"synthetic: frames must be >= 0, got {frames}")
        unknown = sorted(set(world_options) - set(WORLD_OPTIONS))
        if unknown:
            raise TypeError(f"synthetic: unknown option {', '.join(unknown)}; the options are seed, frames, "
                            f"size, fps, recovery, {', '.join(WORLD_OPTIONS)} (and start, end, step, strict)")
        try:
            share = float(recovery)
        except (TypeError, ValueError):
            share = -1.0
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"synthetic: recovery must be True, False or a share between 0 and 1, got {recovery}")
        self.frames, self.fps, self.recovery = int(frames), float(fps), share
        self.world = SyntheticWorld(seed, size, fps=fps, **world_options)
        self._last: tuple[int, dict[str, np.ndarray]] | None = None

    def pose(self, i: int) -> Pose:
        """The pose frame i is rendered from: the driver's, or for a recovery frame shifted and turned."""
        pose = self.world.pose(i)
        if self.recovery <= 0.0:
            return pose
        rng = np.random.default_rng([self.world.seed, 7, i])
        pick, shift, turn = rng.random(3)
        if pick >= self.recovery:
            return pose
        room = max(self.world.half_width(pose.s) - 0.2, 0.0)
        offset = float(np.clip(pose.offset + (2 * shift - 1) * RECOVERY_SHIFT, -room, room))
        return Pose(pose.s, offset, pose.heading + (2 * turn - 1) * RECOVERY_TURN)

    def _count(self) -> int:
        return self.frames

    def _load(self, i: int) -> np.ndarray:
        image, _, masks = self.world.render(self.pose(i))
        self._last = (i, masks)
        return image

    def _records(self) -> Iterator[Record]:
        stop = self.frames if self.end is None else min(self.frames, self.end)
        where = f"synthetic(seed={self.world.seed})"
        for i in range(self.start, stop, self.step):
            yield Record(index=i, source=where, load=partial(self._load, i), time=i / self.fps,
                         labels=self.world.labels(self.pose(i)))

    def masks(self, index: int) -> dict[str, np.ndarray]:
        """Ground-truth masks of frame `index` (free right after that frame was read)."""
        if self._last is not None and self._last[0] == index:
            masks, self._last = self._last[1], None
            return masks
        return self.world.render(self.pose(index))[2]
