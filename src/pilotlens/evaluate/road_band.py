"""ROAD's imputation systems solved by banded Cholesky, compiled by numba: build, factor and solve in one pass.

`road_solve` says what is solved and why a band; this is how. The removed pixels are the unknowns,
numbered line by line down the image's short side h (a wide image's columns, a tall one's rows), so a
pixel couples to nothing further than the next line's neighbour one step on: a band of half-width
kd <= h + 1. The image stays in its own layout; only the numbering walks it that way.

Storage: the lower triangle by columns, as LAPACK's `?pbtrf` keeps it. Column i holds A[i + d, i] at
a[i * ld + d] for d = 0 .. kd, then PAD zeros: ld = kd + 1 + PAD. The zeros let every update run over a
length rounded up to 8 (whole AVX-512 vectors, no scalar tail): what it reads there is zero, so what it
adds there is zero too.

Factorisation: right-looking, a panel of NB = 4 columns at a time. The panel's columns are factored
one by one (each scaled by its pivot, the later ones in the panel updated), then every column the
panel reaches is updated by all 4 at once, four target columns per sweep so each panel value is loaded
once for four updates (16 coefficients and 4 panel values in registers; 8 x 2 and 8 x 4 measured
10 % slower, 8 x 4 spilling registers). The forward and back substitutions then take the image's channels together,
one sweep of the band each (LAPACK's `?pbtrs` sweeps it twice per channel).

Everything is float64. The sums are reassociated (numba's `reassoc`/`contract`, which vectorise them;
NaN and infinity keep their meaning): results differ from LAPACK's in the last bits, 1e-12 of the image's
range on the tests' dense reference.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

NB = 4                      # panel width
PAD = NB + 8                # zero entries below each column's band (see the module docstring)
_FAST = {"reassoc", "contract", "arcp"}


@njit(nogil=True, fastmath=_FAST, cache=True)
def solve_chunk(images, removed, degree, out, side, step, lines, line_step, direct, diagonal, band, rhs):
    """Images (S x C x P float64, P pixels in the image's own layout) with their removed pixels (S x P bool)
    imputed into out (S x C x P): kept pixels copied, removed ones solved for. The pixels are numbered
    line by line down the short side: `lines` lines of `side` pixels, pixel i of line m at
    i * step + m * line_step (a wide H x W image: its W columns, step W, line_step 1; a tall one: its H
    rows, step 1, line_step W). degree (P,): each pixel's summed neighbour weight inside the image;
    direct, diagonal: the weights of the 4 direct and the 4 diagonal neighbours. band, rhs: work space
    of at least (side + 2 + PAD) * P and C x P float64. Each image needs a kept pixel."""
    s, c, npix = images.shape
    var = np.empty(npix, np.int64)               # a removed pixel's unknown, -1 for a kept one
    for k in range(s):
        x, o = images[k], out[k]
        o[:, :] = x
        n, kd = _number(removed[k], var, side, step, lines, line_step)
        if n == 0:
            continue
        ld = kd + 1 + PAD
        _build(x, var, degree, side, step, lines, line_step, n, ld, band, rhs, direct, diagonal)
        _factor(band, n, kd, ld)
        if c == 3:
            _substitute3(band, n, kd, ld, rhs)
        else:
            _substitute(band, n, kd, ld, rhs, c)
        for q in range(npix):
            i = var[q]
            if i >= 0:
                for ch in range(c):
                    o[ch, q] = rhs[ch, i]


@njit(nogil=True, cache=True)
def _number(removed, var, side, step, lines, line_step):
    """Number the removed pixels in order (var: their unknowns, -1 for kept pixels) and find the band's
    half-width on the way: the largest gap back to a removed neighbour already numbered (the previous
    pixel of the line, or one of the three beside it in the previous line). Returns (n, kd)."""
    n = kd = 0
    for m in range(lines):
        for i in range(side):
            q = i * step + m * line_step
            if not removed[q]:
                var[q] = -1
                continue
            var[q] = n
            if i > 0 and var[q - step] >= 0:
                kd = max(kd, n - var[q - step])
            if m > 0:
                for di in range(max(-1, -i), min(2, side - i)):
                    j = var[q - line_step + di * step]
                    if j >= 0:
                        kd = max(kd, n - j)
            n += 1
    return n, kd


@njit(nogil=True, cache=True)
def _build(x, var, degree, side, step, lines, line_step, n, ld, band, rhs, direct, diagonal):
    """The band (degree on the diagonal, -weight to each removed neighbour ahead) and the right-hand sides
    (the kept neighbours' weighted sum, per channel)."""
    band[:ld * n] = 0.0
    rhs[:, :n] = 0.0
    for m in range(lines):
        for i in range(side):
            q = i * step + m * line_step
            v = var[q]
            if v < 0:
                continue
            band[v * ld] = degree[q]
            for dm in range(max(-1, -m), min(2, lines - m)):
                for di in range(max(-1, -i), min(2, side - i)):
                    if di == 0 and dm == 0:
                        continue
                    weight = direct if di == 0 or dm == 0 else diagonal
                    nq = q + dm * line_step + di * step
                    j = var[nq]
                    if j < 0:
                        for ch in range(x.shape[0]):
                            rhs[ch, v] += weight * x[ch, nq]
                    elif j > v:
                        band[v * ld + j - v] = -weight


@njit(nogil=True, fastmath=_FAST, cache=True)
def _factor(a, n, kd, ld):
    """Cholesky factor L of the band in place (lower, by columns; see the module docstring)."""
    for j in range(0, n, NB):
        jb = min(NB, n - j)
        for t in range(jb):                       # the panel, a column at a time
            c = j + t
            col = a[c * ld: c * ld + kd + 1]
            pivot = col[0]
            if not pivot > 0.0:
                raise ValueError("ROAD's imputation system is not positive definite")
            d = math.sqrt(pivot)
            col[0] = d
            m = min(kd, n - 1 - c)
            inv = 1.0 / d
            for p in range(1, m + 1):
                col[p] *= inv
            for off in range(1, min(jb - t, m + 1)):  # the panel's later columns
                f = col[off]
                tgt = a[(c + off) * ld: (c + off) * ld + m - off + 1]
                src = col[off: m + 1]
                for p in range(m - off + 1):
                    tgt[p] -= f * src[p]
        end = min(n, j + jb + kd)                  # the columns (and rows) the panel reaches
        q = j + jb
        if jb == NB:
            q = _update_fours(a, j, q, end, ld)
        for t in range(jb):                        # what is left: a column at a time
            c = j + t
            for qq in range(q, end):
                off = qq - c
                if off > kd:
                    break
                f = a[c * ld + off]
                ln = end - qq
                tgt = a[qq * ld: qq * ld + ln]
                src = a[c * ld + off: c * ld + off + ln]
                for p in range(ln):
                    tgt[p] -= f * src[p]


@njit(nogil=True, fastmath=_FAST, cache=True)
def _update_fours(a, j, q, end, ld):
    """Columns q, q + 1, ... below `end` updated by the 4-column panel at j, four at a time: the 4 x 4
    block's upper triangle (rows q .. q + 2) entry by entry, then rows q + 3 .. end - 1 of all four in one
    sweep (rounded up to whole vectors, into the zero padding), each panel value loaded once for four
    updates. Returns the first column not updated (at most three are left)."""
    b = j * ld
    while q + 3 < end:
        o = q - j
        # k_ut = L[q + u, j + t]
        k00 = a[b + o]; k01 = a[b + ld + o - 1]; k02 = a[b + 2 * ld + o - 2]; k03 = a[b + 3 * ld + o - 3]
        k10 = a[b + o + 1]; k11 = a[b + ld + o]; k12 = a[b + 2 * ld + o - 1]; k13 = a[b + 3 * ld + o - 2]
        k20 = a[b + o + 2]; k21 = a[b + ld + o + 1]; k22 = a[b + 2 * ld + o]; k23 = a[b + 3 * ld + o - 1]
        k30 = a[b + o + 3]; k31 = a[b + ld + o + 2]; k32 = a[b + 2 * ld + o + 1]; k33 = a[b + 3 * ld + o]
        a[q * ld] -= k00 * k00 + k01 * k01 + k02 * k02 + k03 * k03
        a[q * ld + 1] -= k10 * k00 + k11 * k01 + k12 * k02 + k13 * k03
        a[q * ld + 2] -= k20 * k00 + k21 * k01 + k22 * k02 + k23 * k03
        a[(q + 1) * ld] -= k10 * k10 + k11 * k11 + k12 * k12 + k13 * k13
        a[(q + 1) * ld + 1] -= k20 * k10 + k21 * k11 + k22 * k12 + k23 * k13
        a[(q + 2) * ld] -= k20 * k20 + k21 * k21 + k22 * k22 + k23 * k23
        ln = (end - q - 3 + 7) & ~7
        g0 = a[q * ld + 3: q * ld + 3 + ln]
        g1 = a[(q + 1) * ld + 2: (q + 1) * ld + 2 + ln]
        g2 = a[(q + 2) * ld + 1: (q + 2) * ld + 1 + ln]
        g3 = a[(q + 3) * ld: (q + 3) * ld + ln]
        s0 = a[b + o + 3: b + o + 3 + ln]
        s1 = a[b + ld + o + 2: b + ld + o + 2 + ln]
        s2 = a[b + 2 * ld + o + 1: b + 2 * ld + o + 1 + ln]
        s3 = a[b + 3 * ld + o: b + 3 * ld + o + ln]
        for p in range(ln):
            v0 = s0[p]; v1 = s1[p]; v2 = s2[p]; v3 = s3[p]
            g0[p] -= (k00 * v0 + k01 * v1) + (k02 * v2 + k03 * v3)
            g1[p] -= (k10 * v0 + k11 * v1) + (k12 * v2 + k13 * v3)
            g2[p] -= (k20 * v0 + k21 * v1) + (k22 * v2 + k23 * v3)
            g3[p] -= (k30 * v0 + k31 * v1) + (k32 * v2 + k33 * v3)
        q += 4
    return q


@njit(nogil=True, fastmath=_FAST, cache=True)
def _substitute3(a, n, kd, ld, rhs):
    """L L^T x = b for three channels, one sweep of the band each way."""
    r0, r1, r2 = rhs[0], rhs[1], rhs[2]
    for i in range(n):                             # L y = b
        e = min(kd, n - 1 - i)
        inv = 1.0 / a[i * ld]
        y0, y1, y2 = r0[i] * inv, r1[i] * inv, r2[i] * inv
        r0[i], r1[i], r2[i] = y0, y1, y2
        col = a[i * ld + 1: i * ld + 1 + e]
        g0, g1, g2 = r0[i + 1: i + 1 + e], r1[i + 1: i + 1 + e], r2[i + 1: i + 1 + e]
        for d in range(e):
            v = col[d]
            g0[d] -= v * y0
            g1[d] -= v * y1
            g2[d] -= v * y2
    for i in range(n - 1, -1, -1):                 # L^T x = y
        e = min(kd, n - 1 - i)
        col = a[i * ld + 1: i * ld + 1 + e]
        g0, g1, g2 = r0[i + 1: i + 1 + e], r1[i + 1: i + 1 + e], r2[i + 1: i + 1 + e]
        t0 = t1 = t2 = 0.0
        for d in range(e):
            v = col[d]
            t0 += v * g0[d]
            t1 += v * g1[d]
            t2 += v * g2[d]
        inv = 1.0 / a[i * ld]
        r0[i], r1[i], r2[i] = (r0[i] - t0) * inv, (r1[i] - t1) * inv, (r2[i] - t2) * inv


@njit(nogil=True, fastmath=_FAST, cache=True)
def _substitute(a, n, kd, ld, rhs, c):
    """L L^T x = b for any number of channels, a channel at a time."""
    for ch in range(c):
        r = rhs[ch]
        for i in range(n):
            e = min(kd, n - 1 - i)
            y = r[i] / a[i * ld]
            r[i] = y
            for d in range(1, e + 1):
                r[i + d] -= a[i * ld + d] * y
        for i in range(n - 1, -1, -1):
            e = min(kd, n - 1 - i)
            t = 0.0
            for d in range(1, e + 1):
                t += a[i * ld + d] * r[i + d]
            r[i] = (r[i] - t) / a[i * ld]
