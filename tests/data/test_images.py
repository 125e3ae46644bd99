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


# -- deep images: brought to 8 bits by value, never clipped -------------------------------------------
def _ramp16(shape=(24, 32)):
    """A 16-bit ramp over the whole range, 0 .. 65535."""
    return np.linspace(0, 65535, shape[0] * shape[1]).round().astype(np.uint16).reshape(shape)


def test_16_bit_grey_png_is_scaled_not_white(tmp_path):
    import cv2
    ramp = _ramp16()
    cv2.imwrite(str(tmp_path / "grey16.png"), ramp)                    # OpenCV writes 16-bit PNGs as they are
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")   # what Pillow reads: one deep channel
    frame = next(iter(ImageSource(tmp_path / "grey16.png")))
    expected = np.round(ramp / 257.0)                                  # the exact 16 -> 8 bit value
    assert frame.image.dtype == np.uint8 and frame.image.shape == (24, 32, 3)
    assert np.abs(frame.image[..., 0].astype(int) - expected).max() <= 1
    assert (frame.image == frame.image[..., :1]).all()                 # grey in all three channels
    assert frame.image.min() == 0 and frame.image.max() == 255 and 100 < frame.image.mean() < 155


def test_16_bit_grey_and_16_bit_rgb_of_one_picture_agree(tmp_path):
    import cv2
    ramp = _ramp16()
    cv2.imwrite(str(tmp_path / "grey16.png"), ramp)
    cv2.imwrite(str(tmp_path / "rgb16.png"), np.repeat(ramp[..., None], 3, axis=2))   # Pillow reduces RGB16 itself
    grey, rgb = (next(iter(ImageSource(tmp_path / n))).image for n in ("grey16.png", "rgb16.png"))
    np.testing.assert_array_equal(grey, rgb)


def test_float_and_wide_integer_values_are_scaled_or_refused_by_name():
    from pilotlens.data.images import eight_bit
    values = np.array([[0.0, 0.5], [0.25, 1.0]], np.float32)
    np.testing.assert_array_equal(eight_bit(values, "F", "x.png"), [[0, 128], [64, 255]])
    with pytest.raises(ValueError, match=r"x.png: floating-point image with values 0..3"):
        eight_bit(values * 3, "F", "x.png")
    with pytest.raises(ValueError, match="NaN or inf"):
        eight_bit(np.array([[np.nan, 0.5]], np.float32), "F", "x.png")
    np.testing.assert_array_equal(eight_bit(np.array([[0, 65535, 256]], np.int32), "I", "x.png"), [[0, 255, 1]])
    with pytest.raises(ValueError, match=r"x.png: I image with values -1..70000"):
        eight_bit(np.array([[-1, 70000]], np.int32), "I", "x.png")


# -- files that are not regular files are refused before they are opened ----------------------------
def _no_hang(fn, *args):
    """Run fn(*args) in a thread; a FIFO opened for reading would block it forever, so a live thread
    after a generous wait is the failure (a guard against hanging the suite, not a timing)."""
    import threading
    box = {}

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the read blocked on a FIFO"
    return box


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no FIFOs here")
def test_fifo_named_like_an_image_is_refused_not_waited_on(tmp_path):
    import os
    from pilotlens.data import open_source
    from pilotlens.data.images import read_image
    os.mkfifo(tmp_path / "pipe.png")
    box = _no_hang(open_source, tmp_path / "pipe.png")
    assert isinstance(box.get("error"), ValueError) and "pipe.png: a FIFO" in str(box["error"])
    box = _no_hang(read_image, tmp_path / "pipe.png")
    assert isinstance(box.get("error"), ValueError) and "not a regular file" in str(box["error"])
    save(tmp_path / "a.png", solid(5))
    box = _no_hang(lambda: [f.index for f in ImageSource(tmp_path)])   # a folder lists regular files only
    assert box == {"value": [0]}


def test_folder_named_like_an_image_is_refused_when_read(tmp_path):
    from pilotlens.data.images import read_image
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ValueError, match="dir.png: a folder, not a regular file"):
        read_image(tmp_path / "dir.png")
