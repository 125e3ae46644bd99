"""build_viewer and serve (the `view` verb's arguments are tested in tests/cli/test_view.py)."""
from __future__ import annotations

import sys

import pytest

from pilotlens.view import build_viewer
from pilotlens.view.launch import _has_display


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
