"""Colour maps: a float map in [0, 1] to a uint8 RGB image (OpenCV's tables), and a signed map in
[-1, 1] to a diverging one centred on zero (blue against, grey nothing, red for)."""
from __future__ import annotations

import cv2
import numpy as np

from ._arrays import check_map, check_signed_map

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


def _diverging_table() -> np.ndarray:
    """256 x 3 uint8: Moreland's cool-warm end points (blue, red) through a light grey at the centre,
    interpolated linearly; entry 128 is zero."""
    stops = np.array([[59, 76, 192], [221, 221, 221], [180, 4, 38]], np.float64)
    t = np.linspace(-1.0, 1.0, 256)
    lo = np.clip(-t, 0, 1)[:, None]
    hi = np.clip(t, 0, 1)[:, None]
    rgb = stops[1] + lo * (stops[0] - stops[1]) + hi * (stops[2] - stops[1])
    return np.rint(rgb).astype(np.uint8)


DIVERGING = _diverging_table()


def apply_diverging(signed: np.ndarray) -> np.ndarray:
    """Colour a signed map in [-1, 1]: H x W float -> H x W x 3 uint8 RGB, -1 blue, 0 grey, +1 red."""
    m = check_signed_map(signed)
    return DIVERGING[np.rint((m + 1.0) * 127.5).astype(np.intp)]
