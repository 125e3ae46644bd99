"""`pilotlens batch` from the command line: options reach the library, errors are one line."""
from __future__ import annotations

import json

from pilotlens.cli import main


def test_batch_from_the_command_line(fleet, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["batch", "--model", "donkey_linear", "--input", str(fleet / "tub_*"), str(fleet / "drive.mp4"),
                 "--end", "5", "--method", "gradient", "--batch-size", "4", "--out", str(out),
                 "--quiet"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    manifest = json.loads((out / "_SUCCESS.json").read_text())
    assert [log["frames"] for log in manifest["logs"]] == [5, 5, 5] and manifest["methods"] == ["gradient"]
    assert "wrote 15 frames of 3 log(s)" in printed.out


def test_ray_options_without_ray_are_refused(fleet, tmp_path, capsys):
    code = main(["batch", "--model", "donkey_linear", "--input", str(fleet / "tub_a"), "--actors", "2",
                 "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "--actors are for --engine ray" in err and len(err.strip().splitlines()) == 1
