"""`pilotlens grid`: several --model give a column each; the image format follows the name."""
from pilotlens.cli import main

from .helpers import error as _error
from .helpers import pngs as _pngs


def test_grid_with_two_models_of_one_stem_keeps_both_columns(tmp_path, capsys):
    from pilotlens.models import Pilot
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        Pilot.from_arch("donkey_linear").save(tmp_path / d / "pilot.pt")
    (png,) = _pngs(tmp_path, 1)
    out = tmp_path / "g.png"
    assert main(["grid", "--model", str(tmp_path / "x" / "pilot.pt"), "--model", str(tmp_path / "y" / "pilot.pt"),
                 str(png), "--out", str(out), "--scale", "1"]) == 0
    import cv2
    assert cv2.imread(str(out)).shape[1] > 3 * 160        # input + one column per model, not one
    code = main(["grid", "--model", "donkey_linear", "--model", "donkey_linear", str(png), "--out", str(out)])
    assert code == 1 and "given twice" in _error(capsys)


def test_grid_writes_the_format_its_name_says(tmp_path, capsys):
    (png,) = _pngs(tmp_path, 1)
    assert main(["grid", "--model", "donkey_linear", str(png), "--out", str(tmp_path / "g.jpg")]) == 0
    assert (tmp_path / "g.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    code = main(["grid", "--model", "donkey_linear", str(png), "--out", str(tmp_path / "g.tiff")])
    assert code == 1 and "must end in" in _error(capsys) and not (tmp_path / "g.tiff").exists()
