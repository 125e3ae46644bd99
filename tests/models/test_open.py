"""open_pilot, the one door from a model spec to a Pilot (Keras, ONNX and JSON files, FILE.py:Class,
weights onto an architecture, pilot files, shipped names, zoo names), and the command-line options
that feed it."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_rel_close

from pilotlens.cli.arguments import add_model_options as add_model_arguments, model_options
from pilotlens.models import open_pilot, zoo
from pilotlens.models.open import DOORS, import_model, is_external, open_external
from pilotlens.models.pilot import Pilot

from . import keras_cases as K
from . import onnx_cases as C
from . import tiny_net

NET = Path(tiny_net.__file__).read_text()     # a user's model file: class Tiny

DENSE = """
import torch
from torch import nn


class Dense(nn.Module):
    '''Takes 3 x 10 x 20 images only: the first Linear fixes the size (as a flatten does).'''

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, stride=2)
        self.fc = nn.Linear(2 * 4 * 9, 1)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))
"""


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    path = C.export(C.seeded(C.PilotNetLike), C.PILOTNET_SHAPE, folder / "exported.onnx", opset=9)
    return C.fix_batch(path, folder / "pilot.onnx")


@pytest.fixture(scope="module")
def pilotnet_weights(tmp_path_factory):
    """A weights-only Keras file of the zoo PilotNet's architecture (Keras 2's save_weights layout)."""
    from .test_weights_onto import keras_pilotnet, save_keras2_weights
    km = keras_pilotnet()
    path = tmp_path_factory.mktemp("weights") / "nvidia.h5"
    save_keras2_weights(km, path)
    return km, path


def test_keras_files_and_user_classes_open_others_do_not(tmp_path):
    path = K.save(K.donkey_linear(), tmp_path, "mypilot")["h5"]
    pilot = open_external(path, crop=(0, 0, 0, 0))
    assert pilot.arch == "keras" and pilot.outputs == ("angle", "throttle")
    (tmp_path / "tiny.py").write_text(NET)
    mine = open_external(f"{tmp_path / 'tiny.py'}:Tiny", crop=(1, 1, 0, 0), input_size=(20, 10), outputs=("a", "b"))
    assert mine.crop == (1, 1, 0, 0) and mine.forward(torch.rand(1, 3, 10, 20)).shape == (1, 2)
    assert open_external("pilotnet") is None and not is_external("mypilot.pt") and is_external("x.keras")
    assert is_external("net.onnx") and is_external("arch.json")
    assert [d.kind for d in DOORS] == ["ONNX file", "Keras file", "Keras JSON architecture", "FILE.py:Class"]


def test_options_that_do_not_apply_are_errors(tmp_path):
    path = K.save(K.pilotnet(), tmp_path, "pn")["keras"]
    with pytest.raises(ValueError, match="--weights is for an architecture .* holds its own weights"):
        open_external(path, weights="state.pth")
    (tmp_path / "tiny.py").write_text(NET)
    with pytest.raises(ValueError, match="--myconfig: not for .*--myconfig and --lambda are for Keras files"):
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
    keras_file = K.save(K.pilotnet(), tmp_path, "pn")["h5"]
    with pytest.raises(ValueError, match="a Keras model file, not a pilot file: open it with pilotlens.models.open_pilot"):
        Pilot.load(keras_file)


def test_options_for_a_pilotlens_pilot_and_folders_are_errors(tmp_path):
    with pytest.raises(ValueError, match="--crop, --size: for Keras, ONNX and JSON files.*not pilotnet"):
        open_pilot("pilotnet", crop=(1, 0, 0, 0), input_size=(20, 10))
    with pytest.raises(ValueError, match="a folder, not a model file"):
        open_pilot(tmp_path)
    Pilot.from_arch("donkey_linear").save(tmp_path / "p.pt")
    with pytest.raises(ValueError, match="--weights is for an architecture .*p.pt is not one"):
        open_pilot(tmp_path / "p.pt", weights=tmp_path / "p.pt")


# -- ONNX ------------------------------------------------------------------------------------------
def test_an_onnx_file_opens_through_the_door(onnx_file):
    pilot = open_pilot(onnx_file, crop=(2, 0, 0, 0), color="bgr")
    c, h, w = C.PILOTNET_SHAPE
    assert pilot.arch == "onnx" and pilot.input_size == (w, h) and pilot.crop == (2, 0, 0, 0) and pilot.color == "bgr"
    x = torch.rand(2, c, h, w)
    ref = C.run_ort(onnx_file, x.numpy())[0]
    np.testing.assert_allclose(pilot.forward(x).detach().numpy(), ref, rtol=1e-5, atol=1e-6)
    for option, value in (("weights", "w.h5"), ("myconfig", "myconfig.py"), ("lambdas", {"l": {"scale": 1.0}})):
        with pytest.raises(ValueError, match="not for .*pilot.onnx .*an ONNX file holds its own weights"):
            open_pilot(onnx_file, **{option: value})


def test_a_saved_onnx_pilot_loads_back_through_zoo_build(onnx_file, tmp_path):
    pilot = import_model(onnx_file, tmp_path / "net.pt", color="yuv", scale=1.0)
    again = open_pilot(tmp_path / "net.pt")
    assert again.arch == zoo.ONNX_ARCH == "onnx" and (again.color, again.scale) == ("yuv", 1.0)
    x = torch.rand(3, *C.PILOTNET_SHAPE)
    assert torch.equal(again.forward(x), pilot.forward(x))
    assert type(zoo.build("onnx", **pilot.arch_kwargs)).__name__ == "OnnxModel"
    with pytest.raises(ValueError, match="ONNX model's preprocessing comes with its pilot file"):
        zoo.preprocessing("onnx")


# -- weights onto an architecture ------------------------------------------------------------------
def test_weights_onto_the_zoo_pilotnet_by_name(pilotnet_weights):
    km, path = pilotnet_weights
    pilot = open_pilot("pilotnet", weights=path, color="rgb")
    assert pilot.arch == "pilotnet" and pilot.color == "rgb" and pilot.weights_report is not None
    x = K.inputs(km, batch=2, high=255.0)
    ref = K.keras_outputs(km, x)[0].detach()
    assert_rel_close(pilot.forward(K.nchw(x)), ref)


def test_weights_onto_a_zoo_name_must_be_a_keras_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no weights file"):
        open_pilot("pilotnet", weights=tmp_path / "missing.h5")
    torch.save(zoo.PilotNet().state_dict(), tmp_path / "state.pth")
    with pytest.raises(ValueError, match="not a Keras weights file"):
        open_pilot("pilotnet", weights=tmp_path / "state.pth")
    with pytest.raises(ValueError, match="--lambda: not for pilotnet"):
        open_pilot("pilotnet", weights=tmp_path / "state.pth", lambdas={"l": {"scale": 1.0, "offset": 0.0}})


def test_a_user_class_takes_keras_weights_by_content_and_state_dicts_as_before(tmp_path, pilotnet_weights):
    _, h5 = pilotnet_weights
    (tmp_path / "net.py").write_text("from pilotlens.models.zoo import PilotNet\n")
    spec = f"{tmp_path / 'net.py'}:PilotNet"
    onto = open_pilot(spec, weights=h5)
    assert onto.weights_report is not None and onto.arch is None
    ref = open_pilot("pilotnet", weights=h5)
    torch.save(ref.model.state_dict(), tmp_path / "state.pth")
    plain = open_pilot(spec, weights=tmp_path / "state.pth")
    assert getattr(plain, "weights_report", None) is None
    x = torch.rand(2, 3, 66, 200) * 255
    for pilot in (onto, plain):
        assert torch.equal(pilot.forward(x), ref.forward(x))


def test_a_json_architecture_needs_its_weights(tmp_path):
    km = K.pilotnet()
    (tmp_path / "arch.json").write_text(km.to_json())
    with pytest.raises(ValueError, match="an architecture without weights: give them with --weights"):
        open_pilot(tmp_path / "arch.json")
    from .test_weights_onto import save_keras2_weights
    save_keras2_weights(km, tmp_path / "w.h5")
    with pytest.raises(ValueError, match="--myconfig: not for"):
        open_pilot(tmp_path / "arch.json", weights=tmp_path / "w.h5", myconfig="myconfig.py")
    pilot = open_pilot(tmp_path / "arch.json", weights=tmp_path / "w.h5", crop=(3, 0, 0, 0))
    assert pilot.arch == "keras" and pilot.crop == (3, 0, 0, 0) and pilot.input_size == (60, 33)


# -- the input the model takes ---------------------------------------------------------------------
def test_a_model_rejecting_the_input_says_the_shape_and_the_setting(tmp_path):
    (tmp_path / "dense.py").write_text(DENSE)
    spec = f"{tmp_path / 'dense.py'}:Dense"
    with pytest.raises(ValueError) as e:
        open_pilot(spec)           # the Pilot's default size, 200x66, which this class does not take
    text = str(e.value)
    assert "\n" not in text
    assert text.startswith("the model rejected an input of shape (1, 3, 66, 200): mat1 and mat2 shapes")
    assert "--size WxH" in text and "200x66" in text
    with pytest.raises(ValueError, match=r"shape \(1, 1, 10, 20\).*channels.*--color"):
        open_pilot(spec, input_size=(20, 10), color="gray")
    pilot = open_pilot(spec, input_size=(20, 10))
    assert pilot.forward(torch.rand(2, 3, 10, 20)).shape == (2, 1)


def test_import_model_has_nothing_to_import_from_a_pilot_or_a_bare_name(tmp_path):
    for src in ("pilotnet", "donkey_linear"):
        with pytest.raises(ValueError, match="nothing to import"):
            import_model(src, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_a_user_class_without_weights_is_said_in_the_api_too(tmp_path, capsys):
    from pilotlens.models import open_pilot
    path = tmp_path / "tiny.py"
    path.write_text("import torch\nfrom torch import nn\n\nclass Tiny(nn.Module):\n    input_size = (16, 12)\n\n"
                    "    def __init__(self):\n        super().__init__()\n        self.conv = nn.Conv2d(3, 2, 3)\n\n"
                    "    def forward(self, x):\n        return self.conv(x).mean(dim=(1, 2, 3))[:, None]\n")
    open_pilot(f"{path}:Tiny")
    assert "no --weights: explaining Tiny with its initial (random) weights" in capsys.readouterr().err
    open_pilot(f"{path}:Tiny", quiet=True)
    assert capsys.readouterr().err == ""
