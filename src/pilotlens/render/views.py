"""Ways to show one map on its frame. Each takes a uint8 RGB frame and a map in [0, 1] and returns a new frame.

With `signed=True` the map is in [-1, 1] (a signed method's evidence for and against, see
Saliency.shown): it is coloured with the diverging map (blue against, red for) and weighted by |map|,
so no evidence leaves the frame as it is and the two signs never look alike.

A map of another size is resized (bilinear) to the frame, so a map at the network's input
resolution can be drawn on the full camera image.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from ._arrays import check_image, check_map, map_for
from .colormaps import apply_colormap, apply_diverging


def _blend(a: np.ndarray, b: np.ndarray, weight_b: np.ndarray) -> np.ndarray:
    """Per-pixel a * (1 - w) + b * w, rounded back to uint8."""
    w = weight_b[:, :, None]
    out = a.astype(np.float32) * (1.0 - w) + b.astype(np.float32) * w
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def overlay(image: np.ndarray, map01: np.ndarray, colormap: str = "inferno", alpha: float = 0.5,
            signed: bool = False) -> np.ndarray:
    """The colour-mapped map blended over the frame: (1 - alpha) * image + alpha * colours
    (signed: the diverging colours blended with weight alpha * |map|)."""
    img = check_image(image)
    alpha = _check_fraction("alpha", alpha)
    if signed:
        m = map_for(img, map01, signed=True)
        return _blend(img, apply_diverging(m), alpha * np.abs(m))
    colours = apply_colormap(map_for(img, map01), colormap)
    # addWeighted with weights 1/0 returns its input exactly, so alpha 0 and 1 are exact.
    return cv2.addWeighted(img, 1.0 - alpha, colours, alpha, 0.0)


def saliency_view(image: np.ndarray, map01: np.ndarray, colormap: str = "inferno", dim: float = 0.35,
                  signed: bool = False) -> np.ndarray:
    """"Saliency only": the map in colour where it is strong, over a dimmed grey copy of the frame where it is weak."""
    img = check_image(image)
    dim = _check_fraction("dim", dim)
    m = map_for(img, map01, signed=signed)
    grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    grey = np.rint(grey.astype(np.float32) * dim).astype(np.uint8)
    if signed:
        return _blend(grey, apply_diverging(m), np.abs(m))
    return _blend(grey, apply_colormap(m, colormap), m)


def focus_view(image: np.ndarray, map01: np.ndarray, blur: int = 21, dim: float = 0.8,
               signed: bool = False) -> np.ndarray:
    """The salient part sharp, the rest blurred (and darkened by `dim`): sharp and blurred blended by the
    map (by |map| when signed: evidence either way is in focus)."""
    img = check_image(image)
    dim = _check_fraction("dim", dim)
    k = int(blur)
    if k < 1:
        raise ValueError(f"blur must be a kernel size >= 1 pixel, got {blur}")
    k += 1 - k % 2  # Gaussian kernels must be odd
    background = cv2.GaussianBlur(img, (k, k), 0)
    if dim != 1.0:
        background = np.rint(background.astype(np.float32) * dim).astype(np.uint8)
    m = map_for(img, map01, signed=signed)
    return _blend(background, img, np.abs(m) if signed else m)


NEGATIVE_MASK_COLOR = (0, 90, 255)


def mask_overlay(image: np.ndarray, map01: np.ndarray, threshold: float = 0.5,
                 color: tuple[int, int, int] | None = (255, 0, 0), colormap: str = "jet",
                 signed: bool = False) -> np.ndarray:
    """Axionaut-style: where the map exceeds `threshold`, add `color` to the frame (saturating).

    With color=None the colour-mapped map itself is added there (mask AND map, then ADD).
    Pixels at or below the threshold are left exactly as they were. Signed: where |map| exceeds the
    threshold, `color` for evidence for and blue for evidence against.
    """
    img = check_image(image)
    if signed:
        m = map_for(img, map01, signed=True)
        out = img.copy()
        for mask, rgb in ((m > float(threshold), color or (255, 0, 0)), (m < -float(threshold), NEGATIVE_MASK_COLOR)):
            addend = np.empty_like(img)
            addend[:] = np.clip(np.asarray(rgb, dtype=np.int64), 0, 255).astype(np.uint8)
            out[mask] = cv2.add(img, addend)[mask]
        return out
    mask = map_for(img, map01) > float(threshold)
    if color is None:
        addend = apply_colormap(map_for(img, map01), colormap)
    else:
        if len(color) != 3:
            raise ValueError(f"color must be an (R, G, B) triple, got {color!r}")
        addend = np.empty_like(img)
        addend[:] = np.clip(np.asarray(color, dtype=np.int64), 0, 255).astype(np.uint8)
    out = img.copy()
    out[mask] = cv2.add(img, addend)[mask]
    return out


def salient_box(map01: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), ends exclusive, bounding where the map exceeds `threshold`; None when nowhere."""
    ys, xs = np.nonzero(check_map(map01) > float(threshold))
    if ys.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def crop_salient(image: np.ndarray, map01: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The part of the frame bounding where the map exceeds `threshold` (a copy of the whole frame if nowhere)."""
    img = check_image(image)
    box = salient_box(map_for(img, map01), threshold)
    if box is None:
        return img.copy()
    x0, y0, x1, y1 = box
    return img[y0:y1, x0:x1].copy()


VIEWS: dict[str, Callable[..., np.ndarray]] = {
    "overlay": overlay,
    "saliency": saliency_view,
    "focus": focus_view,
    "mask": mask_overlay,
}


def draw(view: str, image: np.ndarray, map01: np.ndarray, **kw) -> np.ndarray:
    """Draw `map01` on `image` with the view named `view` (overlay, saliency, focus, mask); kw go to that view."""
    try:
        fn = VIEWS[view]
    except (KeyError, TypeError):
        raise ValueError(f"unknown view {view!r}; choose one of: {', '.join(VIEWS)}") from None
    return fn(image, map01, **kw)
