"""Every model format through the command line: `layers`, `explain` with grad_cam at a converted layer's
name, and `import`, for an ONNX file, a Keras 1 file, and weights-only Keras files onto the zoo PilotNet and
onto a user's class; bad files end in one clear line and exit 1.

References: onnxruntime, the numpy Keras 1 forward of test_keras1, Keras 3 itself (torch backend) for the
weights-only files, and captum's LayerGradCam for the maps, on the pilot the command line opened.
"""
from __future__ import annotations

import textwrap

import numpy as np
import onnx
import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam
from conftest import assert_rel_close, captum_forward
from onnx import TensorProto, helper
from PIL import Image

import pilotlens
import pilotlens.models
from pilotlens.cli import main
from pilotlens.layout import decide

from . import keras_cases as K
from . import onnx_cases as C
from .test_keras1 import layer as keras1_layer
from .test_keras1 import pilot_case, reference, write_keras1_h5
from .test_weights_onto import USER_CLASS, keras_pilotnet, keras_user_twin, save_keras2_weights


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{case: (the --model arguments, the converted layer to explain, the reference: x (B x C x H x W) ->
    output B x K)} and the folder."""
    root = tmp_path_factory.mktemp("formats")
    cases = {}

    path = C.fix_batch(C.export(C.seeded(C.PilotNetLike), C.PILOTNET_SHAPE, root / "e.onnx", opset=9), root / "net.onnx")
    cases["onnx"] = (["--model", str(path)], "/conv2/Conv",
                     lambda x: torch.from_numpy(C.run_ort(path, x.numpy())[0]))

    layers, weights, _ = pilot_case("tf")
    write_keras1_h5(root / "keras1.h5", layers, weights)
    cases["keras1"] = (["--model", str(root / "keras1.h5")], "convolution2d_2",
                       lambda x: torch.from_numpy(reference(x.numpy().transpose(0, 2, 3, 1), layers, weights, "tf")))

    pilotnet = keras_pilotnet()
    save_keras2_weights(pilotnet, root / "nvidia.h5")
    cases["onto_pilotnet"] = (["--model", "pilotnet", "--weights", str(root / "nvidia.h5")], "features.conv4",
                              lambda x: K.keras_outputs(pilotnet, x.permute(0, 2, 3, 1))[0].detach())

    (root / "mynet.py").write_text(textwrap.dedent(USER_CLASS))
    twin = keras_user_twin()
    save_keras2_weights(twin, root / "mynet.h5")
    # x = pixels / 127.5 - 1 (from the flags): at pixels / 255 every unit of its conv_b stays closed on these frames
    cases["onto_user_class"] = (["--model", f"{root / 'mynet.py'}:MyNet", "--weights", str(root / "mynet.h5"),
                                 "--pixel-scale", str(1 / 127.5), "--pixel-offset", "-1"], "conv_b", lambda x: K.keras_outputs(twin, x.permute(0, 2, 3, 1))[0].detach())

    (root / "frames").mkdir()
    for f in pilotlens.data.open_source("synthetic", frames=2, seed=3):
        Image.fromarray(f.image).save(root / "frames" / f"frame_{f.index}.png")
    return cases, root


CASES = ["onnx", "keras1", "onto_pilotnet", "onto_user_class"]


def _frames(root):
    return [np.asarray(Image.open(p)) for p in sorted((root / "frames").glob("*.png"))]


def _opened(monkeypatch) -> list:
    """The pilots the command line opens (through the one door), kept for the test to look at."""
    opened, door = [], pilotlens.models.open_pilot

    def keep(*args, **kwargs):
        opened.append(door(*args, **kwargs))
        return opened[-1]
    monkeypatch.setattr(pilotlens.models, "open_pilot", keep)
    return opened


@pytest.mark.parametrize("case", CASES)
def test_layers_lists_the_converted_names(files, case, capsys):
    cases, _ = files
    model_args, layer, _ = cases[case]
    assert main(["layers", *model_args]) == 0
    table = capsys.readouterr().out.splitlines()[2:]      # after the description and the header
    assert [line.split()[1] for line in table if line.split()[1:2] == [layer]] == [layer]


@pytest.mark.parametrize("case", CASES)
def test_explain_grad_cam_at_a_converted_layer_equals_captum(files, case, tmp_path, monkeypatch, capsys):
    cases, root = files
    model_args, layer, forward = cases[case]
    opened = _opened(monkeypatch)
    assert main(["explain", *model_args, str(root / "frames"), "--method", "grad_cam", "--layer", layer,
                 "--out", str(tmp_path / "ex")]) == 0
    assert len(list((tmp_path / "ex").glob("*.png"))) == 2
    pilot = opened[0]
    x = pilot.prepare(_frames(root))
    with torch.no_grad():   # the converted model is the file's model
        assert_rel_close(pilot.forward(x), forward(x))
    decide(pilot.model, x)
    gc = LayerGradCam(captum_forward(pilot.model), dict(pilot.model.named_modules())[layer])
    ref = LayerAttribution.interpolate(gc.attribute(x.clone(), target=0, relu_attributions=False),
                                       tuple(x.shape[2:]), interpolate_mode="bilinear")[:, 0]
    ours = pilotlens.explain(pilot.model, x, "grad_cam", layer=layer, target=0, signed=True)
    assert_rel_close(ours.raw, ref)


@pytest.mark.parametrize("case", CASES)
def test_import_then_open_the_pilot_file(files, case, tmp_path, monkeypatch, capsys):
    cases, root = files
    model_args, layer, forward = cases[case]
    src, rest = model_args[1], model_args[2:]
    out = tmp_path / "imported.pt"
    assert main(["import", src, *rest, "--out", str(out)]) == 0
    # a user's class: the file holds its weights, not its code nor (as --weights) how it sees
    reopen = ["--model", src, "--weights", str(out), *rest[2:]] if case == "onto_user_class" else ["--model", str(out)]
    opened = _opened(monkeypatch)
    assert main(["layers", *reopen]) == 0
    assert any(line.split()[1:2] == [layer] for line in capsys.readouterr().out.splitlines())
    x = opened[0].prepare(_frames(root))
    with torch.no_grad():
        assert_rel_close(opened[0].forward(x), forward(x))


# -- bad files -------------------------------------------------------------------------------------
def _one_line_error(capsys, verb="layers") -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith(f"pilotlens {verb}: error: ")
    return err


def test_an_onnx_file_with_an_unsupported_op(tmp_path, capsys):
    w = onnx.numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                               helper.make_node("Erf", ["c"], ["y"], name="odd_activation")], "bad",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], [w])
    path = tmp_path / "erf.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    assert main(["layers", "--model", str(path)]) == 1
    err = _one_line_error(capsys)
    assert "Erf" in err and "odd_activation" in err and str(path) in err


def test_a_truncated_onnx_file(files, tmp_path, capsys):
    cases, _ = files
    whole = open(cases["onnx"][0][1], "rb").read()
    path = tmp_path / "cut.onnx"
    path.write_bytes(whole[: len(whole) // 2])
    assert main(["import", str(path), "--out", str(tmp_path / "cut.pt")]) == 1
    assert str(path) in _one_line_error(capsys, "import") and not (tmp_path / "cut.pt").exists()


def test_weights_that_do_not_fit_show_both_sides(tmp_path, capsys):
    save_keras2_weights(keras_pilotnet(dense1=64), tmp_path / "other.h5")
    assert main(["layers", "--model", "pilotnet", "--weights", str(tmp_path / "other.h5")]) == 1
    err = capsys.readouterr().err.strip()
    first, *table = err.splitlines()
    assert "Traceback" not in err and first.startswith("pilotlens layers: error: ")
    assert "(1152, 64)" in first and "(100, 1152)" in first and "'head.fc1'" in first   # the file's, the module's
    assert table[0].split() == ["file", "layer", "shapes", "|", "module", "layer", "shapes"]


def test_a_keras1_file_with_a_layer_the_converter_does_not_know(tmp_path, capsys):
    layers, weights, _ = pilot_case("tf")
    layers.insert(4, keras1_layer("LRN2D", "lrn_1", alpha=1e-4, k=2, beta=0.75, n=5))
    write_keras1_h5(tmp_path / "lrn.h5", layers, weights)
    assert main(["explain", "--model", str(tmp_path / "lrn.h5"), str(tmp_path), "--out", str(tmp_path / "ex")]) == 1
    err = _one_line_error(capsys, "explain")
    assert "'lrn_1' (LRN2D)" in err and str(tmp_path / "lrn.h5") in err
