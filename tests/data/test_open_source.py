"""open_source: the format told from the path, options checked, 'synthetic' imported lazily."""
import json
import types

import av
import numpy as np
import pytest
from PIL import Image

import pilotlens.data as data
from pilotlens.data import Frame, Source, open_source, write_tub
from pilotlens.data.images import ImageSource
from pilotlens.data.sullychen import SullyChenSource
from pilotlens.data.tub import TubSource
from pilotlens.data.udacity import UdacitySource
from pilotlens.data.video import VideoSource


def grey(v):
    return np.full((16, 16, 3), v, np.uint8)


def write_avi(path, n=3):
    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=5)
        s.width = s.height = 16
        s.pix_fmt = "yuv420p"
        for i in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(grey(40 * i), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


@pytest.fixture
def inputs(tmp_path):
    """One small input of every format, keyed by what open_source should pick."""
    made = {}
    made["tub2"] = write_tub(tmp_path / "tub2", (Frame(grey(10 * i), i) for i in range(3)))
    v1 = tmp_path / "tub1"
    v1.mkdir()
    for i in range(3):
        Image.fromarray(grey(i)).save(v1 / f"{i}.jpg")
        (v1 / f"record_{i}.json").write_text(json.dumps({"cam/image_array": f"{i}.jpg", "user/angle": 0.0}))
    made["tub1"] = v1
    sim = tmp_path / "sim"
    (sim / "IMG").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(grey(i)).save(sim / "IMG" / f"c{i}.jpg")
    (sim / "driving_log.csv").write_text("".join(f"IMG/c{i}.jpg,IMG/c{i}.jpg,IMG/c{i}.jpg,0,0,0,0\n" for i in range(3)))
    made["csv"], made["csv_folder"] = sim / "driving_log.csv", sim
    sully = tmp_path / "sully"
    sully.mkdir()
    for i in range(3):
        Image.fromarray(grey(i)).save(sully / f"{i}.jpg")
    (sully / "data.txt").write_text("0.jpg 0\n1.jpg 1\n2.jpg 2\n")
    made["txt"], made["txt_folder"] = sully / "data.txt", sully
    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(grey(i)).save(folder / f"p{i}.png")
    made["folder"], made["image"] = folder, folder / "p1.png"
    made["video"] = write_avi(tmp_path / "clip.avi")
    return made


EXPECTED = {"tub2": TubSource, "tub1": TubSource, "csv": UdacitySource, "csv_folder": UdacitySource,
            "txt": SullyChenSource, "txt_folder": SullyChenSource, "folder": ImageSource,
            "image": ImageSource, "video": VideoSource}


def test_each_format_is_recognised_and_selection_passed_on(inputs):
    for kind, cls in EXPECTED.items():
        src = open_source(inputs[kind])
        assert type(src) is cls, kind
        n = 1 if kind == "image" else 3
        assert len(list(src)) == n and src.skipped == [], kind
        if n == 1:  # a single image has no frame 1: a start past the end is said, not an empty run
            with pytest.raises(ValueError, match="start 1 is past the end"):
                open_source(str(inputs[kind]), start=1, step=1, end=3)
            continue
        picked = open_source(str(inputs[kind]), start=1, step=1, end=3)
        assert [f.index for f in picked] == list(range(1, n)), kind


def test_options_go_to_the_format_and_unknown_ones_are_named(inputs):
    assert open_source(inputs["csv"], camera="left").camera == "left"
    with pytest.raises(TypeError, match="camera") as err:
        open_source(inputs["csv"], cameras="left")
    assert "cameras" in str(err.value)
    with pytest.raises(TypeError, match="camera"):
        open_source(inputs["folder"], camera="left")


def test_missing_or_unknown_paths_say_what_is_understood(tmp_path):
    with pytest.raises(ValueError, match="nowhere.mp4") as err:
        open_source(tmp_path / "nowhere.mp4")
    assert "tub" in str(err.value) and "driving_log.csv" in str(err.value)
    (tmp_path / "notes.xyz").write_text("?")
    with pytest.raises(ValueError, match="notes.xyz"):
        open_source(tmp_path / "notes.xyz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        open_source(tmp_path / "empty")


def test_synthetic_is_imported_lazily_with_options_and_selection(monkeypatch):
    made = {}

    class FakeSynthetic(Source):
        def __init__(self, **kwargs):
            made.update(kwargs)
            super().__init__(**{k: kwargs[k] for k in ("start", "end", "step", "strict")})

    monkeypatch.setitem(__import__("sys").modules, "pilotlens.data.synthetic",
                        types.SimpleNamespace(SyntheticSource=FakeSynthetic))
    src = open_source("synthetic", end=5, step=2, seed=3)
    assert isinstance(src, FakeSynthetic)
    assert made == {"start": 0, "end": 5, "step": 2, "strict": False, "seed": 3}


def test_public_names():
    for name in ("Frame", "Source", "FrameError", "Skipped", "open_source", "write_tub"):
        assert name in data.__all__ and hasattr(data, name)


def test_real_synthetic_world_streams_and_refuses_unknown_options():
    pytest.importorskip("pilotlens.data.synthetic")
    src = open_source("synthetic", end=2)
    frames = list(src)
    assert [f.index for f in frames] == [0, 1] and all(f.image.ndim == 3 for f in frames)
    with pytest.raises(TypeError, match="no_such_option"):
        open_source("synthetic", no_such_option=1)


@pytest.mark.parametrize("spec", ["", "   "])   # (Path("") is already ".", which is asked for by name)
def test_an_empty_spec_is_refused_not_the_current_folder(spec, tmp_path, monkeypatch):
    Image.fromarray(grey(5)).save(tmp_path / "here.png")
    monkeypatch.chdir(tmp_path)                              # a folder of images that "" would have opened
    with pytest.raises(ValueError, match="the input is empty"):
        open_source(spec)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("name", ["clip.mp4", "data.txt", "manifest.json"])
def test_a_fifo_input_is_refused_by_name(tmp_path, name):
    import os
    os.mkfifo(tmp_path / name)
    with pytest.raises(ValueError, match=f"{name}: a FIFO"):
        open_source(tmp_path / name)


def test_start_past_the_end_is_said_by_open_source_for_every_counted_format(inputs):
    for kind in ("tub2", "tub1", "csv", "txt", "folder"):
        with pytest.raises(ValueError, match=r"start 1000 is past the end of the .* \(3 [a-z]+, the last is 2\)"):
            open_source(inputs[kind], start=1000)
    with pytest.raises(ValueError, match=r"start 1000 is past the end of the drive synthetic \(5 frames"):
        open_source("synthetic", frames=5, start=1000)
