"""Source -> pilot -> explainers -> render -> sink, streamed.

Three stages overlap: a reader thread decodes frames into batches, the calling thread runs the model
and the explainers, a writer thread draws and encodes. Queues between them are bounded, so memory
stays flat however long the drive is, and a failure anywhere stops all three and leaves no output
file under its final name.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from .data.frame import Frame
from .data.source import Skipped, Source
from .explain import explainer
from .methods import get_method
from .models.pilot import Pilot
from .render import draw, draw_gauge, open_sink, panels
from .targets import Index, Steering, Target, parse_target

_END = object()
STEERING_THRESHOLD = 0.05  # normalised angle units (-1 full left .. 1 full right)


def pilot_target(pilot: Pilot, spec: Any = None) -> Target | None:
    """A target from a user's spec, where an output name of the pilot ("angle", "throttle") means
    that column. With no spec: the pilot's own default target, else, for a pilot with an "angle"
    output, steering evidence on it (right / left / keep-centre per frame, threshold 0.05), so a map
    explains the turn the car is making whichever way it goes."""
    spec = pilot.default_target if spec is None else spec
    if spec is None and "angle" in pilot.outputs:
        return Steering(STEERING_THRESHOLD, index=pilot.outputs.index("angle"))
    if isinstance(spec, str) and spec in pilot.outputs:
        # one name may cover all K columns (e.g. "logits"): then the engine's default applies
        return Index(pilot.outputs.index(spec)) if len(pilot.outputs) > 1 else None
    return parse_target(spec)


class FrameExplainer:
    """Explains batches of Frames with several methods through one pilot: maps on the frames' own pixels.

    `options` maps a method name to its options, e.g. {"occlusion": {"window": 20}}. The layer applies
    to the methods that read a layer.
    """

    def __init__(self, pilot: Pilot, methods: Sequence[str], layer=None, target=None,
                 options: dict[str, dict] | None = None):
        options = options or {}
        unknown = sorted(set(options) - set(methods))
        if unknown:
            raise ValueError(f"options given for {', '.join(unknown)}, which is not among the methods {list(methods)}")
        self.pilot = pilot
        self.target = pilot_target(pilot, target)
        self.explainers = {m: explainer(pilot.model, m, layer if get_method(m).uses_layer else None, **options.get(m, {}))
                           for m in methods}

    def __call__(self, frames: Sequence[Frame]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """({method: B x H x W maps in [0, 1] on the frames}, {output name: B predictions})."""
        x = self.pilot.prepare(frames)
        shape = frames[0].image.shape
        maps, output = {}, None
        for name, ex in self.explainers.items():
            sal = ex(x, self.target)
            maps[name] = self.pilot.to_frame(sal.maps, shape)
            output = sal.output
        if output is None:
            with torch.no_grad():
                output = self.pilot.forward(x)
        return maps, self.pilot.named(output)

    def close(self) -> None:
        for ex in self.explainers.values():
            ex.close()


@dataclass
class Look:
    """How an explained frame is drawn."""

    view: str = "overlay"
    colormap: str = "inferno"
    alpha: float = 0.5
    scale: int = 1
    gauge: bool = True
    show_input: bool = True
    max_angle: float = 1.0

    def compose(self, frame: Frame, maps: dict[str, np.ndarray], prediction: dict[str, float]) -> np.ndarray:
        """The input (with the steering gauge) and one panel per method, side by side with titles."""
        tiles, titles = [], []
        gauge = self._gauge(frame, prediction)
        if self.show_input or not maps:
            tiles.append(gauge(frame.image))
            titles.append(f"#{frame.index}")
        for name, m in maps.items():
            tile = self.draw(frame.image, m)
            tiles.append(tile if self.show_input else gauge(tile))
            titles.append(name)
        return panels(tiles, titles, scale=self.scale)

    def draw(self, image: np.ndarray, map01: np.ndarray) -> np.ndarray:
        """One map drawn on its frame in this look's view (each view takes only the settings it uses)."""
        kw = {"overlay": {"colormap": self.colormap, "alpha": self.alpha},
              "saliency": {"colormap": self.colormap}}.get(self.view, {})
        return draw(self.view, image, map01, **kw)

    def _gauge(self, frame: Frame, prediction: dict[str, float]) -> Callable[[np.ndarray], np.ndarray]:
        if not self.gauge:
            return lambda image: image
        predicted = prediction.get("angle")
        recorded = frame.labels.get("angle")
        throttle = prediction.get("throttle", frame.labels.get("throttle"))
        return lambda image: draw_gauge(image, predicted=predicted, recorded=recorded, throttle=throttle,
                                        max_angle=self.max_angle)


@dataclass
class Summary:
    """What a run did."""

    out: str
    frames_written: int
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames_written / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        text = (f"wrote {self.frames_written} frames to {self.out} in {self.seconds:.1f} s "
                f"({self.fps:.1f} frames/s); skipped {len(self.skipped)}")
        return text + "".join(f"\n  skipped frame {s.index} ({s.source}): {s.reason}" for s in self.skipped[:20])


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


def movie(pilot: Pilot, source: Source, out: str, methods: Sequence[str] = ("visual_backprop",), *,
          layer=None, target=None, options: dict[str, dict] | None = None, look: Look | None = None,
          batch_size: int = 32, fps: float | None = None, progress: bool = True) -> Summary:
    """Explain every frame of `source` and write the video (or gif, or folder of PNGs) `out`.

    fps: given, else the source's own rate, else 20. The file appears only when complete.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    look = look or Look()
    explain = FrameExplainer(pilot, methods, layer, target, options)
    rate = fps or source.fps or 20.0
    stop = threading.Event()
    to_model: queue.Queue = queue.Queue(maxsize=4)
    to_writer: queue.Queue = queue.Queue(maxsize=4)
    bar = _progress(progress, source.length(), out)
    written = 0

    def read() -> None:
        for batch in batches(source, batch_size):
            if not _put(to_model, batch, stop):
                return
        _put(to_model, _END, stop)

    def write() -> None:
        nonlocal written
        with open_sink(out, rate) as sink:
            while True:
                item = to_writer.get()
                if item is _END:
                    break
                if item is None:  # the run failed: leave the sink unpublished
                    raise RuntimeError("run aborted")
                frames, maps, preds = item
                for i, frame in enumerate(frames):
                    prediction = {k: float(np.ravel(v[i])[0]) for k, v in preds.items()}
                    sink.write(look.compose(frame, {m: maps[m][i] for m in maps}, prediction))
                    written += 1
                    bar.update(1)

    reader, writer = _Worker(read, "pilotlens-read"), _Worker(write, "pilotlens-write")
    start = time.perf_counter()
    reader.start()
    writer.start()
    ok = False
    try:
        while True:
            try:
                item = to_model.get(timeout=0.1)
            except queue.Empty:
                reader.check()
                writer.check()
                continue
            if item is _END:
                break
            maps, preds = explain(item)
            if not _put(to_writer, (item, maps, preds), stop):
                break
            writer.check()
        reader.check()
        ok = True
    finally:
        if not ok:
            stop.set()
        _put_always(to_writer, _END if ok else None, writer)
        writer.join()
        reader.join(timeout=5)
        bar.close()
        explain.close()
    writer.check()
    if written == 0:
        raise ValueError(f"no frame to write: the source gave none (skipped {len(source.skipped)})")
    return Summary(str(out), written, list(source.skipped), time.perf_counter() - start)


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
