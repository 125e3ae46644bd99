"""The Source base: a lazy stream of Frames with range selection and a policy for bad frames."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from .frame import Frame

log = logging.getLogger("pilotlens.data")

# Labels beyond this are refused as absurd: no steering (normalised or in degrees), throttle, brake or
# speed comes near it, and such a value squared in a float32 loss is already beyond any useful scale.
LABEL_BOUND = 1e6


def label(name: str, value) -> float:
    """`value` as a label, or ValueError saying why not: a label is a finite number within
    +-LABEL_BOUND (a string, null, a boolean, NaN, inf or 1e300 is refused, naming `name`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = "null" if value is None else repr(value)
        raise ValueError(f"{name} is not a number: {shown[:40]}")
    try:
        number = float(value)
    except OverflowError:  # an integer with hundreds of digits
        raise ValueError(f"{name} is an integer beyond +-{LABEL_BOUND:g} ({value.bit_length()} bits)") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} is not finite: {number}")
    if abs(number) > LABEL_BOUND:
        raise ValueError(f"{name} is {number:g}, beyond +-{LABEL_BOUND:g} (no recorded steering, throttle or "
                         "speed is that large)")
    return number


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

    A `start` past the last frame raises ValueError saying so (``start 1000 is past the end of the tub
    ... (60 records)``): at once when the length is known (`check_range`), else once the source is
    read to its end. `kind` and `unit` name the source and its entries in that message.
    """

    name = "source"
    kind = "source"
    unit = "frame"   # singular; "s" is added for counts other than one
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

    def _past_end(self, n: int) -> ValueError:
        last = f", the last is {n - 1}" if n > 0 else ""
        units = self.unit if n == 1 else self.unit + "s"
        return ValueError(f"start {self.start} is past the end of the {self.kind} {self.name} ({n} {units}{last})")

    def check_range(self) -> None:
        """Raise ValueError when `start` is past the end of a source whose length is known."""
        n = self._count()
        if n is not None and self.start >= n and (n > 0 or self.start > 0):
            raise self._past_end(n)

    def records(self) -> Iterator[Record]:
        """The selected records in order, not decoded: what iterating would read (fleet planning).
        A start past the end raises ValueError (see the class docstring)."""
        self.check_range()
        seen, chosen = 0, False  # records met, and whether any was selected
        for rec in self._records():
            seen = max(seen, rec.index + 1)
            if self.end is not None and rec.index >= self.end:
                break
            if self.selected(rec.index):
                chosen = True
                yield rec
        if not chosen and self.start > 0 and seen <= self.start:
            raise self._past_end(seen)

    def __iter__(self) -> Iterator[Frame]:
        self.skipped = []
        for rec in self.records():
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


def screened(frames: Iterable[Frame], check: Callable[[Frame], object], *, strict: bool | None = None
             ) -> Iterator[Frame]:
    """The frames that pass `check`, which raises ValueError to refuse one (e.g. a frame too small
    for a pilot's crop). A refused frame is a bad frame like an unreadable one: logged and skipped
    with its index and file (added to the source's `skipped` when `frames` is a Source), or
    FrameError under strict (by default the source's own `strict`; False for a plain iterable)."""
    if strict is None:
        strict = bool(getattr(frames, "strict", False))
    for frame in frames:
        try:
            check(frame)
        except ValueError as exc:
            reason = str(exc)
            if strict:
                raise FrameError(frame.index, frame.source, reason) from exc
            log.warning("skipping frame %d (%s): %s", frame.index, frame.source, reason)
            if isinstance(frames, Source):
                frames.skipped.append(Skipped(frame.index, frame.source, reason))
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
