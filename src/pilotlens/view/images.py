"""Images for the page: PNG bytes and data URLs, channel grids, and a colour map's legend ramp."""
from __future__ import annotations

import base64
import math

import cv2
import numpy as np

from ..render import apply_colormap
from ..render.colormaps import apply_diverging


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 RGB H x W x 3 (or H x W grey) -> PNG bytes (OpenCV: about 1 ms for 160x120)."""
    img = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as PNG")
    return buf.tobytes()


def data_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def tile(cells: np.ndarray, cell_px: int = 48, pad: int = 2, columns: int | None = None) -> np.ndarray:
    """N cells (N x h x w in [0, 1], or N x h x w x 3) in a near-square grid on a dark background, each cell
    enlarged to about `cell_px` on its longer side (nearest: a 3x3 kernel stays 3x3 blocks)."""
    n, h, w = cells.shape[:3]
    if n == 0:
        raise ValueError("nothing to draw: the layer has no channels")
    k = max(1, round(cell_px / max(h, w)))
    cols = columns or max(1, math.ceil(math.sqrt(n * h / w)))
    rows = math.ceil(n / cols)
    ch, cw = h * k, w * k
    out = np.full((rows * (ch + pad) + pad, cols * (cw + pad) + pad, 3), 32, np.uint8)
    rgb = cells.ndim == 4 and cells.shape[3] == 3
    for i in range(n):
        c = np.clip(cells[i], 0.0, 1.0)
        if not rgb:
            c = c.mean(axis=2) if c.ndim == 3 else c
            c = np.repeat(c[:, :, None], 3, axis=2)
        c = np.rint(c * 255).astype(np.uint8)
        c = cv2.resize(c, (cw, ch), interpolation=cv2.INTER_NEAREST)
        r, q = divmod(i, cols)
        y, x = pad + r * (ch + pad), pad + q * (cw + pad)
        out[y:y + ch, x:x + cw] = c
    return out


def legend_ramp(colormap: str, width: int = 256, height: int = 12, signed: bool = False) -> np.ndarray:
    """The colour map from 0 (left) to 1 (right), as drawn on the maps; signed: the diverging scale
    from -1 (against) through 0 to 1 (for)."""
    ramp = np.tile(np.linspace(-1.0 if signed else 0.0, 1.0, width, dtype=np.float32), (height, 1))
    return apply_diverging(ramp) if signed else apply_colormap(ramp, colormap)
