"""Source -> pilot -> explainers -> render -> sink, streamed.

Three stages overlap: a reader thread decodes frames into batches, the calling thread runs the model
and the explainers, a writer thread draws and encodes. Queues between them are bounded, so memory
stays flat however long the drive is, and a failure anywhere stops all three and leaves no output
file under its final name.
"""
from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from .data.frame import Frame
from .data.source import Skipped, Source, screened
from .frame_explainer import Explained, FrameExplainer
from .models.pilot import Pilot
from .outputs import check_output_dir, check_output_file
from .render import SUPPORTED, open_sink
from .render.look import Look
from .render.video import FORMATS, is_folder

_END = object()


@dataclass
class Summary:
    """What a run did: frames written, the target explained, frames skipped or not finite."""

    out: str
    frames_written: int
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    target: str = ""
    nonfinite: list[int] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames_written / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        text = (f"wrote {self.frames_written} frames to {self.out} in {self.seconds:.1f} s "
                f"({self.fps:.1f} frames/s), explaining {self.target}; skipped {len(self.skipped)}")
        text += "".join(f"\n  skipped frame {s.index} ({s.source}): {s.reason}" for s in self.skipped[:20])
        if len(self.skipped) > 20:
            text += f"\n  ... and {len(self.skipped) - 20} more"
        if self.nonfinite:
            text += (f"\n  warning: {len(self.nonfinite)} frame(s) had a non-finite input or model output; their "
                     f"maps are blank: {self.nonfinite[:20]}")
        return text


def batches(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    """Consecutive frames in lists of `size`, cut early where the frame size changes."""
    batch: list[Frame] = []
    for frame in frames:
        if batch and (len(batch) == size or frame.image.shape != batch[0].image.shape):
            yield batch
            batch = []
        batch.append(frame)
    if batch:
        yield batch


def fits(pilot: Pilot) -> Callable[[Frame], object]:
    """A frame check for data.screened: a frame too small for the pilot's crop (a 1x1 image) is a bad
    frame, skipped by name (or FrameError under strict) rather than the end of the whole run."""
    return lambda frame: pilot.seeing.crop_box(*frame.image.shape[:2])


def check_target(pilot: Pilot, target) -> None:
    """Refuse, before any work and whatever the methods, a target the pilot's output cannot give
    (`--target 7` of a one-output pilot): a method that reads no target (visual_backprop) would
    otherwise explain the run without a word, while grad_cam refuses the same target.

    The target is resolved as the explainers resolve it and applied to the pilot's output on one
    blank input, so the check is the engine's own, not a second reading of the spec."""
    import numpy as np
    import torch

    from .targets import freeze, score
    resolved = pilot.resolve_target(target)
    if resolved is None or target is None:
        return
    w, h = pilot.input_size
    with torch.no_grad():
        output = pilot.forward(pilot.from_view(np.zeros((1, h, w, 3), np.uint8)))
    try:
        score(freeze(resolved, output), output)
    except (ValueError, IndexError) as e:
        names = f": {', '.join(pilot.outputs)}" if pilot.outputs else ""
        raise ValueError(f"--target {target}: {e}; {pilot.name or 'the pilot'} gives {output.shape[1]} "
                         f"output(s){names}") from None


def check_movie_output(out: str | Path, source: Source | None = None) -> None:
    """Before any work: the output's kind is known, its folder writable, and it is not the input."""
    inputs = [source.path] if getattr(source, "path", None) is not None else []
    text = str(out)
    if is_folder(text):
        check_output_dir(Path(text), inputs=inputs, create=False)
    else:
        check_output_file(text, inputs=inputs, suffixes=FORMATS, what="output video")


def movie(pilot: Pilot, source: Source, out: str, methods: Sequence[str] = ("visual_backprop",), *,
          layer=None, target=None, options: Mapping[str, Mapping[str, Any]] | None = None,
          look: Look | None = None, batch_size: int = 32, fps: float | None = None,
          progress: bool = True) -> Summary:
    """Explain every frame of `source` and write the video (or gif, or folder of PNGs) `out`.

    methods: specs like "grad_cam:signed=true" (see methods/spec.py); target: see Pilot.resolve_target.
    fps: given, else the source's own rate, else 20. The file appears only when complete. A source
    that ends before its announced length (a truncated video) is reported, and raises under strict.
    """
    check_target(pilot, target)
    rate = _check_stream(out, source, batch_size, fps)   # before the explainers are built
    with FrameExplainer(pilot, methods, layer, target, options) as explain:
        return _draw(pilot, source, out, explain, rate, look, batch_size, progress)


def draw_movie(pilot: Pilot, source: Source, out: str, explain: Callable[[list[Frame]], Explained], *,
               look: Look | None = None, batch_size: int = 32, fps: float | None = None,
               progress: bool = True) -> Summary:
    """`movie`'s stream with the explanations coming from `explain` (frames -> Explained): a FrameExplainer,
    or maps already computed (fleet.stored). The frames are screened as the pilot takes them."""
    return _draw(pilot, source, out, explain, _check_stream(out, source, batch_size, fps), look, batch_size, progress)


def _draw(pilot: Pilot, source: Source, out: str, explain: Callable[[list[Frame]], Explained], rate: float,
          look: Look | None, batch_size: int, progress: bool) -> Summary:
    """The stream itself, once `_check_stream` has passed and given the frame rate."""
    run = _Run(source, out, rate, batch_size, look or Look(), progress, check=fits(pilot))
    start = time.perf_counter()
    run.stream(explain)
    written = run.written
    if written == 0:
        raise ValueError(f"no frame to write: the source gave none (skipped {len(source.skipped)})")
    return Summary(str(out), written, list(source.skipped), time.perf_counter() - start, run.target or "",
                   run.nonfinite)


def _check_stream(out: str, source: Source, batch_size: int, fps: float | None) -> float:
    """The frame rate, once the output, the batch size and fps are known to be usable."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    rate = frame_rate(fps, source)
    check_movie_output(out, source)
    return rate


def frame_rate(fps: float | None, source: Source | None = None) -> float:
    """`fps` when given (a positive, finite number), else the source's own rate when it has a sane one,
    else 20. A zero or NaN typed by the user is refused rather than quietly replaced."""
    if fps is not None:
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps (--fps) must be a positive number of frames per second, got {fps!r}")
        return float(fps)
    own = getattr(source, "fps", None)
    return float(own) if isinstance(own, (int, float)) and math.isfinite(own) and own > 0 else 20.0


#: bytes per output pixel while one panel is drawn: the uint8 frame plus float colour-map temporaries
BYTES_PER_PANEL_PIXEL = 3 * 8


def check_output_size(look: Look, frame: Frame, panels: int) -> None:
    """Refuse, before drawing, a look whose scale makes a frame too large to hold (`--scale 1000`
    asks for terabytes; OpenCV would only say 'Insufficient memory')."""
    from .limits import check_allocation
    h, w = frame.image.shape[:2]
    s = look.scale_for(w)
    pixels = max(1, round(h * s)) * max(1, round(w * s)) * max(1, panels)
    check_allocation("--scale", s, pixels * BYTES_PER_PANEL_PIXEL,
                     what=f"to draw {panels} panels of a {w}x{h} frame at {round(w * s)}x{round(h * s)} each")


class _Run:
    """One streamed run: the three stages (read, explain, write) and what they counted."""

    def __init__(self, source: Source, out: str, rate: float, batch_size: int, look: Look, progress: bool,
                 check: Callable[[Frame], object] | None = None):
        self.source, self.out, self.rate, self.batch_size, self.look = source, out, rate, batch_size, look
        self.check = check
        self.stop = threading.Event()
        self.to_model: queue.Queue = queue.Queue(maxsize=4)
        self.to_writer: queue.Queue = queue.Queue(maxsize=4)
        self.bar = _progress(progress, source.length(), out)
        self.written, self.target, self.nonfinite = 0, None, []

    def read(self) -> None:
        frames = screened(self.source, self.check) if self.check else self.source
        for batch in batches(frames, self.batch_size):
            if not _put(self.to_model, batch, self.stop):
                return
        _put(self.to_model, _END, self.stop)

    def write(self) -> None:
        try:
            self._write()
        except OSError as e:   # an encoder's error (no space left, a bad folder) often names no file
            if e.filename is None and e.strerror:
                raise OSError(e.errno, e.strerror, str(self.out)) from e
            raise

    def _write(self) -> None:
        with open_sink(self.out, self.rate) as sink:
            while True:
                item = self.to_writer.get()
                if item is _END:
                    break
                if item is None:  # the run failed: leave the sink unpublished
                    raise RuntimeError("run aborted")
                frames, explained = item
                for i, frame in enumerate(frames):
                    if self.written == 0 and i == 0:
                        check_output_size(self.look, frame, len(explained.maps_of(i)) + 1)
                    sink.write(self.look.compose(frame, explained.maps_of(i), explained.prediction(i), explained.signed,
                                                 target=explained.target, layers=explained.layers))
                    self.written += 1
                    self.bar.update(1)

    def explain(self, explain: Callable[[list[Frame]], Explained], reader: "_Worker", writer: "_Worker") -> None:
        while True:
            try:
                item = self.to_model.get(timeout=0.1)
            except queue.Empty:
                reader.check()
                writer.check()
                continue
            if item is _END:
                return
            explained: Explained = explain(item)
            self.target = explained.target
            self.nonfinite += explained.nonfinite
            if not _put(self.to_writer, (item, explained), self.stop):
                return
            writer.check()

    def stream(self, explain: Callable[[list[Frame]], Explained]) -> None:
        reader, writer = _Worker(self.read, "pilotlens-read"), _Worker(self.write, "pilotlens-write")
        reader.start()
        writer.start()
        ok = False
        try:
            self.explain(explain, reader, writer)
            reader.check()
            ok = True
        finally:
            if not ok:
                self.stop.set()
            _put_always(self.to_writer, _END if ok else None, writer)
            writer.join()
            reader.join(timeout=5)
            self.bar.close()
        writer.check()


class _Worker(threading.Thread):
    """A pipeline stage in a thread; an exception in it is kept and raised again by `check()`."""

    def __init__(self, target: Callable[[], None], name: str):
        super().__init__(name=name, daemon=True)
        self._fn, self.error = target, None

    def run(self) -> None:
        try:
            self._fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error = exc

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put unless the run is stopping; False when it is."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _put_always(q: queue.Queue, item, worker: threading.Thread) -> None:
    """Hand the writer its last message, unless it is already gone."""
    while worker.is_alive():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _progress(enabled: bool, total: int | None, out: str):
    from tqdm import tqdm
    return tqdm(total=total, unit="frame", desc=str(out), disable=not enabled, dynamic_ncols=True, smoothing=0.1)


__all__ = ["movie", "draw_movie", "Summary", "batches", "fits", "frame_rate", "check_output_size", "check_target", "check_movie_output", "SUPPORTED"]
