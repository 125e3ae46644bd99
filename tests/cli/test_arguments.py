"""The shared argument groups: declared once, the same on every verb, and turned into plain keyword
arguments for the library."""
import argparse

import pytest

from pilotlens.cli import build_parser
from pilotlens.cli.arguments import (add_model, explain_options, input_options, method_options, model_options,
                                     parse_crop, parse_lambdas, selection)


def _verbs():
    return next(a for a in build_parser()._actions if a.dest == "verb").choices


def test_every_explaining_verb_takes_target_layer_and_set():
    parser = build_parser()
    verbs = next(a for a in parser._actions if a.dest == "verb").choices
    for verb in ("movie", "explain", "grid", "evaluate"):
        dests = {a.dest for a in verbs[verb]._actions}
        assert {"target", "layer", "set", "method"} <= dests, verb


def test_every_verb_taking_a_model_takes_how_it_loads_and_sees():
    verbs = _verbs()
    for verb in ("movie", "explain", "grid", "layers", "train", "evaluate", "view", "drive"):
        dests = {a.dest for a in verbs[verb]._actions}
        assert {"model", "weights", "crop", "myconfig", "keras_lambda"} <= dests, verb
        model = next(a for a in verbs[verb]._actions if a.dest == "model")
        assert "FILE.py:Class" in model.help and "Keras" in model.help, verb
    assert {"crop", "myconfig", "keras_lambda"} <= {a.dest for a in verbs["import"]._actions}


def test_the_input_group_is_the_same_wherever_it_is():
    verbs = _verbs()
    for verb in ("movie", "train", "evaluate", "view"):
        assert {"input", "input_option", "start", "end", "step", "strict"} <= {a.dest for a in verbs[verb]._actions}


def test_command_line_options_round_trip():
    parser = argparse.ArgumentParser()
    add_model(parser)
    args = parser.parse_args(["--model", "m.h5", "--crop", "40,0,0,0", "--myconfig", "myconfig.py",
                              "--lambda", "lambda_1=0.5,-1", "--weights", "w.pth"])
    assert model_options(args) == {"crop": (40, 0, 0, 0), "myconfig": "myconfig.py", "weights": "w.pth",
                                   "lambdas": {"lambda_1": {"scale": 0.5, "offset": -1.0}}}
    assert model_options(parser.parse_args(["--model", "m.h5"])) == {}


def test_option_parsers():
    assert parse_crop("40,0,0,0") == (40, 0, 0, 0)
    assert parse_lambdas(["lambda=0.5,-1"]) == {"lambda": {"scale": 0.5, "offset": -1.0}}
    for bad in ("40,0", "a,b,c,d", "-1,0,0,0"):
        with pytest.raises(ValueError, match="--crop"):
            parse_crop(bad)
    for bad in (["lambda"], ["lambda=0.5"], ["=1,2"], ["l=x,y"]):
        with pytest.raises(ValueError, match="--lambda"):
            parse_lambdas(bad)


def test_input_and_explaining_arguments_become_keyword_arguments():
    args = _verbs()["movie"].parse_args(
        ["--model", "pilotnet", "--input", "synthetic", "--input-option", "frames=5", "--input-option", "size=(80,60)",
         "--input-option", "camera=left", "--start", "2", "--step", "3", "--out", "m.mp4", "--method", "grad_cam",
         "--layer", "conv5", "--target", "steering:0.1", "--set", "grad_cam.signed=true"])
    assert input_options(args) == {"frames": 5, "size": (80, 60), "camera": "left"}
    assert selection(args) == {"start": 2, "end": None, "step": 3, "strict": False}
    assert explain_options(args) == {"methods": ["grad_cam"], "layer": "conv5", "target": "steering:0.1",
                                     "options": {"grad_cam": {"signed": "true"}}}
    with pytest.raises(ValueError, match="--set takes METHOD.OPTION=VALUE"):
        method_options(["signed=true"])
    with pytest.raises(ValueError, match="--input-option must look like KEY=VALUE"):
        input_options(argparse.Namespace(input_option=["frames"]))


def test_clip_reaches_the_look_and_its_default_is_the_renderers(capsys):
    from pilotlens.cli.arguments import look
    from pilotlens.render.scale import CLIP
    parser = build_parser()
    base = ["movie", "--model", "pilotnet", "--input", "synthetic", "--out", "x.mp4"]
    assert look(parser.parse_args(base)).clip == CLIP
    assert look(parser.parse_args(base + ["--clip", "99.5"])).clip == 99.5
    with pytest.raises(ValueError, match="clip must be a percentile"):
        look(parser.parse_args(base + ["--clip", "0"]))


def test_version(capsys):
    import pilotlens
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"pilotlens {pilotlens.__version__}"
