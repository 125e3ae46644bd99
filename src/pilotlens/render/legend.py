"""A colour legend to put under a map: what the colours mean, one-way or signed, and where the scale
ends (the percentile of |map| drawn at full colour, see render/scale.py)."""
from __future__ import annotations

import cv2
import numpy as np

from .colormaps import apply_colormap, apply_diverging
from .panels import BAR_COLOR, FONT, TEXT_COLOR, _font_scale, _label, title_height
from .scale import check_clip


def _number(value: float) -> str:
    return f"{value:g}"


def scale_caption(signed: bool = False, clip: float = 100.0) -> str:
    """What the ends of the scale are: "ends = percentile 99 of |map|" ("high = ..." one-way); "" at 100."""
    clip = check_clip(clip)
    if clip >= 100.0:
        return ""
    return f"{'ends' if signed else 'high'} = percentile {_number(clip)} of |map|"


def legend(width: int, colormap: str = "inferno", signed: bool = False, scale: float = 1,
           clip: float = 100.0) -> np.ndarray:
    """A dark strip `width` pixels wide: the colour scale between its two ends' names.

    One-way maps read "low ... high" (min-max per image); signed maps "against ... 0 ... for" with
    the diverging scale (blue: evidence against the explained output, red: evidence for it). With
    clip < 100 a second line says which value is full colour (values beyond it are drawn at the end)."""
    h = title_height(scale)
    bar = np.full((h, int(width), 3), BAR_COLOR, np.uint8)
    fs = _font_scale(scale) * 0.85
    left, right = ("against", "for") if signed else ("low", "high")
    (lw, th), _ = cv2.getTextSize(left, FONT, fs, 1)
    (rw, _), _ = cv2.getTextSize(right, FONT, fs, 1)
    x0, x1 = lw + 8, int(width) - rw - 8
    y = (h + th) // 2 - 1
    if x1 - x0 >= 8:
        ramp = np.linspace(-1.0 if signed else 0.0, 1.0, x1 - x0, dtype=np.float32)[None, :]
        colours = apply_diverging(ramp) if signed else apply_colormap(ramp, colormap)
        y0, y1 = max(1, h // 4), h - max(1, h // 4)
        bar[y0:y1, x0:x1] = colours
        if signed:  # a tick at zero
            xm = (x0 + x1) // 2
            bar[y0 - 1:y1 + 1, xm:xm + 1] = TEXT_COLOR
    cv2.putText(bar, left, (3, y), FONT, fs, TEXT_COLOR, 1, cv2.LINE_AA)
    cv2.putText(bar, right, (int(width) - rw - 3, y), FONT, fs, TEXT_COLOR, 1, cv2.LINE_AA)
    caption = scale_caption(signed, clip)
    if caption:
        small = scale * 0.75
        bar = np.vstack([bar, _label(caption, title_height(small), int(width), small)])
    return bar
