"""open_pilot, the one door from a model spec to a Pilot (Keras files, FILE.py:Class, pilot files,
shipped names, zoo names), and the command-line options that feed it."""
from __future__ import annotations

import argparse

import pytest
import torch

from pilotlens.cli.arguments import add_model_options as add_model_arguments, model_options
from pilotlens.models.open import is_external, open_external

from . import keras_cases as K

NET = """
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3))
"""


def test_keras_files_and_user_classes_open_others_do_not(tmp_path):
    path = K.save(K.donkey_linear(), tmp_path, "mypilot")["h5"]
    pilot = open_external(path, crop=(0, 0, 0, 0))
    assert pilot.arch == "keras" and pilot.outputs == ("angle", "throttle")
    (tmp_path / "tiny.py").write_text(NET)
    mine = open_external(f"{tmp_path / 'tiny.py'}:Tiny", crop=(1, 1, 0, 0), input_size=(20, 10), outputs=("a", "b"))
    assert mine.crop == (1, 1, 0, 0) and mine.forward(torch.rand(1, 3, 10, 20)).shape == (1, 2)
    assert open_external("pilotnet") is None and not is_external("mypilot.pt") and is_external("x.keras")


def test_options_that_do_not_apply_are_errors(tmp_path):
    path = K.save(K.pilotnet(), tmp_path, "pn")["keras"]
    with pytest.raises(ValueError, match="--weights is for FILE.py:Class"):
        open_external(path, weights="state.pth")
    (tmp_path / "tiny.py").write_text(NET)
    with pytest.raises(ValueError, match="--myconfig and --lambda are for Keras files"):
        open_external(f"{tmp_path / 'tiny.py'}:Tiny", myconfig="myconfig.py")


def test_command_line_options_round_trip():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    add_model_arguments(parser)
    args = parser.parse_args(["--model", "m.h5", "--crop", "40,0,0,0", "--myconfig", "myconfig.py",
                              "--lambda", "lambda_1=0.5,-1", "--weights", "w.pth"])
    assert model_options(args) == {"crop": (40, 0, 0, 0), "myconfig": "myconfig.py", "weights": "w.pth",
                                   "lambdas": {"lambda_1": {"scale": 0.5, "offset": -1.0}}}
    assert model_options(parser.parse_args(["--model", "m.h5"])) == {}


def test_open_pilot_is_the_door_for_every_kind(tmp_path, capsys):
    from pilotlens.models import open_pilot
    from pilotlens.models.pilot import Pilot
    keras_file = K.save(K.donkey_linear(), tmp_path, "mypilot")["h5"]
    assert open_pilot(keras_file, crop=(1, 0, 0, 0)).crop == (1, 0, 0, 0)
    (tmp_path / "tiny.py").write_text(NET)
    assert open_pilot(f"{tmp_path / 'tiny.py'}:Tiny", input_size=(20, 10)).input_size == (20, 10)
    untrained = open_pilot("donkey_linear")
    assert untrained.arch == "donkey_linear" and "untrained weights" in capsys.readouterr().err
    untrained.save(tmp_path / "p.pt")
    assert open_pilot(tmp_path / "p.pt").arch == "donkey_linear"
    assert open_pilot("pilotnet").name == Pilot.load("pilotnet").name


def test_pilot_load_reads_pilot_files_only_and_points_to_the_door(tmp_path):
    from pilotlens.models.pilot import Pilot
    keras_file = K.save(K.pilotnet(), tmp_path, "pn")["h5"]
    with pytest.raises(ValueError, match="a Keras model file, not a pilot file: open it with pilotlens.models.open_pilot"):
        Pilot.load(keras_file)


def test_options_for_a_pilotlens_pilot_and_folders_are_errors(tmp_path):
    from pilotlens.models import open_pilot
    with pytest.raises(ValueError, match="crop, weights: for Keras files and FILE.py:Class models, not pilotnet"):
        open_pilot("pilotnet", weights="w.pth", crop=(1, 0, 0, 0))
    with pytest.raises(ValueError, match="a folder, not a model file"):
        open_pilot(tmp_path)
