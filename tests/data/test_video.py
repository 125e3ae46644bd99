"""Video files decoded with PyAV: round trip through a file written here."""
import av
import numpy as np
import pytest

from pilotlens.data import FrameError, open_source
from pilotlens.data.video import VideoSource
from pilotlens.render import open_sink

COLOURS = [(220, 30, 30), (30, 220, 30), (30, 30, 220), (220, 220, 30),
           (30, 220, 220), (220, 30, 220), (128, 128, 128), (250, 250, 250)]


def write_video(path, colours=COLOURS, fps=10, codec="libx264", size=(48, 64)):
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "0", "preset": "ultrafast"}
        for c in colours:
            image = np.empty((*size, 3), np.uint8)
            image[:] = c
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize("name, codec", [("clip.mp4", "libx264"), ("clip.avi", "mpeg4")])
def test_round_trip(tmp_path, name, codec):
    src = VideoSource(write_video(tmp_path / name, codec=codec))
    frames = list(src)
    assert len(frames) == len(COLOURS) == len(src)
    assert src.fps == pytest.approx(10)
    for i, (frame, colour) in enumerate(zip(frames, COLOURS)):
        assert frame.index == i and frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8
        assert np.abs(frame.image.reshape(-1, 3).mean(0) - colour).max() < 12, (i, frame.image.mean((0, 1)))
        assert frame.time == pytest.approx(i / 10, abs=1e-3)
    assert src.skipped == []


def test_selection_converts_only_selected_frames_and_stops_at_end(tmp_path):
    src = VideoSource(write_video(tmp_path / "clip.mp4"), start=1, end=6, step=2)
    seen, loaded = [], []
    records = src._records

    def spy():  # record which frames were decoded, and which converted to arrays
        for rec in records():
            seen.append(rec.index)
            load = rec.load
            rec.load = lambda load=load, i=rec.index: (loaded.append(i), load())[1]
            yield rec

    src._records = spy
    frames = list(src)
    assert [f.index for f in frames] == [1, 3, 5] and len(src) == 3
    assert loaded == [1, 3, 5]
    assert seen == [0, 1, 2, 3, 4, 5, 6]  # index 6 is where it stops: nothing decoded past it
    assert np.abs(frames[1].image.reshape(-1, 3).mean(0) - COLOURS[3]).max() < 12
    assert frames[2].time == pytest.approx(0.5, abs=1e-3)


def test_not_a_video_is_refused(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 20)
    with pytest.raises(ValueError, match="bad.mp4"):
        VideoSource(bad)
    with pytest.raises(ValueError, match="no such video"):
        VideoSource(tmp_path / "missing.mp4")


def test_a_video_cut_short_is_reported_and_strict_stops(tmp_path):
    # an mp4 with its index at the front (faststart), cut in half: the header still announces 120 frames
    rng = np.random.default_rng(0)
    with open_sink(tmp_path / "full.mp4", 20) as sink:
        for i in range(120):
            img = np.zeros((96, 128, 3), np.uint8)
            img[:, i % 120:i % 120 + 8] = 255
            img[::7] = rng.integers(0, 255, (14, 128, 3))
            sink.write(img)
    data = (tmp_path / "full.mp4").read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[:len(data) // 2])
    src = open_source(tmp_path / "half.mp4")
    n = sum(1 for _ in src)
    assert 0 < n < 120
    assert [s.index for s in src.skipped] == [n]
    assert f"ends after {n} of the 120 frames" in src.skipped[0].reason and "truncated" in src.skipped[0].reason
    with pytest.raises(FrameError, match="truncated"):
        list(open_source(tmp_path / "half.mp4", strict=True))
    # a selection that ends before the cut never meets it
    part = open_source(tmp_path / "half.mp4", end=10)
    assert len(list(part)) == 10 and part.skipped == []


def write_m4v(path, size, colours):
    """A raw MPEG-4 elementary stream (.m4v): two of them glued together change size mid-stream."""
    with av.open(str(path), "w", format="m4v") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for c in colours:
            frame = av.VideoFrame.from_ndarray(np.full((*size, 3), c, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_a_frame_size_change_names_the_input_frame_and_both_sizes(tmp_path):
    a = write_m4v(tmp_path / "a.m4v", (48, 64), COLOURS[:3])
    b = write_m4v(tmp_path / "b.m4v", (32, 80), COLOURS[3:5])
    (tmp_path / "ab.m4v").write_bytes(a.read_bytes() + b.read_bytes())
    with av.open(str(tmp_path / "ab.m4v")) as c:              # the file really changes size at frame 3
        assert [(f.width, f.height) for f in c.decode(video=0)] == [(64, 48)] * 3 + [(80, 32)] * 2
    src = open_source(tmp_path / "ab.m4v")
    frames = list(src)
    assert [f.index for f in frames] == [0, 1, 2] and all(f.image.shape == (48, 64, 3) for f in frames)
    (skip,) = src.skipped
    assert skip.index == 3
    assert "the input video's frame 3 changed size from 64x48 to 80x32" in skip.reason
    with pytest.raises(FrameError, match="frame 3 changed size from 64x48 to 80x32"):
        list(open_source(tmp_path / "ab.m4v", strict=True))
    # a run that starts after the change reads the frames there, all of one size
    assert [f.image.shape for f in open_source(tmp_path / "ab.m4v", start=3)] == [(32, 80, 3)] * 2


def test_start_past_the_end_of_a_video_says_so(tmp_path):
    clip = write_video(tmp_path / "clip.mp4")
    with pytest.raises(ValueError, match=r"start 100 is past the end of the video .*clip.mp4 \(8 frames, the last"):
        open_source(clip, start=100)
    # a video whose header gives no count: said once it is read to its end
    a = write_m4v(tmp_path / "a.m4v", (16, 16), COLOURS[:4])
    src = open_source(a, start=50)
    with pytest.raises(ValueError, match=r"start 50 is past the end of the video .*a.m4v \(4 frames"):
        list(src)
