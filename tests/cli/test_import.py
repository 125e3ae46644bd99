"""`pilotlens import`: Keras (1, 2, 3) and ONNX files, and Keras weights onto an architecture, written as a
pilot file that keeps how the model sees (the seeing flags included)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from models import onnx_cases as C
from models.test_keras1 import pilot_case, reference, write_keras1_h5

from pilotlens.cli import main
from pilotlens.models import open_pilot
from pilotlens.models.pilot import Pilot

from .helpers import error as _error
from .helpers import reference_net


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    return C.fix_batch(C.export(C.seeded(C.PilotNetLike), C.PILOTNET_SHAPE, folder / "e.onnx", opset=9),
                       folder / "net.onnx")


def test_an_onnx_file_is_written_with_the_seeing_flags(onnx_file, tmp_path, capsys):
    out = tmp_path / "net.pt"
    assert main(["import", str(onnx_file), "--out", str(out), "--color", "yuv", "--pixel-scale", str(1 / 127.5),
                 "--pixel-offset", "-1", "--crop", "10,4,0,0"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"wrote {out}: net (onnx): input 100x33 yuv, crop top=10 bottom=4")
    pilot = Pilot.load(out)        # a pilot file: Pilot.load itself reads it back
    assert (pilot.color, pilot.scale, pilot.mean, pilot.std, pilot.crop) == ("yuv", 1 / 127.5, (1.0,), (1.0,),
                                                                               (10, 4, 0, 0))
    frames = np.random.default_rng(2).integers(0, 256, (2, 47, 100, 3), dtype=np.uint8)
    yuv = np.stack([cv2.cvtColor(f[10:-4], cv2.COLOR_RGB2YUV) for f in frames]).astype(np.float32)
    ref = C.run_ort(onnx_file, yuv.transpose(0, 3, 1, 2) / 127.5 - 1)[0]
    np.testing.assert_allclose(pilot.predict(frames)["angle"], ref[:, 0], rtol=1e-5, atol=1e-6)


def test_the_file_fixes_its_size_so_another_size_is_refused(onnx_file, tmp_path, capsys):
    assert main(["import", str(onnx_file), "--out", str(tmp_path / "x.pt"), "--size", "200x66"]) == 1
    err = _error(capsys)
    assert "takes 100x33 (w x h) images, not input_size (200, 66)" in err and not (tmp_path / "x.pt").exists()


def test_a_keras1_file(tmp_path, capsys):
    layers, weights, (h, w, c) = pilot_case("tf")
    write_keras1_h5(tmp_path / "k1.h5", layers, weights)
    assert main(["import", str(tmp_path / "k1.h5"), "--out", str(tmp_path / "k1.pt")]) == 0
    pilot = Pilot.load(tmp_path / "k1.pt")
    assert pilot.arch == "keras" and pilot.input_size == (w, h)
    x = np.random.default_rng(0).uniform(0, 1, (3, h, w, c)).astype(np.float32)
    with torch.no_grad():
        ours = pilot.forward(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(ours.numpy(), reference(x, layers, weights, "tf"), rtol=1e-5, atol=1e-5)


def test_weights_onto_a_user_class_say_how_to_use_them(user_net, tmp_path, capsys):
    """A pilot of the user's class holds no code: the verb says to give the class with the file as --weights."""
    spec, state = user_net
    model = reference_net(state)
    h5 = tmp_path / "w.h5"
    _keras_weights_of(model, h5)
    out = tmp_path / "mine.pt"
    assert main(["import", spec, "--weights", str(h5), "--out", str(out), "--color", "bgr"]) == 0
    captured = capsys.readouterr()
    assert "file layer" in captured.out and "conv" in captured.out       # the weights report's table
    assert f"use it as --model {spec} --weights {out}" in captured.err
    again = open_pilot(spec, weights=out)
    x = torch.rand(2, 3, 24, 32)
    with torch.no_grad():
        torch.testing.assert_close(again.forward(x), model(x), rtol=1e-6, atol=1e-6)


def _keras_weights_of(model: torch.nn.Module, path) -> None:
    """A weights-only Keras 2 file (save_weights layout) holding `model`'s conv and dense weights, written
    with h5py from the layouts Keras documents: kernels (h, w, in, out), dense (in, out)."""
    import h5py
    layers = [("conv2d", [("kernel", model.conv.weight.detach().numpy().transpose(2, 3, 1, 0)),
                          ("bias", model.conv.bias.detach().numpy())]),
              ("dense", [("kernel", model.head.weight.detach().numpy().T), ("bias", model.head.bias.detach().numpy())])]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode() for n, _ in layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.4.0"
        for name, arrays in layers:
            g = f.create_group(name)
            g.attrs["weight_names"] = [f"{name}/{k}:0".encode() for k, _ in arrays]
            for k, a in arrays:
                g.create_dataset(f"{name}/{k}:0", data=np.ascontiguousarray(a))


@pytest.mark.parametrize("src", ["pilotnet", "donkey"])
def test_a_pilot_or_a_bare_name_has_nothing_to_import(src, tmp_path, capsys):
    assert main(["import", src, "--out", str(tmp_path / "x.pt")]) == 1
    assert "nothing to import" in _error(capsys)


def test_the_output_must_be_a_pilot_file(onnx_file, tmp_path, capsys):
    assert main(["import", str(onnx_file), "--out", str(tmp_path / "x.onnx")]) == 1
    assert "must end in .pt" in _error(capsys)
