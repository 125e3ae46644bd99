"""The demo: its grid rows carry the steering values, it says what it is doing after the video, and
its output folder is ignored by git."""
import subprocess
from pathlib import Path

import numpy as np

from pilotlens.data.frame import Frame
from pilotlens.figures import row_title

ROOT = Path(__file__).resolve().parents[1]


def test_a_grid_row_names_the_recorded_and_each_pilots_steering():
    frame = Frame(np.zeros((4, 4, 3), np.uint8), 40, labels={"angle": -0.2249})
    title = row_title(frame, {"pilotnet": {"angle": 0.1}, "donkey": {"angle": -0.05, "throttle": 0.3}})
    assert title.split("\n") == ["#40", "recorded -0.22", "pilotnet +0.10", "donkey -0.05"]
    assert row_title(Frame(np.zeros((4, 4, 3), np.uint8), 3), {"m": {"class": 1.0}}) == "#3"


def test_the_demo_folder_is_ignored_by_git():
    if not (ROOT / ".git").exists():
        return
    done = subprocess.run(["git", "check-ignore", "-q", "pilotlens-demo/demo.mp4"], cwd=ROOT)
    assert done.returncode == 0


def test_the_demo_says_what_it_does_after_the_video(tmp_path, capsys):
    from pilotlens.demo import run_demo

    files = run_demo(tmp_path / "demo", frames=8, progress=False)
    out = capsys.readouterr().out
    lines = out.splitlines()
    grid = next(i for i, line in enumerate(lines) if line.startswith("drawing the grid"))
    assert lines[grid + 1].startswith("wrote") and lines[grid + 1].endswith("demo-grid.png")
    driving = [i for i, line in enumerate(lines) if line.startswith("closed loop") and line.endswith("...")]
    assert len(driving) == 2 and all(lines[i + 1].startswith("closed loop") for i in driving)
    assert files["grid"].exists() and files["video"].exists()
