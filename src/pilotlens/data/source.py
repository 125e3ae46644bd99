"""The Source base: a lazy stream of Frames with range selection and a policy for bad frames."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from .frame import Frame

log = logging.getLogger("pilotlens.data")


@dataclass
class Record:
    """What a source knows about one frame before decoding it: cheap to make, `load()` does the work."""

    index: int
    source: str
    load: Callable[[], np.ndarray]
    time: float | None = None
    labels: dict[str, float] = field(default_factory=dict)


@dataclass
class Skipped:
    index: int
    source: str
    reason: str


class FrameError(RuntimeError):
    """A frame could not be read and the run was strict."""

    def __init__(self, index: int, source: str, reason: str):
        super().__init__(f"frame {index} ({source}): {reason}")
        self.index, self.source, self.reason = index, source, reason


class Source:
    """A stream of Frames, read one at a time when iterated.

    Subclasses implement `_records()` (every frame of the source in order, not yet decoded) and,
    when they can say it cheaply, `_count()`. The base applies `start`/`end`/`step` to frame
    indices and the bad-frame policy: a frame whose `load()` fails is logged and skipped (kept in
    `self.skipped`), or raises FrameError with its index when `strict` is true.
    """

    name = "source"
    fps: float | None = None

    def __init__(self, start: int = 0, end: int | None = None, step: int = 1, strict: bool = False):
        if start < 0 or (end is not None and end < start) or step < 1:
            raise ValueError(f"bad frame range: start={start} end={end} step={step} "
                             "(need 0 <= start <= end and step >= 1)")
        self.start, self.end, self.step, self.strict = start, end, step, strict
        self.skipped: list[Skipped] = []

    def _records(self) -> Iterator[Record]:
        raise NotImplementedError

    def _count(self) -> int | None:
        """Number of frames in the whole source, or None when unknown without reading it."""
        return None

    def selected(self, index: int) -> bool:
        if index < self.start or (self.end is not None and index >= self.end):
            return False
        return (index - self.start) % self.step == 0

    def __len__(self) -> int:
        n = self._count()
        if n is None:
            raise TypeError(f"{self.name}: length unknown until read")
        stop = n if self.end is None else min(n, self.end)
        return max(0, (stop - self.start + self.step - 1) // self.step)

    def length(self) -> int | None:
        """len(self) when known, else None (for progress bars)."""
        try:
            return len(self)
        except TypeError:
            return None

    def __iter__(self) -> Iterator[Frame]:
        self.skipped = []
        for rec in self._records():
            if self.end is not None and rec.index >= self.end:
                break
            if not self.selected(rec.index):
                continue
            try:
                image = rec.load()
                frame = Frame(image=image, index=rec.index, time=rec.time, labels=rec.labels, source=rec.source)
            except Exception as exc:  # any decoding failure is a bad frame, reported with its index
                reason = f"{type(exc).__name__}: {exc}"
                if self.strict:
                    raise FrameError(rec.index, rec.source, reason) from exc
                log.warning("skipping frame %d (%s): %s", rec.index, rec.source, reason)
                self.skipped.append(Skipped(rec.index, rec.source, reason))
                continue
            yield frame


def broken(index: int, source: str, reason: str) -> Record:
    """A record for an entry that cannot be a frame (a malformed catalog line, CSV row, ...).

    Loading it raises, so the base treats it like any unreadable frame: skipped with a warning,
    or FrameError under strict. `source` should say where (file and line number).
    """

    def load() -> np.ndarray:
        raise ValueError(reason)

    return Record(index, source, load)


def clock(stamps_ms: list[float | None]) -> tuple[list[float | None], float | None]:
    """Turn absolute timestamps in milliseconds into seconds from the first known one, plus an fps.

    Differences are taken before scaling, so epoch-sized stamps keep millisecond precision. The fps
    is 1000 / the median step between consecutive known stamps (robust to dropped frames and
    pauses); None when fewer than two stamps are known or time does not move forward.
    """
    known = [s for s in stamps_ms if s is not None]
    if not known:
        return [None] * len(stamps_ms), None
    t0 = known[0]
    steps = [b - a for a, b in zip(known, known[1:])]
    step = float(np.median(steps)) if steps else 0.0
    fps = 1000.0 / step if step > 0 else None
    return [None if s is None else (s - t0) / 1000.0 for s in stamps_ms], fps
