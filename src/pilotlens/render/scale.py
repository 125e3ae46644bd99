"""The colour scale of a drawn map: which value is full colour.

Signed and heavy-tailed maps (LRP, input x gradient, integrated gradients, signed Grad-CAM) put most
of their mass in a few pixels: scaled by their peak, almost every pixel is drawn at a few percent of
full colour and the panel looks like the plain frame. As captum's visualiser does, the `clip`-th
percentile of |map| is taken as full colour and the few values beyond it are clipped. clip=100 is the
peak (the map as given). This changes only the picture, never `Saliency.maps`.
"""
from __future__ import annotations

import numpy as np

from ._arrays import check_map, check_signed_map

#: the default percentile of |map| drawn at full colour (captum's visualiser clips the top 2 % too)
CLIP = 98.0


def check_clip(clip: float) -> float:
    value = float(clip)
    if not 0.0 < value <= 100.0:
        raise ValueError(f"clip must be a percentile in (0, 100], got {clip}")
    return value


def robust(map01: np.ndarray, clip: float = CLIP, signed: bool = False) -> np.ndarray:
    """The map divided by the `clip`-th percentile of |map| and clipped to [0, 1] ([-1, 1] when
    `signed`), so that the strongest (100 - clip) % of its pixels are full colour.

    Where that percentile is 0 (fewer than 100 - clip % of the pixels are non-zero) the peak is used,
    so a sparse map is not blown up to a blob; an all-zero map stays all zero."""
    clip = check_clip(clip)
    m = check_signed_map(map01) if signed else check_map(map01)
    size = np.abs(m)
    top = float(size.max())
    if top == 0.0:
        return m
    full = float(np.percentile(size, clip)) if clip < 100.0 else top
    if full <= 0.0:
        full = top
    return np.clip(m / full, -1.0 if signed else 0.0, 1.0).astype(np.float32)


def is_empty(map01: np.ndarray) -> bool:
    """Whether a map shows no evidence at all: every value 0 (or NaN)."""
    m = np.asarray(map01)
    return not np.any(np.nan_to_num(m.astype(np.float32, copy=False)))
