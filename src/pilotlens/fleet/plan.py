"""Planning a fleet run without Ray: which logs, which frames, cut into parts like the local batches.

A log is one input a Source reads (a tub, a video, an image folder, a Udacity or SullyChen log, or
"synthetic"). Each log's records are listed once, here, without decoding a frame. A part is the unit
of work: up to `part_batches` batches of `batch_size` consecutive selected frames, so its batches
begin where `pipeline.movie`'s batches begin (both count selected records from the first one). A
video is one unit however long it is: decoding a chunk from the start costs more the later the chunk
is, so one worker decodes the whole video once and writes its parts as it goes.
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..data import open_source
from ..data.video import VideoSource


@dataclass(frozen=True)
class Selection:
    """What every log is opened with: start/end/step/strict and the source's own options."""

    start: int = 0
    end: int | None = None
    step: int = 1
    strict: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)

    def open(self, log: str, **narrow):
        """The log's Source; `narrow` overrides start/end (a part's own range)."""
        given = dict(start=self.start, end=self.end, step=self.step, strict=self.strict) | narrow
        return open_source(log, **given, **dict(self.options))


@dataclass(frozen=True)
class Part:
    """One unit of work: `indices` of one log (None for a whole video), written as `name`."""

    log: str
    folder: str
    number: int
    indices: tuple[int, ...] | None

    @property
    def name(self) -> str:
        return part_name(self.number)

    @property
    def whole(self) -> bool:
        return self.indices is None


@dataclass
class Log:
    path: str          # as the workers open it
    folder: str        # its folder under the output, unique in the run
    video: bool
    frames: int | None  # selected frames (None: a video whose header does not say)
    labels: tuple[str, ...] = ()


@dataclass
class Plan:
    logs: list[Log]
    parts: list[Part]
    labels: tuple[str, ...]   # every recorded label of every log, sorted: the table's label columns
    batch_size: int
    part_frames: int

    def parts_of(self, folder: str) -> list[Part]:
        return [p for p in self.parts if p.folder == folder]


def known_frames(parts: Sequence[Part]) -> int | None:
    """How many frames the parts hold, for a progress bar: None when a whole video is among them (its
    length is known once it is read)."""
    if not parts or any(p.whole for p in parts):
        return None
    return sum(len(p.indices) for p in parts)


def part_name(number: int) -> str:
    return f"part-{number:05d}.parquet"


_GLOB = re.compile(r"[*?\[]")


def expand(inputs: Iterable[str | os.PathLike]) -> list[str]:
    """Paths and globs -> log paths (absolute, in the order given, globs sorted); each at most once."""
    logs: list[str] = []
    for given in inputs:
        text = os.fspath(given)
        if text == "synthetic" and not Path(text).exists():
            found = [text]
        elif _GLOB.search(text):
            found = sorted(glob.glob(os.path.expanduser(text)))
            if not found:
                raise ValueError(f"--input {text}: the pattern matches no file or folder")
        else:
            found = [text]
        for path in found:
            log = path if path == "synthetic" else str(Path(path).expanduser().resolve())
            if log in logs:
                raise ValueError(f"--input {path}: this log is given twice")
            logs.append(log)
    if not logs:
        raise ValueError("no input log given")
    return logs


def _folders(logs: list[str]) -> list[str]:
    """A folder name per log: its own name, with a short hash of its path where two names are alike."""
    names = [Path(p).stem if p != "synthetic" else p for p in logs]
    safe = [re.sub(r"[^A-Za-z0-9._-]+", "_", n).strip("._") or "log" for n in names]
    return [s if safe.count(s) == 1 else f"{s}-{hashlib.sha1(p.encode()).hexdigest()[:8]}"
            for s, p in zip(safe, logs)]


def plan(inputs: Iterable[str | os.PathLike], selection: Selection = Selection(), *, batch_size: int = 32,
         part_batches: int = 32) -> Plan:
    """Expand `inputs`, list every log's selected records once, cut them into parts of
    `part_batches` x `batch_size` frames (a video: one part). Nothing is decoded."""
    if batch_size < 1 or part_batches < 1:
        raise ValueError(f"batch_size and part_batches must be >= 1, got {batch_size} and {part_batches}")
    paths = expand(inputs)
    size = batch_size * part_batches
    logs, parts, labels = [], [], set()
    for path, folder in zip(paths, _folders(paths)):
        source = selection.open(path)
        if isinstance(source, VideoSource):
            logs.append(Log(path, folder, True, source.length()))
            parts.append(Part(path, folder, 0, None))
            continue
        indices, names = [], set()
        for rec in source.records():
            indices.append(rec.index)
            names.update(rec.labels)
        if not indices:
            raise ValueError(f"{path}: no frame selected (start={selection.start} end={selection.end} "
                             f"step={selection.step})")
        logs.append(Log(path, folder, False, len(indices), tuple(sorted(names))))
        labels |= names
        for n, at in enumerate(range(0, len(indices), size)):
            parts.append(Part(path, folder, n, tuple(indices[at:at + size])))
    return Plan(logs, parts, tuple(sorted(labels)), batch_size, size)
