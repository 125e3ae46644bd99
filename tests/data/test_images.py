"""Folders of images and single image files."""
import numpy as np
import pytest
from PIL import Image

from pilotlens.data import FrameError
from pilotlens.data.images import ImageSource, natural_key


def solid(value, shape=(12, 16)):
    return np.full((*shape, 3), value, np.uint8)


def save(path, image):
    Image.fromarray(image).save(path)
    return path


def test_natural_sort_and_only_images(tmp_path):
    for n in (10, 2, 1):
        save(tmp_path / f"frame_{n}.png", solid(n * 10))
    save(tmp_path / "frame_3.JPG", solid(30))  # upper-case extension still an image
    (tmp_path / "notes.txt").write_text("not an image")
    src = ImageSource(tmp_path)
    frames = list(src)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [round(float(f.image.mean()) / 10) for f in frames] == [1, 2, 3, 10]
    assert [f.source.rsplit("/", 1)[-1] for f in frames] == ["frame_1.png", "frame_2.png", "frame_3.JPG", "frame_10.png"]
    assert len(src) == 4 and src.fps is None and frames[0].time is None


def test_natural_key_orders_digit_runs_as_numbers():
    names = ["b10.png", "a2.png", "b9.png", "a10.png", "B1.png"]
    assert sorted(names, key=natural_key) == ["a2.png", "a10.png", "B1.png", "b9.png", "b10.png"]


def test_single_image_is_exact_rgb(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    frames = list(ImageSource(save(tmp_path / "one.png", image)))
    assert len(frames) == 1
    np.testing.assert_array_equal(frames[0].image, image)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_other_modes_become_rgb(tmp_path, mode):
    Image.new(mode, (5, 4)).save(tmp_path / "x.png")
    (frame,) = ImageSource(tmp_path / "x.png")
    assert frame.image.shape == (4, 5, 3) and frame.image.dtype == np.uint8


def test_truncated_image_is_skipped_or_raises_under_strict(tmp_path):
    for n in range(3):
        save(tmp_path / f"{n}.png", solid(50 * n + 10))
    data = (tmp_path / "1.png").read_bytes()
    (tmp_path / "1.png").write_bytes(data[: len(data) // 2])
    src = ImageSource(tmp_path)
    assert [f.index for f in src] == [0, 2]
    assert [s.index for s in src.skipped] == [1]
    assert src.skipped[0].source.endswith("1.png")
    with pytest.raises(FrameError) as err:
        list(ImageSource(tmp_path, strict=True))
    assert err.value.index == 1 and "1.png" in str(err.value)


def test_missing_single_image_is_a_bad_frame(tmp_path):
    src = ImageSource(tmp_path / "gone.png")
    assert list(src) == [] and src.skipped[0].index == 0 and "gone.png" in src.skipped[0].reason
    with pytest.raises(FrameError):
        list(ImageSource(tmp_path / "gone.png", strict=True))


def test_start_end_step(tmp_path):
    for n in range(7):
        save(tmp_path / f"f{n}.png", solid(20 * n))
    src = ImageSource(tmp_path, start=1, end=6, step=2)
    frames = list(src)
    assert [f.index for f in frames] == [1, 3, 5] == [round(float(f.image.mean()) / 20) for f in frames]
    assert len(src) == 3


def test_empty_folder_or_non_image_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no image files"):
        ImageSource(tmp_path)
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="a.txt"):
        ImageSource(tmp_path / "a.txt")
