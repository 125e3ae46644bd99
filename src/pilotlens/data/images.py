"""Image files as a source: a folder of images, or one image.

A folder is read in natural order of file names (``frame_2.png`` before ``frame_10.png``); only
its own files with an image extension count (no recursion, hidden files ignored). Images are
decoded with Pillow and converted to RGB. Image files have no clock: ``time`` and ``fps`` are None.

Deeper images are brought to 8 bits by value, never clipped: 16-bit ones keep their top byte (v >> 8,
as Pillow itself does for 16-bit RGB PNGs), float ones in [0, 1] are scaled by 255; any other range
is refused by name, as are paths that are not regular files (a FIFO would block the read forever).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from .files import check_regular, confined, open_regular
from .source import Record, Source

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to uint8 RGB H x W x 3. Raises on a missing, truncated or non-regular file
    and on pixel values it cannot bring to 8 bits faithfully."""
    with open_regular(path) as f, Image.open(f) as im:
        im.load()  # decode now, so truncation raises here rather than later
        if im.mode in ("RGB", "L", "P", "1", "RGBA", "LA", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
            return np.array(im.convert("RGB"), dtype=np.uint8)
        gray = eight_bit(np.asarray(im), im.mode, path)  # I;16*, I, F: one deep channel
        return np.repeat(gray[..., None], 3, axis=2)


def eight_bit(values: np.ndarray, mode: str, path) -> np.ndarray:
    """A deep single-channel image as uint8: 16-bit by its top byte, float in [0, 1] times 255."""
    if values.dtype.kind in "ui" and mode.startswith("I;16"):
        return (values.astype(np.uint16) >> 8).astype(np.uint8)
    if values.dtype.kind in "ui":  # Pillow's "I" (32-bit): the 16-bit PNGs of older Pillows land here
        low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
        if low >= 0 and high <= 65535:
            return (values.astype(np.uint32) >> 8).astype(np.uint8)
        raise ValueError(f"{path}: {mode} image with values {low}..{high}, outside the 16-bit range pilotlens "
                         "scales to 8 bits; convert it to an 8-bit image")
    if values.dtype.kind == "f":
        finite = np.isfinite(values).all()
        low, high = (float(np.nanmin(values)), float(np.nanmax(values))) if values.size else (0.0, 0.0)
        if finite and low >= 0.0 and high <= 1.0:
            return np.round(values * 255.0).astype(np.uint8)
        raise ValueError(f"{path}: floating-point image with values {low:g}..{high:g}"
                         f"{'' if finite else ' and NaN or inf'}; pilotlens scales only values in [0, 1] to 8 "
                         "bits; convert it to an 8-bit image")
    raise ValueError(f"{path}: image mode {mode} ({values.dtype}) is not one pilotlens can bring to 8-bit RGB")


def first_existing(image: str, candidates: list[Path], root: Path) -> Path:
    """The first of `candidates` that exists inside the log's folder `root` (symlinks followed), refused
    when not a regular file (logs name their images relative to different folders). A candidate that
    lies outside `root` is never read: when only such a one exists, the error says so."""
    outside = []
    for c in candidates:
        if not c.exists():
            continue
        try:
            real = confined(c, root, "image")
        except ValueError as exc:
            outside.append(str(exc))
            continue
        check_regular(real)  # a FIFO or device named like an image is refused, not opened
        return real
    if outside:
        raise ValueError(outside[0])
    raise FileNotFoundError(f"image not found: {image} (looked at {', '.join(map(str, candidates))})")


def natural_key(name: str) -> list:
    """Sort key where digit runs compare as numbers: frame_2 < frame_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if is_image(p) and not p.name.startswith(".") and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


class ImageSource(Source):
    """Frames from a folder of images (natural order) or from a single image file."""

    def __init__(self, path: str | os.PathLike, *, start: int = 0, end: int | None = None, step: int = 1,
                 strict: bool = False):
        super().__init__(start, end, step, strict)
        path = Path(path)
        self.kind, self.unit = ("folder", "image") if path.is_dir() else ("single image", "frame")
        if path.is_dir():
            self.files = list_images(path)
            if not self.files:
                raise ValueError(f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
        elif is_image(path):
            check_regular(path)  # a FIFO named like an image is refused now, not read (and waited on) later
            self.files = [path]  # a missing single file is reported when its frame is read
        else:
            raise ValueError(f"{path}: not a folder or an image file ({', '.join(IMAGE_EXTENSIONS)})")
        self.name = str(path)

    def _count(self) -> int:
        return len(self.files)

    def _records(self) -> Iterator[Record]:
        for i, f in enumerate(self.files):
            yield Record(i, str(f), lambda f=f: read_image(f))
