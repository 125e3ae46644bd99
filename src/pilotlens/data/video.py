"""A video file as a source (mp4, avi, mov, webm, mkv, ...), decoded with PyAV as a stream.

The first video stream is read. ``fps`` is the stream's average frame rate; a frame's ``time`` is
its presentation timestamp in seconds from the first frame's. Frames outside start/end/step are
decoded (video needs that) but never converted to RGB arrays, and decoding stops at ``end``.
A decoding error part-way ends the stream; it is reported as a bad frame at the index where it
happened (skipped, or FrameError under strict). So is a video that ends before the frame count its
header announces (a file cut short): the first missing frame is reported, with the count. A frame
whose size differs from the first one read (at ``start``) ends the stream the same way, naming both
sizes: the frames after it would not fit the output.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import av

from .files import check_regular
from .source import Record, Source, broken

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v")


class VideoSource(Source):
    """Frames of a video file, in decoding order."""

    kind, unit = "video", "frame"

    def __init__(self, path: str | os.PathLike, *, start: int = 0, end: int | None = None, step: int = 1,
                 strict: bool = False):
        super().__init__(start, end, step, strict)
        self.path = Path(path)
        self.name = str(self.path)
        if not self.path.exists():
            raise ValueError(f"{self.path}: no such video file")
        check_regular(self.path)  # a FIFO would block the decoder forever
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise ValueError(f"{self.path}: the file has no video stream")
                stream = container.streams.video[0]
                self.fps = float(stream.average_rate) if stream.average_rate else None
                self._frames = stream.frames or None  # 0 means the container does not say
        except av.error.FFmpegError as exc:
            raise ValueError(f"{self.path}: cannot open as a video ({exc})") from exc

    def _count(self) -> int | None:
        return self._frames

    def _records(self) -> Iterator[Record]:
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            decoded = container.decode(stream)
            first_pts, first_size, index = None, None, 0
            while True:
                try:
                    frame = next(decoded)
                except StopIteration:
                    if self._frames and index < self._frames:
                        yield broken(index, self.name, f"the video ends after {index} of the {self._frames} frames "
                                                       "its header announces: the file is truncated")
                    return
                except av.error.FFmpegError as exc:
                    yield broken(index, self.name, f"decoding stopped: {exc}")
                    return
                size = (frame.width, frame.height)
                if first_size is None and index >= self.start:
                    first_size = size  # the run's size: the first frame it reads
                elif first_size is not None and size != first_size:
                    yield broken(index, self.name, f"the input video's frame {index} changed size from "
                                                   f"{first_size[0]}x{first_size[1]} to {size[0]}x{size[1]} "
                                                   "(width x height); pilotlens reads a video at one frame "
                                                   "size and stops here")
                    return
                if frame.pts is not None and frame.time_base is not None:
                    first_pts = frame.pts if first_pts is None else first_pts
                    t = float((frame.pts - first_pts) * frame.time_base)
                else:
                    t = index / self.fps if self.fps else None
                # the costly RGB conversion happens in load(), which the base calls only for selected frames
                yield Record(index, self.name, lambda f=frame: f.to_ndarray(format="rgb24"), time=t)
                index += 1
