import gc
import os
import signal
import subprocess
import sys
import textwrap
from fractions import Fraction

import numpy as np
import pytest

from pilotlens.render import open_sink
from pilotlens.render.video import FORMATS

from .conftest import COLOURS, solid_frames

VIDEO_EXTS = [".mp4", ".webm", ".avi", ".gif"]


@pytest.mark.parametrize("ext", VIDEO_EXTS)
def test_round_trip(tmp_path, ext, frames, read_video):
    path = tmp_path / f"out{ext}"
    with open_sink(path, fps=20.0) as sink:
        for f in frames:
            sink.write(f)
    assert sink.frames_written == len(frames) and sink.size == (48, 64)
    assert os.listdir(tmp_path) == [path.name]
    back, rate, _ = read_video(path)
    assert len(back) == len(frames)
    assert back[0].shape == (48, 64, 3)
    assert float(rate) == pytest.approx(20.0, rel=0.01)
    for got, colour in zip(back, COLOURS):
        centre = got[8:-8, 8:-8].reshape(-1, 3).mean(axis=0)
        np.testing.assert_allclose(centre, colour, atol=12)


def test_gif_loops_forever(tmp_path, frames):
    from PIL import Image

    path = tmp_path / "out.gif"
    with open_sink(path, fps=25) as sink:
        for f in frames:
            sink.write(f)
    with Image.open(path) as im:
        assert im.info.get("loop") == 0 and im.n_frames == len(frames)
        assert im.info["duration"] == 40


def test_gif_keeps_many_colours(tmp_path, read_video):
    # a per-frame adaptive palette: a smooth gradient comes back close, not banded
    ramp = np.zeros((32, 256, 3), np.uint8)
    ramp[..., 0] = np.arange(256)
    ramp[..., 2] = 255 - np.arange(256)
    with open_sink(tmp_path / "g.gif", fps=10) as sink:
        sink.write(ramp)
    back, _, _ = read_video(tmp_path / "g.gif")
    assert np.abs(back[0].astype(int) - ramp).max() <= 4


@pytest.mark.parametrize("fps", [29.97, Fraction(30000, 1001), 7.5])
def test_fractional_fps(tmp_path, fps, frames, read_video):
    path = tmp_path / "out.mp4"
    with open_sink(path, fps=fps) as sink:
        for f in frames:
            sink.write(f)
    back, rate, duration = read_video(path)
    assert len(back) == len(frames)
    assert float(rate) == pytest.approx(float(fps), rel=1e-4)
    assert duration == pytest.approx(len(frames) / float(fps), rel=0.02)


@pytest.mark.parametrize("ext", [".mp4", ".webm", ".avi"])
def test_odd_sizes_are_padded_to_even(tmp_path, ext, read_video):
    frames = solid_frames(h=47, w=63)
    with open_sink(tmp_path / f"odd{ext}", fps=10) as sink:
        for f in frames:
            sink.write(f)
    back, _, _ = read_video(tmp_path / f"odd{ext}")
    assert back[0].shape == (48, 64, 3) and len(back) == len(frames)


@pytest.mark.parametrize("name", ["frames/", "frames"])
def test_png_folder_round_trip(tmp_path, name, frames):
    import cv2

    path = tmp_path / name
    with open_sink(str(path), fps=20) as sink:
        for f in frames:
            sink.write(f)
    out = tmp_path / "frames"
    assert os.listdir(tmp_path) == ["frames"]
    files = sorted(os.listdir(out))
    assert files == [f"frame_{i:06d}.png" for i in range(len(frames))]
    for f, name_ in zip(frames, files):
        np.testing.assert_array_equal(cv2.imread(str(out / name_))[:, :, ::-1], f)


def test_png_folder_replaces_a_previous_run_but_not_other_files(tmp_path, frames):
    out = tmp_path / "frames"
    for n in (4, 2):
        with open_sink(f"{out}/") as sink:
            for f in frames[:n]:
                sink.write(f)
    assert sorted(os.listdir(out)) == ["frame_000000.png", "frame_000001.png"]
    assert os.listdir(tmp_path) == ["frames"]
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        open_sink(f"{out}/")
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("ext", VIDEO_EXTS + ["/"])
def test_exception_leaves_no_file_and_final_name_untouched(tmp_path, ext, frames):
    path = str(tmp_path / "out") + ext
    if ext != "/":
        with open(path, "wb") as f:
            f.write(b"previous")
    with pytest.raises(RuntimeError, match="boom"):
        with open_sink(path, fps=10) as sink:
            for f in frames:
                sink.write(f)
            raise RuntimeError("boom")
    if ext == "/":
        assert os.listdir(tmp_path) == []
    else:
        assert os.listdir(tmp_path) == ["out" + ext]
        assert open(path, "rb").read() == b"previous"


def test_frames_must_share_one_size(tmp_path, frames):
    with pytest.raises(ValueError, match=r"same size.*64x48.*frame 1 is 32x48"):
        with open_sink(tmp_path / "out.mp4") as sink:
            sink.write(frames[0])
            sink.write(frames[1][:, :32])
    assert os.listdir(tmp_path) == []


def test_frames_must_be_uint8_rgb(tmp_path, frames):
    with open_sink(tmp_path / "out.mp4") as sink:
        with pytest.raises(ValueError, match="uint8 RGB"):
            sink.write(frames[0].astype(np.float32))
        sink.write(frames[0])
    assert sink.frames_written == 1


def test_unknown_extension_lists_the_supported_ones(tmp_path):
    with pytest.raises(ValueError, match=r"\.mkv.*\.mp4.*\.webm.*\.avi.*\.gif.*PNG folder"):
        open_sink(tmp_path / "out.mkv")
    assert os.listdir(tmp_path) == []


def test_no_frames_saves_nothing(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        with open_sink(tmp_path / "out.mp4"):
            pass
    assert os.listdir(tmp_path) == []


def test_closed_sink_refuses_frames_and_close_is_idempotent(tmp_path, frames):
    sink = open_sink(tmp_path / "out.avi")
    sink.write(frames[0])
    sink.close()
    sink.close()
    with pytest.raises(ValueError, match="closed"):
        sink.write(frames[0])
    assert os.listdir(tmp_path) == ["out.avi"]


def test_abandoned_sink_is_discarded(tmp_path, frames):
    sink = open_sink(tmp_path / "out.mp4")
    sink.write(frames[0])
    del sink
    gc.collect()
    assert os.listdir(tmp_path) == []


def test_bad_fps(tmp_path):
    for fps in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="fps"):
            open_sink(tmp_path / "out.mp4", fps=fps)


CHILD = textwrap.dedent("""
    import importlib.util, sys, time, types
    import numpy as np
    # load pilotlens.render without running pilotlens/__init__.py (it imports torch: seconds per child)
    pkg = types.ModuleType("pilotlens")
    pkg.__path__ = list(importlib.util.find_spec("pilotlens").submodule_search_locations)
    sys.modules["pilotlens"] = pkg
    from pilotlens.render import open_sink
    sink = open_sink(sys.argv[1], fps=10)
    for i in range(10_000):
        sink.write(np.full((48, 64, 3), i % 256, np.uint8))
        print(i, flush=True)
        time.sleep(0.01)
""")


@pytest.mark.parametrize("name", ["out.mp4", "frames/"])
def test_killed_writer_leaves_no_file_under_the_final_name(tmp_path, name):
    final = tmp_path / name.rstrip("/")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / name)],
                             stdout=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            # kill once a few frames are in and the temporary output exists (mp4 appears at the first packet)
            if int(line) >= 5 and any(n.startswith(f".{final.name}.partial-") for n in os.listdir(tmp_path)):
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert not final.exists()
    # the work in progress was there, under a hidden temporary name
    assert [n for n in os.listdir(tmp_path) if n.startswith(f".{final.name}.partial-")]


def test_formats_table_matches_encoders_in_this_pyav():
    import av

    for ext, (codec, pix_fmt, _, _) in FORMATS.items():
        c = av.codec.Codec(codec, "w")
        assert pix_fmt in [f.name for f in c.video_formats], ext
