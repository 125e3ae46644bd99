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


def test_a_tiny_image_is_skipped_by_name_and_a_huge_scale_refused(tmp_path, capsys, caplog):
    import numpy as np
    from PIL import Image
    good, tiny = tmp_path / "road.png", tmp_path / "dot.png"
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(good)
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tiny)
    out = tmp_path / "g.png"
    assert main(["grid", "--model", "pilotnet", str(good), str(tiny), "--out", str(out)]) == 0
    assert out.exists() and "dot.png" in caplog.text
    assert main(["grid", "--model", "pilotnet", str(good), str(tiny), "--strict", "--out", str(out)]) == 1
    assert "dot.png" in capsys.readouterr().err
    assert main(["grid", "--model", "pilotnet", str(good), "--scale", "1000", "--out", str(tmp_path / "h.png")]) == 1
    assert "--scale" in capsys.readouterr().err and not (tmp_path / "h.png").exists()
