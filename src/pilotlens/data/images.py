"""Image files as a source: a folder of images, or one image.

A folder is read in natural order of file names (``frame_2.png`` before ``frame_10.png``); only
its own files with an image extension count (no recursion, hidden files ignored). Images are
decoded with Pillow and converted to RGB. Image files have no clock: ``time`` and ``fps`` are None.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from .source import Record, Source

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to uint8 RGB H x W x 3. Raises on a missing or truncated file."""
    with Image.open(path) as im:
        im.load()  # decode now, so truncation raises here rather than later
        return np.array(im.convert("RGB"), dtype=np.uint8)


def first_existing(image: str, candidates: list[Path]) -> Path:
    """The first of `candidates` that is a file (logs name their images relative to different folders)."""
    for c in candidates:
        if c.is_file():
            return c
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
        if path.is_dir():
            self.files = list_images(path)
            if not self.files:
                raise ValueError(f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
        elif is_image(path):
            self.files = [path]  # a missing single file is reported when its frame is read
        else:
            raise ValueError(f"{path}: not a folder or an image file ({', '.join(IMAGE_EXTENSIONS)})")
        self.name = str(path)

    def _count(self) -> int:
        return len(self.files)

    def _records(self) -> Iterator[Record]:
        for i, f in enumerate(self.files):
            yield Record(i, str(f), lambda f=f: read_image(f))
