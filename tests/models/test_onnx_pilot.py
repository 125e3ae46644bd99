"""An ONNX file as a Pilot: input size and outputs from the graph, the user's settings honoured."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pilotlens.models.onnx import onnx_module
from pilotlens.models.onnx.pilot import onnx_pilot
from pilotlens.models.zoo import ONNX_ARCH

from . import onnx_cases as C


@pytest.fixture(scope="module")
def pilotnet(tmp_path_factory):
    return C.export(C.seeded(C.PilotNetLike), C.PILOTNET_SHAPE, tmp_path_factory.mktemp("onnx") / "pilot.onnx", opset=9)


def test_a_steering_file_is_a_pilot_of_its_input_size_with_an_angle(pilotnet):
    pilot = onnx_pilot(pilotnet)
    c, h, w = C.PILOTNET_SHAPE
    assert pilot.input_size == (w, h) and pilot.outputs == ("angle",) and pilot.color == "rgb"
    assert pilot.arch == ONNX_ARCH and pilot.name == "pilot"
    frames = [np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8) for i in range(3)]
    x = pilot.prepare(frames)
    ref = C.run_ort(pilotnet, x.numpy())[0]
    np.testing.assert_allclose(pilot.predict(frames)["angle"], ref[:, 0], rtol=1e-5, atol=1e-6)


def test_settings_given_win(pilotnet):
    pilot = onnx_pilot(pilotnet, scale=1.0, color="yuv", crop=(4, 0, 0, 0), outputs=["steer"], name="mine")
    assert (pilot.scale, pilot.color, pilot.crop, pilot.outputs, pilot.name) == (1.0, "yuv", (4, 0, 0, 0), ("steer",), "mine")
    with pytest.raises(ValueError, match="not input_size"):
        onnx_pilot(pilotnet, input_size=(64, 64))


def test_several_outputs_are_named_per_column(tmp_path):
    pilot = onnx_pilot(C.handmade(tmp_path / "two.onnx"))
    assert pilot.outputs == tuple(f"probs_{i}" for i in range(6)) + tuple(f"steer_{i}" for i in range(3))


def test_an_nhwc_file_gives_its_size_from_h_and_w(tmp_path):
    path = C.export(C.seeded(C.NHWCNet), C.NHWC_SHAPE, tmp_path / "nhwc.onnx", opset=13)
    h, w, _ = C.NHWC_SHAPE
    pilot = onnx_pilot(path)
    assert pilot.input_size == (w, h) and pilot.outputs == ("y",)


def test_the_pilot_rebuilds_from_its_plain_settings(pilotnet):
    """Pilot.save keeps arch_kwargs: the graph alone (plain data) and the state_dict give the same model."""
    pilot = onnx_pilot(pilotnet)
    model = onnx_module(**pilot.arch_kwargs)
    model.load_state_dict(pilot.model.state_dict())
    x = torch.rand(2, *C.PILOTNET_SHAPE)
    assert torch.equal(model.eval()(x), pilot.model(x))
