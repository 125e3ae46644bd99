import os

import cv2
import numpy as np
import pytest

from pilotlens.render import grid, panels, save_image, title_height

H, W = 12, 16


def _img(seed, h=H, w=W):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _up(img, s):
    return np.repeat(np.repeat(img, s, axis=0), s, axis=1)


def test_panels_without_titles_is_hstack():
    ims = [_img(i) for i in range(3)]
    np.testing.assert_array_equal(panels(ims), np.hstack(ims))


@pytest.mark.parametrize("scale", [1, 2, 3])
def test_panels_size_and_tile_positions(scale):
    ims = [_img(i) for i in range(3)]
    out = panels(ims, titles=["a", "b", "c"], scale=scale)
    th = title_height(scale)
    assert out.shape == (th + H * scale, 3 * W * scale, 3)
    for i, im in enumerate(ims):
        tile = out[th:, i * W * scale:(i + 1) * W * scale]
        np.testing.assert_array_equal(tile, _up(im, scale))
        assert out[:th, i * W * scale:(i + 1) * W * scale].any()  # the title bar is drawn


def test_panels_pads_shorter_images_with_black_and_can_shrink():
    out = panels([_img(0), _img(1, h=H // 2)])
    assert out.shape == (H, 2 * W, 3)
    np.testing.assert_array_equal(out[: H // 2, W:], _img(1, h=H // 2))
    assert not out[H // 2:, W:].any()
    assert panels([_img(0, 40, 60)], scale=0.5).shape == (20, 30, 3)


def test_panels_errors():
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        panels([_img(0)] * 3, titles=["a", "b"])
    with pytest.raises(ValueError, match="at least one"):
        panels([])
    with pytest.raises(ValueError, match="scale"):
        panels([_img(0)], scale=0)


def test_grid_size_and_cell_positions():
    rows = [[_img(10 * r + c) for c in range(3)] for r in range(2)]
    out = grid(rows, row_titles=["input 0", "input 1"], col_titles=["grad_cam", "occlusion", "vbp"], scale=2)
    th = title_height(2)
    left = out.shape[1] - 3 * W * 2
    assert out.shape[0] == th + 2 * H * 2 and left > 0
    for r in range(2):
        for c in range(3):
            cell = out[th + r * H * 2: th + (r + 1) * H * 2, left + c * W * 2: left + (c + 1) * W * 2]
            np.testing.assert_array_equal(cell, _up(rows[r][c], 2))
    assert out[th:, :left].any()  # row titles written
    # a long row title makes the title column wider
    assert grid(rows, row_titles=["a much longer row title", "b"]).shape[1] > grid(rows, row_titles=["a", "b"]).shape[1]


def test_grid_without_titles_and_with_empty_cells():
    a, b = _img(0), _img(1)
    np.testing.assert_array_equal(grid([[a, b], [b, a]]), np.vstack([np.hstack([a, b]), np.hstack([b, a])]))
    out = grid([[a, None]])
    np.testing.assert_array_equal(out[:, :W], a)
    assert not out[:, W:].any()


def test_grid_errors():
    with pytest.raises(ValueError, match="same length"):
        grid([[_img(0), _img(1)], [_img(2)]])
    with pytest.raises(ValueError, match="1 column titles for 2 columns"):
        grid([[_img(0), _img(1)]], col_titles=["x"])
    with pytest.raises(ValueError, match="row titles"):
        grid([[_img(0)]], row_titles=["x", "y"])


def test_save_image_round_trip_and_replace(tmp_path):
    p = tmp_path / "out.png"
    a, b = _img(0), _img(1)
    save_image(p, a)
    np.testing.assert_array_equal(cv2.imread(str(p))[:, :, ::-1], a)
    save_image(str(p), b)
    np.testing.assert_array_equal(cv2.imread(str(p))[:, :, ::-1], b)
    assert os.listdir(tmp_path) == ["out.png"]


def test_save_image_failure_leaves_nothing(tmp_path, monkeypatch):
    p = tmp_path / "out.png"
    save_image(p, _img(0))
    with pytest.raises(ValueError):
        save_image(p, np.zeros((4, 4), np.uint8))

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_image(p, _img(1))
    assert os.listdir(tmp_path) == ["out.png"]
    np.testing.assert_array_equal(cv2.imread(str(p))[:, :, ::-1], _img(0))


def test_save_image_writes_the_format_its_name_says(tmp_path):
    img = _img(0)
    save_image(tmp_path / "a.jpg", img)
    save_image(tmp_path / "b.JPEG", img)
    save_image(tmp_path / "c.png", img)
    assert (tmp_path / "a.jpg").read_bytes()[:3] == b"\xff\xd8\xff"       # JPEG magic
    assert (tmp_path / "b.JPEG").read_bytes()[:3] == b"\xff\xd8\xff"
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="ends in"):
        save_image(tmp_path / "d.bmp", img)
    assert sorted(os.listdir(tmp_path)) == ["a.jpg", "b.JPEG", "c.png"]
