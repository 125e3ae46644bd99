"""`pilotlens movie`: options reach the pipeline; bad input is one clear line and nothing is lost."""
from pilotlens.cli import main

from .helpers import error as _error
from .helpers import pngs as _pngs


def test_movie_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "m.gif"
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=6",
                 "--method", "visual_backprop", "--set", "visual_backprop.nothing=1", "--out", str(out), "--quiet"])
    assert code == 1 and "nothing" in capsys.readouterr().err and not out.exists()
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=6",
                 "--method", "occlusion", "--set", "occlusion.window=40", "--view", "focus", "--out", str(out), "--quiet"])
    assert code == 0 and out.exists() and "wrote 6 frames" in capsys.readouterr().out


def test_unknown_layer_is_a_clear_error(tmp_path, capsys):
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=2",
                 "--method", "grad_cam", "--layer", "conv9", "--out", str(tmp_path / "x.mp4"), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "conv9" in err and "features.conv5" in err


def test_out_equal_to_input_never_overwrites_it(tmp_path, capsys):
    video = tmp_path / "drive.mp4"
    assert main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=3",
                 "--out", str(video), "--quiet"]) == 0
    before = video.read_bytes()
    capsys.readouterr()
    code = main(["movie", "--model", "donkey_linear", "--input", str(video), "--out", str(video), "--quiet"])
    assert code == 1 and "is also an input" in _error(capsys) and video.read_bytes() == before
    (png,) = _pngs(tmp_path, 1)
    code = main(["grid", "--model", "donkey_linear", str(png), "--out", str(png)])
    assert code == 1 and "is also an input" in _error(capsys)


def test_an_empty_folder_as_input_says_so(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["movie", "--model", "donkey_linear", "--input", str(tmp_path / "empty"), "--out",
                 str(tmp_path / "m.mp4"), "--quiet"])
    assert code == 1 and "an empty folder" in _error(capsys)


def test_set_values_take_the_option_type(tmp_path, capsys):
    out = tmp_path / "m.gif"
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=2",
                 "--method", "grad_cam", "--set", "grad_cam.signed=maybe", "--out", str(out), "--quiet"])
    err = _error(capsys)
    assert code == 1 and "signed" in err and "bool" in err and not out.exists()
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=2",
                 "--method", "grad_cam:signed=false", "--out", str(out), "--quiet"])
    assert code == 0


def test_nan_frames_are_reported_with_their_index(tmp_path, capsys):
    import torch
    from pilotlens.models import Pilot
    pilot = Pilot.from_arch("donkey_linear")
    with torch.no_grad():
        pilot.model.features.conv1.bias[0] = float("nan")     # every output NaN
    pilot.save(tmp_path / "nan.pt")
    out = tmp_path / "m.gif"
    code = main(["movie", "--model", str(tmp_path / "nan.pt"), "--input", "synthetic", "--input-option", "frames=3",
                 "--method", "grad_cam", "--method", "gradient", "--out", str(out), "--quiet"])
    printed = capsys.readouterr()
    assert code == 0 and "3 frame(s) had a non-finite" in printed.out and "[0, 1, 2]" in printed.out
