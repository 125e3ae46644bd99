"""Colour maps: a float map in [0, 1] to a uint8 RGB image, using OpenCV's tables."""
from __future__ import annotations

import cv2
import numpy as np

from ._arrays import check_map

# None means "no table": the map is repeated in the three channels.
COLORMAPS: dict[str, int | None] = {
    "inferno": cv2.COLORMAP_INFERNO,
    "jet": cv2.COLORMAP_JET,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "turbo": cv2.COLORMAP_TURBO,
    "hot": cv2.COLORMAP_HOT,
    "gray": None,
}


def to_uint8(map01: np.ndarray) -> np.ndarray:
    """The map in [0, 1] as uint8 0..255 (rounded, so 1.0 -> 255 and 0.5 -> 128)."""
    return np.rint(check_map(map01) * 255.0).astype(np.uint8)


def apply_colormap(map01: np.ndarray, name: str = "inferno") -> np.ndarray:
    """Colour a map in [0, 1]: H x W float -> H x W x 3 uint8 RGB (0 is the table's first colour, 1 its last)."""
    key = str(name).lower()
    if key == "grey":
        key = "gray"
    if key not in COLORMAPS:
        raise ValueError(f"unknown colormap {name!r}; choose one of: {', '.join(COLORMAPS)}")
    m8 = to_uint8(map01)
    table = COLORMAPS[key]
    if table is None:
        return np.repeat(m8[:, :, None], 3, axis=2)
    # OpenCV's tables are BGR; the rest of pilotlens is RGB.
    return cv2.cvtColor(cv2.applyColorMap(m8, table), cv2.COLOR_BGR2RGB)
