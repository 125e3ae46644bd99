"""SullyChen's driving datasets (github.com/SullyChen/driving-datasets): ``data.txt`` plus images.

One line per frame, in either form::

    0.jpg 0.000000
    0.jpg 0.000000,2018-07-01 17:09:44:912

the image file name, the steering-wheel angle **in degrees** (sign as recorded; not
normalised, unlike donkeycar or Udacity), and optionally the capture date and time (the last field
is milliseconds). Images lie beside data.txt or in a ``data/`` folder next to it; a name that leads
outside data.txt's folder (``../``, an absolute path, a symlink) is a bad frame, never read.

Labels: {"angle": degrees}. ``time`` and ``fps`` come from the capture times when the lines have
them. A malformed line is a bad frame at its position (reported with its line number): skipped
with a warning, or FrameError under strict.
"""
from __future__ import annotations

import calendar
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .images import first_existing, read_image
from .files import read_text
from .source import Record, Source, broken, clock, label

_WHEN = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{1,2}):(\d{1,2})(?:[:.](\d+))?")


@dataclass
class _Line:
    where: str
    image: str = ""
    angle: float = 0.0
    stamp: float | None = None  # milliseconds, absolute
    error: str | None = None


def _parse(where: str, text: str) -> _Line:
    parts = text.split(None, 1)
    if len(parts) < 2:
        return _Line(where, error=f"expected 'file angle[,date time]', got {text!r}")
    image, rest = parts
    angle_text, _, when = rest.partition(",")
    try:
        angle = label("angle", float(angle_text))  # NaN, inf and absurd values are refused too
    except ValueError as exc:
        reason = str(exc) if "angle" in str(exc) else f"angle is not a number: {angle_text.strip()[:40]!r}"
        return _Line(where, error=reason)
    stamp = None
    if when.strip():
        m = _WHEN.fullmatch(when.strip())
        if not m:
            return _Line(where, error=f"cannot read the date and time {when.strip()!r}")
        y, mo, d, h, mi, s = map(int, m.groups()[:6])
        stamp = calendar.timegm((y, mo, d, h, mi, s)) * 1000.0 + float("0." + (m.group(7) or "0")) * 1000.0
    return _Line(where, image, angle, stamp)


class SullyChenSource(Source):
    """Frames of a SullyChen dataset, from its data.txt (or the folder holding it)."""

    kind, unit = "SullyChen log", "line"

    def __init__(self, path: str | os.PathLike, *, start: int = 0, end: int | None = None, step: int = 1,
                 strict: bool = False):
        super().__init__(start, end, step, strict)
        path = Path(path)
        self.txt = path / "data.txt" if path.is_dir() else path
        if not self.txt.exists():
            raise ValueError(f"{self.txt}: no such file")
        self.name = str(self.txt)
        text = read_text(self.txt, "text")  # a FIFO or a binary file is refused here, by name
        self._lines = [_parse(f"{self.txt}:{n}", line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
        self._times, self.fps = clock([line.stamp for line in self._lines])

    def _resolve(self, image: str) -> Path:
        candidates = [self.txt.parent / image, self.txt.parent / "data" / image]
        return first_existing(image, candidates, self.txt.parent)

    def _count(self) -> int:
        return len(self._lines)

    def _records(self) -> Iterator[Record]:
        for i, (line, t) in enumerate(zip(self._lines, self._times)):
            if line.error is not None:
                yield broken(i, line.where, line.error)
            else:
                yield Record(i, line.image, lambda im=line.image: read_image(self._resolve(im)),
                             time=t, labels={"angle": line.angle})
