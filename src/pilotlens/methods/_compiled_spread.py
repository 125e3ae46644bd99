"""VisualBackProp's scale-ups on CPU, compiled by numba: each stage's map spread back through a conv or pool
layer and multiplied with the stage below, one image at a time, in one pass per layer.

The all-ones transposed convolution is separable. Across the width, a row is spread by writing its cells
`stride` apart into a row of zeros and summing `kernel` shifted copies of it (whole vectors; a gather per
output ran 3x slower). Down the height, each output row sums the spread rows whose window covers it (at
most ceil(kernel / stride) of them, whole rows at a time) and is multiplied with the stage below in the
same sweep. An image's rows stay in the first level of the cache; torch's grouped transposed convolution
and strided adds spent 1.1-1.2 ms on PilotNet's batch of 32 right after its forward pass, in thirty-odd
small operations and five allocations.

Loops run over slices indexed from 0, so numba sees indices that need no wrap-around check and vectorises
them. The sums are reassociated (fastmath `reassoc`/`contract`): the same sums as the definition's to
float rounding.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_FAST = {"reassoc", "contract"}


@njit(nogil=True, fastmath=_FAST, cache=True)
def spread(m, below, out, kh, kw, sh, sw, ph, pw, dh, dw):
    """out[s] = (m[s] spread through a layer of kernel (kh, kw), stride (sh, sw), padding (ph, pw) and
    dilation (dh, dw), cut to out's H x W) * below[s], for every image s of m (S x h x w); `below` (S x H x W)
    with no images: no multiply. A crop of (top, left) is kernel 1, stride 1, padding (-top, -left)."""
    S, h, w = m.shape
    H, W = out.shape[1], out.shape[2]
    lead = max(0, (kw - 1) * dw - pw)                       # zeros before the first cell
    line = np.zeros(lead + max((w - 1) * sw + 1, W + pw), dtype=m.dtype)
    rows = np.empty((h, W), dtype=m.dtype)
    multiply = below.shape[0] > 0
    for s in range(S):
        for i in range(h):
            cells = m[s, i]
            for j in range(w):
                line[lead + j * sw] = cells[j]
            r = rows[i]
            first = line[lead + pw: lead + pw + W]
            for x in range(W):
                r[x] = first[x]
            for b in range(1, kw):
                more = line[lead + pw - b * dw: lead + pw - b * dw + W]
                for x in range(W):
                    r[x] += more[x]
        for y in range(H):
            o = out[s, y]
            taken = 0
            for a in range(kh):
                i = y + ph - a * dh
                if i < 0 or i % sh != 0 or i // sh >= h:
                    continue
                src = rows[i // sh]
                if taken == 0:
                    for x in range(W):
                        o[x] = src[x]
                else:
                    for x in range(W):
                        o[x] += src[x]
                taken += 1
            if taken == 0:
                for x in range(W):
                    o[x] = 0
            elif multiply:
                b = below[s, y]
                for x in range(W):
                    o[x] *= b[x]

