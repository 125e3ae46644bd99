"""The synthetic world's road: its geometry, the driver's path along it, and the steering labels.

The road centre is integrated from its curvature, which changes along the drive (straights and bends
of random radius joined by smooth transitions). A pose is where the car is relative to that centre
line: ``s`` metres along it, ``offset`` metres right of it, ``heading`` radians of yaw relative to it.
The driver weaves a little: the car's offset and heading vary smoothly along the drive.

Everything here is geometry: nothing depends on how the world looks (randomise.py), so the labels
of a seed are the same whatever the look.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

# World constants: metres, radians, seconds.
CAM_HEIGHT = 1.5         # the classic camera's height above the ground
FOCAL = 0.55             # focal length as a fraction of the image width (about 85 degrees wide)
HORIZON = 0.40           # the classic horizon row as a fraction of the image height
HALF_WIDTH = 1.8         # the classic road half-width
EDGE_LINE = 1.55         # the classic distance of the edge lines from the road centre
LINE_HALF = 0.07         # half-width of painted lines
DASH_PERIOD, DASH_LEN = 9.0, 3.0
WHEELBASE = 2.6
CAR_HALF_WIDTH = 0.8     # the car has left its road when its centre is further than half-width - this
MAX_STEER = 0.35         # wheel angle (rad) at |angle| = 1
V_MIN, V_MAX, V_TOP = 6.0, 12.0, 20.0
PREVIEW = np.arange(0.0, 30.0, 5.0)      # the driver slows for the sharpest bend at these distances
BLOCK = 400.0            # the road is generated in independent blocks of this length
RAMP = 15.0              # length of a curvature transition


@dataclass(frozen=True)
class Pose:
    """Where the car is: ``s`` metres along the road, ``offset`` metres right of the road centre
    (negative: left), ``heading`` radians of yaw relative to the road (positive: pointing right)."""

    s: float
    offset: float = 0.0
    heading: float = 0.0


def smooth(x: np.ndarray) -> np.ndarray:
    """Smoothstep of x clipped to [0, 1]."""
    x = np.minimum(np.maximum(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def _speed(bend_ahead: np.ndarray) -> np.ndarray:
    """The driver's speed (m/s) given the sharpest curvature in the next 25 m."""
    return V_MAX - (V_MAX - V_MIN) * np.minimum(np.abs(bend_ahead).max(-1) / 0.04, 1.0)


class Road:
    """The road of a seed and the driver's weaving drive along it (geometry only).

    curvature: scale of the road's bends (0: a straight road). weave: scale of the driver's weaving
    (0: always centred and aligned). bend: when given, the road has this constant curvature
    everywhere (1/m, > 0 bends right) instead of random bends. fps: frames per second of the drive.
    """

    def __init__(self, seed: int = 0, *, curvature: float = 1.0, weave: float = 1.0, bend: float | None = None,
                 fps: float = 20.0):
        if fps <= 0:
            raise ValueError(f"synthetic: fps must be positive, got {fps}")
        self.seed, self.fps = int(seed), float(fps)
        self.curvature, self.weave, self.bend = float(curvature), float(weave), bend
        rng = np.random.default_rng([self.seed, 0])
        periods = rng.uniform((200.0, 80.0, 35.0), (300.0, 120.0, 50.0))
        self._w_freq = 2 * math.pi / periods
        self._w_amp = np.array([0.4, 0.22, 0.08]) * self.weave
        self._w_phase = rng.uniform(0, 2 * math.pi, 3)
        t = [30.0]
        while t[-1] < 300.0:
            t.append(t[-1] * 1.03)
        self._t = np.concatenate([np.arange(0.0, 30.0, 0.25), t])                # look-ahead samples
        self._preview = np.searchsorted(self._t, PREVIEW)                        # ... where speed looks
        self._blocks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._grids: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._T, self._TH = [0.0], [0.0]     # time and yaw at the start of each block

    def _block(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Segment starts (metres) and curvatures of road block b."""
        if b not in self._blocks:
            rng = np.random.default_rng([self.seed, 1, b & 0xFFFFFFFF])
            starts, values, s = [], [], 0.0
            while s < BLOCK - 25.0:          # every segment is at least 25 m long
                starts.append(b * BLOCK + s)
                k = 0.0 if rng.random() < 0.3 else rng.choice((-1.0, 1.0)) * rng.uniform(0.006, 0.045)
                values.append(k * self.curvature)
                s += rng.uniform(25.0, 90.0)
            self._blocks[b] = np.array(starts), np.array(values)
        return self._blocks[b]

    def curvature_at(self, s) -> np.ndarray:
        """Road curvature (1/m, > 0 bends right) at distances s along the road."""
        s = np.asarray(s, dtype=np.float64)
        if self.bend is not None:
            return np.full(s.shape, float(self.bend))
        if s.size == 0:
            return s.copy()
        b0, b1 = int(math.floor(s.min() / BLOCK)) - 1, int(math.floor(s.max() / BLOCK)) + 1
        parts = [self._block(b) for b in range(b0, b1 + 1)]
        starts = np.concatenate([p[0] for p in parts])
        values = np.concatenate([p[1] for p in parts])
        # segments are longer than RAMP: only the ramps into and out of s's own segment matter
        j = np.searchsorted(starts, s, side="right") - 1
        k = values[j]
        k = k + (k - values[j - 1]) * (smooth((s - starts[j]) / RAMP + 0.5) - 1.0)
        return k + (values[j + 1] - values[j]) * smooth((s - starts[j + 1]) / RAMP + 0.5)

    def speed_at(self, s) -> np.ndarray:
        """The driver's speed (m/s): slower before and in sharp bends."""
        return _speed(self.curvature_at(np.asarray(s, dtype=np.float64)[..., None] + PREVIEW))

    def _grid(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distance, elapsed time and road yaw sampled every 2 m in block b (from its start)."""
        if b not in self._grids:
            s = b * BLOCK + np.arange(0.0, BLOCK + 1.0, 2.0)
            inv_v, k = 1.0 / self.speed_at(s), self.curvature_at(s)
            t = np.concatenate([[0.0], np.cumsum((inv_v[1:] + inv_v[:-1]))])
            th = np.concatenate([[0.0], np.cumsum((k[1:] + k[:-1]))])
            self._grids[b] = s, t, th           # trapezoids: sum * ds / 2 with ds = 2 m
        return self._grids[b]

    def _extend(self, b: int) -> None:
        while len(self._T) <= b + 1:
            _, t, th = self._grid(len(self._T) - 1)
            self._T.append(self._T[-1] + t[-1])
            self._TH.append(self._TH[-1] + th[-1])

    def yaw(self, s: float) -> float:
        """Direction of the road at s relative to its start (rad, > 0 turned right)."""
        if self.bend is not None:
            return float(self.bend) * s
        b = int(math.floor(s / BLOCK))
        if b < 0:
            return 0.0
        self._extend(b)
        grid = self._grid(b)
        return self._TH[b] + float(np.interp(s, grid[0], grid[2]))

    def pose(self, i: int) -> Pose:
        """Where the weaving driver is at frame i (time i / fps)."""
        if i < 0:
            raise IndexError(f"synthetic: frame index must be >= 0, got {i}")
        time = i / self.fps
        while self._T[-1] <= time:
            self._extend(len(self._T) - 1)
        b = bisect.bisect_right(self._T, time) - 1
        s_grid, t_grid, _ = self._grid(b)
        s = float(np.interp(time - self._T[b], t_grid, s_grid))
        ph = self._w_freq * s + self._w_phase
        return Pose(s, float(self._w_amp @ np.sin(ph)), float((self._w_amp * self._w_freq) @ np.cos(ph)))

    def path(self, pose: Pose):
        """The road centre ahead in car coordinates: arc length t, lateral x, forward z, direction
        phi (all arrays), and the driver's speed."""
        t = self._t
        k = self.curvature_at(pose.s + t)
        dt = np.diff(t)
        phi = np.concatenate([[0.0], np.cumsum((k[1:] + k[:-1]) * 0.5 * dt)]) - pose.heading
        sx, cz = np.sin(phi), np.cos(phi)
        x = np.concatenate([[0.0], np.cumsum((sx[1:] + sx[:-1]) * 0.5 * dt)]) - pose.offset * math.cos(pose.heading)
        z = np.concatenate([[0.0], np.cumsum((cz[1:] + cz[:-1]) * 0.5 * dt)]) - pose.offset * math.sin(pose.heading)
        turned = cz < 0.15                   # the road turns away: keep it while z still increases
        n = int(np.argmax(turned)) if turned.any() else t.size
        n = max(n, 2)
        return t[:n], x[:n], z[:n], phi[:n], float(_speed(k[self._preview]))

    def labels(self, which: int | Pose, path=None) -> dict[str, float]:
        """{"angle", "throttle"} a good driver would use at frame i (or at a Pose).

        Pure pursuit: take the point on the road centre ``lookahead = 3 m + 0.5 s * speed`` ahead,
        at lateral position x (> 0 right of the car); the arc through it has curvature
        ``2 x / (x**2 + lookahead**2)``; the wheel angle of a car of WHEELBASE metres following that
        arc, divided by MAX_STEER and clipped to [-1, 1], is the angle (> 0 steers right)."""
        pose = which if isinstance(which, Pose) else self.pose(which)
        t, x, z, _, v = path if path is not None else self.path(pose)
        look = max(1.0, min(3.0 + 0.5 * v, float(z[-1])))
        xt = float(np.interp(look, z, x))
        wheel = math.atan(WHEELBASE * 2.0 * xt / (xt * xt + look * look))
        return {"angle": float(np.clip(wheel / MAX_STEER, -1.0, 1.0)), "throttle": v / V_TOP}
