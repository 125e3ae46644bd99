"""`pilotlens explain`: one PNG per input, never over an input."""
from PIL import Image

from pilotlens.cli import main

from .helpers import error as _error
from .helpers import pngs as _pngs


def test_explain_and_grid_on_image_files(tmp_path, capsys):
    from pilotlens.data import open_source
    paths = []
    for f in open_source("synthetic", frames=2, seed=9):
        p = tmp_path / f"frame_{f.index}.png"
        Image.fromarray(f.image).save(p)
        paths.append(str(p))
    assert main(["explain", "--model", "donkey_linear", *paths, "--out", str(tmp_path / "ex")]) == 0
    assert len(list((tmp_path / "ex").glob("*.png"))) == 2
    assert main(["grid", "--model", "donkey_linear", "--method", "grad_cam", "--method", "activation", *paths,
                 "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").exists()


def test_two_inputs_with_one_file_name_give_two_outputs(tmp_path, capsys):
    a = _pngs(tmp_path, 1, "a")[0]
    b = _pngs(tmp_path, 1, "b")[0]
    assert a.name == b.name
    assert main(["explain", "--model", "donkey_linear", str(a), str(b), "--out", str(tmp_path / "ex")]) == 0
    written = sorted(p.name for p in (tmp_path / "ex").iterdir())
    assert written == ["frame_0_explained-2.png", "frame_0_explained.png"]
    assert "wrote 2 images" in capsys.readouterr().out


def test_explain_into_the_input_folder_keeps_the_inputs(tmp_path, capsys):
    paths = _pngs(tmp_path, 2)
    before = {p: p.read_bytes() for p in paths}
    assert main(["explain", "--model", "donkey_linear", *map(str, paths), "--out", str(tmp_path / "in")]) == 0
    assert all(p.read_bytes() == data for p, data in before.items())
    assert len(list((tmp_path / "in").iterdir())) == 4


def test_explain_with_nothing_readable_fails(tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    code = main(["explain", "--model", "donkey_linear", str(bad), "--out", str(tmp_path / "ex")])
    assert code == 1 and "no readable image" in _error(capsys)


def test_explain_says_what_it_explained_and_counts_in_words(tmp_path, capsys):
    path = _pngs(tmp_path, 1, "one")[0]
    assert main(["explain", "--model", "donkey_linear", str(path), "--out", str(tmp_path / "ex"),
                 "--target", "throttle"]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 image to" in out and "(target: throttle)" in out


def test_explain_refuses_a_scale_too_large_to_draw(tmp_path, capsys):
    path = _pngs(tmp_path, 1, "big")[0]
    assert main(["explain", "--model", "donkey_linear", str(path), "--scale", "1000",
                 "--out", str(tmp_path / "ex")]) == 1
    assert "--scale" in capsys.readouterr().err and not list((tmp_path / "ex").glob("*.png"))
