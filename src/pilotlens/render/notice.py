"""Words on a panel whose map is empty: "no evidence for steering right at conv5".

A blank panel (a Grad-CAM whose ReLU left nothing: no positive evidence for the side explained) looks
like a broken tool; said in words, it is an answer."""
from __future__ import annotations

import re
from typing import Mapping

import cv2
import numpy as np

from .panels import FONT, TEXT_COLOR, _font_scale

_STEERING = re.compile(r"steering\((.+)\)$")
_SIDES = {"right": "steering right", "left": "steering left", "centre": "keeping the centre",
          "center": "keeping the centre"}


def target_words(target: str = "", prediction: Mapping[str, float] | None = None) -> str:
    """A target's label in words for one image: "steering(0.05)" with a predicted angle of 0.2 is
    "steering right" (the side the steering target explains for that image), "steering(left)" is
    "steering left"; any other label is kept as it is."""
    target = str(target or "").strip()
    found = _STEERING.match(target)
    if not found:
        return target
    arg = found.group(1)
    if arg in _SIDES:
        return _SIDES[arg]
    angle = (prediction or {}).get("angle")
    try:
        threshold = float(arg)
    except ValueError:
        return target
    if angle is None or not np.isfinite(angle):
        return "steering"
    return _SIDES["right" if angle > threshold else "left" if angle < -threshold else "centre"]


def no_evidence_text(target: str = "", prediction: Mapping[str, float] | None = None,
                     layer: str | None = None) -> str:
    """ "no evidence for <target in words> at <layer>", leaving out what is not known."""
    words = target_words(target, prediction)
    return "no evidence" + (f" for {words}" if words else "") + (f" at {layer}" if layer else "")


def _lines(text: str, width: int, fs: float) -> list[str]:
    """The text broken at spaces into lines that fit `width` pixels at font scale fs (greedy)."""
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and cv2.getTextSize(trial, FONT, fs, 1)[0][0] <= width:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines


def stamp(image: np.ndarray, text: str, scale: float = 1) -> np.ndarray:
    """A copy of `image` with `text` written across its middle on a dark band, in as many lines as it
    needs (the font shrinks when a single word is wider than the image)."""
    out = image.copy()
    h, w = out.shape[:2]
    fs = _font_scale(scale)
    while True:   # shrink until every word fits the width and every line the height
        lines = _lines(text, w - 6, fs)
        (_, th), base = cv2.getTextSize("Ag", FONT, fs, 1)
        step = th + base + 2
        widest = max(cv2.getTextSize(line, FONT, fs, 1)[0][0] for line in lines)
        if fs <= 0.25 or (widest <= w - 6 and step * len(lines) <= h):
            break
        fs *= 0.9
    top = max(0, (h - step * len(lines)) // 2)
    band = slice(max(0, top - 3), min(h, top + step * len(lines) + 3))
    out[band] = (out[band].astype(np.float32) * 0.35).astype(np.uint8)   # dark, the frame still shows
    for k, line in enumerate(lines):
        tw = cv2.getTextSize(line, FONT, fs, 1)[0][0]
        y = top + k * step + th + 1
        cv2.putText(out, line, (max(2, (w - tw) // 2), y), FONT, fs, TEXT_COLOR, 1, cv2.LINE_AA)
    return out
