"""Colour spaces a pilot can see in: batched conversion from uint8 RGB with OpenCV.

Every conversion is per pixel, so a batch B x H x W x 3 is converted in one OpenCV call by viewing it
as one tall (B*H) x W image: the result is exactly what converting each frame on its own gives.
"""
from __future__ import annotations

import cv2
import numpy as np

#: colour space name -> number of channels the model receives
COLORS: dict[str, int] = {"rgb": 3, "bgr": 3, "yuv": 3, "gray": 1}


def check_color(color: str) -> str:
    """`color` lower-cased, or a ValueError naming the known colour spaces."""
    key = str(color).lower()
    if key not in COLORS:
        raise ValueError(f"unknown colour space {color!r}; known: {', '.join(COLORS)}")
    return key


def channels(color: str) -> int:
    """How many channels a model fed in `color` receives (gray: 1, the others: 3)."""
    return COLORS[check_color(color)]


def convert(batch: np.ndarray, color: str) -> np.ndarray:
    """uint8 RGB batch B x H x W x 3 -> uint8 B x H x W x C in `color` (C-contiguous).

    rgb: unchanged. bgr: channels reversed. yuv: OpenCV COLOR_RGB2YUV (Y in 0..255, U and V centred
    on 128, the usual PilotNet input). gray: OpenCV COLOR_RGB2GRAY (0.299 R + 0.587 G + 0.114 B), one
    channel.
    """
    color = check_color(color)
    if batch.ndim != 4 or batch.shape[-1] != 3 or batch.dtype != np.uint8:
        raise ValueError(f"expected a uint8 batch B x H x W x 3, got shape {batch.shape} dtype {batch.dtype}")
    b, h, w, _ = batch.shape
    if color == "rgb":
        return np.ascontiguousarray(batch)
    if color == "bgr":
        return np.ascontiguousarray(batch[..., ::-1])
    tall = np.ascontiguousarray(batch).reshape(b * h, w, 3)
    if color == "yuv":
        return cv2.cvtColor(tall, cv2.COLOR_RGB2YUV).reshape(b, h, w, 3)
    return cv2.cvtColor(tall, cv2.COLOR_RGB2GRAY).reshape(b, h, w, 1)
