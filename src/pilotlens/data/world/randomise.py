"""How the synthetic world looks: everything random about it that is not the road's geometry.

With ``randomize=True`` the look changes per drive (seed) and along it, so that a pilot cannot steer
from anything but the road's geometry:

* per drive: the sky (clear blue, overcast, dusk), hills and trees, the camera's height (1.2-1.9 m)
  and mean pitch, texture scales, how many shadows and off-road distractors there are;
* per stretch of road (STYLE_BLOCK metres, colours and widths blended over STYLE_FADE): grass colour
  and texture strength (green, dry, dirt, gravel, snow, sand), asphalt colour, road half-width
  (1.6-2.6 m), edge lines (on or off, white or yellow, how far in), the centre marking (dashed,
  solid, double or none; yellow or white), how fresh the paint is;
* along the drive: pitch jitter (bumps), lighting (brightness, contrast, tint), shadows (bands
  across the road and leafy blobs), off-road boxes of any colour and size.

With ``randomize=False`` it is the classic world: one green grass, grey asphalt, a dashed yellow
centre line, white edge lines, a camera 1.5 m high looking straight ahead.

Everything is seeded by (seed, kind, block) and kept: random access in any order gives the same look.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .scene import CAM_HEIGHT, EDGE_LINE, HALF_WIDTH, LINE_HALF, smooth

LIGHT_BLOCK, LIGHT_FADE = 300.0, 60.0
SHADOW_BLOCK, OBSTACLE_BLOCK = 100.0, 100.0
STYLE_BLOCK, STYLE_FADE = 150.0, 30.0
MAX_PITCH = 0.06          # |camera pitch| never exceeds this (rad): the panorama is built tall enough

# centre marking styles
NONE, DASHED, SOLID, DOUBLE = 0, 1, 2, 3
CENTRE_CODES = {"none": NONE, "dashed": DASHED, "solid": SOLID, "double": DOUBLE}
DOUBLE_GAP = 0.17         # half the distance between the two lines of a double centre line

# classic materials: 0 grass, 1 asphalt, 2 edge line, 3 centre line
BASE = np.array([(78, 122, 50), (96, 96, 100), (232, 232, 226), (228, 192, 60)], np.float32)
SHIFT = np.array([(30, 14, 8), (-8, -8, -8), (-10, -10, -10), (-10, -10, -6)], np.float32)
GRAIN = np.array([0.16, 0.06, 0.04, 0.04], np.float32)
SKY_TOP, SKY_LOW = (70, 125, 200), (190, 212, 232)
HILLS, TREES = (125, 150, 165), (62, 92, 62)
OBSTACLE_COLOURS = np.array([(200, 40, 35), (235, 120, 30), (40, 80, 190), (225, 205, 50),
                             (235, 235, 235), (150, 105, 60), (120, 40, 150)], np.float32)

GRASS = np.array([(78, 122, 50), (112, 140, 62), (150, 134, 84), (112, 88, 62), (138, 136, 128),
                  (214, 218, 224), (56, 86, 44), (168, 112, 72), (96, 110, 60)], np.float32)
SKIES = [((70, 125, 200), (190, 212, 232)), ((120, 128, 140), (200, 204, 210)), ((60, 70, 130), (235, 160, 110)),
         ((40, 90, 170), (160, 190, 225)), ((150, 150, 155), (225, 225, 228))]
WHITE, YELLOW = np.array((232, 232, 226), np.float32), np.array((228, 192, 60), np.float32)


@dataclass
class RowStyle:
    """The road's look at each ground row (R rows): half-width, edge-line offset (<= 0: no edge
    lines), centre style code, line half-width, colours (R x 4 x 3 for grass, asphalt, edge, centre),
    coarse colour shifts (R x 4 x 3) and grain strengths (R x 4)."""

    half: np.ndarray
    edge: np.ndarray
    centre: np.ndarray
    line: np.ndarray
    colour: np.ndarray
    shift: np.ndarray
    grain: np.ndarray


def _block_style(rng: np.random.Generator, family: int) -> dict:
    """One stretch of road's look, drawn at random (the drive's grass family most of the time)."""
    if rng.random() < 0.3:
        family = int(rng.integers(len(GRASS)))
    grass = np.clip(GRASS[family] + rng.normal(0.0, 12.0, 3), 0, 255)
    for _ in range(20):                       # asphalt distinct enough from the grass to be seen
        level = rng.uniform(45.0, 165.0)
        asphalt = np.clip(level + rng.normal(0.0, 6.0, 3) + (rng.random() < 0.2) * np.array((18.0, 8.0, -8.0)), 0, 255)
        if np.abs(asphalt - grass).max() > 40.0:
            break
    paint = rng.uniform(0.55, 1.0)            # fresh paint 1, worn paint shows the asphalt through
    edge_colour = WHITE if rng.random() < 0.8 else YELLOW
    centre_colour = YELLOW if rng.random() < 0.6 else WHITE
    edge_colour = paint * edge_colour + (1 - paint) * asphalt
    centre_colour = paint * centre_colour + (1 - paint) * asphalt
    half = rng.uniform(1.6, 2.6)
    edge = half - rng.uniform(0.1, 0.35) if rng.random() < 0.75 else -1.0
    centre = int(rng.choice([NONE, DASHED, SOLID, DOUBLE], p=[0.15, 0.4, 0.2, 0.25]))
    direction = rng.normal(0.0, 1.0, 3)
    shift = np.stack([direction * rng.uniform(5.0, 30.0) / np.linalg.norm(direction),
                      np.full(3, -rng.uniform(2.0, 12.0)), np.full(3, -8.0), np.full(3, -8.0)])
    grain = np.array([rng.uniform(0.06, 0.3), rng.uniform(0.02, 0.12), 0.04, 0.04])
    return dict(half=half, edge=edge, centre=centre, line=rng.uniform(0.05, 0.1),
                colour=np.stack([grass, asphalt, edge_colour, centre_colour]).astype(np.float32),
                shift=shift.astype(np.float32), grain=grain.astype(np.float32))


CLASSIC_STYLE = dict(half=HALF_WIDTH, edge=EDGE_LINE, centre=DASHED, line=LINE_HALF, colour=BASE, shift=SHIFT,
                     grain=GRAIN)


class Appearance:
    """The random look of drive `seed`: styles of the road, camera, sky, light, shadows and things.

    randomize: the randomised look (module docstring) or the classic one. shadows, lighting: the
    along-the-drive effects. obstacles: bright boxes standing on the road; road_colored_obstacles:
    boxes painted the road's colour; distractors: boxes off the road (default: with randomize).
    """

    def __init__(self, seed: int, *, randomize: bool = True, shadows: bool = True, lighting: bool = True,
                 obstacles: bool = False, road_colored_obstacles: bool = False, distractors: bool | None = None):
        self.seed, self.randomize = int(seed), bool(randomize)
        self.shadows, self.lighting = bool(shadows), bool(lighting)
        self.obstacles, self.road_colored_obstacles = bool(obstacles), bool(road_colored_obstacles)
        self.distractors = self.randomize if distractors is None else bool(distractors)
        rng = np.random.default_rng([self.seed, 2])
        self.textures = rng.integers(0, 2**31)        # seed of the drive's texture noise
        if self.randomize:
            self.family = int(rng.integers(len(GRASS)))
            top, low = SKIES[int(rng.integers(len(SKIES)))]
            self.sky = tuple(np.clip(np.array(c) + rng.normal(0, 10, 3), 0, 255) for c in (top, low))
            self.hills = np.clip(np.array(HILLS) + rng.normal(0, 25, 3), 0, 255)
            self.trees = np.clip(np.array(TREES) + rng.normal(0, 20, 3), 0, 255)
            self.cam_height = rng.uniform(1.2, 1.9)
            self.pitch0 = rng.uniform(-0.03, 0.03)
            self._bump_freq = 2 * math.pi / rng.uniform((6.0, 13.0, 29.0), (9.0, 19.0, 41.0))
            self._bump_phase = rng.uniform(0, 2 * math.pi, 3)
            self._bump_amp = np.array([0.006, 0.006, 0.008]) * rng.uniform(0.3, 1.0)
            self.fine_scale, self.coarse_scale = rng.uniform(20.0, 60.0), rng.uniform(1.0, 4.0)
            self.shadow_rate = rng.uniform(0.5, 6.0)
            self.distractor_rate = rng.uniform(0.5, 5.0)
            self.light_range = ((rng.uniform(0.4, 0.7), rng.uniform(0.6, 0.8)), (rng.uniform(1.0, 1.35), 1.15))
            self.tint_sigma = rng.uniform(0.02, 0.09)
        else:
            self.family = 0
            self.sky, self.hills, self.trees = (np.array(SKY_TOP), np.array(SKY_LOW)), np.array(HILLS), np.array(TREES)
            self.cam_height, self.pitch0 = CAM_HEIGHT, 0.0
            self._bump_amp = np.zeros(3)
            self._bump_freq = self._bump_phase = np.zeros(3)
            self.fine_scale, self.coarse_scale = 40.0, 2.0
            self.shadow_rate, self.distractor_rate = 2.5, 0.0
            self.light_range, self.tint_sigma = ((0.55, 0.7), (1.25, 1.1)), 0.05
        self._cache: dict[tuple[int, int], object] = {}

    def _random(self, kind: int, b: int, make):
        """make(rng, b) for block b of one kind of thing, seeded by (seed, kind, b) and kept."""
        key = (kind, b)
        if key not in self._cache:
            self._cache[key] = make(np.random.default_rng([self.seed, kind, b & 0xFFFFFFFF]), b)
        return self._cache[key]

    # ---- the road's look ------------------------------------------------------------------------
    def block_style(self, b: int) -> dict:
        if not self.randomize:
            return CLASSIC_STYLE
        return self._random(6, b, lambda rng, _: _block_style(rng, self.family))

    def style_at(self, s: np.ndarray) -> RowStyle:
        """The look of the road at distances s (metres along it, one per ground row)."""
        s = np.asarray(s, np.float64)
        b = np.floor(s / STYLE_BLOCK).astype(np.int64)
        w = smooth((s - b * STYLE_BLOCK) / STYLE_FADE)
        out = {}
        for key in ("half", "edge", "centre", "line", "colour", "shift", "grain"):
            table = {k: np.asarray(self.block_style(int(k))[key], np.float32)
                     for k in np.unique(np.concatenate([b, b - 1]))}
            empty = np.zeros((0,) + np.shape(CLASSIC_STYLE[key]), np.float32)
            now = np.stack([table[k] for k in b]) if b.size else empty
            if key == "centre":                       # a marking style changes where the block starts
                out[key] = now.astype(np.int64)
                continue
            before = np.stack([table[k] for k in b - 1]) if b.size else now
            ww = w.reshape((-1,) + (1,) * (now.ndim - 1)).astype(np.float32)
            out[key] = ww * now + (1 - ww) * before
        return RowStyle(**out)

    def half_width(self, s: float) -> float:
        """The road's half-width (metres) at s."""
        return float(self.style_at(np.array([s])).half[0])

    # ---- the camera -----------------------------------------------------------------------------
    def camera(self, s: float) -> tuple[float, float]:
        """(height in metres, pitch in radians, > 0 looking up) of the camera at s."""
        bump = float(self._bump_amp @ np.sin(self._bump_freq * s + self._bump_phase))
        pitch = float(np.clip(self.pitch0 + bump, -MAX_PITCH, MAX_PITCH))
        return self.cam_height * (1.0 + 0.3 * bump), pitch

    # ---- light ----------------------------------------------------------------------------------
    def light(self, s: float) -> tuple[float, float, np.ndarray]:
        """Gain, contrast and colour tint for the stretch of road at s (blended between stretches)."""
        lo, hi = self.light_range

        def make(rng, b):
            return np.concatenate([rng.uniform(lo, hi), 1.0 + rng.normal(0.0, self.tint_sigma, 3)])
        b = int(math.floor(s / LIGHT_BLOCK))
        w = float(smooth(np.array((s - b * LIGHT_BLOCK) / LIGHT_FADE)))
        p = w * self._random(3, b, make) + (1.0 - w) * self._random(3, b - 1, make)
        return float(p[0]), float(p[1]), p[2:].astype(np.float32)

    def _make_shadows(self, rng, b):
        out = []
        for _ in range(rng.poisson(self.shadow_rate)):
            s = b * SHADOW_BLOCK + rng.uniform(0.0, SHADOW_BLOCK)
            dark = rng.uniform(0.35, 0.7) if self.randomize else rng.uniform(0.4, 0.65)
            if rng.random() < 0.35:      # a band across the road (a pole, a bridge, a wall)
                out.append((s, 0.0, rng.uniform(0.6, 3.0), 1e3, dark))
            else:                        # a tree's shadow
                side = rng.choice((-1.0, 1.0))
                out.append((s, side * rng.uniform(0.0, 5.0), rng.uniform(1.0, 4.0), rng.uniform(1.0, 3.5), dark))
        return out

    def shadow_list(self, s0: float, s1: float) -> list[tuple[float, float, float, float, float]]:
        """Shadows (s, lateral, half-length, half-width, darkness) on [s0, s1]."""
        if not self.shadows:
            return []
        b0, b1 = int(math.floor(s0 / SHADOW_BLOCK)), int(math.floor(s1 / SHADOW_BLOCK))
        return [sh for b in range(b0, b1 + 1) for sh in self._random(4, b, self._make_shadows)]

    # ---- things standing on the ground ----------------------------------------------------------
    def _make_obstacles(self, rng, b):
        out = []
        for _ in range(rng.integers(1, 4)):
            s = b * OBSTACLE_BLOCK + rng.uniform(0.0, OBSTACLE_BLOCK)
            lat = rng.choice((-1.0, 1.0)) * rng.uniform(0.3, 1.3)
            size = rng.uniform((0.5, 0.5, 0.4), (1.4, 1.2, 1.2))
            colour = OBSTACLE_COLOURS[rng.integers(len(OBSTACLE_COLOURS))]
            plain = rng.random() < 0.5
            if self.road_colored_obstacles and (plain or not self.obstacles):
                colour = self.style_at(np.array([s])).colour[0, 1]
            elif not self.obstacles:
                continue
            out.append((s, lat, *size, colour))
        return out

    def _make_distractors(self, rng, b):
        out = []
        for _ in range(rng.poisson(self.distractor_rate)):
            s = b * OBSTACLE_BLOCK + rng.uniform(0.0, OBSTACLE_BLOCK)
            lat = rng.choice((-1.0, 1.0)) * (self.half_width(s) + rng.uniform(0.8, 9.0))
            size = rng.uniform((0.3, 0.3, 0.3), (2.5, 2.5, 2.5))
            out.append((s, lat, *size, rng.uniform(0.0, 255.0, 3).astype(np.float32)))
        return out

    def obstacle_list(self, s0: float, s1: float) -> list[tuple]:
        """Obstacles on the road (s, lateral, width, depth, height, colour) on [s0, s1]."""
        if not (self.obstacles or self.road_colored_obstacles):
            return []
        b0, b1 = int(math.floor(s0 / OBSTACLE_BLOCK)), int(math.floor(s1 / OBSTACLE_BLOCK))
        return [o for b in range(b0, b1 + 1) for o in self._random(5, b, self._make_obstacles) if s0 <= o[0] <= s1]

    def distractor_list(self, s0: float, s1: float) -> list[tuple]:
        """Boxes off the road (s, lateral, width, depth, height, colour) on [s0, s1]."""
        if not self.distractors:
            return []
        b0, b1 = int(math.floor(s0 / OBSTACLE_BLOCK)), int(math.floor(s1 / OBSTACLE_BLOCK))
        return [o for b in range(b0, b1 + 1) for o in self._random(8, b, self._make_distractors) if s0 <= o[0] <= s1]
