import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotlens.render import (VIEWS, apply_colormap, crop_salient, draw, focus_view, mask_overlay, overlay,
                              salient_box, saliency_view)

H, W = 24, 32


@pytest.fixture
def image():
    return np.random.default_rng(0).integers(0, 200, (H, W, 3), dtype=np.uint8)


@pytest.fixture
def smap():
    yy, xx = np.mgrid[0:H, 0:W]
    return (xx / (W - 1) * 0.5 + yy / (H - 1) * 0.5).astype(np.float32)


def test_overlay_alpha_ends(image, smap):
    np.testing.assert_array_equal(overlay(image, smap, alpha=0.0), image)
    np.testing.assert_array_equal(overlay(image, smap, alpha=1.0), apply_colormap(smap, "inferno"))
    np.testing.assert_array_equal(overlay(image, smap, "jet", alpha=1.0), apply_colormap(smap, "jet"))


@settings(max_examples=30, deadline=None)
@given(alpha=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_overlay_lies_between_image_and_colours(alpha, seed):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    m = rng.random((6, 7)).astype(np.float32)
    out = overlay(img, m, alpha=alpha).astype(int)
    col = apply_colormap(m).astype(int)
    lo, hi = np.minimum(img, col), np.maximum(img, col)
    assert ((out >= lo - 1) & (out <= hi + 1)).all()


def test_overlay_resizes_a_smaller_map(image):
    small = np.ones((H // 4, W // 4), np.float32)
    out = overlay(image, small, alpha=1.0)
    assert out.shape == image.shape
    np.testing.assert_array_equal(out, apply_colormap(np.ones((H, W)), "inferno"))


def test_overlay_rejects_bad_alpha_and_bad_images(image, smap):
    with pytest.raises(ValueError, match="alpha"):
        overlay(image, smap, alpha=1.5)
    with pytest.raises(ValueError, match="uint8 RGB"):
        overlay(image.astype(np.float32), smap)
    with pytest.raises(ValueError, match="uint8 RGB"):
        overlay(image[..., 0], smap)


def test_saliency_view_is_dim_grey_where_cold_and_colour_where_hot(image):
    m = np.zeros((H, W), np.float32)
    m[:, W // 2:] = 1.0
    out = saliency_view(image, m, dim=0.5)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) * 0.5
    left = out[:, : W // 2].astype(np.float32)
    assert np.abs(left - grey[:, : W // 2, None]).max() <= 1
    np.testing.assert_array_equal(out[:, W // 2:], apply_colormap(m, "inferno")[:, W // 2:])


def test_focus_view_sharp_where_salient_blurred_elsewhere(image):
    np.testing.assert_array_equal(focus_view(image, np.ones((H, W))), image)
    blurred = cv2.GaussianBlur(image, (9, 9), 0)
    np.testing.assert_array_equal(focus_view(image, np.zeros((H, W)), blur=9, dim=1.0), blurred)
    # an even kernel size is made odd instead of failing in OpenCV
    assert focus_view(image, np.zeros((H, W)), blur=8).shape == image.shape
    with pytest.raises(ValueError, match="blur"):
        focus_view(image, np.zeros((H, W)), blur=0)


def test_mask_overlay_changes_only_pixels_above_threshold(image, smap):
    out = mask_overlay(image, smap, threshold=0.5, color=(40, 0, 0))
    above = smap > 0.5
    np.testing.assert_array_equal(out[~above], image[~above])
    # image values are < 200 so +40 never saturates: the red channel rises by exactly 40
    np.testing.assert_array_equal(out[above][:, 0], image[above][:, 0].astype(int) + 40)
    np.testing.assert_array_equal(out[above][:, 1:], image[above][:, 1:])


def test_mask_overlay_with_colormap_adds_the_coloured_map(image, smap):
    out = mask_overlay(image, smap, threshold=0.7, color=None, colormap="jet")
    above = smap > 0.7
    expected = np.minimum(image.astype(int) + apply_colormap(smap, "jet"), 255)
    np.testing.assert_array_equal(out[above], expected[above])
    np.testing.assert_array_equal(out[~above], image[~above])


def test_crop_salient_exact_box(image):
    m = np.zeros((H, W), np.float32)
    m[5:9, 10:21] = 0.9
    m[7, 3] = 0.6       # another pixel above threshold widens the box to the left
    m[20, 30] = 0.5     # exactly at threshold: not above, not included
    assert salient_box(m, 0.5) == (3, 5, 21, 9)
    np.testing.assert_array_equal(crop_salient(image, m, 0.5), image[5:9, 3:21])


def test_crop_salient_whole_image_when_nothing_exceeds(image):
    out = crop_salient(image, np.zeros((H, W)), 0.5)
    np.testing.assert_array_equal(out, image)
    assert out is not image
    assert salient_box(np.zeros((H, W)), 0.5) is None


def test_crop_salient_map_at_other_resolution(image):
    m = np.zeros((H // 2, W // 2), np.float32)
    m[2:4, 4:8] = 1.0
    out = crop_salient(image, m, 0.5)
    # a bilinear upscale by 2 spreads the block by under one pixel each side
    assert 2 * 2 - 1 <= out.shape[0] <= 2 * 2 + 2 and 4 * 2 - 1 <= out.shape[1] <= 4 * 2 + 2


@pytest.mark.parametrize("name", list(VIEWS))
def test_draw_dispatches(name, image, smap):
    np.testing.assert_array_equal(draw(name, image, smap), VIEWS[name](image, smap))
    assert draw(name, image, smap).shape == image.shape


def test_draw_passes_keywords_and_rejects_unknown_views(image, smap):
    np.testing.assert_array_equal(draw("overlay", image, smap, alpha=0.0), image)
    with pytest.raises(ValueError, match="overlay, saliency, focus, mask"):
        draw("heatmap", image, smap)


def test_views_do_not_modify_their_inputs(image, smap):
    before_i, before_m = image.copy(), smap.copy()
    for name in VIEWS:
        draw(name, image, smap)
    crop_salient(image, smap)
    np.testing.assert_array_equal(image, before_i)
    np.testing.assert_array_equal(smap, before_m)
