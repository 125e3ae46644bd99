"""The viewer's state: one pilot, one drive (or a live feed), explainers and an LRU cache of maps.

Everything here is library calls (FrameExplainer, Look, layers.trace, layer_views) plus caching;
the server only turns requests into these calls. The model is shared, and hooks of two explainers
must not overlap, so every model call holds `self.lock`.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import OrderedDict
from typing import Any, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from .. import layer_views
from ..data.frame import Frame
from ..layers import trace
from ..methods import REGISTRY
from ..models.pilot import Pilot
from ..frame_explainer import FrameExplainer
from ..pipeline import movie
from ..render.look import Look
from ..render.notice import no_evidence_text
from ..render import COLORMAPS, VIEWS
from .drive import Drive
from .images import data_url, png_bytes, tile
from .live import LiveLoop
from .settings import Settings, parse_settings

MAX_BATCH = 16           # frames in one explain request (the page prefetches 8 while playing)
MAX_EXPORT_FRAMES = 600  # frames in one mp4 export (30 s at 20 fps)
MAX_CHANNELS = 64        # feature maps drawn per layer
CACHE_BYTES = 256 << 20  # maps kept for scrubbing back and forth


class MapCache:
    """Maps by (frame position, method key), least recently used dropped past `max_bytes`."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.max_bytes, self.bytes = max_bytes, 0
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # a scrub and a prefetch may arrive together
        self.hits = self.misses = 0

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            m = self._items.get(key)
            if m is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return m

    def put(self, key: tuple, value: np.ndarray) -> None:
        with self._lock:
            if key in self._items:
                self.bytes -= self._items.pop(key).nbytes
            self._items[key] = value
            self.bytes += value.nbytes
            while self.bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self.bytes -= old.nbytes

    def __len__(self) -> int:
        return len(self._items)


def _signed(explainer) -> bool:
    """Whether a method's raw map has a meaningful sign (the lead's contract: `is_signed()` or `signed`)."""
    is_signed = getattr(explainer, "is_signed", None)
    if callable(is_signed):
        return bool(is_signed())
    return bool(getattr(explainer, "signed", False)) or getattr(explainer, "options", {}).get("signed") is True


class Viewer:
    """What the page can ask: the drive's data, a frame explained, an occlusion, a layer's insides, exports."""

    def __init__(self, pilot: Pilot, drive: Drive | None = None, *, model_name: str = "",
                 cache_bytes: int = CACHE_BYTES):
        self.pilot, self.drive, self.model_name = pilot, drive, model_name or (pilot.name or "pilot")
        self.lock = threading.RLock()
        self.cache = MapCache(cache_bytes)
        self._explainers: OrderedDict[tuple, FrameExplainer] = OrderedDict()
        self._untrained: Pilot | None = None
        w, h = pilot.input_size
        self.input_shape = (1 if pilot.color == "gray" else 3, h, w)
        with self.lock:
            self.layers = trace(pilot.model, self.input_shape)
        self.layer_names = {l.name for l in self.layers if l.name}
        self.live: LiveLoop | None = None  # for camera and stream inputs: see start_live
        self.live_settings = Settings()

    # -- what the page shows in its menus ------------------------------------------------------
    def info(self) -> dict[str, Any]:
        p = self.pilot
        methods = {n: {"uses_layer": c.uses_layer, "defaults": {k: _jsonable(v) for k, v in c.defaults.items()},
                       "signed": bool(getattr(c, "signed", False)) or "signed" in c.defaults}
                   for n, c in sorted(REGISTRY.items())}
        targets = [{"value": "", "label": "steering evidence (right / left / keep centre)"
                    if "angle" in p.outputs and p.default_target is None else "the pilot's default"}]
        if "angle" in p.outputs:
            targets += [{"value": v, "label": f"steer {v}" if v != "centre" else "keep centre"}
                        for v in ("right", "left", "centre")]
        targets += [{"value": o, "label": f"output {o}"} for o in p.outputs]
        if len(p.outputs) == 1 and p.outputs[0] not in ("angle",):
            targets += [{"value": "class", "label": "top class"}]
        drive = None
        if self.drive is not None:
            d = self.drive
            drive = {"name": d.name, "frames": len(d), "fps": d.fps, "indexes": [f.index for f in d.frames],
                     "recorded": d.recorded(), "predicted": d.predicted,
                     "disagreements": d.disagreements(), "skipped": len(d.skipped)}
        return {
            "model": self.model_name, "describe": p.describe(), "outputs": list(p.outputs),
            "methods": methods, "views": list(VIEWS), "colormaps": list(COLORMAPS), "targets": targets,
            "layers": [{"index": l.index, "name": l.name, "kind": l.kind,
                        "shape": list(l.output_shape or ()), "spatial": len(l.output_shape or ()) == 3,
                        "conv": isinstance(l.module, nn.Conv2d)} for l in self.layers if l.name],
            "untrained": self.pilot.arch is not None, "drive": drive, "live": self.live is not None,
            "limits": {"batch": MAX_BATCH, "export_frames": MAX_EXPORT_FRAMES},
            "clip": Look().clip,                  # the colour scale's percentile, for the legend to name
        }

    def settings(self, data: Any) -> Settings:
        """The page's settings checked; a target the pilot cannot read is refused even for methods that
        ignore targets (visual_backprop), so a typo never passes silently."""
        settings = parse_settings(data, self.layer_names)
        self.pilot.resolve_target(settings.target)
        return settings

    # -- maps ----------------------------------------------------------------------------------
    def _explainer(self, settings: Settings, method: str) -> FrameExplainer:
        key = settings.key(method)
        ex = self._explainers.get(key)
        if ex is None:
            _, layer, target, options = key
            try:
                ex = FrameExplainer(self.pilot, [method], layer, target, {method: dict(options)} if options else None)
            except TypeError as exc:  # an unknown or mistyped option
                raise ValueError(str(exc)) from None
            self._explainers[key] = ex
            while len(self._explainers) > 32:
                self._explainers.popitem(last=False)[1].close()
        self._explainers.move_to_end(key)
        return ex

    def maps(self, positions: Sequence[int], settings: Settings) -> dict[str, list[np.ndarray]]:
        """{method: one map per position}, from the cache or computed for the missing frames in one batch."""
        frames = [self.drive.frame(p) for p in positions]
        out: dict[str, list[np.ndarray]] = {}
        for method in settings.methods:
            key = settings.key(method)
            maps = [self.cache.get((p, key)) for p in positions]
            todo = [i for i, m in enumerate(maps) if m is None]
            for group in _same_size(todo, frames):
                computed = self.explain_frames([frames[i] for i in group], settings, method)
                for i, m in zip(group, computed):
                    self.cache.put((positions[i], key), m)
                    maps[i] = m
            out[method] = maps
        return out

    def explain_frames(self, frames: Sequence[Frame], settings: Settings, method: str) -> np.ndarray:
        """B x H x W maps of one method for frames of one size (no cache)."""
        with self.lock:
            ex = self._explainer(settings, method)
            result = ex(frames)
        return next(iter(result.maps.values()))   # [0, 1], or [-1, 1] for a signed method

    def explain(self, positions: Sequence[int], settings: Settings) -> list[dict[str, Any]]:
        """The page's answer for frames of the drive: the frame, each method's map drawn, the predictions."""
        if self.drive is None:
            raise ValueError("this viewer shows a live input: there are no recorded frames")
        if not 1 <= len(positions) <= MAX_BATCH:
            raise ValueError(f"ask for 1 to {MAX_BATCH} frames at a time, got {len(positions)}")
        for p in positions:
            self.drive.frame(p)  # range check, with its message
        start = time.perf_counter()
        maps = self.maps(positions, settings)
        look = Look(view=settings.view, colormap=settings.colormap, alpha=settings.alpha)
        each_ms = (time.perf_counter() - start) * 1000 / len(positions)
        results = []
        for i, p in enumerate(positions):
            frame = self.drive.frame(p)
            results.append({
                "position": p, "index": frame.index, "time": frame.time, "ms": round(each_ms, 1),
                "frame": data_url(frame.image),
                "maps": {m: data_url(self._draw(look, frame.image, maps[m][i], settings, m,
                                                {k: v[p] for k, v in self.drive.predicted.items()}))
                         for m in settings.methods},
                "signed": {m: self.is_signed(settings, m) for m in settings.methods},
                "predicted": {k: v[p] for k, v in self.drive.predicted.items()},
                "recorded": {k: _jsonable(v) for k, v in frame.labels.items()},
            })
        return results

    def _draw(self, look: Look, image: np.ndarray, map_: np.ndarray, settings: Settings, method: str,
              prediction: dict[str, float] | None) -> np.ndarray:
        """A map drawn on its frame, an empty one saying what had no evidence (target and layer), as
        the videos and PNGs say it."""
        with self.lock:
            ex = self._explainer(settings, method)
        layer = next((e.layer_name for e in ex.explainers.values() if getattr(e, "layer_name", None)), None)
        note = no_evidence_text(repr(ex.target), prediction, layer)
        return look.draw(image, map_, self.is_signed(settings, method), note=note)

    def is_signed(self, settings: Settings, method: str) -> bool:
        with self.lock:
            ex = self._explainer(settings, method)
        return any(_signed(e) for e in ex.explainers.values())

    def start_live(self, frames, pace: float | None = None) -> LiveLoop:
        """Explain `frames` (any iterator of frames) live with the settings the page last sent."""
        self.live = LiveLoop(frames, lambda f: self.explain_live(f, self.live_settings), pace=pace).start()
        return self.live

    def explain_live(self, frame: Frame, settings: Settings) -> dict[str, Any]:
        """One live frame explained: the same answer as `explain`, with the latency of the model and maps."""
        start = time.perf_counter()
        maps = {m: self.explain_frames([frame], settings, m)[0] for m in settings.methods}
        with self.lock:
            predicted = {k: float(np.ravel(v)[0]) for k, v in self.pilot.predict([frame]).items()}
        look = Look(view=settings.view, colormap=settings.colormap, alpha=settings.alpha)
        drawn = {m: data_url(self._draw(look, frame.image, maps[m], settings, m, predicted)) for m in settings.methods}
        return {"index": frame.index, "time": frame.time, "frame": data_url(frame.image), "maps": drawn,
                "predicted": predicted, "ms": round((time.perf_counter() - start) * 1000, 1)}

    # -- ask the model: occlude a region ------------------------------------------------------
    def occlude(self, position: int, box: Sequence[Any], fill: str, settings: Settings) -> dict[str, Any]:
        """The frame with `box` (x0, y0, x1, y1 in frame pixels) filled by its mean colour or a blur,
        the predictions before and after, and the maps of the occluded frame."""
        if self.drive is None:
            raise ValueError("occlusion needs a recorded drive")
        frame = self.drive.frame(position)
        h, w = frame.image.shape[:2]
        if not (isinstance(box, (list, tuple)) and len(box) == 4
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
            raise ValueError("box must be four numbers [x0, y0, x1, y1] in frame pixels")
        x0, x1 = sorted(int(np.clip(round(v), 0, w)) for v in (box[0], box[2]))
        y0, y1 = sorted(int(np.clip(round(v), 0, h)) for v in (box[1], box[3]))
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise ValueError(f"the box {list(box)} covers no pixel of the {w}x{h} frame")
        if fill not in ("mean", "blur"):
            raise ValueError(f"fill must be 'mean' or 'blur', got {str(fill)[:20]!r}")
        image = frame.image.copy()
        if fill == "mean":
            image[y0:y1, x0:x1] = np.rint(frame.image.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
        else:
            k = max(3, (max(h, w) // 8) | 1)
            image[y0:y1, x0:x1] = cv2.GaussianBlur(frame.image, (k, k), 0)[y0:y1, x0:x1]
        occluded = Frame(image=image, index=frame.index, time=frame.time, labels=frame.labels, source=frame.source)
        with self.lock:
            after = self.pilot.predict([occluded])
        after = {k: float(np.ravel(v)[0]) for k, v in after.items() if np.ndim(v) == 1}
        before = {k: v[position] for k, v in self.drive.predicted.items()}
        look = Look(view=settings.view, colormap=settings.colormap, alpha=settings.alpha)
        maps = {m: data_url(self._draw(look, image, self.explain_frames([occluded], settings, m)[0], settings, m, after))
                for m in settings.methods}
        return {"position": position, "box": [x0, y0, x1, y1], "fill": fill, "frame": data_url(image),
                "maps": maps, "before": before, "after": after,
                "change": {k: after[k] - before[k] for k in after if k in before}}

    # -- inside the network ---------------------------------------------------------------------
    def _model(self, trained: bool) -> nn.Module:
        if trained:
            return self.pilot.model
        if self.pilot.arch is None:
            raise ValueError("this pilot has no zoo architecture, so there is no untrained twin to compare with")
        if self._untrained is None:
            with torch.random.fork_rng():
                torch.manual_seed(0)  # the same untrained weights on every run
                self._untrained = Pilot.from_arch(self.pilot.arch, arch_kwargs=self.pilot.arch_kwargs)
            self._untrained.to(self.pilot.device)
        return self._untrained.model

    def features(self, position: int, layer: str | None, trained: bool = True) -> bytes:
        """A grid of the layer's feature maps for one frame (the first MAX_CHANNELS channels), as PNG."""
        frame = self._frame_for_inside(position)
        self._check_layer(layer)
        with self.lock:
            model = self._model(trained)
            x = self.pilot.prepare([frame])
            maps = layer_views.feature_maps(model, x, layer or None)[0]
        return png_bytes(tile(maps[:MAX_CHANNELS], cell_px=64))

    def filters(self, layer: str | None, trained: bool = True) -> tuple[bytes, str]:
        """A grid of a conv layer's kernels (the selected layer if it is a convolution, else the last one
        before it) as PNG, and that layer's name."""
        self._check_layer(layer)
        conv = self._conv_at_or_before(layer)
        with self.lock:
            cells = layer_views.conv_filters(self._model(trained), conv)
        return png_bytes(tile(cells[:MAX_CHANNELS], cell_px=24)), conv or ""

    def _conv_at_or_before(self, layer: str | None) -> str | None:
        convs = [l for l in self.layers if isinstance(l.module, nn.Conv2d)]
        if not layer or not convs:
            return None
        at = next(l.index for l in self.layers if l.name == layer)
        before = [l for l in convs if l.index <= at]
        return (before[-1] if before else convs[0]).name

    def _check_layer(self, layer: str | None) -> None:
        if layer and layer not in self.layer_names:
            raise ValueError(f"no layer named {str(layer)[:64]!r}; the layers are: {', '.join(sorted(self.layer_names))}")

    def _frame_for_inside(self, position: int) -> Frame:
        if self.drive is not None:
            return self.drive.frame(position)
        last = self.live.last_frame() if self.live is not None else None
        if last is None:
            raise ValueError("no live frame yet")
        return last

    # -- export ---------------------------------------------------------------------------------
    def export_png(self, position: int, settings: Settings) -> bytes:
        """The frame (with the steering gauge) and each method's map side by side, as PNG."""
        frame = self.drive.frame(position) if self.drive is not None else self._frame_for_inside(position)
        maps = self.maps([position], settings) if self.drive is not None else \
            {m: [self.explain_frames([frame], settings, m)[0]] for m in settings.methods}
        look = Look(view=settings.view, colormap=settings.colormap, alpha=settings.alpha, scale=2)
        if self.drive is not None:
            prediction = {k: v[position] for k, v in self.drive.predicted.items()}
        else:
            with self.lock:
                prediction = {k: float(np.ravel(v)[0]) for k, v in self.pilot.predict([frame]).items()}
        return png_bytes(look.compose(frame, {m: v[0] for m, v in maps.items()}, prediction))

    def export_mp4(self, start: int, end: int, settings: Settings) -> bytes:
        """Positions start..end-1 explained as an H.264 mp4 (pipeline.movie), returned as bytes."""
        if self.drive is None:
            raise ValueError("export a range needs a recorded drive")
        n = len(self.drive)
        if not (0 <= start < end <= n):
            raise ValueError(f"frame range {start}..{end} is not inside the drive's 0..{n} (end exclusive)")
        if end - start > MAX_EXPORT_FRAMES:
            raise ValueError(f"export at most {MAX_EXPORT_FRAMES} frames at a time, asked for {end - start}")
        options = {m: settings.options_for(m) for m in settings.methods if settings.options_for(m)}
        look = Look(view=settings.view, colormap=settings.colormap, alpha=settings.alpha, scale=2)
        with tempfile.TemporaryDirectory(prefix="pilotlens-view-") as tmp:
            out = os.path.join(tmp, "export.mp4")
            with self.lock:
                movie(self.pilot, self.drive.source(start, end), out, settings.methods, layer=settings.layer,
                      target=settings.target, options=options or None, look=look,
                      batch_size=16, fps=self.drive.fps, progress=False)
            with open(out, "rb") as f:
                return f.read()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
        for ex in self._explainers.values():
            ex.close()
        self._explainers.clear()


def _same_size(todo: list[int], frames: Sequence[Frame]) -> list[list[int]]:
    """Indexes grouped by frame size (a batch needs one size)."""
    groups: dict[tuple, list[int]] = {}
    for i in todo:
        groups.setdefault(frames[i].image.shape, []).append(i)
    return list(groups.values())


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, tuple):
        return list(v)
    return v
