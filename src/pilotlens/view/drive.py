"""A drive held in memory for random access: the frames of a source, their labels and the pilot's predictions.

A Source is a stream; the viewer scrubs back and forth, so it reads the selected frames once and keeps
them (bounded by `max_bytes`: a longer drive asks for --start/--end/--step instead of filling memory).
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from ..data.frame import Frame
from ..data.source import Record, Source
from ..models.pilot import Pilot

MAX_BYTES = 1 << 30  # 1 GiB of decoded frames: about 18 000 frames of 160x120, 1 200 of 640x480


class Drive:
    """Frames by position 0..n-1 (each keeps its source index), the recorded labels and the predictions."""

    def __init__(self, source: Source, pilot: Pilot, max_bytes: int = MAX_BYTES, batch_size: int = 64):
        self.frames: list[Frame] = []
        size = 0
        for frame in source:
            size += frame.image.nbytes
            if size > max_bytes:
                raise ValueError(f"{source.name}: the drive holds more than {max_bytes >> 20} MiB of frames after "
                                 f"{len(self.frames)} frames; view a part of it with --start/--end/--step")
            self.frames.append(frame)
        if not self.frames:
            raise ValueError(f"{source.name}: no frame to view (skipped {len(source.skipped)})")
        self.fps = float(source.fps or 20.0)
        self.name = str(source.name)
        self.skipped = list(source.skipped)
        self.predicted = self._predict(pilot, batch_size)

    def __len__(self) -> int:
        return len(self.frames)

    def frame(self, position: int) -> Frame:
        """The frame at `position` (0..len-1), or a ValueError naming the range."""
        if isinstance(position, bool) or not isinstance(position, (int, np.integer)) or not 0 <= position < len(self):
            raise ValueError(f"frame {position!r} is out of range: the drive has frames 0..{len(self) - 1}")
        return self.frames[int(position)]

    def _predict(self, pilot: Pilot, batch_size: int) -> dict[str, list[float]]:
        """{output name: one value per frame} for outputs that are one number per frame."""
        out: dict[str, list[float]] = {}
        for i in range(0, len(self.frames), batch_size):
            chunk = self.frames[i:i + batch_size]
            shapes = {f.image.shape for f in chunk}
            parts = [pilot.predict([f]) for f in chunk] if len(shapes) > 1 else [pilot.predict(chunk)]
            for part in parts:
                for name, values in part.items():
                    if np.ndim(values) == 1:
                        out.setdefault(name, []).extend(float(v) for v in values)
        return out

    def recorded(self) -> dict[str, list[float | None]]:
        """{label name: one value per frame, None where a frame lacks it}."""
        names = sorted({k for f in self.frames for k in f.labels})
        return {k: [_number(f.labels.get(k)) for f in self.frames] for k in names}

    def disagreements(self, output: str = "angle", count: int = 50) -> list[int]:
        """Positions where |predicted - recorded| is largest, largest first (empty without both)."""
        pred = self.predicted.get(output)
        rec = [_number(f.labels.get(output)) for f in self.frames]
        if pred is None:
            return []
        gaps = [(abs(p - r), i) for i, (p, r) in enumerate(zip(pred, rec)) if r is not None]
        return [i for _, i in sorted(gaps, key=lambda g: (-g[0], g[1]))[:count]]

    def source(self, start: int, end: int) -> Source:
        """Positions start..end-1 as a Source (for pipeline.movie)."""
        return _FramesSource(self.frames[start:end], self.fps, self.name)


def _number(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


class _FramesSource(Source):
    """Frames already in memory, as a Source."""

    def __init__(self, frames: Sequence[Frame], fps: float, name: str):
        super().__init__()
        self._frames, self.fps, self.name = list(frames), fps, name

    def _count(self) -> int:
        return len(self._frames)

    def _records(self) -> Iterator[Record]:
        for f in self._frames:
            yield Record(f.index, f.source or self.name, lambda f=f: f.image, time=f.time, labels=dict(f.labels))
