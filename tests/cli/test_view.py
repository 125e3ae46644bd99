"""`pilotlens view`: the verb's options, a viewer built from them (a user's class with --weights and
--crop), and the command serving a page end to end."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from pilotlens.cli import main
from pilotlens.cli import view as view_verb

from .helpers import reference_net

pytest.importorskip("flask", reason="the viewer needs flask (pip install flask)")

SRC = str(Path(__file__).resolve().parents[2] / "src")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pilotlens")
    view_verb.register(p.add_subparsers(dest="verb"))
    return p


def test_the_verb_binds_to_localhost_on_a_free_port_by_default(capsys):
    args = parser().parse_args(["view", "--model", "pilotnet", "--input", "synthetic"])
    assert (args.host, args.port, args.no_browser) == ("127.0.0.1", 0, False)
    assert callable(args.fn)
    with pytest.raises(SystemExit):
        parser().parse_args(["view", "--help"])
    help_text = capsys.readouterr().out
    assert "example:" in help_text and "camera:0" in help_text and "--no-browser" in help_text


def test_a_users_class_with_weights_and_crop(user_net):
    from pilotlens.data import open_source
    from pilotlens.models import Pilot
    spec, weights = user_net
    args = parser().parse_args(["view", "--model", spec, "--weights", str(weights), "--crop", "30,10,0,0",
                                "--input", "synthetic", "--input-option", "frames=3", "--input-option", "seed=5",
                                "--step", "2"])
    viewer = view_verb.viewer(args)
    try:
        assert viewer.pilot.crop == (30, 10, 0, 0) and len(viewer.drive) == 2
        net = reference_net(weights)
        frames = [f.image for f in open_source("synthetic", frames=3, seed=5, step=2)]
        expected = Pilot(net, input_size=(32, 24), outputs=("angle", "throttle"), crop=(30, 10, 0, 0)).predict(frames)
        np.testing.assert_allclose(viewer.drive.predicted["angle"], np.asarray(expected["angle"]), rtol=1e-5, atol=1e-6)
        uncropped = Pilot(net, input_size=(32, 24), outputs=("angle", "throttle")).predict(frames)
        assert not np.allclose(viewer.drive.predicted["angle"], np.asarray(uncropped["angle"]), rtol=1e-5, atol=1e-6)
    finally:
        viewer.close()


def test_a_bad_model_option_is_one_line(user_net, capsys):
    spec, _ = user_net
    assert main(["view", "--model", spec, "--crop", "30,10", "--input", "synthetic", "--no-browser"]) == 1
    assert capsys.readouterr().err.strip() == ("pilotlens view: error: --crop takes TOP,BOTTOM,LEFT,RIGHT in pixels "
                                               "(e.g. 40,0,0,0), got '30,10'")


def test_the_command_serves_the_drive():
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("DISPLAY", None)
    proc = subprocess.Popen([sys.executable, "-m", "pilotlens.cli", "view", "--model", "pilotnet", "--input",
                             "synthetic", "--input-option", "frames=6", "--no-browser"],
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
