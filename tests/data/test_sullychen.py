"""SullyChen data.txt, in both of its line forms."""
import numpy as np
import pytest
from PIL import Image

from pilotlens.data import FrameError
from pilotlens.data.sullychen import SullyChenSource


def save_images(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((8, 12, 3), 30 * i + 20, np.uint8)).save(folder / f"{i}.jpg")


def test_plain_lines_with_images_beside(tmp_path):
    save_images(tmp_path, 3)
    (tmp_path / "data.txt").write_text("0.jpg 0.000000\n1.jpg -12.5\n\n2.jpg 45.25\n")
    src = SullyChenSource(tmp_path / "data.txt")
    frames = list(src)
    assert len(src) == 3 and [f.index for f in frames] == [0, 1, 2]
    assert [f.labels for f in frames] == [{"angle": 0.0}, {"angle": -12.5}, {"angle": 45.25}]  # degrees, as written
    assert [round((float(f.image.mean()) - 20) / 30) for f in frames] == [0, 1, 2]
    assert src.fps is None and frames[0].time is None


def test_dated_lines_with_images_in_data_folder(tmp_path):
    save_images(tmp_path / "data", 4)
    (tmp_path / "data.txt").write_text(
        "0.jpg 1.5,2018-07-01 17:09:44:912\n1.jpg 2.0,2018-07-01 17:09:44:962\n"
        "2.jpg 2.5,2018-07-01 17:09:45:012\n3.jpg -3.0,2018-07-01 17:09:45:112\n")
    src = SullyChenSource(tmp_path)  # the folder holding data.txt works too
    frames = list(src)
    assert [f.labels["angle"] for f in frames] == [1.5, 2.0, 2.5, -3.0]
    assert [f.time for f in frames] == pytest.approx([0.0, 0.05, 0.1, 0.2])
    assert src.fps == pytest.approx(20)  # the median step, not thrown off by the one long gap


def test_malformed_lines_and_missing_images(tmp_path):
    save_images(tmp_path, 2)
    (tmp_path / "data.txt").write_text("0.jpg 1.0\n1.jpg left\n9.jpg 2.0\n1.jpg\n1.jpg 3.0\n")
    src = SullyChenSource(tmp_path / "data.txt", start=0)
    frames = list(src)
    assert [f.index for f in frames] == [0, 4] and len(src) == 5
    assert [s.index for s in src.skipped] == [1, 2, 3]
    assert src.skipped[0].source.endswith("data.txt:2") and "left" in src.skipped[0].reason
    assert "9.jpg" in src.skipped[1].reason
    with pytest.raises(FrameError) as err:
        list(SullyChenSource(tmp_path / "data.txt", strict=True))
    assert err.value.index == 1 and "data.txt:2" in str(err.value)


def test_step_selection(tmp_path):
    save_images(tmp_path, 5)
    (tmp_path / "data.txt").write_text("".join(f"{i}.jpg {i}.0\n" for i in range(5)))
    assert [f.labels["angle"] for f in SullyChenSource(tmp_path, start=1, step=3)] == [1.0, 4.0]


@pytest.mark.parametrize("value, reason", [("nan", "angle is not finite"), ("-inf", "angle is not finite"),
                                           ("1e300", "angle is 1e+300, beyond"), ("abc", "angle is not a number")])
def test_unsound_angle_is_a_reported_bad_line(tmp_path, value, reason):
    save_images(tmp_path, 3)
    (tmp_path / "data.txt").write_text(f"0.jpg 1.0\n1.jpg {value}\n2.jpg 2.0\n")
    src = SullyChenSource(tmp_path)
    assert [f.index for f in src] == [0, 2]
    (skip,) = src.skipped
    assert skip.source.endswith("data.txt:2") and reason in skip.reason


def test_binary_data_txt_is_named(tmp_path):
    (tmp_path / "data.txt").write_bytes(b"0.jpg \xff\xfe\n")
    with pytest.raises(ValueError, match="data.txt: not a UTF-8 text file"):
        SullyChenSource(tmp_path)


def test_image_names_leading_outside_the_folder_are_bad_frames_never_read(tmp_path):
    save_images(tmp_path, 1)                                              # 0.jpg, outside the dataset
    root = tmp_path / "set"
    save_images(root, 1)
    (root / "link.jpg").symlink_to(tmp_path / "0.jpg")
    (root / "data.txt").write_text(f"0.jpg 1.0\n../0.jpg 2.0\n{tmp_path / '0.jpg'} 3.0\nlink.jpg 4.0\n")
    src = SullyChenSource(root)
    assert [f.index for f in src] == [0]
    assert [s.index for s in src.skipped] == [1, 2, 3]
    assert all("outside" in s.reason for s in src.skipped)
