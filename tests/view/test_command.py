"""`pilotlens view`: the verb's options, its errors, and the command serving a page end to end."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from pilotlens.view import add_verb, build_viewer
from pilotlens.view.command import _has_display

SRC = str(Path(__file__).resolve().parents[2] / "src")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pilotlens")
    add_verb(p.add_subparsers(dest="verb"))
    return p


def test_the_verb_binds_to_localhost_on_a_free_port_by_default(capsys):
    args = parser().parse_args(["view", "--model", "pilotnet", "--input", "synthetic"])
    assert (args.host, args.port, args.no_browser) == ("127.0.0.1", 0, False)
    assert callable(args.fn)
    with pytest.raises(SystemExit):
        parser().parse_args(["view", "--help"])
    help_text = capsys.readouterr().out
    assert "example:" in help_text and "camera:0" in help_text and "--no-browser" in help_text


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        build_viewer("pilotnet", str(tmp_path / "missing.mp4"))
    with pytest.raises(ValueError, match="camera:N"):
        build_viewer("pilotnet", "camera:left")
    with pytest.raises(FileNotFoundError):
        build_viewer("no-such-pilot.pt", "synthetic")


def test_no_display_means_no_browser(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not _has_display()
    monkeypatch.setenv("DISPLAY", ":0")
    assert _has_display()


def test_the_command_serves_the_drive():
    code = ("import argparse, sys; from pilotlens.view import add_verb; p = argparse.ArgumentParser(); "
            "add_verb(p.add_subparsers()); a = p.parse_args(sys.argv[1:]); a.fn(a)")
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("DISPLAY", None)
    proc = subprocess.Popen([sys.executable, "-c", code, "view", "--model", "pilotnet", "--input", "synthetic",
                             "--input-option", "frames=6", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "serving" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.split(" at ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "api/info", timeout=60) as resp:
            info = json.load(resp)
        assert info["drive"]["frames"] == 6 and info["model"] == "pilotnet"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
