"""`pilotlens`: every verb documented with an example, and errors as one line with nothing lost."""
import subprocess
import sys

import pytest

from pilotlens.cli import build_parser, main

from .helpers import error as _error
from .helpers import pngs as _pngs

VERBS = ["demo", "movie", "explain", "grid", "layers", "train", "evaluate", "import", "view", "drive"]


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


def test_missing_input_is_reported():
    proc = subprocess.run([sys.executable, "-m", "pilotlens.cli", "movie", "--model", "donkey_linear", "--input",
                           "/nope/drive.mp4", "--out", "/tmp/never.mp4"], capture_output=True, text=True)
    assert proc.returncode == 1 and "/nope/drive.mp4" in proc.stderr


@pytest.mark.parametrize("verb", ["movie", "explain", "grid", "evaluate", "train"])
def test_a_missing_output_folder_is_found_before_any_work(verb, tmp_path, capsys):
    (png,) = _pngs(tmp_path, 1)
    missing = tmp_path / "no" / "such"
    args = {
        "movie": ["movie", "--model", "donkey_linear", "--input", "synthetic", "--out", str(missing / "m.mp4")],
        "explain": ["explain", "--model", "donkey_linear", str(png), "--out", str(missing)],
        "grid": ["grid", "--model", "donkey_linear", str(png), "--out", str(missing / "g.png")],
        "evaluate": ["evaluate", "--model", "donkey_linear", "--input", "synthetic", "--out", str(missing)],
        "train": ["train", "--arch", "donkey_linear", "--input", "synthetic", "--out", str(missing / "p.pt")],
    }[verb]
    code = main(args + ["--quiet"] if verb in ("movie", "evaluate", "train") else args)
    err = _error(capsys)
    assert code == 1 and "does not exist" in err and str(missing.parent) in err
    assert len(err.splitlines()) == 1


def test_an_unwritable_output_folder_is_found_before_any_work(tmp_path, capsys, monkeypatch):
    import os
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    # root may write anywhere, so the folder is made unwritable in the one place pilotlens asks
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.fspath(p) == str(locked) else real(p, mode))
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--out", str(locked / "m.mp4"), "--quiet"])
    assert code == 1 and "not writable" in _error(capsys) and list(locked.iterdir()) == []


def test_no_verb_prints_the_help(capsys):
    assert main([]) == 2
    assert "pilotlens demo" in capsys.readouterr().out
