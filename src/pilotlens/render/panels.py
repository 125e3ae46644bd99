"""Put frames side by side (panels) or in a labelled table (grid), and save a PNG atomically."""
from __future__ import annotations

import os
from typing import Sequence

import cv2
import numpy as np

from ._arrays import check_image
from ..outputs import atomic_file

FONT = cv2.FONT_HERSHEY_SIMPLEX
BAR_COLOR = (24, 24, 24)
TEXT_COLOR = (235, 235, 235)


def _font_scale(scale: float) -> float:
    return float(min(1.2, max(0.35, 0.4 * scale)))


def title_height(scale: float = 1) -> int:
    """Height in pixels of the title bar that panels() and grid() put above the images at this scale."""
    fs = _font_scale(scale)
    (_, th), base = cv2.getTextSize("Ag", FONT, fs, 1)
    return th + base + 6


def _scaled(image: np.ndarray, scale: float) -> np.ndarray:
    img = check_image(image)
    if scale == 1:
        return img
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    h, w = img.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # nearest keeps upscaled pixels crisp (and exact); area averages when shrinking
    return cv2.resize(img, size, interpolation=cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA)


def _pad(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """The image at the top-left of a black h x w canvas."""
    if img.shape[:2] == (h, w):
        return img
    out = np.zeros((h, w, 3), np.uint8)
    out[: img.shape[0], : img.shape[1]] = img
    return out


def _label(text: str, h: int, w: int, scale: float, center: bool = True) -> np.ndarray:
    """A dark h x w bar with `text` (one line per "\n"), shrunk until it fits."""
    bar = np.full((h, w, 3), BAR_COLOR, np.uint8)
    lines = [line for line in str(text).split("\n")]
    if not any(lines):
        return bar
    fs = _font_scale(scale)
    while True:
        tw = max(cv2.getTextSize(line, FONT, fs, 1)[0][0] for line in lines)
        (_, th), base = cv2.getTextSize("Ag", FONT, fs, 1)
        if (tw <= w - 4 and (th + base) * len(lines) <= h) or fs <= 0.2:
            break
        fs *= 0.9
    step = th + base + 2 if len(lines) > 1 else 0
    y = (h - step * (len(lines) - 1) + th) // 2 - 1
    for k, line in enumerate(lines):
        lw = cv2.getTextSize(line, FONT, fs, 1)[0][0]
        x = max(2, (w - lw) // 2) if center else 4
        cv2.putText(bar, line, (x, y + k * step), FONT, fs, TEXT_COLOR, 1, cv2.LINE_AA)
    return bar


def _text_width(text: str, scale: float) -> int:
    """The width of the widest line of `text`."""
    return max(cv2.getTextSize(line, FONT, _font_scale(scale), 1)[0][0] for line in str(text).split("\n"))


def panels(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, scale: float = 1,
           text_scale: float | None = None) -> np.ndarray:
    """Images side by side, each resized by `scale`, with a title bar above each when titles are given
    (its text sized for `text_scale`, by default `scale`).

    Shorter images are padded with black at the bottom.
    """
    ts = scale if text_scale is None else text_scale
    if len(images) == 0:
        raise ValueError("panels() needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    tiles = [_scaled(im, scale) for im in images]
    h = max(t.shape[0] for t in tiles)
    columns = []
    for i, t in enumerate(tiles):
        tile = _pad(t, h, t.shape[1])
        if titles is not None:
            tile = np.vstack([_label(titles[i], title_height(ts), t.shape[1], ts), tile])
        columns.append(tile)
    return np.hstack(columns)


def grid(rows: Sequence[Sequence[np.ndarray | None]], row_titles: Sequence[str] | None = None,
         col_titles: Sequence[str] | None = None, scale: float = 1, text_scale: float | None = None) -> np.ndarray:
    """A table of images (e.g. inputs x methods), column titles above and row titles on the left (text
    sized for `text_scale`, by default `scale`).

    Every cell is as wide as the widest (scaled) image and as tall as the tallest of its row, the image
    at its top-left; None is an empty cell (a row of legends under a row of frames stays thin).
    """
    ts = scale if text_scale is None else text_scale
    if len(rows) == 0 or any(len(r) == 0 for r in rows):
        raise ValueError("grid() needs at least one row and no empty rows")
    ncols = len(rows[0])
    if any(len(r) != ncols for r in rows):
        raise ValueError(f"every row of a grid must have the same length, got {[len(r) for r in rows]}")
    if row_titles is not None and len(row_titles) != len(rows):
        raise ValueError(f"got {len(row_titles)} row titles for {len(rows)} rows")
    if col_titles is not None and len(col_titles) != ncols:
        raise ValueError(f"got {len(col_titles)} column titles for {ncols} columns")
    cells = [[None if im is None else _scaled(im, scale) for im in r] for r in rows]
    present = [c for r in cells for c in r if c is not None]
    if not present:
        raise ValueError("grid() needs at least one image")
    cw = max(c.shape[1] for c in present)
    heights = [max((c.shape[0] for c in r if c is not None), default=1) for r in cells]

    body = np.vstack([np.hstack([np.zeros((ch, cw, 3), np.uint8) if c is None else _pad(c, ch, cw) for c in r])
                      for r, ch in zip(cells, heights)])
    if col_titles is not None:
        bar = np.hstack([_label(t, title_height(ts), cw, ts) for t in col_titles])
        body = np.vstack([bar, body])
    if row_titles is not None:
        lw = max(_text_width(t, ts) for t in row_titles) + 8
        top = body.shape[0] - sum(heights)
        left = [_label("", top, lw, ts)] if top else []
        left += [_label(t, ch, lw, ts, center=False) for t, ch in zip(row_titles, heights)]
        body = np.hstack([np.vstack(left), body])
    return body


IMAGE_SUFFIXES = {".png": ".png", ".jpg": ".jpg", ".jpeg": ".jpg"}


def save_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> None:
    """Write `image` (uint8 RGB) to `path` in the format its name says (.png, .jpg/.jpeg); the file
    appears under its name only once complete."""
    img = check_image(image)
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"cannot write {os.fspath(path)!r}: an image name ends in {', '.join(IMAGE_SUFFIXES)}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if IMAGE_SUFFIXES[suffix] == ".jpg" else []
    ok, buf = cv2.imencode(IMAGE_SUFFIXES[suffix], cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise OSError(f"could not encode {path}")
    with atomic_file(path, suffix) as tmp:
        with open(tmp, "xb") as f:  # plain open: the file gets the usual umask permissions
            f.write(buf.tobytes())
