"""ROAD's linear imputation systems, solved exactly by banded Cholesky, a batch of masks at a time.

For an image and its removed pixels U the system is, per channel (see `road.py`),

    deg(p) * v_p - sum_{n in U} w(p, n) * v_n = sum_{n kept} w(p, n) * x_n        (p in U)

with deg(p) the summed weight of p's neighbours inside the image, kept or not, and w = 1/6 for the 4
direct neighbours, 1/12 for the diagonal ones: symmetric positive definite once a pixel is kept.
Numbered down the short side (the columns of a driving frame: 66 pixels on PilotNet), removed pixels
only, a pixel couples to nothing further ahead than the next column's pixel one row down, so the
matrix is a band of half-width kd <= short side + 1. LAPACK's banded Cholesky (`dpbtrf`, then `dpbtrs`
for the channels) factors it in about n * kd^2 operations, with no fill outside the band and no ordering
to compute: on the masks evaluate draws on PilotNet's 66 x 200 frames, 2.5x faster per system than
SuperLU with a nested-dissection order on average (1.1x at 10 % removed, 2.8x at 90 %;
bench/road_solve_speed.py, docs/speed.md). The band grows with the short side while nested dissection grows as n^1.5: past
`_BAND_SIDE` SuperLU is faster and `band_pays` says so.

A batch is built with whole-array numpy (one neighbour sum for the right-hand sides, the band entries
scattered into one buffer), then each system is one LAPACK call, reached through scipy's table of
LAPACK for Cython and called by ctypes, which lets go of the GIL: with `threads` > 1 the batch is cut in
parts built and solved on that many threads at once.
"""
from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import splu

# the 8 neighbours of a pixel and their weights, as in the paper: (rows down, columns right, weight)
DIRECT, DIAGONAL = 1 / 6, 1 / 12
_OFFSETS = tuple((dr, dc, DIRECT if dr == 0 or dc == 0 else DIAGONAL)
                 for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc)
# the neighbours that come later in column order: (columns ahead, rows down, weight)
_AHEAD = ((0, 1, DIRECT), (1, -1, DIAGONAL), (1, 0, DIRECT), (1, 1, DIAGONAL))
# band storage per batch of systems: the batch is cut so its buffer stays below this many bytes
_BUFFER_BYTES = 16 << 20
# the band pays while the short side is below this: n kd^2 against nested dissection's ~n^1.5, measured per
# system on one thread, both in float64: 2.9x faster at 66 x 200, 2.0x at 120 x 160, 1.2x at 200 x 200 and
# 200 x 300, 1.0x at 240 x 320, 0.7x at 320 x 320
_BAND_SIDE = 224
# nor once one system's band storage (short side + 2 rows of float64 per pixel) would pass this: a 220 x 2000
# image would hold 780 MB of band per system; a nested-dissection factor grows as n log n instead
_BAND_MAX_BYTES = 256 << 20


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
    workers = min(threads, len(images))
    if workers <= 1:
        return np.stack([_impute_one(a, m) for a, m in zip(images, masks)])
    with ThreadPoolExecutor(workers) as pool:
        return np.stack(list(pool.map(_impute_one, images, masks)))


def band_pays(h: int, w: int) -> bool:
    """True where the banded solve is the faster exact one for h x w images, and its storage reasonable."""
    return min(h, w) < _BAND_SIDE and (min(h, w) + 2) * h * w * 8 <= _BAND_MAX_BYTES


def band_solve(images: np.ndarray, masks: np.ndarray, threads: int = 1) -> np.ndarray:
    """`solve_many` by banded Cholesky: the batch cut in parts (at most `_BUFFER_BYTES` of band storage each,
    at least one part per thread), the parts built and solved on `threads` threads."""
    images = images.astype(np.float64, copy=False)
    s, c, h, w = images.shape
    if h > w:              # number down the short side: the stencil is the same on the transposed image
        return band_solve(images.transpose(0, 1, 3, 2), masks.transpose(0, 2, 1), threads).transpose(0, 1, 3, 2)
    step = max(1, min(-(-s // max(1, threads)), _BUFFER_BYTES // ((h + 2) * h * w * images.itemsize)))
    chunks = [(images[i:i + step], masks[i:i + step]) for i in range(0, s, step)]
    with _blas_single_threaded():
        if threads > 1 and len(chunks) > 1:
            with ThreadPoolExecutor(min(threads, len(chunks))) as pool:    # numpy and LAPACK let go of the GIL
                parts = list(pool.map(lambda job: _band_chunk(*job), chunks))
        else:
            parts = [_band_chunk(*job) for job in chunks]
    return np.concatenate(parts)


@lru_cache(maxsize=4)
def _lapack(name: str):
    """A LAPACK routine from scipy's table of LAPACK for Cython, as a ctypes function (which releases the
    GIL while it runs). Every argument by reference, as Fortran takes them."""
    from scipy.linalg import cython_lapack
    capsule = cython_lapack.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    int_p = ctypes.POINTER(ctypes.c_int)
    args = {"pbtrf": (ctypes.c_char_p, int_p, int_p, ctypes.c_void_p, int_p, int_p),       # uplo n kd ab ldab info
            "pbtrs": (ctypes.c_char_p, int_p, int_p, int_p, ctypes.c_void_p, int_p, ctypes.c_void_p, int_p,
                      int_p)}[name[1:]]                                                    # uplo n kd nrhs ab ldab b ldb info
    return ctypes.CFUNCTYPE(None, *args)(get_pointer(capsule, get_name(capsule)))


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


def _blas_single_threaded():
    """scipy's OpenBLAS on one thread while the solves run: its own threads, one per core, fight ours (two
    solves at once on 2 cores took 9 ms per system against 5 ms)."""
    return _blas_controller().limit(limits=1, user_api="blas")


class _Band:
    """One system's factor and right-hand sides in the chunk's buffers, with LAPACK's calls on them."""

    def __init__(self, dtype: np.dtype):
        prefix = "s" if dtype == np.float32 else "d"       # float32 only for bench/road_solve_speed.py
        self.trf, self.trs = _lapack(prefix + "pbtrf"), _lapack(prefix + "pbtrs")

    def factor(self, n: int, kd: int, ab: int) -> None:
        info = ctypes.c_int(0)
        self.trf(b"L", ctypes.byref(ctypes.c_int(n)), ctypes.byref(ctypes.c_int(kd)), ab,
                 ctypes.byref(ctypes.c_int(kd + 1)), ctypes.byref(info))
        if info.value:
            raise RuntimeError(f"ROAD's imputation system is not positive definite (LAPACK ?pbtrf: info {info.value})")

    def solve(self, n: int, kd: int, nrhs: int, ab: int, b: int) -> None:
        info, c_n = ctypes.c_int(0), ctypes.c_int(n)
        self.trs(b"L", ctypes.byref(c_n), ctypes.byref(ctypes.c_int(kd)), ctypes.byref(ctypes.c_int(nrhs)), ab,
                 ctypes.byref(ctypes.c_int(kd + 1)), b, ctypes.byref(c_n), ctypes.byref(info))
        assert info.value == 0, info.value          # only an illegal argument makes ?pbtrs fail


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


def _band_chunk(x: np.ndarray, removed: np.ndarray) -> np.ndarray:
    s, c, h, w = x.shape
    # the image's columns become rows here: pixel (r, col) is variable-ordered at col * h + r
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2))                   # S x C x W x H
    u = np.ascontiguousarray(removed.transpose(0, 2, 1))                 # S x W x H
    rhs = _neighbour_sum(np.where(u[:, None], 0, xt))                    # kept neighbours' weighted sum
    n = u.reshape(s, -1).sum(1)
    pos = (np.cumsum(u.reshape(s, -1), 1) - 1).reshape(s, w, h)          # a removed pixel's variable
    couplings, kd = [], np.zeros(s, dtype=np.int64)
    for dc, dr, wt in _AHEAD:
        here = (slice(None), slice(0, w - dc), slice(max(0, -dr), h - max(0, dr)))
        there = (slice(None), slice(dc, w), slice(max(0, dr), h + min(0, dr)))
        both = u[here] & u[there]
        gap = np.where(both, pos[there] - pos[here], 0)
        kd = np.maximum(kd, gap.reshape(s, -1).max(1))
        couplings.append((both, here, gap, wt))
    # one buffer of band storage: system k's (kd + 1) x n Fortran array from offset[k]; entry (d, i) of it
    # (row i + d, column i of the lower triangle) at offset[k] + i * (kd + 1) + d
    size = (kd + 1) * n
    offset = np.cumsum(size) - size
    band = np.zeros(int(size.sum()), dtype=x.dtype)
    column = (offset[:, None, None] + pos * (kd + 1)[:, None, None])    # where each variable's column starts
    band[column[u]] = np.broadcast_to(_degree(w, h), u.shape)[u]
    for both, here, gap, wt in couplings:
        band[(column[here] + gap)[both]] = -wt
    # right-hand sides: system k's n x C Fortran array (its C x n block, channel by channel)
    select = np.broadcast_to(u.reshape(s, 1, -1), (s, c, h * w))
    b = rhs.reshape(s, c, -1)[select]
    b_offset = np.cumsum(n * c) - n * c
    lapack, item = _Band(x.dtype), x.itemsize
    systems = [(int(n[k]), int(kd[k]), band.ctypes.data + item * int(offset[k]), item * int(b_offset[k]))
               for k in range(s) if n[k] > 0]
    for nk, kdk, ab, bk in systems:
        lapack.factor(nk, kdk, ab)
        lapack.solve(nk, kdk, c, ab, b.ctypes.data + bk)
    out = xt.reshape(s, c, -1).copy()
    out[select] = b
    return out.reshape(s, c, w, h).transpose(0, 1, 3, 2)


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
