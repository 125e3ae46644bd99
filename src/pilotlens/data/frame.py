"""The Frame: one camera image travelling through pilotlens, with where it came from and its labels."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Frame:
    """One camera image.

    image:  uint8 RGB array, H x W x 3.
    index:  position in its source (after deleted records are dropped, before --start/--step).
    time:   seconds from the start of the source, or None when the source has no clock.
    labels: what was recorded with the frame, e.g. {"angle": -0.12, "throttle": 0.4}.
    source: a path or name to report in messages (the image file, the video, ...).
    """

    image: np.ndarray
    index: int
    time: float | None = None
    labels: dict[str, float] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        img = self.image
        if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3):
            shape = getattr(img, "shape", None)
            dtype = getattr(img, "dtype", type(img).__name__)
            raise ValueError(f"Frame.image must be a uint8 RGB array H x W x 3, got shape {shape} dtype {dtype}")
