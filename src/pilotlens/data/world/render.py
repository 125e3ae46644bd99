"""The synthetic world's pictures: a pinhole front camera over a flat ground plane.

The camera is at height h above the ground (the look's, per drive, bumping a little), pitched by a
small angle that moves the horizon row: image row v below the horizon sees the ground at distance
z = f * h / (v - horizon). Each ground pixel gets its lateral distance from the road centre and its
distance along the road, which pick its material (grass, asphalt, edge line, centre line) from the
road's style at that distance; textures are fixed to the road; shadows, haze, lighting and boxes
standing on the ground (obstacles on the road, distractors beside it) follow.

    world = SyntheticWorld(seed=0, size=(160, 120))
    image, labels, masks = world.render(42)                             # frame 42 of the drive
    image, labels, masks = world.render(Pose(s=80.0, offset=0.4))       # the view from any pose
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ...limits import check_allocation
from .randomise import CENTRE_CODES, DOUBLE_GAP, MAX_PITCH, Appearance
from .scene import DASH_LEN, DASH_PERIOD, FOCAL, HORIZON, Pose, Road

HAZE, HAZE_COLOUR = 220.0, (150, 168, 175)   # the air hides 1 - 1/e of what is HAZE m away
MASKS = ("road", "lane_markings", "obstacles", "distractors")


# Peak bytes per pixel of the panorama's construction and of one frame's rendering (float32 planes,
# float64 temporaries and masks together), measured with tracemalloc at several sizes (64 to 84 per
# pixel) and rounded up; plus what does not grow with the size (the 256 x 256 textures' FFTs).
BYTES_PER_PIXEL, FIXED_BYTES = 96, 8 * 1024 ** 2


def peak_bytes(width: int, height: int) -> int:
    """About the most memory a world of this image size holds at once: building its panorama (3 x
    P x N float32, N = 2 pi f columns), or rendering one frame while the panorama is kept."""
    f = FOCAL * width
    rows = math.ceil(HORIZON * height + f * math.tan(MAX_PITCH)) + 2
    panorama = rows * (int(2 * math.pi * f) + 1)
    return FIXED_BYTES + BYTES_PER_PIXEL * max(panorama, width * height) + 12 * panorama


def noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Periodic Gaussian-filtered noise with zero mean and unit standard deviation."""
    white = rng.standard_normal(shape)
    k2 = sum(np.meshgrid(*[np.fft.fftfreq(n) ** 2 for n in shape], indexing="ij"))
    out = np.fft.ifftn(np.fft.fftn(white) * np.exp(-2.0 * (math.pi * sigma) ** 2 * k2)).real
    return ((out - out.mean()) / out.std()).astype(np.float32)


class SyntheticWorld(Road):
    """A seeded synthetic drive; ``render(i)`` gives frame i as ``(image, labels, masks)``.

    size: (width, height) of the images. randomize: the randomised look (default) or the classic one
    (see randomise.py); shadows, lighting, obstacles, road_colored_obstacles, distractors: the
    look's effects. curvature, weave, bend, fps: the road and the drive (see scene.Road).
    Labels depend only on the road (seed, curvature, weave, bend, fps), never on the look.
    """

    def __init__(self, seed: int = 0, size: tuple[int, int] = (160, 120), *, randomize: bool = True,
                 shadows: bool = True, lighting: bool = True, obstacles: bool = False,
                 road_colored_obstacles: bool = False, distractors: bool | None = None,
                 curvature: float = 1.0, weave: float = 1.0, bend: float | None = None, fps: float = 20.0):
        width, height = int(size[0]), int(size[1])
        if width < 8 or height < 8:
            raise ValueError(f"synthetic: size must be at least 8x8 (width, height), got {size}")
        check_allocation("synthetic size", (width, height), peak_bytes(width, height),
                         what="to build the world and render a frame")
        super().__init__(seed, curvature=curvature, weave=weave, bend=bend, fps=fps)
        self.size = (width, height)
        self.look = Appearance(seed, randomize=randomize, shadows=shadows, lighting=lighting, obstacles=obstacles,
                         road_colored_obstacles=road_colored_obstacles, distractors=distractors)
        self.f, self.cx = FOCAL * width, width / 2.0
        self.horizon = HORIZON * height           # the level camera's horizon
        self._alpha = np.arctan((np.arange(width) + 0.5 - self.cx) / self.f)    # column azimuths
        rng = np.random.default_rng([self.seed, 9, self.look.textures])
        self._fine = noise(rng, (256, 256), 0.8)
        self._coarse = noise(rng, (256, 256), 5.0)
        self._top = int(math.ceil(self.horizon + self.f * math.tan(MAX_PITCH))) + 2   # panorama rows
        self._pano = self._panorama(rng)

    def _panorama(self, rng: np.random.Generator) -> np.ndarray:
        """Everything above the horizon all around the car (3 x P x N: row j is (P - j - 0.5) px above
        the horizon, N columns per turn): a sky gradient, clouds, far hills and a tree line."""
        n = int(2 * math.pi * self.f) + 1
        az = np.arange(n) / n                                                  # turns
        h = noise(rng, (2048,), 30.0)
        hills = 0.095 + 0.045 * h[(az * 2048).astype(np.int64) % 2048]         # radians high
        trees = np.zeros(n)                  # round crowns, in woods: neighbours share the noise
        where, high, wide = rng.random(600), rng.uniform(0.025, 0.07, 600), rng.uniform(0.008, 0.02, 600)
        keep = noise(rng, (600,), 3.0)[np.argsort(where)] > 0.0
        for p, hi, r in zip(where[keep], high[keep], wide[keep] / (2 * math.pi)):
            d = (az - p + 0.5) % 1.0 - 0.5
            close = np.abs(d) < r
            trees[close] = np.maximum(trees[close], hi * np.sqrt(1.0 - (d[close] / r) ** 2) + 0.005)
        clouds = noise(rng, (64, 512), 4.0)
        elevation = self._top - np.arange(self._top) - 0.5                      # px above the horizon
        top, low = (np.asarray(c, np.float32) for c in self.look.sky)
        up = np.clip(1.0 - elevation / max(self.horizon, 1.0), 0.0, 1.0)[:, None]   # 0 high up, 1 at the horizon
        pano = np.broadcast_to(top + (low - top) * up[..., None] ** 1.5, (elevation.size, n, 3)).copy()
        cover = clouds[(up * 63.999).astype(np.int64), (az * 512).astype(np.int64) % 512]
        cover = (np.clip(cover * 0.8 - 0.3, 0.0, 0.85) * (up < 0.8))[..., None]
        pano += (245.0 - pano) * cover
        pano[elevation[:, None] < hills * self.f] = self.look.hills
        pano[elevation[:, None] < trees * self.f] = self.look.trees
        return np.ascontiguousarray(pano.transpose(2, 0, 1), np.float32)   # 3 x P x N

    def horizon_at(self, s: float) -> float:
        """The horizon's image row (from the top, in pixels; pixel centres at j + 0.5) at s: it moves
        with the camera's pitch."""
        return self.horizon + self.f * math.tan(self.look.camera(s)[1])

    def _camera(self, pose: Pose):
        """Per-frame camera geometry: first ground row, ground distance and lateral position per pixel."""
        width, height = self.size
        cam_h, _ = self.look.camera(pose.s)
        horizon = self.horizon_at(pose.s)
        rows = np.arange(height) + 0.5
        r0 = int(np.searchsorted(rows, horizon + 1e-6, side="right"))
        z = self.f * cam_h / (rows[r0:] - horizon)
        X = ((np.arange(width) + 0.5 - self.cx)[None, :] * (z / self.f)[:, None]).astype(np.float32)
        return horizon, r0, z, X, cam_h

    @staticmethod
    def _texture(tex: np.ndarray, ahead: np.ndarray, lat: np.ndarray, s: float, scale: float) -> np.ndarray:
        """Sample a 256 x 256 periodic texture fixed to the road, `scale` texels per metre."""
        rows = ((ahead * np.float32(scale) + np.float32((s * scale) % 256 + 4096)).astype(np.int32) & 255) << 8
        rows |= (lat * np.float32(scale) + np.float32(65536)).astype(np.int32) & 255
        return np.take(tex.ravel(), rows)

    def half_width(self, s: float) -> float:
        """The road's half-width (metres) at s."""
        return self.look.half_width(s)

    # ---- the picture ----------------------------------------------------------------------------
    def render(self, which: int | Pose) -> tuple[np.ndarray, dict[str, float], dict[str, np.ndarray]]:
        """Frame i (or the view from a Pose): uint8 RGB image H x W x 3, labels, bool masks H x W
        (road, lane_markings, obstacles, distractors)."""
        pose = which if isinstance(which, Pose) else self.pose(which)
        width, height = self.size
        path = self.path(pose)
        t, x, z, phi, _ = path
        horizon, r0, zz, X, cam_h = self._camera(pose)
        img = np.empty((3, height, width), np.float32)          # colour planes, merged at the end

        # the sky: the panorama's columns the camera faces, its rows by elevation
        yaw = self.yaw(pose.s) + pose.heading
        n = self._pano.shape[2]
        col = np.floor((yaw + self._alpha) * (n / (2 * math.pi))).astype(np.int64) % n
        prow = np.clip(np.floor(self._top - horizon + np.arange(r0)).astype(np.int64), 0, self._top - 1)
        img[:, :r0] = np.take(np.take(self._pano, prow, axis=1), col, axis=2)

        # the ground: each pixel's lateral distance from the road centre (lat) and its position
        # along the road ahead of the car (ahead), from the road centre's path at the row's depth
        seen = zz <= z[-1]
        xc, ph, tr = np.interp(zz, z, x), np.interp(zz, z, phi), np.interp(zz, z, t)
        style = self.look.style_at(pose.s + tr)
        c, sn = np.cos(ph).astype(np.float32)[:, None], np.sin(ph).astype(np.float32)[:, None]
        dx = X - xc.astype(np.float32)[:, None]
        lat = dx * c
        ahead = tr.astype(np.float32)[:, None] + dx * sn
        al = np.abs(lat)
        road = (al <= style.half[:, None]) & seen[:, None]
        pix = zz / self.f                                         # metres per pixel
        lines = road & (2 * style.line / pix >= 0.3)[:, None]     # lines drawn while >= 0.3 px wide
        lw = (np.maximum(style.line, 0.55 * pix).astype(np.float32))[:, None] * c   # ... and >= 1 px
        edge = lines & (style.edge > 0)[:, None] & (np.abs(al - style.edge[:, None]) <= lw)
        phase = ahead + np.float32(pose.s % DASH_PERIOD)
        phase -= np.floor(phase * np.float32(1.0 / DASH_PERIOD)) * np.float32(DASH_PERIOD)
        solid_dash = zz * pix / cam_h > DASH_LEN                # a row spans a dash
        code = style.centre[:, None]
        dashed = (phase < DASH_LEN) | solid_dash[:, None]
        centre = lines & (((code == CENTRE_CODES["dashed"]) & dashed & (al <= lw))
                          | ((code == CENTRE_CODES["solid"]) & (al <= lw))
                          | ((code == CENTRE_CODES["double"]) & (np.abs(al - DOUBLE_GAP) <= lw)))
        paint = edge | centre
        mat = (road.astype(np.intp) + paint) + centre           # 0 grass, 1 asphalt, 2 edge, 3 centre

        # light on the ground: texture grain, shadows, then the air's haze
        haze = 1.0 - np.exp(-zz / HAZE)
        shade = np.repeat((1.0 - haze).astype(np.float32)[:, None], width, 1)   # 1 - haze, per row
        coarse = self._texture(self._coarse, ahead, lat, pose.s, self.look.coarse_scale)
        self._shade(shade, self.look.shadow_list(pose.s - 5.0, pose.s + min(100.0, float(t[-1]))),
                    pose.s, tr, ahead, lat, coarse)
        ids = table = None
        found = self.look.obstacle_list(pose.s + 1.0, pose.s + min(80.0, float(t[-1])))
        things = found + self.look.distractor_list(pose.s + 1.0, pose.s + min(80.0, float(t[-1])))
        if things:
            ids = np.zeros((height, width), np.uint8)
            table = self._draw_boxes(pose, path, things[:50], ids, horizon, cam_h)
            contact = [(f[0], f[1], f[3] * 0.7 + 0.3, f[2] * 0.6 + 0.3, 0.6) for f in found]
            self._shade(shade, contact, pose.s, tr, ahead, lat, coarse)
        rows = np.arange(mat.shape[0])[:, None]
        grain = style.grain[rows, mat]
        grain *= self._texture(self._fine, ahead, lat, pose.s, self.look.fine_scale)
        grain *= np.clip(0.04 / pix, 0.15, 1.0).astype(np.float32)[:, None]
        grain += 1.0
        grain *= shade
        coarse *= shade
        hazed = np.array(HAZE_COLOUR, np.float32)[:, None] * haze[None, :].astype(np.float32)   # 3 x rows
        for ch in range(3):
            plane = img[ch, r0:]
            plane[:] = style.colour[rows, mat, ch]
            plane *= grain
            plane += style.shift[rows, mat, ch] * coarse
            plane += hazed[ch][:, None]

        masks = {name: np.zeros((height, width), bool) for name in MASKS}
        if ids is not None:
            k = (ids.astype(np.int64) - 1) // 5                        # which box painted the pixel
            masks["obstacles"] = (ids > 0) & (k < len(found))
            masks["distractors"] = (ids > 0) & (k >= len(found))
            img[:, ids > 0] = table[ids[ids > 0]].T
        if self.look.lighting:
            gain, contrast, tint = self.look.light(pose.s)
            for ch in range(3):                  # ((v - 110) * contrast + 110) * gain * tint
                img[ch] *= contrast * gain * tint[ch]
                img[ch] += 110.0 * (1.0 - contrast) * gain * tint[ch]
        np.clip(img, 0.0, 255.0, out=img)
        image = cv2.merge(list(img.astype(np.uint8)))

        hidden = masks["obstacles"] | masks["distractors"]
        masks["road"][r0:] = road
        masks["lane_markings"][r0:] = paint
        masks["road"] &= ~hidden
        masks["lane_markings"] &= ~hidden
        return image, self.labels(pose, path), masks

    def _draw_boxes(self, pose: Pose, path, found: list[tuple], ids: np.ndarray, horizon: float,
                    cam_h: float) -> np.ndarray:
        """Paint the faces of the boxes `found` (s, lateral, width, depth, height, colour) into ids
        (H x W uint8, 0 = none, box k's faces are 1 + 5k .. 5 + 5k), far to near; return the colour
        (RGB float) of each id."""
        t, x, z, phi, _ = path
        o = np.array([f[:5] for f in found], np.float64).reshape(-1, 5)
        colour = np.array([f[5] for f in found], np.float32).reshape(-1, 3)
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
        v0 = horizon + self.f * cam_h / np.maximum(depth, 1e-3) - 0.5
        v1 = v0 - self.f * o[:, 4:5] / np.maximum(depth, 1e-3)
        fix = lambda p: np.clip(np.round(p * 16), -2**24, 2**24).astype(np.int32)  # noqa: E731
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
