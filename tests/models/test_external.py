"""open_external: the one entry for Keras files and FILE.py:Class specs, and its command-line options."""
from __future__ import annotations

import argparse

import pytest
import torch

from pilotlens.models.external import add_model_arguments, is_external, model_options, open_external

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
