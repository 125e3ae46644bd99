"""Udacity simulator driving_log.csv."""
import numpy as np
import pytest
from PIL import Image

from pilotlens.data import FrameError
from pilotlens.data.udacity import UdacitySource

HEADER = "center,left,right,steering,throttle,brake,speed\n"
GREY = {"center": 60, "left": 120, "right": 180}


def stamp(i):  # the simulator's file naming, 100 ms apart
    return f"2016_12_01_13_30_48_{100 * i:03d}" if i < 10 else f"2016_12_01_13_30_49_{100 * (i - 10):03d}"


def make_log(root, n=4, header=False, missing=(), prefix="IMG/"):
    (root / "IMG").mkdir(parents=True)
    rows = []
    for i in range(n):
        names = {cam: f"{cam}_{stamp(i)}.jpg" for cam in GREY}
        for cam, name in names.items():
            if i not in missing:
                Image.fromarray(np.full((10, 20, 3), GREY[cam] + i, np.uint8)).save(root / "IMG" / name)
        rows.append(", ".join(prefix + names[c] for c in GREY) + f", {i / 10 - 0.1}, {i / n}, 0, {20 + i}\n")
    (root / "driving_log.csv").write_text((HEADER if header else "") + "".join(rows))
    return root / "driving_log.csv"


def test_rows_labels_times_and_a_missing_image(tmp_path):
    src = UdacitySource(make_log(tmp_path, missing=(2,)))
    frames = list(src)
    assert len(src) == 4 and [f.index for f in frames] == [0, 1, 3]
    assert [f.labels["angle"] for f in frames] == pytest.approx([-0.1, 0.0, 0.2])
    assert frames[2].labels == pytest.approx({"angle": 0.2, "throttle": 0.75, "brake": 0.0, "speed": 23.0})
    assert [round(float(f.image.mean())) - 60 for f in frames] == pytest.approx([0, 1, 3], abs=1)
    assert [f.time for f in frames] == pytest.approx([0.0, 0.1, 0.3])
    assert src.fps == pytest.approx(10)
    (skip,) = src.skipped
    assert skip.index == 2 and "center_2016_12_01_13_30_48_200.jpg" in skip.reason
    with pytest.raises(FrameError) as err:
        list(UdacitySource(tmp_path / "driving_log.csv", strict=True))
    assert err.value.index == 2


@pytest.mark.parametrize("camera", ["left", "right"])
def test_camera_choice_with_header(tmp_path, camera):
    src = UdacitySource(make_log(tmp_path, n=2, header=True), camera=camera)
    assert [round(float(f.image.mean())) for f in src] == pytest.approx([GREY[camera], GREY[camera] + 1], abs=1)


@pytest.mark.parametrize("prefix", ["/home/someone/old_run/IMG/", "C:\\Users\\someone\\sim\\IMG\\", "IMG\\"])
def test_moved_logs_find_images_in_img_beside_the_csv(tmp_path, prefix):
    src = UdacitySource(make_log(tmp_path, n=3, prefix=prefix))
    assert len(list(src)) == 3 and src.skipped == []


def test_relative_paths_resolve_against_the_csv_folder_not_the_cwd(tmp_path, monkeypatch):
    csv = make_log(tmp_path / "run", n=2)
    monkeypatch.chdir(tmp_path)
    assert len(list(UdacitySource(csv))) == 2


def test_malformed_rows_are_reported_with_their_line(tmp_path):
    csv = make_log(tmp_path, n=2, header=True)
    with open(csv, "a") as f:
        f.write("IMG/x.jpg, IMG/y.jpg, IMG/z.jpg, not-a-number, 0, 0, 0\n")
        f.write("IMG/x.jpg, IMG/y.jpg\n")
    src = UdacitySource(csv)
    assert len(src) == 4 and [f.index for f in src] == [0, 1]
    assert [(s.index, s.source.rsplit(":", 1)[-1]) for s in src.skipped] == [(2, "4"), (3, "5")]
    assert "steering" in src.skipped[0].reason
    with pytest.raises(FrameError, match="driving_log.csv:4"):
        list(UdacitySource(csv, strict=True))


def test_bad_camera_or_missing_csv(tmp_path):
    csv = make_log(tmp_path, n=1)
    with pytest.raises(ValueError, match="camera"):
        UdacitySource(csv, camera="rear")
    with pytest.raises(ValueError, match="nope.csv"):
        UdacitySource(tmp_path / "nope.csv")


@pytest.mark.parametrize("value, reason", [("nan", "steering is not finite"), ("inf", "steering is not finite"),
                                           ("-1e300", "steering is -1e+300, beyond"),
                                           ("left", "steering is not a number")])
def test_unsound_steering_is_a_reported_bad_row(tmp_path, value, reason):
    log = make_log(tmp_path, n=3)
    rows = log.read_text().splitlines()
    cells = rows[1].split(", ")
    cells[3] = value
    rows[1] = ", ".join(cells)
    log.write_text("\n".join(rows) + "\n")
    src = UdacitySource(log)
    assert [f.index for f in src] == [0, 2]
    (skip,) = src.skipped
    assert skip.index == 1 and skip.source.endswith("driving_log.csv:2") and reason in skip.reason
    with pytest.raises(FrameError, match=r"driving_log.csv:2"):
        list(UdacitySource(log, strict=True))


def test_binary_csv_is_named(tmp_path):
    (tmp_path / "driving_log.csv").write_bytes(b"center\xff\xfe,left\n")
    with pytest.raises(ValueError, match=r"driving_log.csv: not a UTF-8 CSV file"):
        UdacitySource(tmp_path)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no FIFOs here")
def test_fifo_log_and_fifo_image_are_refused(tmp_path):
    import os
    from pilotlens.data import open_source
    os.mkfifo(tmp_path / "driving_log.csv")
    with pytest.raises(ValueError, match="driving_log.csv: a FIFO"):
        open_source(tmp_path / "driving_log.csv")
    with pytest.raises(ValueError, match="driving_log.csv: a FIFO"):
        UdacitySource(tmp_path)
    log = make_log(tmp_path / "sim", n=2)
    image = tmp_path / "sim" / "IMG" / f"center_{stamp(1)}.jpg"
    image.unlink()
    os.mkfifo(image)
    src = UdacitySource(log)
    assert [f.index for f in src] == [0] and "a FIFO" in src.skipped[0].reason


def test_image_paths_outside_the_log_folder_are_bad_frames_never_read(tmp_path):
    secret = tmp_path / "secret.jpg"
    Image.fromarray(np.full((10, 20, 3), 250, np.uint8)).save(secret)
    root = tmp_path / "deep" / "run"
    csv = make_log(root, n=2)
    (root / "IMG" / "link.jpg").symlink_to(secret)                       # a symlink escaping the log
    rows = csv.read_text() + "".join(f"{p}, {p}, {p}, 0.0, 0.5, 0, 20\n"
                                     for p in ("../../secret.jpg", str(secret), "IMG/link.jpg"))
    csv.write_text(rows)
    src = UdacitySource(csv)
    frames = list(src)
    assert [f.index for f in frames] == [0, 1]
    assert all(float(f.image.mean()) < 100 for f in frames)              # nothing of the secret was read
    assert [s.index for s in src.skipped] == [2, 3, 4]
    assert all("outside" in s.reason and str(root) in s.reason for s in src.skipped)
    with pytest.raises(FrameError, match=r"frame 2 .*secret.jpg.*outside"):
        list(UdacitySource(csv, strict=True))


def test_an_absolute_path_inside_the_log_folder_is_read(tmp_path):
    csv = make_log(tmp_path / "run", n=2, prefix=str(tmp_path / "run" / "IMG") + "/")
    assert len(list(UdacitySource(csv))) == 2


def test_a_log_too_large_for_the_memory_bound_is_refused_before_it_is_read(tmp_path, monkeypatch):
    csv = make_log(tmp_path, n=40)
    monkeypatch.setenv("PILOTLENS_MAX_MEMORY", "4K")                      # the CSV is ~6 KB: 8x that is over
    with pytest.raises(ValueError, match=r"CSV file=.*driving_log.csv would need about .* to read its .*KiB.*"
                                         r"PILOTLENS_MAX_MEMORY"):
        UdacitySource(csv)
