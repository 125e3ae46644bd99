"""ROAD's linear imputation systems, solved exactly by banded Cholesky, a batch of masks at a time.

For an image and its removed pixels U the system is, per channel (see `road.py`),

    deg(p) * v_p - sum_{n in U} w(p, n) * v_n = sum_{n kept} w(p, n) * x_n        (p in U)

with deg(p) the summed weight of p's neighbours inside the image, kept or not, and w = 1/6 for the 4
direct neighbours, 1/12 for the diagonal ones: symmetric positive definite once a pixel is kept.
Numbered down the short side (the columns of a driving frame: 66 pixels on PilotNet), removed pixels
only, a pixel couples to nothing further ahead than the next column's pixel one row down, so the
matrix is a band of half-width kd <= short side + 1. A banded Cholesky factors it in about n * kd^2
operations, with no fill outside the band and no ordering to compute. `road_band` builds, factors and
solves each system in one compiled pass (numba), the channels together: on the masks evaluate draws on
PilotNet's 66 x 200 frames about 2.2x faster than LAPACK's banded Cholesky, the solver before it, and
5x faster than SuperLU with a nested-dissection order (bench/road_solve_speed.py, docs/speed.md). The
band grows with the short side while nested dissection grows as n^1.5: past `_BAND_SIDE` SuperLU is
faster and `band_pays` says so.

The compiled code lets go of the GIL: with `threads` > 1 that many threads take the systems one at a
time, the largest first. numba compiles it on first use (about 7 s) and caches it beside the module.
"""
from __future__ import annotations

import queue
from functools import lru_cache

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import splu

from .threads import map_threads

# the 8 neighbours of a pixel and their weights, as in the paper: (rows down, columns right, weight)
DIRECT, DIAGONAL = 1 / 6, 1 / 12
_OFFSETS = tuple((dr, dc, DIRECT if dr == 0 or dc == 0 else DIAGONAL)
                 for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc)
# the band pays while the short side is below this: n kd^2 against nested dissection's ~n^1.5, measured per
# system on one thread, both in float64, on a blob map's and a random map's masks: the band 3.8x faster at
# 66 x 200, 2.2x at 120 x 160, 1.24x at 200 x 200, 1.13x at 240 x 320, 0.90x at 320 x 320
_BAND_SIDE = 280
# nor once a thread's band storage (short side + 2 + road_band.PAD rows of float64 per pixel) would pass this: a
# 220 x 2000 image would hold 840 MB; a nested-dissection factor grows as n log n instead
_BAND_MAX_BYTES = 256 << 20
_BAND_PAD = 12             # road_band.PAD, here so that asking does not import numba


def solve_many(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The imputations of images (K x C x H x W, float64) with their removed pixels (K x H x W bool), solved
    in float64 on as many threads as torch uses: banded Cholesky where it pays, else
    SuperLU one image at a time (its factorisation and solve run outside the GIL, so two cores solve two
    images at once). Every image needs a kept pixel (the caller checks)."""
    threads = torch.get_num_threads()
    images = images.astype(np.float64, copy=False)
    if len(images) == 0:
        return images.copy()
    if band_pays(*images.shape[2:]):
        return band_solve(images, masks, threads)
    return np.stack(map_threads(lambda i: _impute_one(images[i], masks[i]), range(len(images)), threads))


def band_pays(h: int, w: int) -> bool:
    """True where the banded solve is the faster exact one for h x w images, and its storage reasonable."""
    return min(h, w) < _BAND_SIDE and (min(h, w) + 2 + _BAND_PAD) * h * w * 8 <= _BAND_MAX_BYTES


def band_solve(images: np.ndarray, masks: np.ndarray, threads: int = 1) -> np.ndarray:
    """`solve_many` by banded Cholesky (`road_band`): on several threads one system at a time, the largest
    first, each thread with its own work space (at most `_BAND_MAX_BYTES` of band)."""
    from . import road_band           # numba: imported (and compiled, the first time) when a band is solved

    images = np.ascontiguousarray(images, dtype=np.float64)
    s, c, h, w = images.shape
    # numbered down the short side: a wide image's columns (pixel r of column m at r * w + m), a tall one's rows
    side, step, lines, line_step = (h, w, w, 1) if h <= w else (w, 1, h, w)
    flat = images.reshape(s, c, h * w)
    removed = np.ascontiguousarray(masks, dtype=bool).reshape(s, h * w)
    degree = _degree(h, w).reshape(-1)
    out = np.empty_like(flat)
    threads = max(1, min(threads, s))
    if threads > 1:
        # one system per part, the largest first, taken as threads come free: a system's cost grows with the
        # pixels it removes (0.5 to 4 ms), so the threads finish within the smallest one of each other
        # (measured: 1.18 ms per system on 2 threads with 4 parts of consecutive systems per thread, 1.33 with halves)
        parts = [slice(i, i + 1) for i in np.argsort(-removed.sum(axis=1), kind="stable").tolist()]
    else:
        parts = [slice(0, s)]
    work = queue.SimpleQueue()                  # one work space per thread, handed from part to part
    for _ in range(threads):
        work.put((np.empty((side + 2 + road_band.PAD) * h * w), np.empty((c, h * w))))

    def solve(part: slice) -> None:
        band, rhs = work.get()
        try:
            road_band.solve_chunk(flat[part], removed[part], degree, out[part], side, step, lines, line_step,
                                  DIRECT, DIAGONAL, band, rhs)
        finally:
            work.put((band, rhs))

    map_threads(solve, parts, threads)                      # the compiled code lets go of the GIL
    return out.reshape(s, c, h, w)


@lru_cache(maxsize=8)
def _degree(rows: int, cols: int) -> np.ndarray:
    """Summed weight of each pixel's neighbours inside a rows x cols grid (read only: cached)."""
    out = _neighbour_sum(np.ones((1, rows, cols)))[0]
    out.setflags(write=False)
    return out


def _neighbour_sum(a: np.ndarray) -> np.ndarray:
    """sum over the 8 neighbours n (inside the grid) of w(p, n) * a[n], for every p of a's last two axes:
    DIRECT x (direct ones) + DIAGONAL x (diagonal ones), from one sum along each axis."""
    along = np.zeros_like(a)                  # a[p - 1] + a[p + 1] down each column
    along[..., 1:] += a[..., :-1]
    along[..., :-1] += a[..., 1:]
    direct = along.copy()                     # + the left and right neighbours
    direct[..., 1:, :] += a[..., :-1, :]
    direct[..., :-1, :] += a[..., 1:, :]
    diagonal = np.zeros_like(a)               # the column sums of the columns either side
    diagonal[..., 1:, :] += along[..., :-1, :]
    diagonal[..., :-1, :] += along[..., 1:, :]
    direct *= DIRECT
    diagonal *= DIAGONAL
    return np.add(direct, diagonal, out=direct)


# ---- SuperLU, for images whose short side makes the band too wide ----

@lru_cache(maxsize=8)
def dissection_order(h: int, w: int, leaf: int = 2) -> np.ndarray:
    """Each pixel's position (H*W,) in a nested-dissection order of the h x w grid: the grid is split by
    its middle row or column (the longer side), each half ordered first (recursively), the separating
    line last; blocks of at most leaf x leaf pixels are ordered row by row."""
    key = np.empty((h, w), dtype=np.int64)
    stack = [(0, h, 0, w)]
    parts: list[tuple[int, int, int, int]] = []       # leaves and separators, in reverse order
    while stack:
        r0, r1, c0, c1 = stack.pop()
        hh, ww = r1 - r0, c1 - c0
        if hh <= 0 or ww <= 0:
            continue
        if hh * ww <= leaf * leaf:
            parts.append((r0, r1, c0, c1))
        elif ww >= hh:
            m = c0 + ww // 2
            parts.append((r0, r1, m, m + 1))           # the separator goes after both halves
            stack += [(r0, r1, c0, m), (r0, r1, m + 1, c1)]  # popped: right half, then left half
        else:
            m = r0 + hh // 2
            parts.append((m, m + 1, c0, c1))
            stack += [(r0, m, c0, c1), (m + 1, r1, c0, c1)]
    n = 0
    for r0, r1, c0, c1 in reversed(parts):
        size = (r1 - r0) * (c1 - c0)
        key[r0:r1, c0:c1] = (n + np.arange(size)).reshape(r1 - r0, c1 - c0)
        n += size
    out = key.reshape(-1)
    out.setflags(write=False)
    return out


def _impute_one(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """One image (C x H x W numpy, float64) with its removed pixels (H x W bool) solved for."""
    c, h, w = image.shape
    unknown = np.flatnonzero(removed.reshape(-1))
    if unknown.size == 0:
        return image
    order = np.argsort(dissection_order(h, w)[unknown], kind="stable")
    unknown = unknown[order]                                   # variables in nested-dissection order
    n = unknown.size
    var = np.full(h * w, -1, dtype=np.int64)
    var[unknown] = np.arange(n)
    r, col = np.divmod(unknown, w)
    flat = image.reshape(c, -1)
    # the diagonal and the right-hand sides as the band builds them; here only the couplings between
    # removed pixels are gathered neighbour by neighbour
    diag = _degree(h, w).reshape(-1)[unknown]
    rhs = _neighbour_sum(np.where(removed, 0, image)).reshape(c, -1)[:, unknown].T
    rows, cols, vals = [np.arange(n)], [np.arange(n)], []
    for dy, dx, wt in _OFFSETS:
        rr, cc = r + dy, col + dx
        inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        nv = var[np.where(inside, rr * w + cc, 0)]
        free = inside & (nv >= 0)                              # a removed neighbour: a coupling
        rows.append(np.flatnonzero(free))
        cols.append(nv[free])
        vals.append(np.full(int(free.sum()), -wt))
    a = sparse.csc_matrix((np.concatenate([diag, *vals]), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    # SPD: no pivoting needed, so the ordering is kept as given
    lu = splu(a, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    out = flat.copy()
    out[:, unknown] = lu.solve(np.ascontiguousarray(rhs)).T
    return out.reshape(c, h, w)
