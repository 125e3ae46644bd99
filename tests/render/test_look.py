"""The drawing recipe shared by videos, PNGs and grids: titles, readable scale, legends, signed maps."""
import numpy as np
import pytest

from pilotlens.data.frame import Frame
from pilotlens.render.colormaps import DIVERGING, apply_diverging
from pilotlens.render.legend import legend
from pilotlens.render.look import Look, frame_title
from pilotlens.render.views import VIEWS, draw


def _frame(source="", index=7, w=160, h=120):
    img = np.full((h, w, 3), 90, np.uint8)
    return Frame(img, index, labels={"angle": 0.2}, source=source)


def test_titles_name_the_file_or_the_frame_of_a_drive():
    assert frame_title(_frame("/data/run1/road_12.jpg")) == "road_12.jpg"
    assert frame_title(_frame("/data/drive.mp4")) == "#7"
    assert frame_title(_frame("synthetic")) == "#7"


def test_small_frames_are_enlarged_until_text_is_readable():
    look = Look()
    assert look.scale_for(160) == 2 and look.scale_for(640) == 1 and look.scale_for(100) == 4
    assert Look(scale=1).scale_for(160) == 1
    m = np.linspace(0, 1, 160 * 120, dtype=np.float32).reshape(120, 160)
    out = look.compose(_frame(), {"a": m, "b": m}, {"angle": 0.1})
    assert out.shape[1] == 3 * 320                       # three panels at twice the frame's width
    plain = Look(legend=False).compose(_frame(), {"a": m}, {"angle": 0.1})
    assert out.shape[0] > plain.shape[0]                 # a legend strip under each map


def test_the_diverging_scale_is_centred_and_tells_the_signs_apart():
    assert tuple(DIVERGING[128]) == tuple(apply_diverging(np.zeros((1, 1)))[0, 0])
    left, right = apply_diverging(np.array([[-1.0, 1.0]]))[0]
    assert left[2] > left[0] and right[0] > right[2]     # blue against, red for
    bar = legend(200, signed=True)
    assert bar.shape[1] == 200 and (bar[:, :, 2] > bar[:, :, 0] + 60).any() and (bar[:, :, 0] > bar[:, :, 2] + 60).any()


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_signed_maps_draw_the_two_signs_differently_and_leave_zero_alone(view):
    img = np.full((20, 40, 3), 128, np.uint8)
    m = np.zeros((20, 40), np.float32)
    m[:, :10], m[:, 30:] = -1.0, 1.0
    out = draw(view, img, m, signed=True)
    neg, pos, zero = out[:, :10].reshape(-1, 3).mean(0), out[:, 30:].reshape(-1, 3).mean(0), out[:, 15:25]
    if view != "focus":           # focus blurs, it does not colour
        assert not np.allclose(neg, pos, atol=20)
    if view in ("overlay", "mask"):
        assert (zero == 128).all()      # no evidence: the frame as it was
