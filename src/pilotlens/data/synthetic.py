"""The built-in synthetic driving world: a seeded, procedural front-camera view of a winding road.

A car drives along an endless two-lane road (dashed yellow centre line, solid white edge lines,
textured grass on both sides, sky with hills and clouds above the horizon). The camera is a
pinhole at CAM_HEIGHT metres above a flat ground plane, looking straight ahead: image row v below
the horizon sees the ground at distance z = f * CAM_HEIGHT / (v - horizon). The road centre is
integrated from its curvature, which changes along the drive (straights and bends of random
radius joined by smooth transitions); the road keeps its width in metres, so it narrows toward
the horizon. The driver weaves a little: the car's lateral offset and heading relative to the road
vary smoothly along the drive. Optional effects, each switchable: lighting (brightness, contrast
and tint change from one stretch of road to the next), shadows on the ground (bands across the
road and leafy blobs), obstacles (boxes standing on the road, drawn in perspective, bright
coloured and/or painted the colour of the road).

Everything is a pure function of ``(seed, options, frame index)``: ``render(i)`` is random access.

    world = SyntheticWorld(seed=0, size=(160, 120), obstacles=True)
    image, labels, masks = world.render(42)                 # frame 42, in any order
    image, labels, masks = world.render(Pose(s=80.0, offset=0.4))   # the view from a chosen pose
    source = open_source("synthetic", seed=0, frames=500)  # a SyntheticSource of Frames

Labels (what a good driver would do, from the road geometry only; obstacles are distractors and
do not change them):

``angle``
    Steering in normalised units, clipped to [-1, 1]; **angle > 0 steers RIGHT, angle < 0 steers
    LEFT** (donkeycar's ``user/angle`` convention). Pure pursuit: take the point on the road centre
    ``lookahead = 3 m + 0.5 s * speed`` ahead, at lateral position x (> 0 right of the car); the
    arc through it has curvature ``2 x / (x**2 + lookahead**2)``; the wheel angle of a car of
    WHEELBASE metres following that arc, divided by MAX_STEER, is the label. A road bending right
    gives angle > 0; a car right of the centre line (or pointing right of the road) gets angle < 0.
``throttle``
    ``speed / V_TOP``: the car slows down before and in sharp bends (speed between V_MIN and
    V_MAX m/s, so throttle is between 0.3 and 0.6); the car's progress uses that same speed.

Ground-truth masks (bool, H x W), taken from the very arrays that paint the image: ``road`` (road
surface, markings included, where visible), ``lane_markings`` (centre dashes and edge lines, where
visible) and ``obstacles`` (every pixel painted by an obstacle).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from functools import partial
from typing import Iterator

import cv2
import numpy as np

from .source import Record, Source

__all__ = ["Pose", "SyntheticWorld", "SyntheticSource"]

# World constants: metres, radians, seconds.
CAM_HEIGHT = 1.5         # camera above the ground
FOCAL = 0.55             # focal length as a fraction of the image width (about 85 degrees wide)
HORIZON = 0.40           # horizon row as a fraction of the image height
HALF_WIDTH = 1.8         # road half-width
EDGE_LINE = 1.55         # distance of the edge lines from the road centre
LINE_HALF = 0.07         # half-width of painted lines
DASH_PERIOD, DASH_LEN = 9.0, 3.0
WHEELBASE = 2.6
MAX_STEER = 0.35         # wheel angle (rad) at |angle| = 1
V_MIN, V_MAX, V_TOP = 6.0, 12.0, 20.0
PREVIEW = np.arange(0.0, 30.0, 5.0)      # the driver slows for the sharpest bend at these distances
BLOCK = 400.0            # the road is generated in independent blocks of this length
RAMP = 15.0              # length of a curvature transition
LIGHT_BLOCK, LIGHT_FADE = 300.0, 60.0
SHADOW_BLOCK, OBSTACLE_BLOCK = 100.0, 100.0
HAZE, HAZE_COLOUR = 220.0, (150, 168, 175)   # the air hides 1 - 1/e of what is HAZE m away

SKY_TOP, SKY_LOW = (70, 125, 200), (190, 212, 232)
HILLS, TREES = (125, 150, 165), (62, 92, 62)
# materials: 0 grass, 1 asphalt, 2 edge line, 3 centre dash
BASE = np.array([(78, 122, 50), (96, 96, 100), (232, 232, 226), (228, 192, 60)], np.float32)
SHIFT = np.array([(30, 14, 8), (-8, -8, -8), (-10, -10, -10), (-10, -10, -6)], np.float32)
GRAIN = np.array([0.16, 0.06, 0.04, 0.04], np.float32)
OBSTACLE_COLOURS = np.array([(200, 40, 35), (235, 120, 30), (40, 80, 190), (225, 205, 50),
                             (235, 235, 235), (150, 105, 60), (120, 40, 150)], np.float32)


@dataclass(frozen=True)
class Pose:
    """Where the car is: ``s`` metres along the road, ``offset`` metres right of the road centre
    (negative: left), ``heading`` radians of yaw relative to the road (positive: pointing right)."""

    s: float
    offset: float = 0.0
    heading: float = 0.0


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.minimum(np.maximum(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def _speed(bend_ahead: np.ndarray) -> np.ndarray:
    """The driver's speed (m/s) given the sharpest curvature in the next 25 m."""
    return V_MAX - (V_MAX - V_MIN) * np.minimum(np.abs(bend_ahead).max(-1) / 0.04, 1.0)


def _noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Periodic Gaussian-filtered noise with zero mean and unit standard deviation."""
    white = rng.standard_normal(shape)
    k2 = sum(np.meshgrid(*[np.fft.fftfreq(n) ** 2 for n in shape], indexing="ij"))
    out = np.fft.ifftn(np.fft.fftn(white) * np.exp(-2.0 * (math.pi * sigma) ** 2 * k2)).real
    return ((out - out.mean()) / out.std()).astype(np.float32)


class SyntheticWorld:
    """A seeded synthetic drive; ``render(i)`` gives frame i as ``(image, labels, masks)``.

    size: (width, height) of the images. curvature: scale of the road's bends (0: a straight road).
    weave: scale of the driver's weaving (0: always centred and aligned). bend: when given, the
    road has this constant curvature everywhere (1/m, > 0 bends right) instead of random bends.
    fps: frames per second of the drive (the car covers speed / fps metres per frame).
    """

    def __init__(self, seed: int = 0, size: tuple[int, int] = (160, 120), *, shadows: bool = True,
                 lighting: bool = True, obstacles: bool = False, road_colored_obstacles: bool = False,
                 curvature: float = 1.0, weave: float = 1.0, bend: float | None = None, fps: float = 20.0):
        width, height = int(size[0]), int(size[1])
        if width < 8 or height < 8:
            raise ValueError(f"synthetic: size must be at least 8x8 (width, height), got {size}")
        if fps <= 0:
            raise ValueError(f"synthetic: fps must be positive, got {fps}")
        self.seed, self.size, self.fps = int(seed), (width, height), float(fps)
        self.shadows, self.lighting = shadows, lighting
        self.obstacles, self.road_colored_obstacles = obstacles, road_colored_obstacles
        self.curvature, self.weave, self.bend = float(curvature), float(weave), bend

        # camera geometry: pixel centres at j + 0.5
        self.f = FOCAL * width
        self.cx, self.horizon = width / 2.0, HORIZON * height
        rows = np.arange(height) + 0.5
        self.r0 = int(np.searchsorted(rows, self.horizon + 1e-6, side="right"))
        self._z = self.f * CAM_HEIGHT / (rows[self.r0:] - self.horizon)          # ground rows
        self._X = ((np.arange(width) + 0.5 - self.cx)[None, :] * (self._z / self.f)[:, None]).astype(np.float32)
        haze = 1.0 - np.exp(-self._z / HAZE)
        self._clear = np.repeat((1.0 - haze).astype(np.float32)[:, None], width, 1)
        self._hazed = (np.array(HAZE_COLOUR)[:, None, None] * haze[:, None]).astype(np.float32)  # 3 x rows x 1
        pix = self._z / self.f                                                   # metres per pixel
        self._lw = np.maximum(LINE_HALF, 0.55 * pix).astype(np.float32)        # lines >= 1 px wide
        self._lines = 2 * LINE_HALF / pix >= 0.3                                 # drawn while >= 0.3 px
        self._solid_dash = self._z * pix / CAM_HEIGHT > DASH_LEN                 # a row spans a dash
        self._fine_amp = np.clip(0.04 / pix, 0.15, 1.0).astype(np.float32)[:, None]
        self._alpha = np.arctan((np.arange(width) + 0.5 - self.cx) / self.f)    # column azimuths
        t = [30.0]
        while t[-1] < 300.0:
            t.append(t[-1] * 1.03)
        self._t = np.concatenate([np.arange(0.0, 30.0, 0.25), t])                # look-ahead samples
        self._preview = np.searchsorted(self._t, PREVIEW)                        # ... where speed looks

        rng = np.random.default_rng([self.seed, 0])
        self._fine = _noise(rng, (256, 256), 0.8)
        self._coarse = _noise(rng, (256, 256), 5.0)
        periods = rng.uniform((200.0, 80.0, 35.0), (300.0, 120.0, 50.0))
        self._w_freq = 2 * math.pi / periods
        self._w_amp = np.array([0.4, 0.22, 0.08]) * self.weave
        self._w_phase = rng.uniform(0, 2 * math.pi, 3)
        self._pano = self._panorama(rng, rows[:self.r0])

        self._blocks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._grids: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._T, self._TH = [0.0], [0.0]     # time and yaw at the start of each block
        self._cache: dict[tuple[int, int], object] = {}

    def _panorama(self, rng: np.random.Generator, rows: np.ndarray) -> np.ndarray:
        """Everything above the horizon all around the car (r0 x N x 3, N columns per turn):
        a sky gradient, clouds, far hills and a tree line. The view takes the columns it faces."""
        n = int(2 * math.pi * self.f) + 1
        az = np.arange(n) / n                                                  # turns
        h = _noise(rng, (2048,), 30.0)
        hills = 0.095 + 0.045 * h[(az * 2048).astype(np.int64) % 2048]         # radians high
        trees = np.zeros(n)                  # round crowns, in woods: neighbours share the noise
        where, high, wide = rng.random(600), rng.uniform(0.025, 0.07, 600), rng.uniform(0.008, 0.02, 600)
        keep = _noise(rng, (600,), 3.0)[np.argsort(where)] > 0.0
        for p, hi, r in zip(where[keep], high[keep], wide[keep] / (2 * math.pi)):
            d = (az - p + 0.5) % 1.0 - 0.5
            close = np.abs(d) < r
            trees[close] = np.maximum(trees[close], hi * np.sqrt(1.0 - (d[close] / r) ** 2) + 0.005)
        clouds = _noise(rng, (64, 512), 4.0)
        top, low = np.array(SKY_TOP, np.float32), np.array(SKY_LOW, np.float32)
        up = np.clip(rows / max(self.horizon, 1.0), 0.0, 1.0)[:, None]       # 0 at the top, 1 at the horizon
        pano = np.broadcast_to(top + (low - top) * up[..., None] ** 1.5, (rows.size, n, 3)).copy()
        cover = clouds[(up * 63.999).astype(np.int64), (az * 512).astype(np.int64) % 512]
        cover = (np.clip(cover * 0.8 - 0.3, 0.0, 0.85) * (up < 0.8))[..., None]
        pano += (245.0 - pano) * cover
        pano[rows[:, None] > self.horizon - hills * self.f] = HILLS
        pano[rows[:, None] > self.horizon - trees * self.f] = TREES
        return np.ascontiguousarray(pano.transpose(2, 0, 1), np.float32)   # 3 x r0 x N

    # ---- the road -------------------------------------------------------------------------------
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
        k = k + (k - values[j - 1]) * (_smooth((s - starts[j]) / RAMP + 0.5) - 1.0)
        return k + (values[j + 1] - values[j]) * _smooth((s - starts[j + 1]) / RAMP + 0.5)

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

    def _yaw(self, s: float) -> float:
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
        """Where the car is at frame i (time i / fps)."""
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

    def _path(self, pose: Pose):
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
        """{"angle", "throttle"} a good driver would use at frame i (or at a Pose)."""
        pose = which if isinstance(which, Pose) else self.pose(which)
        t, x, z, _, v = path if path is not None else self._path(pose)
        look = max(1.0, min(3.0 + 0.5 * v, float(z[-1])))
        xt = float(np.interp(look, z, x))
        wheel = math.atan(WHEELBASE * 2.0 * xt / (xt * xt + look * look))
        return {"angle": float(np.clip(wheel / MAX_STEER, -1.0, 1.0)), "throttle": v / V_TOP}

    # ---- effects --------------------------------------------------------------------------------
    def _random(self, kind: int, b: int, make):
        """make(rng, b) for block b of one kind of thing, seeded by (seed, kind, b) and kept."""
        key = (kind, b)
        if key not in self._cache:
            self._cache[key] = make(np.random.default_rng([self.seed, kind, b & 0xFFFFFFFF]), b)
        return self._cache[key]

    def _light(self, s: float) -> tuple[float, float, np.ndarray]:
        """Gain, contrast and colour tint for the stretch of road at s (blended between stretches)."""
        def make(rng, b):
            return np.concatenate([rng.uniform((0.55, 0.7), (1.25, 1.1)), 1.0 + rng.normal(0.0, 0.05, 3)])
        b = int(math.floor(s / LIGHT_BLOCK))
        w = float(_smooth(np.array((s - b * LIGHT_BLOCK) / LIGHT_FADE)))
        p = w * self._random(3, b, make) + (1.0 - w) * self._random(3, b - 1, make)
        return float(p[0]), float(p[1]), p[2:].astype(np.float32)

    @staticmethod
    def _make_shadows(rng, b):
        out = []
        for _ in range(rng.poisson(2.5)):
            s = b * SHADOW_BLOCK + rng.uniform(0.0, SHADOW_BLOCK)
            dark = rng.uniform(0.4, 0.65)
            if rng.random() < 0.35:      # a band across the road (a pole, a bridge, a wall)
                out.append((s, 0.0, rng.uniform(0.6, 3.0), 1e3, dark))
            else:                        # a tree's shadow
                side = rng.choice((-1.0, 1.0))
                out.append((s, side * rng.uniform(0.0, 5.0), rng.uniform(1.0, 4.0), rng.uniform(1.0, 3.5), dark))
        return out

    def _shadow_list(self, s0: float, s1: float) -> list[tuple[float, float, float, float, float]]:
        """Shadows (s, lateral, half-length, half-width, darkness) on [s0, s1]."""
        b0, b1 = int(math.floor(s0 / SHADOW_BLOCK)), int(math.floor(s1 / SHADOW_BLOCK))
        return [sh for b in range(b0, b1 + 1) for sh in self._random(4, b, self._make_shadows)]

    def _make_obstacles(self, rng, b):
        out = []
        for _ in range(rng.integers(1, 4)):
            s = b * OBSTACLE_BLOCK + rng.uniform(0.0, OBSTACLE_BLOCK)
            lat = rng.choice((-1.0, 1.0)) * rng.uniform(0.3, 1.3)
            size = rng.uniform((0.5, 0.5, 0.4), (1.4, 1.2, 1.2))
            colour = OBSTACLE_COLOURS[rng.integers(len(OBSTACLE_COLOURS))]
            plain = rng.random() < 0.5
            if self.road_colored_obstacles and (plain or not self.obstacles):
                colour = BASE[1]
            elif not self.obstacles:
                continue
            out.append((s, lat, *size, colour))
        return out

    def _obstacle_list(self, s0: float, s1: float) -> list[tuple]:
        """Obstacles (s, lateral, width, depth, height, colour) on [s0, s1]."""
        b0, b1 = int(math.floor(s0 / OBSTACLE_BLOCK)), int(math.floor(s1 / OBSTACLE_BLOCK))
        return [o for b in range(b0, b1 + 1) for o in self._random(5, b, self._make_obstacles) if s0 <= o[0] <= s1]

    def _draw_obstacles(self, pose: Pose, path, found: list[tuple], ids: np.ndarray) -> np.ndarray:
        """Paint the faces of the obstacles `found` into ids (H x W uint8, 0 = none), far to near;
        return the colour (RGB float) of each id."""
        t, x, z, phi, _ = path
        o = np.array([f[:5] for f in found], np.float64).reshape(-1, 5)[:50]
        colour = np.array([f[5] for f in found], np.float32).reshape(-1, 3)[:50]
        ahead = o[:, 0] - pose.s
        ph = np.interp(ahead, t, phi)
        n = np.stack([np.cos(ph), -np.sin(ph)], 1)                   # (x, z): right of the road
        fw = np.stack([np.sin(ph), np.cos(ph)], 1)                   # along the road
        centre = np.stack([np.interp(ahead, t, x), np.interp(ahead, t, z)], 1) + o[:, 1:2] * n
        # the footprint's corners: front-left, front-right, back-right, back-left (K x 4 x 2)
        across = np.array([-0.5, 0.5, 0.5, -0.5])[:, None] * o[:, None, 2:3] * n[:, None]
        along = np.array([-0.5, -0.5, 0.5, 0.5])[:, None] * o[:, None, 3:4] * fw[:, None]
        foot = centre[:, None] + across + along
        normal = np.stack([-fw, n, fw, -n], 1)                      # outward normals of the sides
        seen = np.einsum("kij,kij->ki", -foot, normal) > 0           # the camera is outside that side
        depth = foot[..., 1]
        u = self.cx + self.f * foot[..., 0] / np.maximum(depth, 1e-3) - 0.5
        v0 = self.horizon + self.f * CAM_HEIGHT / np.maximum(depth, 1e-3) - 0.5
        v1 = v0 - self.f * o[:, 4:5] / np.maximum(depth, 1e-3)
        fix = lambda p: np.clip(np.round(p * 16), -2**24, 2**24).astype(np.int32)
        bottom, top = fix(np.stack([u, v0], -1)), fix(np.stack([u, v1], -1))
        haze = (1.0 - np.exp(-centre[:, 1] / HAZE))[:, None, None].astype(np.float32)
        shades = np.array([0.95, 0.78, 0.95, 0.78, 1.12], np.float32)
        table = colour[:, None] * shades[:, None] * (1 - haze) + np.array(HAZE_COLOUR, np.float32) * haze
        for k in np.argsort(-centre[:, 1], kind="stable"):
            if depth[k].min() < 0.5:
                continue
            for i in np.flatnonzero(seen[k]):
                j = (i + 1) % 4
                poly = np.stack([bottom[k, i], bottom[k, j], top[k, j], top[k, i]])
                cv2.fillConvexPoly(ids, poly.reshape(-1, 1, 2), int(1 + 5 * k + i), cv2.LINE_8, 4)
            cv2.fillConvexPoly(ids, top[k].reshape(-1, 1, 2), int(1 + 5 * k + 4), cv2.LINE_8, 4)
        return np.concatenate([np.zeros((1, 3), np.float32), table.reshape(-1, 3)])

    @staticmethod
    def _texture(tex: np.ndarray, ahead: np.ndarray, lat: np.ndarray, s: float, scale: float) -> np.ndarray:
        """Sample a 256 x 256 periodic texture fixed to the road, `scale` texels per metre."""
        rows = ((ahead * np.float32(scale) + np.float32((s * scale) % 256 + 4096)).astype(np.int32) & 255) << 8
        rows |= (lat * np.float32(scale) + np.float32(65536)).astype(np.int32) & 255
        return np.take(tex.ravel(), rows)

    # ---- the picture ----------------------------------------------------------------------------
    def render(self, which: int | Pose) -> tuple[np.ndarray, dict[str, float], dict[str, np.ndarray]]:
        """Frame i (or the view from a Pose): uint8 RGB image H x W x 3, labels, bool masks H x W."""
        pose = which if isinstance(which, Pose) else self.pose(which)
        width, height = self.size
        path = self._path(pose)
        t, x, z, phi, _ = path
        img = np.empty((3, height, width), np.float32)          # colour planes, merged at the end

        # the sky: the panorama's columns the camera faces
        yaw = self._yaw(pose.s) + pose.heading
        n = self._pano.shape[2]
        col = np.floor((yaw + self._alpha) * (n / (2 * math.pi))).astype(np.int64) % n
        img[:, :self.r0] = np.take(self._pano, col, axis=2)

        # the ground: each pixel's lateral distance from the road centre (lat) and its position
        # along the road ahead of the car (ahead), from the road centre's path at the row's depth
        zz = self._z
        seen = zz <= z[-1]
        xc, ph, tr = np.interp(zz, z, x), np.interp(zz, z, phi), np.interp(zz, z, t)
        c, sn = np.cos(ph).astype(np.float32)[:, None], np.sin(ph).astype(np.float32)[:, None]
        dx = self._X - xc.astype(np.float32)[:, None]
        lat = dx * c
        ahead = tr.astype(np.float32)[:, None] + dx * sn
        al = np.abs(lat)
        road = (al <= HALF_WIDTH) & seen[:, None]
        lines = road & self._lines[:, None]
        lw = self._lw[:, None] * c
        edge = lines & (np.abs(al - EDGE_LINE) <= lw)
        phase = ahead + np.float32(pose.s % DASH_PERIOD)
        phase -= np.floor(phase * np.float32(1.0 / DASH_PERIOD)) * np.float32(DASH_PERIOD)
        dash = lines & (al <= lw) & ((phase < DASH_LEN) | self._solid_dash[:, None])
        paint = edge | dash
        mat = (road.astype(np.intp) + paint) + dash             # 0 grass, 1 asphalt, 2 edge, 3 dash

        # light on the ground: texture grain, shadows, then the air's haze
        coarse = self._texture(self._coarse, ahead, lat, pose.s, 2.0)
        shade = self._clear.copy()                               # 1 - haze, per row
        if self.shadows:
            self._shade(shade, self._shadow_list(pose.s - 5.0, pose.s + min(100.0, float(t[-1]))),
                        pose.s, tr, ahead, lat, coarse)
        ids = table = None
        if self.obstacles or self.road_colored_obstacles:
            found = self._obstacle_list(pose.s + 1.0, pose.s + min(80.0, float(t[-1])))
            if found:
                ids = np.zeros((height, width), np.uint8)
                table = self._draw_obstacles(pose, path, found, ids)
                contact = [(f[0], f[1], f[3] * 0.7 + 0.3, f[2] * 0.6 + 0.3, 0.6) for f in found]
                self._shade(shade, contact, pose.s, tr, ahead, lat, coarse)
        grain = np.take(GRAIN, mat)
        grain *= self._texture(self._fine, ahead, lat, pose.s, 40.0)
        grain *= self._fine_amp
        grain += 1.0
        grain *= shade
        coarse *= shade
        for ch in range(3):
            plane = img[ch, self.r0:]
            np.take(BASE[:, ch], mat, out=plane)
            plane *= grain
            plane += np.take(SHIFT[:, ch], mat) * coarse
            plane += self._hazed[ch]

        obstacles = np.zeros((height, width), bool)
        if ids is not None:
            obstacles = ids > 0
            img[:, obstacles] = table[ids[obstacles]].T
        if self.lighting:
            gain, contrast, tint = self._light(pose.s)
            for ch in range(3):                  # ((v - 110) * contrast + 110) * gain * tint
                img[ch] *= contrast * gain * tint[ch]
                img[ch] += 110.0 * (1.0 - contrast) * gain * tint[ch]
        np.clip(img, 0.0, 255.0, out=img)
        image = cv2.merge(list(img.astype(np.uint8)))

        masks = {name: np.zeros((height, width), bool) for name in ("road", "lane_markings")}
        masks["road"][self.r0:] = road
        masks["lane_markings"][self.r0:] = paint
        masks["road"] &= ~obstacles
        masks["lane_markings"] &= ~obstacles
        masks["obstacles"] = obstacles
        return image, self.labels(pose, path), masks

    @staticmethod
    def _shade(shade, spots, s0, tr, ahead, lat, coarse) -> None:
        """Darken `shade` (ground rows x W) under elliptic shadows with leafy, soft edges."""
        for s_k, l_k, a_k, b_k, dark in spots:
            d_k = s_k - s0
            lo, hi = np.searchsorted(-tr, [-(d_k + a_k + 6.0), -(d_k - a_k - 6.0)])
            if hi <= lo:
                continue
            e = ahead[lo:hi] - np.float32(d_k)
            e *= np.float32(1 / a_k)
            e *= e
            if b_k < 100.0:
                q = lat[lo:hi] - np.float32(l_k)
                q *= np.float32(1 / b_k)
                q *= q
                e += q
            e += np.float32(0.3) * coarse[lo:hi]                # e < 1 inside, leafy at the rim
            # shade *= 1 - (1 - dark) * clip(3 * (1 - e), 0, 1): a soft edge, full shadow well inside
            np.subtract(np.float32(1.0), e, out=e)
            e *= np.float32(3.0 * (1.0 - dark))
            np.clip(e, 0.0, np.float32(1.0 - dark), out=e)
            np.subtract(np.float32(1.0), e, out=e)
            shade[lo:hi] *= e


WORLD_OPTIONS = ("shadows", "lighting", "obstacles", "road_colored_obstacles", "curvature", "weave", "bend")


class SyntheticSource(Source):
    """``frames`` frames of a SyntheticWorld drive, labelled with "angle" and "throttle", at
    ``time = index / fps``; ``world_options`` are SyntheticWorld's (shadows, lighting, obstacles,
    road_colored_obstacles, curvature, weave, bend).

    ``masks(index)`` gives the ground-truth masks of a frame; ``world`` is the SyntheticWorld, for
    anything else (``world.pose(i)``, ``world.render(i)``).
    """

    name = "synthetic"

    def __init__(self, seed: int = 0, frames: int = 500, size: tuple[int, int] = (160, 120), fps: float = 20.0,
                 start: int = 0, end: int | None = None, step: int = 1, strict: bool = False, **world_options):
        super().__init__(start=start, end=end, step=step, strict=strict)
        if frames < 0:
            raise ValueError(f"synthetic: frames must be >= 0, got {frames}")
        unknown = sorted(set(world_options) - set(WORLD_OPTIONS))
        if unknown:
            raise TypeError(f"synthetic: unknown option {', '.join(unknown)}; the options are seed, frames, "
                            f"size, fps, {', '.join(WORLD_OPTIONS)} (and start, end, step, strict)")
        self.frames, self.fps = int(frames), float(fps)
        self.world = SyntheticWorld(seed, size, fps=fps, **world_options)
        self._last: tuple[int, dict[str, np.ndarray]] | None = None

    def _count(self) -> int:
        return self.frames

    def _load(self, i: int) -> np.ndarray:
        image, _, masks = self.world.render(i)
        self._last = (i, masks)
        return image

    def _records(self) -> Iterator[Record]:
        stop = self.frames if self.end is None else min(self.frames, self.end)
        where = f"synthetic(seed={self.world.seed})"
        for i in range(self.start, stop, self.step):
            yield Record(index=i, source=where, load=partial(self._load, i), time=i / self.fps,
                         labels=self.world.labels(i))

    def masks(self, index: int) -> dict[str, np.ndarray]:
        """Ground-truth masks of frame `index` (free right after that frame was read)."""
        if self._last is not None and self._last[0] == index:
            masks, self._last = self._last[1], None
            return masks
        return self.world.render(index)[2]
