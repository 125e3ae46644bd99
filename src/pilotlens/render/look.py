"""How an explained frame is drawn: the input with its steering gauge, one panel per method with a
colour legend, titles; the one recipe that videos, explained PNGs, grids and the viewer share."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from .gauge import draw_gauge
from .legend import legend
from .notice import no_evidence_text, stamp
from .panels import _scaled, panels
from .scale import CLIP, check_clip, is_empty, robust
from .views import draw

#: frames narrower than this are enlarged (by a whole factor) so that text on them stays readable
READABLE_WIDTH = 320


def frame_title(frame) -> str:
    """A frame's name for titles: its file's name when it came from an image file, else "#index"."""
    source = Path(str(getattr(frame, "source", "") or ""))
    return source.name if source.suffix and source.suffix.lower() not in _CONTAINERS else f"#{frame.index}"


# files that hold many frames: the frame index names a frame of them, not the file's name
_CONTAINERS = {".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v", ".csv", ".txt", ".catalog", ".json"}


@dataclass
class Look:
    """How an explained frame is drawn.

    view: overlay | saliency | focus | mask. colormap: for one-way maps (signed maps always use the
    diverging scale). scale: enlarge every panel by this factor; None: a whole factor that makes a
    panel at least READABLE_WIDTH pixels wide. legend: a colour scale under each map.
    clip: the percentile of |map| drawn at full colour (render/scale.py; 100: the peak), so that
    heavy-tailed maps (LRP, input x gradient) do not look empty; the legend names it.
    A map that is all zero is drawn with the words "no evidence for <target> at <layer>" on it.
    """

    view: str = "overlay"
    colormap: str = "inferno"
    alpha: float = 0.5
    scale: float | None = None
    gauge: bool = True
    show_input: bool = True
    max_angle: float = 1.0
    legend: bool = True
    clip: float = CLIP

    def __post_init__(self):
        self.clip = check_clip(self.clip)

    def scale_for(self, width: int) -> float:
        if self.scale is not None:
            return float(self.scale)
        return float(max(1, math.ceil(READABLE_WIDTH / max(1, int(width)))))

    def compose(self, frame, maps: Mapping[str, np.ndarray], prediction: Mapping[str, float],
                signed: Mapping[str, bool] | None = None, title: str | None = None, target: str = "",
                layers: Mapping[str, str | None] | None = None) -> np.ndarray:
        """The input (with the steering gauge) and one panel per method, side by side, titled, each map
        with its legend. `maps` hold [0, 1] maps, or [-1, 1] for the methods `signed` names.
        `target` (its label, e.g. "steering(0.05)") and `layers` (method: layer read) word the
        "no evidence" notice of an empty map."""
        signed, layers = signed or {}, layers or {}
        s = self.scale_for(frame.image.shape[1])
        image = _scaled(frame.image, s)          # drawn at the output's size: text stays sharp
        tiles, titles = [], []
        if self.show_input or not maps:
            tiles.append(self._gauge(image, frame, prediction))
            titles.append(title or frame_title(frame))
        for name, m in maps.items():
            note = no_evidence_text(target, prediction, layers.get(name))
            tile = self.draw(image, m, signed.get(name, False), note=note, text_scale=s)
            if not self.show_input:
                tile = self._gauge(tile, frame, prediction)
            if self.legend:
                tile = np.vstack([tile, self.legend_for(tile.shape[1], signed.get(name, False), s)])
            tiles.append(tile)
            titles.append(name)
        return panels(tiles, titles, scale=1, text_scale=s)

    def draw(self, image: np.ndarray, map01: np.ndarray, signed: bool = False, note: str | None = None,
             text_scale: float | None = None) -> np.ndarray:
        """One map drawn on its frame in this look's view (each view takes only the settings it uses),
        on the robust scale (`clip`). An all-zero map is drawn with `note` (default "no evidence")
        written on it; text_scale: its size (default: from the image's width)."""
        kw = {"overlay": {"colormap": self.colormap, "alpha": self.alpha},
              "saliency": {"colormap": self.colormap}}.get(self.view, {})
        tile = draw(self.view, image, robust(map01, self.clip, signed), signed=signed, **kw)
        if is_empty(map01):
            scale = text_scale if text_scale is not None else max(1.0, tile.shape[1] / READABLE_WIDTH * 2)
            tile = stamp(tile, note or "no evidence", scale)
        return tile

    def legend_for(self, width: int, signed: bool = False, scale: float = 1) -> np.ndarray:
        """The colour legend for a map of this look `width` pixels wide (it names the clip percentile)."""
        return legend(width, self.colormap, signed, scale, self.clip)

    def _gauge(self, image: np.ndarray, frame, prediction: Mapping[str, float]) -> np.ndarray:
        if not self.gauge:
            return image
        labels = getattr(frame, "labels", {}) or {}
        return draw_gauge(image, predicted=prediction.get("angle"), recorded=labels.get("angle"),
                          throttle=prediction.get("throttle", labels.get("throttle")), max_angle=self.max_angle)
