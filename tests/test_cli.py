import subprocess
import sys

import pytest
from PIL import Image

from pilotlens.cli import build_parser, main

VERBS = ["demo", "movie", "explain", "grid", "layers", "train", "evaluate"]


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_documents_its_options_with_an_example(verb, capsys):
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    text = capsys.readouterr().out
    assert "example:" in text and f"pilotlens {verb}" in text
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb").choices[verb]
    undocumented = [a.dest for a in sub._actions if not a.help]
    assert undocumented == []


def test_layers_lists_the_traced_layers(capsys):
    assert main(["layers", "--model", "donkey_linear"]) == 0
    out = capsys.readouterr().out
    assert "features.conv1" in out and "Conv2d" in out


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


def test_missing_input_is_reported():
    proc = subprocess.run([sys.executable, "-m", "pilotlens.cli", "movie", "--model", "donkey_linear", "--input",
                           "/nope/drive.mp4", "--out", "/tmp/never.mp4"], capture_output=True, text=True)
    assert proc.returncode == 1 and "/nope/drive.mp4" in proc.stderr
