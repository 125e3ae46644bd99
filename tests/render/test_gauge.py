import numpy as np
import pytest

from pilotlens.render import draw_gauge
from pilotlens.render.gauge import PREDICTED_COLOR, RECORDED_COLOR

H, W = 120, 160


@pytest.fixture
def black():
    return np.zeros((H, W, 3), np.uint8)


def _coloured(img, colour, tol=40):
    return (np.abs(img.astype(int) - colour).max(axis=2) <= tol)


def test_gauge_draws_on_a_copy(black):
    out = draw_gauge(black, predicted=0.3, recorded=-0.2, throttle=0.5)
    assert out.shape == black.shape and out.dtype == np.uint8
    assert (out != 0).any()
    assert not black.any()


def test_nothing_given_returns_an_unchanged_copy(black):
    out = draw_gauge(black)
    np.testing.assert_array_equal(out, black)
    assert out is not black
    np.testing.assert_array_equal(draw_gauge(black, predicted=float("nan")), black)


@pytest.mark.parametrize("which,colour", [("predicted", PREDICTED_COLOR), ("recorded", RECORDED_COLOR)])
def test_left_is_drawn_left_and_right_is_drawn_right(black, which, colour):
    left = draw_gauge(black, **{which: -1.0}, show_values=False)
    right = draw_gauge(black, **{which: 1.0}, show_values=False)
    assert not np.array_equal(left, right)
    lys, lxs = np.nonzero(_coloured(left, colour))
    rys, rxs = np.nonzero(_coloured(right, colour))
    assert lxs.size > 20 and rxs.size > 20
    assert lxs.max() <= W // 2 + 2 and lxs.min() < W // 2 - 20
    assert rxs.min() >= W // 2 - 3 and rxs.max() > W // 2 + 20
    # the line starts at the bottom centre and goes up
    assert lys.max() >= H - 3 and lys.min() < H * 0.8


def test_recorded_and_predicted_have_their_own_colours(black):
    out = draw_gauge(black, predicted=-0.8, recorded=0.8, show_values=False)
    _, pxs = np.nonzero(_coloured(out, PREDICTED_COLOR))
    _, rxs = np.nonzero(_coloured(out, RECORDED_COLOR))
    assert np.median(pxs) < W // 2 < np.median(rxs)


def test_angle_is_relative_to_max_angle(black):
    a = draw_gauge(black, predicted=0.25, max_angle=0.5, show_values=False)
    b = draw_gauge(black, predicted=0.5, max_angle=1.0, show_values=False)
    np.testing.assert_array_equal(a, b)
    # beyond full lock is drawn at full lock
    np.testing.assert_array_equal(draw_gauge(black, predicted=5.0, show_values=False),
                                  draw_gauge(black, predicted=1.0, show_values=False))
    with pytest.raises(ValueError, match="max_angle"):
        draw_gauge(black, predicted=0.1, max_angle=0)


def test_values_are_written_as_text(black):
    quiet = draw_gauge(black, predicted=0.1, show_values=False)
    loud = draw_gauge(black, predicted=0.1)
    # the text goes in the top-left corner, where the gauge lines never reach
    assert not quiet[:20, :60].any() and loud[:20, :60].any()


def test_throttle_bar_fills_up_for_forward_and_down_for_reverse(black):
    fwd = draw_gauge(black, throttle=0.8, show_values=False)
    rev = draw_gauge(black, throttle=-0.8, show_values=False)
    edge_f, edge_r = fwd[:, -8:].astype(int).sum(axis=(1, 2)), rev[:, -8:].astype(int).sum(axis=(1, 2))
    mid = H // 2
    assert edge_f[int(H * 0.3):mid - 2].min() > 0 and edge_r[int(H * 0.3):mid - 2].max() < edge_f[int(H * 0.3):mid - 2].min()
    assert edge_r[mid + 2:int(H * 0.7)].min() > 0 and edge_f[mid + 2:int(H * 0.7)].max() < edge_r[mid + 2:int(H * 0.7)].min()
