import cv2
import numpy as np
import pytest

from pilotlens.render import COLORMAPS, apply_colormap, to_uint8

ENDS = np.array([[0.0, 1.0]], np.float32)


@pytest.mark.parametrize("name", [n for n in COLORMAPS if n != "gray"])
def test_ends_are_opencv_table_ends_in_rgb_order(name):
    out = apply_colormap(ENDS, name)
    bgr = cv2.applyColorMap(np.array([[0, 255]], np.uint8), COLORMAPS[name])
    assert out.shape == (1, 2, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, bgr[:, :, ::-1])


def test_jet_goes_from_blue_to_red_in_rgb():
    low, high = apply_colormap(ENDS, "jet")[0]
    assert low[2] >= 120 and low[0] == 0     # dark blue: B high, R zero
    assert high[0] >= 120 and high[2] == 0   # dark red: R high, B zero


def test_inferno_is_black_to_pale_yellow_and_gray_is_identity():
    low, high = apply_colormap(ENDS, "inferno")[0]
    assert low.max() < 10 and high[0] > 240 and high[1] > 240 and high[2] < 200
    ramp = np.linspace(0, 1, 256, dtype=np.float32)[None]
    g = apply_colormap(ramp, "gray")
    np.testing.assert_array_equal(g[..., 0], np.arange(256, dtype=np.uint8)[None])
    assert (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()
    np.testing.assert_array_equal(apply_colormap(ENDS, "hot")[0, 1], [255, 255, 255])


def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match="inferno.*jet.*viridis"):
        apply_colormap(ENDS, "rainbow")


def test_names_are_case_insensitive():
    np.testing.assert_array_equal(apply_colormap(ENDS, "JET"), apply_colormap(ENDS, "jet"))


def test_out_of_range_and_nan_are_clipped():
    m = np.array([[-3.0, np.nan, 0.5, 7.0]], np.float32)
    np.testing.assert_array_equal(to_uint8(m), [[0, 0, 128, 255]])
    np.testing.assert_array_equal(to_uint8(np.array([[0, 255]], np.uint8)), [[0, 255]])


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 3)), np.zeros(4), np.zeros((0, 3))])
def test_map_must_be_2d(bad):
    with pytest.raises(ValueError, match="2-D"):
        apply_colormap(bad)
