"""screened: a frame the pilot cannot take (a 1x1 image under a crop) is a bad frame, skipped by name.

Before, a 1x1 image in a folder stopped `explain` part-way ("frame of 1x1 ... too small for crop",
no file named) after other PNGs were written, and stopped `movie` the same way.
"""
import numpy as np
import pytest
import torch
from PIL import Image

from pilotlens.data import FrameError, open_source, screened
from pilotlens.figures import explain_to_pngs
from pilotlens.models.pilot import Pilot
from pilotlens.pipeline import fits, movie


def _pilot():
    torch.manual_seed(0)
    return Pilot.from_arch("donkey_linear", crop=(40, 0, 0, 0))


def _folder(root, sizes):
    root.mkdir()
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(np.full((h, w, 3), 30 * i + 20, np.uint8)).save(root / f"img_{i}.png")
    return root


SIZES = [(120, 160), (1, 1), (120, 160), (30, 160)]       # a 1x1 frame, and one no taller than the crop


def test_too_small_frames_are_skipped_by_name_and_counted(tmp_path, caplog):
    src = open_source(_folder(tmp_path / "in", SIZES))
    kept = list(screened(src, fits(_pilot())))
    assert [f.index for f in kept] == [0, 2]
    assert [s.index for s in src.skipped] == [1, 3]
    assert src.skipped[0].source.endswith("img_1.png") and "1x1" in src.skipped[0].reason
    assert "too small for crop" in src.skipped[1].reason and "img_3.png" in caplog.text
    with pytest.raises(FrameError, match=r"frame 1 \(.*img_1.png\): frame of 1x1"):
        list(screened(open_source(tmp_path / "in", strict=True), fits(_pilot())))
    with pytest.raises(FrameError, match="img_1.png"):
        list(screened(iter(open_source(tmp_path / "in")), fits(_pilot()), strict=True))


def test_explain_writes_every_other_image_and_names_the_small_one(tmp_path, caplog):
    frames = (f for path in [_folder(tmp_path / "in", SIZES)] for f in open_source(path))
    written = explain_to_pngs(_pilot(), frames, tmp_path / "out", ["visual_backprop"])
    assert sorted(p.name for p in written) == ["img_0_explained.png", "img_2_explained.png"]
    assert "img_1.png" in caplog.text and "img_3.png" in caplog.text
    with pytest.raises(FrameError, match="img_1.png"):
        explain_to_pngs(_pilot(), open_source(tmp_path / "in"), tmp_path / "out2", ["visual_backprop"], strict=True)


def test_movie_skips_the_small_frame_and_counts_it_in_the_summary(tmp_path):
    src = open_source(_folder(tmp_path / "in", SIZES))
    summary = movie(_pilot(), src, str(tmp_path / "out"), ["visual_backprop"], progress=False)
    assert summary.frames_written == 2 and [s.index for s in summary.skipped] == [1, 3]
    text = str(summary)
    assert "skipped 2" in text and "img_1.png" in text and "1x1" in text
