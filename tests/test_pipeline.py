import os
import signal
import subprocess
import sys
import threading
import time

import av
import numpy as np
import pytest
from PIL import Image

from pilotlens.data import open_source
from pilotlens.data.source import FrameError
from pilotlens.models.pilot import Pilot
from pilotlens.pipeline import batches, movie
from pilotlens.render.look import Look


@pytest.fixture(scope="module")
def pilot():
    import torch
    torch.manual_seed(0)
    return Pilot.from_arch("donkey_linear")


def _count_frames(path):
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_movie_writes_every_frame_with_panels(pilot, tmp_path):
    out = tmp_path / "drive.mp4"
    summary = movie(pilot, open_source("synthetic", frames=24, seed=1), out, ["visual_backprop", "grad_cam"],
                    batch_size=10, progress=False, look=Look(scale=1))
    assert summary.frames_written == 24 == _count_frames(out)
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0))
        assert frame.width == 3 * 160           # input + two methods side by side
    assert summary.skipped == [] and "wrote 24 frames" in str(summary)
    assert summary.target == "steering(0.05)" and "explaining steering(0.05)" in str(summary)


def test_movie_refuses_its_input_as_output_and_a_bad_folder_before_any_work(pilot, tmp_path):
    from pilotlens.render import open_sink
    video = tmp_path / "in.mp4"
    with open_sink(video, 10) as sink:
        for i in range(3):
            sink.write(np.full((32, 48, 3), 40 * i, np.uint8))
    before = video.read_bytes()
    with pytest.raises(ValueError, match="is also an input"):
        movie(pilot, open_source(video), video, progress=False)
    assert video.read_bytes() == before
    with pytest.raises(FileNotFoundError, match="does not exist"):
        movie(pilot, open_source(video), tmp_path / "missing" / "out.mp4", progress=False)
    with pytest.raises(ValueError, match="must end in"):
        movie(pilot, open_source(video), tmp_path / "out.mp3", progress=False)


def test_batches_cut_where_the_frame_size_changes():
    from pilotlens.data.frame import Frame
    sizes = [(4, 4), (4, 4), (4, 4), (5, 5), (4, 4)]
    frames = [Frame(np.zeros((*s, 3), np.uint8), i) for i, s in enumerate(sizes)]
    assert [len(b) for b in batches(frames, 2)] == [2, 1, 1, 1]


def _tub_with_a_corrupt_image(tmp_path):
    from pilotlens.data import write_tub
    frames = list(open_source("synthetic", frames=6, seed=3))
    tub = write_tub(tmp_path / "tub", frames)
    images = sorted((tub / "images").iterdir())
    images[2].write_bytes(b"not a jpeg")
    return tub


def test_corrupt_frame_is_skipped_and_counted(pilot, tmp_path):
    tub = _tub_with_a_corrupt_image(tmp_path)
    summary = movie(pilot, open_source(tub), tmp_path / "out.gif", ["activation"], progress=False)
    assert summary.frames_written == 5 and [s.index for s in summary.skipped] == [2]


def test_strict_run_stops_at_the_corrupt_frame_and_writes_nothing(pilot, tmp_path):
    tub = _tub_with_a_corrupt_image(tmp_path)
    out = tmp_path / "out.mp4"
    with pytest.raises(FrameError, match="frame 2"):
        movie(pilot, open_source(tub, strict=True), out, ["activation"], batch_size=1, progress=False)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_a_failure_while_explaining_leaves_no_output(pilot, tmp_path):
    calls = []

    def fails_on_third_batch(output):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("explainer broke")
        return output[:, 0]
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="explainer broke"):
        movie(pilot, open_source("synthetic", frames=40, seed=4), out, ["gradient"], target=fails_on_third_batch,
              batch_size=4, progress=False)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if "partial" in p.name]
    assert [t.name for t in threading.enumerate() if t.name.startswith("pilotlens-")] == []


def test_stages_run_in_their_own_threads(pilot, tmp_path, monkeypatch):
    seen = set()
    original = Look.compose

    def spy(self, *a, **k):
        seen.add(threading.current_thread().name)
        return original(self, *a, **k)
    monkeypatch.setattr(Look, "compose", spy)
    movie(pilot, open_source("synthetic", frames=5, seed=5), tmp_path / "x.gif", ["activation"], progress=False)
    assert seen == {"pilotlens-write"}


def _start_long_run(out):
    cmd = [sys.executable, "-m", "pilotlens.cli", "movie", "--model", "donkey_linear", "--input", "synthetic",
           "--input-option", "frames=100000", "--out", str(out), "--batch-size", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not [p for p in out.parent.iterdir() if "partial" in p.name]:
        time.sleep(0.2)     # wait until encoding has begun
    time.sleep(1.0)
    assert proc.poll() is None, proc.stderr.read()
    return proc


def test_killing_a_run_leaves_no_file_under_the_output_name_and_the_next_run_clears_its_leftover(pilot, tmp_path):
    out = tmp_path / "killed.mp4"
    proc = _start_long_run(out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    assert [p for p in tmp_path.iterdir() if "partial" in p.name]          # SIGKILL cannot clean up...
    movie(pilot, open_source("synthetic", frames=3, seed=1), out, ["activation"], progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed.mp4"]   # ...the next run to the same output does


def test_sigterm_ends_a_run_like_ctrl_c_and_removes_its_partial_file(tmp_path):
    out = tmp_path / "terminated.mp4"
    proc = _start_long_run(out)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "no partial output was kept" in err
    assert list(tmp_path.iterdir()) == []


def _rss_mb():
    import resource
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


@pytest.mark.slow
def test_a_2000_frame_run_keeps_memory_flat(pilot, tmp_path):
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(_rss_mb())
            time.sleep(0.05)
    watcher = threading.Thread(target=sample)
    watcher.start()
    try:
        summary = movie(pilot, open_source("synthetic", frames=2000, seed=6, size=(80, 60)), tmp_path / "long.mp4",
                        ["visual_backprop"], batch_size=32, progress=False)
    finally:
        stop.set()
        watcher.join()
    assert summary.frames_written == 2000
    quarter, n = max(samples[: len(samples) // 4]), len(samples)
    late = max(samples[n // 2:])
    assert late - quarter < 40, f"memory grew from {quarter:.0f} MB to {late:.0f} MB"


def test_a_movie_without_methods_shows_the_predictions_alone(pilot, tmp_path):
    summary = movie(pilot, open_source("synthetic", frames=4, seed=1), tmp_path / "plain.gif", [], progress=False,
                    look=Look(scale=1))
    assert summary.frames_written == 4
    with av.open(str(tmp_path / "plain.gif")) as c:
        assert next(c.decode(video=0)).width == 160          # the input panel only
