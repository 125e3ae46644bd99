import numpy as np
import pytest
import torch

from pilotlens.data import open_source
from pilotlens.frame_explainer import FrameExplainer
from pilotlens.models.pilot import Pilot


@pytest.fixture(scope="module")
def pilot():
    torch.manual_seed(0)
    return Pilot.from_arch("donkey_linear")


def test_maps_land_on_the_frame_with_the_pilots_target(pilot):
    frames = list(open_source("synthetic", frames=3, seed=2))
    with FrameExplainer(pilot, ["visual_backprop", "grad_cam:signed=true"]) as explain:
        result = explain(frames)
    assert result.maps["visual_backprop"].shape == (3, 120, 160)
    assert set(result.predictions) == {"angle", "throttle"} and result.predictions["angle"].shape == (3,)
    direct = pilot.predict(frames)
    assert np.allclose(result.predictions["angle"], direct["angle"], atol=1e-6)
    assert result.target == "steering(0.05)"
    assert result.signed == {"visual_backprop": False, "grad_cam:signed=true": True}
    one_way, signed = result.maps["visual_backprop"], result.maps["grad_cam:signed=true"]
    assert one_way.min() >= 0 and one_way.max() <= 1
    assert signed.min() >= -1 and signed.max() <= 1 and signed.min() < 0      # evidence against survives
    assert np.isclose(np.abs(signed).reshape(3, -1).max(axis=1), 1, atol=1e-5).all()   # scaled by max |map|


def test_non_finite_frames_get_blank_maps_and_are_named(pilot, caplog):
    frames = list(open_source("synthetic", frames=4, seed=2))
    nan_pilot = Pilot.from_arch("donkey_linear")
    with torch.no_grad():
        nan_pilot.model.features.conv1.bias[0] = float("nan")
    with FrameExplainer(nan_pilot, ["gradient", "grad_cam", "occlusion:window=40", "integrated_gradients:steps=4"]) as ex:
        result = ex(frames[1:3])
    assert result.nonfinite == [1, 2]
    assert "frames [1, 2]" in caplog.text
    for label, m in result.maps.items():
        assert np.isfinite(m).all() and (m == 0).all(), label
