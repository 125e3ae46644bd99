"""Input checks shared by the render functions: clear errors instead of OpenCV's."""
from __future__ import annotations

import cv2
import numpy as np


def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """The image as a C-contiguous uint8 H x W x 3 array (no copy when it already is one)."""
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or 0 in img.shape:
        raise ValueError(f"{what} must be a non-empty uint8 RGB array H x W x 3, got shape {img.shape} dtype {img.dtype}")
    return np.ascontiguousarray(img)


def check_map(map01: np.ndarray) -> np.ndarray:
    """The map as float32 H x W in [0, 1]: NaN -> 0, clipped; uint8 maps are read as 0..255."""
    m = np.asarray(map01)
    if m.ndim != 2 or 0 in m.shape:
        raise ValueError(f"a saliency map must be a non-empty 2-D H x W array, got shape {m.shape}")
    if m.dtype == np.uint8:
        return m.astype(np.float32) / 255.0
    if m.dtype == np.bool_:
        return m.astype(np.float32)
    if not (np.issubdtype(m.dtype, np.integer) or np.issubdtype(m.dtype, np.floating)):
        raise ValueError(f"a saliency map must hold real numbers, got dtype {m.dtype}")
    m = np.nan_to_num(m.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(m, 0.0, 1.0)


def check_signed_map(signed: np.ndarray) -> np.ndarray:
    """A signed map as float32 H x W in [-1, 1]: NaN -> 0, clipped."""
    m = np.asarray(signed)
    if m.ndim != 2 or 0 in m.shape:
        raise ValueError(f"a saliency map must be a non-empty 2-D H x W array, got shape {m.shape}")
    if not (np.issubdtype(m.dtype, np.integer) or np.issubdtype(m.dtype, np.floating)):
        raise ValueError(f"a saliency map must hold real numbers, got dtype {m.dtype}")
    m = np.nan_to_num(m.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(m, -1.0, 1.0)


def map_for(image: np.ndarray, map01: np.ndarray, signed: bool = False) -> np.ndarray:
    """The map checked ([0, 1], or [-1, 1] when `signed`) and resized (bilinear) to the image's size."""
    m = check_signed_map(map01) if signed else check_map(map01)
    h, w = image.shape[:2]
    if m.shape != (h, w):
        lo = -1.0 if signed else 0.0
        m = np.clip(cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR), lo, 1.0)
    return m
