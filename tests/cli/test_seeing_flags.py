"""How a model sees, from the command line: --size, --color, --pixel-scale/--pixel-offset or --normalize
next to --crop, on every verb that takes --model; a class's own attributes when no flag is given, the
flag when one is; a model that rejects the input says the shape and the flag to change."""
from __future__ import annotations

import textwrap

import cv2
import numpy as np
import pytest
import torch
import torch.serialization

from pilotlens.cli import build_parser, main
from pilotlens.cli.arguments import model_options, open_model
from pilotlens.models.seeing import NORMALIZATIONS

from .helpers import error as _error

SEEING = {"size", "color", "pixel_scale", "pixel_offset", "normalize", "crop"}

# A PilotNet as people write it in PyTorch: trained on 68 x 264 frames, BatchNorm + LeakyReLU, and no
# input_size attribute: nothing in the class says the size.
PILOTNET = textwrap.dedent("""
    from torch import nn


    class PilotNet(nn.Module):
        def __init__(self):
            super().__init__()
            layers = []
            for cin, cout, k, s in [(3, 24, 5, 2), (24, 36, 5, 2), (36, 48, 5, 2), (48, 64, 3, 1), (64, 64, 3, 1)]:
                layers += [nn.Conv2d(cin, cout, k, stride=s), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1)]
            self.features = nn.Sequential(*layers)
            self.regressor = nn.Sequential(nn.Flatten(), nn.Linear(64 * 1 * 26, 100), nn.LeakyReLU(0.1),
                                           nn.Linear(100, 10), nn.LeakyReLU(0.1), nn.Linear(10, 1))

        def forward(self, x):
            return self.regressor(self.features(x))
""")


def _verbs():
    return next(a for a in build_parser()._actions if a.dest == "verb").choices


def _model(namespace: dict | None = None) -> torch.nn.Module:
    namespace = {} if namespace is None else namespace
    exec(PILOTNET, namespace)
    torch.manual_seed(4)
    model = namespace["PilotNet"]()
    for m in model.modules():   # trained-looking BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _save_as_on_cuda(state: dict, path) -> None:
    """torch.save with every storage tagged "cuda:0", as a state_dict saved on a GPU is: torch.load on a
    CPU-only machine fails on it unless given map_location."""
    registry = list(torch.serialization._package_registry)
    torch.serialization.register_package(1, lambda obj: "cuda:0", lambda obj, location: None)
    try:
        torch.save(state, path)
    finally:
        torch.serialization._package_registry[:] = registry


@pytest.fixture
def pilotnet_264x68(tmp_path):
    (tmp_path / "pilotnet.py").write_text(PILOTNET)
    model = _model()
    _save_as_on_cuda(model.state_dict(), tmp_path / "pilotnet.pth")
    return f"{tmp_path / 'pilotnet.py'}:PilotNet", tmp_path / "pilotnet.pth", model


def test_every_verb_taking_a_model_takes_how_it_sees():
    verbs = _verbs()
    for verb in ("movie", "explain", "grid", "layers", "train", "evaluate", "view", "drive", "batch", "import"):
        assert SEEING <= {a.dest for a in verbs[verb]._actions}, verb
    # the look's --scale (panel enlargement) stays what it was where both groups meet
    explain = {a.dest: a for a in verbs["explain"]._actions}
    assert "--scale" in explain["scale"].option_strings and "enlarge" in explain["scale"].help


def test_flags_become_pilot_settings():
    parse = _verbs()["layers"].parse_args
    assert model_options(parse(["--model", "m.onnx", "--size", "264x68", "--color", "yuv", "--pixel-scale",
                                "0.0078431373", "--pixel-offset", "-1"])) == {
        "input_size": (264, 68), "color": "yuv", "scale": 0.0078431373, "mean": (1.0,), "std": (1.0,)}
    mean, std = NORMALIZATIONS["imagenet"]
    assert model_options(parse(["--model", "m.onnx", "--normalize", "imagenet"])) == {"mean": mean, "std": std}
    with pytest.raises(ValueError, match="--pixel-offset and --normalize"):
        model_options(parse(["--model", "m", "--pixel-offset", "1", "--normalize", "imagenet"]))
    for bad in ("264", "264x", "wide", "264*68"):
        with pytest.raises(ValueError, match="--size takes WIDTHxHEIGHT"):
            model_options(parse(["--model", "m", "--size", bad]))


def test_the_class_says_how_it_sees_unless_a_flag_says_otherwise(user_net):
    spec, weights = user_net                       # MyNet: input_size = (32, 24), no colour of its own
    parse = _verbs()["layers"].parse_args
    own = open_model(parse(["--model", spec, "--weights", str(weights)]))
    assert own.input_size == (32, 24) and own.color == "rgb" and own.scale == pytest.approx(1 / 255)
    told = open_model(parse(["--model", spec, "--weights", str(weights), "--size", "40x30", "--color", "bgr",
                             "--pixel-scale", "0.5", "--pixel-offset", "-2", "--crop", "1,2,3,4"]))
    assert (told.input_size, told.color, told.scale, told.mean, told.std, told.crop) == (
        (40, 30), "bgr", 0.5, (2.0,), (1.0,), (1, 2, 3, 4))


def test_a_class_preprocessing_dict_yields_to_flags(tmp_path):
    (tmp_path / "net.py").write_text(textwrap.dedent("""
        from torch import nn

        class Net(nn.Module):
            preprocessing = dict(input_size=(20, 16), color="yuv", scale=1.0)

            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 2, 3)

            def forward(self, x):
                return self.conv(x).mean(dim=(2, 3))
    """))
    parse = _verbs()["layers"].parse_args
    own = open_model(parse(["--model", f"{tmp_path / 'net.py'}:Net"]))
    assert (own.input_size, own.color, own.scale) == ((20, 16), "yuv", 1.0)
    told = open_model(parse(["--model", f"{tmp_path / 'net.py'}:Net", "--color", "rgb", "--normalize", "imagenet"]))
    assert (told.input_size, told.color, told.scale) == ((20, 16), "rgb", 1.0)
    assert told.mean == NORMALIZATIONS["imagenet"][0] and told.std == NORMALIZATIONS["imagenet"][1]


def test_a_cuda_saved_state_dict_is_mapped_to_the_cpu(pilotnet_264x68):
    spec, weights, model = pilotnet_264x68
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(weights, weights_only=True)      # the file really needs map_location here
    pilot = open_model(_verbs()["layers"].parse_args(["--model", spec, "--weights", str(weights),
                                                      "--size", "264x68"]))
    assert all(p.device.type == "cpu" for p in pilot.model.state_dict().values())
    for name, value in model.state_dict().items():
        assert torch.equal(pilot.model.state_dict()[name], value), name


def test_the_rejected_shape_and_the_flag_to_change_it(pilotnet_264x68, capsys):
    spec, weights, _ = pilotnet_264x68
    assert main(["layers", "--model", spec, "--weights", str(weights)]) == 1
    err = _error(capsys)
    assert len(err.splitlines()) == 1
    assert err.startswith("pilotlens layers: error: the model rejected an input of shape (1, 3, 66, 200): "
                          "mat1 and mat2 shapes cannot be multiplied")
    assert "give the size it was trained on with --size WxH" in err and "200x66" in err
    assert main(["layers", "--model", spec, "--weights", str(weights), "--size", "264x68"]) == 0
    out = capsys.readouterr().out
    assert "input 264x68" in out and "64x1x26" in out


def test_with_its_size_colour_and_scaling_it_predicts_as_the_model_does(pilotnet_264x68):
    """The pilot the flags describe, on a camera frame, against the model run here on a frame prepared
    by hand: resized to 264 x 68 with OpenCV, converted to YUV, x = pixels / 127.5 - 1."""
    spec, weights, model = pilotnet_264x68
    pilot = open_model(_verbs()["explain"].parse_args(
        ["--model", spec, "--weights", str(weights), "--size", "264x68", "--color", "yuv",
         "--pixel-scale", str(1 / 127.5), "--pixel-offset", "-1", "a.png", "--out", "x"]))
    frames = np.random.default_rng(0).integers(0, 256, (3, 160, 320, 3), dtype=np.uint8)
    by_hand = np.stack([cv2.cvtColor(cv2.resize(f, (264, 68), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2YUV)
                        for f in frames]).astype(np.float32)
    x = torch.from_numpy(by_hand).permute(0, 3, 1, 2) / 127.5 - 1
    with torch.no_grad():
        ref = model(x)[:, 0].numpy()
    assert ref.std() > 0
    np.testing.assert_allclose(pilot.predict(frames)["angle"], ref, rtol=1e-5, atol=1e-6)
