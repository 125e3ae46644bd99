"""Live input: a camera or a stream explained as fast as the model goes, always on the newest frame.

`LiveLoop` takes any iterator of frames (uint8 RGB arrays or Frames), so it runs the same on a
camera, an RTSP stream or a synthetic iterator in a test. A grabber thread keeps only the newest
frame (a camera's buffer would otherwise fall behind); an explainer thread explains it and keeps the
newest answer with its latency, for the page to poll.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable, Iterable, Iterator

import cv2
import numpy as np

from ..data.frame import Frame

AHEAD_SLEEP = 0.002  # seconds the reader rests when it is ahead of the model
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


def is_live(spec: str) -> bool:
    """Whether an --input names a camera ("camera:0") or a stream URL."""
    return spec.startswith("camera:") or spec.lower().startswith(STREAM_SCHEMES)


def open_stream(spec: str) -> Iterator[Frame]:
    """Frames from "camera:N" (an OpenCV device index) or a stream URL, read with OpenCV, until it ends.

    Raises ValueError at once when the device or URL cannot be opened.
    """
    if spec.startswith("camera:"):
        index = spec.partition(":")[2]
        if not index.isdigit():
            raise ValueError(f"--input {spec}: a camera is camera:N with N an OpenCV device index, e.g. camera:0")
        cap = cv2.VideoCapture(int(index))
    else:
        cap = cv2.VideoCapture(spec)
    if not cap.isOpened():
        cap.release()
        raise ValueError(f"--input {spec}: cannot open this {'camera' if spec.startswith('camera:') else 'stream'}")
    return _read(cap, spec)


def _read(cap, spec: str) -> Iterator[Frame]:
    t0, i = time.perf_counter(), 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield Frame(image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index=i, time=time.perf_counter() - t0, source=spec)
            i += 1
    finally:
        cap.release()


def _as_frame(item: Any, i: int, t0: float) -> Frame:
    if isinstance(item, Frame):
        return item
    return Frame(image=np.asarray(item), index=i, time=time.perf_counter() - t0, source="live")


class LiveLoop:
    """Explain the newest frame of `frames` over and over with `explain(frame) -> dict` (in threads).

    `latest(after)` gives the newest answer with a sequence number greater than `after` (or None),
    each answer carrying "seq", "latency_ms" (frame grabbed -> answer ready) and "fps" (answers per
    second over the last 2 s). `history` keeps the last answers' predictions for the page's plot.
    """

    def __init__(self, frames: Iterable, explain: Callable[[Frame], dict[str, Any]], history: int = 300,
                 pace: float | None = None):
        self._frames, self._explain, self._pace = iter(frames), explain, pace
        self._cond = threading.Condition()
        self._newest: tuple[Frame, float] | None = None
        self._last_frame: Frame | None = None
        self._answer: dict[str, Any] | None = None
        self._seq = 0
        self._stamps: deque[float] = deque(maxlen=200)
        self.history: deque[dict[str, Any]] = deque(maxlen=history)
        self.error: str | None = None
        self.ended = False
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._grab, name="pilotlens-live-grab", daemon=True),
                         threading.Thread(target=self._work, name="pilotlens-live-explain", daemon=True)]

    def start(self) -> "LiveLoop":
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2)

    def _grab(self) -> None:
        t0, i = time.perf_counter(), 0
        try:
            for item in self._frames:
                if self._stop.is_set():
                    return
                frame = _as_frame(item, i, t0)
                with self._cond:
                    ahead = self._newest is not None  # the model has not taken the last one: it is dropped
                    self._newest = (frame, time.perf_counter())
                    self._cond.notify_all()
                i += 1
                if self._pace:
                    time.sleep(self._pace)
                elif ahead:
                    # A reader faster than the model (a file, a synthetic stream) would otherwise hold the GIL
                    # and starve the explainer (measured: 130 ms a frame instead of 20); a camera's read()
                    # blocks without the GIL, so it never gets here often.
                    time.sleep(AHEAD_SLEEP)
        except Exception as exc:  # noqa: BLE001 - a stream that fails ends the loop; the page shows why
            self.error = f"the live input stopped: {type(exc).__name__}: {exc}"
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def _work(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while self._newest is None and not self.ended and not self._stop.is_set():
                    self._cond.wait(timeout=0.5)
                if self._newest is None:
                    return  # ended or stopped, nothing left to explain
                (frame, grabbed), self._newest = self._newest, None
            try:
                answer = self._explain(frame)
            except Exception as exc:  # noqa: BLE001 - e.g. a bad setting: shown in the page, the loop goes on
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            now = time.perf_counter()
            with self._cond:
                self._seq += 1
                self._stamps.append(now)
                recent = [s for s in self._stamps if now - s <= 2.0]
                fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
                answer = {**answer, "seq": self._seq, "latency_ms": round((now - grabbed) * 1000, 1),
                          "fps": round(fps, 1)}
                self._answer = answer
                self._last_frame = frame
                self.history.append({"seq": self._seq, "predicted": answer.get("predicted", {})})
                self._cond.notify_all()

    def latest(self, after: int = 0, wait: float = 0.0) -> dict[str, Any] | None:
        """The newest answer if its seq is greater than `after`, waiting up to `wait` seconds for one."""
        deadline = time.perf_counter() + wait
        with self._cond:
            while (self._answer is None or self._answer["seq"] <= after) and not self.ended:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                self._cond.wait(timeout=left)
            if self._answer is None or self._answer["seq"] <= after:
                return None
            return self._answer

    def last_frame(self) -> Frame | None:
        with self._cond:
            return self._last_frame

    @property
    def count(self) -> int:
        return self._seq
