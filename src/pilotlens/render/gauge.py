"""Steering drawn on the frame, as donkeycar's `makemovie` does: lines from the bottom centre.

Angles follow the donkeycar convention: -max_angle is full left, +max_angle full right.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ._arrays import check_image

RECORDED_COLOR = (0, 255, 0)      # the human's steering, green as in makemovie
PREDICTED_COLOR = (255, 150, 0)   # the network's: orange, apart from sky blue, grass green and grey road
THROTTLE_COLORS = ((0, 220, 255), (255, 60, 60))  # forward (cyan), reverse (red)
TEXT_BOX = (16, 16, 16)           # values are written on a dark box: readable on any background
SWEEP_DEGREES = 45.0              # full lock is drawn 45 degrees from vertical, as in makemovie


def _given(v: float | None) -> bool:
    return v is not None and math.isfinite(float(v))


def _text(img: np.ndarray, s: str, org: tuple[int, int], scale: float, color, thick: int) -> None:
    # a dark box behind the text keeps it readable on sky, grass, road or a bright overlay
    (tw, th), base = cv2.getTextSize(s, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x, y = org
    cv2.rectangle(img, (x - 2, y - th - 2), (x + tw + 2, y + base), TEXT_BOX, -1)
    cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


def draw_gauge(image: np.ndarray, predicted: float | None = None, recorded: float | None = None,
               throttle: float | None = None, max_angle: float = 1.0,
               labels: tuple[str, str] = ("user", "pilot"), show_values: bool = True) -> np.ndarray:
    """A copy of `image` with the recorded and predicted steering drawn as lines from the bottom centre.

    predicted / recorded: steering angles in the model's units (None or NaN: not drawn);
    throttle: in [-1, 1], drawn as a bar on the right edge; max_angle: the angle drawn at full lock.
    labels: the names written before the recorded and the predicted value.
    """
    out = check_image(image).copy()
    if max_angle <= 0:
        raise ValueError(f"max_angle must be > 0, got {max_angle}")
    if not (_given(recorded) or _given(predicted) or _given(throttle)):
        return out
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 160))
    font = max(0.35, min(h, w) / 550)
    base = (w // 2, h - 1)
    radius = int(h * 0.45)

    # the scale: an arc spanning full left to full right, and a tick straight ahead
    grey = (200, 200, 200)
    cv2.ellipse(out, base, (radius, radius), 0, 270 - SWEEP_DEGREES, 270 + SWEEP_DEGREES, grey, 1, cv2.LINE_AA)
    cv2.line(out, (base[0], base[1] - radius - 2 * thick), (base[0], base[1] - radius + 2 * thick), grey, 1)

    line_h = int(cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, font, thick)[0][1] * 1.6) + 2
    y = line_h
    for value, color, label in ((recorded, RECORDED_COLOR, labels[0]), (predicted, PREDICTED_COLOR, labels[1])):
        if not _given(value):
            continue
        a = max(-1.0, min(1.0, float(value) / max_angle)) * math.radians(SWEEP_DEGREES)
        tip = (int(round(base[0] + radius * math.sin(a))), int(round(base[1] - radius * math.cos(a))))
        cv2.line(out, base, tip, color, thick + 1, cv2.LINE_AA)
        if show_values:
            _text(out, f"{label} {float(value):+.2f}", (4, y), font, color, thick)
            y += line_h

    if _given(throttle):
        t = max(-1.0, min(1.0, float(throttle)))
        bw = max(3, w // 40)
        x1, x0 = w - 3, w - 3 - bw
        top, bottom = int(h * 0.2), int(h * 0.8)
        mid = (top + bottom) // 2
        end = int(round(mid - t * (mid - top)))
        if end != mid:
            cv2.rectangle(out, (x0, min(mid, end)), (x1, max(mid, end)), THROTTLE_COLORS[t < 0], -1)
        cv2.rectangle(out, (x0, top), (x1, bottom), grey, 1)
        if show_values:
            _text(out, f"thr {t:+.2f}", (4, y), font, THROTTLE_COLORS[t < 0], thick)
    return out
