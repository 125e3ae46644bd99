"""Shared helpers for the render tests: reading videos back with PyAV, small known frames."""
from __future__ import annotations

import av
import numpy as np
import pytest

COLOURS = [(230, 30, 30), (30, 200, 40), (40, 40, 220), (240, 220, 40), (20, 20, 20), (200, 200, 200)]


def solid_frames(h: int = 48, w: int = 64, colours=COLOURS) -> list[np.ndarray]:
    return [np.full((h, w, 3), c, np.uint8) for c in colours]


def read_video(path):
    """(frames as RGB arrays, average rate, container duration in seconds or None)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
        rate = s.average_rate or s.guessed_rate
        dur = c.duration / av.time_base if c.duration else None
    return frames, rate, dur


@pytest.fixture
def frames():
    return solid_frames()


@pytest.fixture(name="read_video")
def _read_video_fixture():
    return read_video
