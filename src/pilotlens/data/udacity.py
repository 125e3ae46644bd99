"""The Udacity self-driving simulator's recordings: ``driving_log.csv`` and its ``IMG/`` folder.

Each row is ``center, left, right, steering, throttle, brake, speed``: three image paths, then the
steering (normalised to [-1, 1], i.e. +-25 degrees in the simulator), throttle [0, 1], brake [0, 1]
and speed (mph). A header row is optional; when present its names place the columns. Image paths
may be absolute (often from another machine, even Windows) or relative to the CSV's folder; when a
path does not exist, ``IMG/<file name>`` beside the CSV is tried, as logs get moved around. Only
files inside the CSV's folder are read (symlinks followed): a path that leads elsewhere is a bad
frame, so a crafted log cannot make pilotlens read, and draw, any image on the machine.

Labels: {"angle", "throttle", "brake", "speed"} (those present). The simulator names images by
capture time (``center_2016_12_01_13_30_48_287.jpg``): ``time`` and ``fps`` come from there when
the names follow that pattern. A malformed row is a bad frame at its position (reported with its
line number): skipped with a warning, or FrameError under strict.
"""
from __future__ import annotations

import calendar
import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .images import first_existing, read_image
from .files import read_text
from .source import Record, Source, broken, clock, label

COLUMNS = ("center", "left", "right", "steering", "throttle", "brake", "speed")
LABELS = {"steering": "angle", "throttle": "throttle", "brake": "brake", "speed": "speed"}
CAMERAS = ("center", "left", "right")
_STAMP = re.compile(r"(\d{4})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{3})")


@dataclass
class _Row:
    where: str
    image: str = ""
    labels: dict | None = None
    error: str | None = None


def _stamp(image: str) -> float | None:
    m = _STAMP.search(re.split(r"[\\/]", image)[-1])
    if not m:
        return None
    y, mo, d, h, mi, s, ms = map(int, m.groups())
    return calendar.timegm((y, mo, d, h, mi, s)) * 1000.0 + ms


class UdacitySource(Source):
    """Frames of one camera (`camera`: "center", "left" or "right") of a Udacity simulator log."""

    kind, unit = "Udacity log", "row"

    def __init__(self, path: str | os.PathLike, *, camera: str = "center", start: int = 0,
                 end: int | None = None, step: int = 1, strict: bool = False):
        super().__init__(start, end, step, strict)
        if camera not in CAMERAS:
            raise ValueError(f"camera must be one of {', '.join(CAMERAS)}, got {camera!r}")
        path = Path(path)
        self.csv = path / "driving_log.csv" if path.is_dir() else path
        if not self.csv.exists():
            raise ValueError(f"{self.csv}: no such CSV file")
        self.camera, self.name = camera, str(self.csv)
        self._rows = self._read()
        self._times, self.fps = clock([_stamp(r.image) if r.error is None else None for r in self._rows])

    def _read(self) -> list[_Row]:
        rows, columns = [], None
        text = read_text(self.csv, "CSV")  # a FIFO or a binary file is refused here, by name
        try:
            lines = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise ValueError(f"{self.csv}: not a readable CSV file ({exc})") from None
        for n, cells in enumerate(lines, 1):
            cells = [c.strip() for c in cells]
            if not any(cells):
                continue
            if columns is None:
                if {c.lower() for c in cells} & set(COLUMNS):  # a header row: its names place the columns
                    columns = {name.lower(): i for i, name in enumerate(cells)}
                    if self.camera not in columns:
                        raise ValueError(f"{self.csv}:{n}: header has no '{self.camera}' column: {cells}")
                    continue
                columns = {name: i for i, name in enumerate(COLUMNS)}
            rows.append(self._row(f"{self.csv}:{n}", cells, columns))
        return rows

    def _row(self, where: str, cells: list[str], columns: dict[str, int]) -> _Row:
        need = max(columns[self.camera], columns.get("steering", 0)) + 1
        if len(cells) < need:
            return _Row(where, error=f"expected at least {need} columns, got {len(cells)}")
        image = cells[columns[self.camera]]
        if not image:
            return _Row(where, error=f"no {self.camera} image in this row")
        labels = {}
        for column, name in LABELS.items():
            i = columns.get(column)
            if i is None or i >= len(cells) or cells[i] == "":
                continue
            try:
                value = float(cells[i])
            except ValueError:
                return _Row(where, error=f"{column} is not a number: {cells[i][:40]!r}")
            try:
                labels[name] = label(column, value)  # NaN, inf and absurd values are refused too
            except ValueError as exc:
                return _Row(where, error=str(exc))
        return _Row(where, image, labels)

    def _resolve(self, image: str) -> Path:
        root = self.csv.parent
        given = Path(image)
        candidates = [given if given.is_absolute() else root / given,
                      root / "IMG" / re.split(r"[\\/]", image)[-1]]  # split on both: Windows paths too
        return first_existing(image, candidates, root)

    def _count(self) -> int:
        return len(self._rows)

    def _records(self) -> Iterator[Record]:
        for i, (r, t) in enumerate(zip(self._rows, self._times)):
            if r.error is not None:
                yield broken(i, r.where, r.error)
            else:
                yield Record(i, r.image, lambda im=r.image: read_image(self._resolve(im)), time=t, labels=r.labels)
