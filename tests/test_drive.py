"""drive: the closed loop counts interventions as the PilotNet paper does; an oracle that steers from
the world's true geometry never leaves its lane, a pilot that never steers does."""
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from pilotlens.data.world import CAR_HALF_WIDTH, SyntheticWorld
from pilotlens.drive import INTERVENTION_SECONDS, DriveResult, drive
from pilotlens.models.pilot import Pilot

SIZE = (48, 36)           # the oracle and the constant pilot do not look: small frames are enough
CURVY = 12                # a seed whose road bends within the first 20 s


def oracle(image, pose, world):
    return world.labels(pose)["angle"]


def never_steers(image, pose, world):
    return 0.0


class Zero(nn.Module):
    """A 'pilot' whose angle is always 0 (its weights are zero)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([("conv1", nn.Conv2d(3, 2, 3)), ("relu1", nn.ReLU())]))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * 14 * 14, 1))
        nn.init.zeros_(self.head[1].weight)
        nn.init.zeros_(self.head[1].bias)

    def forward(self, x):
        return self.head(self.features(x))


def zero_pilot() -> Pilot:
    return Pilot(Zero(), input_size=(16, 16), outputs=("angle",))


def test_the_oracle_drives_without_intervention():
    result = drive(oracle, seed=CURVY, frames=400, size=SIZE)
    assert isinstance(result, DriveResult) and result.frames == 400 and result.elapsed == pytest.approx(20.0)
    assert result.interventions == [] and result.autonomy == 1.0
    assert result.max_offset < 0.5 and result.distance > 100
    assert len(result.poses) == 400 and np.allclose(result.offsets, [p.offset for p in result.poses])
    curv = SyntheticWorld(CURVY).curvature_at([p.s for p in result.poses])
    assert np.abs(curv).max() > 0.01                                  # the road did bend


def test_a_pilot_that_never_steers_leaves_the_lane_and_is_put_back():
    result = drive(never_steers, seed=CURVY, frames=400, size=SIZE)
    world = SyntheticWorld(CURVY, SIZE)
    assert len(result.interventions) >= 1 and np.all(result.steering == 0.0)
    for i in result.interventions:
        if i + 1 < result.frames:
            after = result.poses[i + 1]
            assert after.offset == 0.0 and after.heading == 0.0       # back on the centre line, aligned
        # just before, the car was drifting out: its offset grew toward the lane's limit
        limit = world.half_width(result.poses[i].s) - CAR_HALF_WIDTH
        assert abs(result.poses[i].offset) > 0.5 * limit
    n = len(result.interventions)
    assert result.autonomy == pytest.approx(max(0.0, 1 - n * INTERVENTION_SECONDS / 20.0))
    assert result.max_offset <= max(world.half_width(p.s) for p in result.poses) - CAR_HALF_WIDTH + 0.1


def test_a_pilot_drives_from_its_own_predictions():
    by_pilot = drive(zero_pilot(), seed=CURVY, frames=120, size=SIZE)
    by_hand = drive(never_steers, seed=CURVY, frames=120, size=SIZE)
    assert by_pilot.interventions == by_hand.interventions
    np.testing.assert_allclose(by_pilot.offsets, by_hand.offsets)
    assert "autonomy" in str(by_pilot) and "seed 12" in str(by_pilot)


def test_the_drive_as_an_explained_video(tmp_path):
    result = drive(zero_pilot(), seed=3, frames=6, size=SIZE, out=tmp_path / "d.gif", methods=("gradient",))
    assert result.video == tmp_path / "d.gif" and result.video.stat().st_size > 0
    with pytest.raises(TypeError, match="needs a Pilot"):
        drive(never_steers, seed=3, frames=2, size=SIZE, out=tmp_path / "e.gif")


def test_bad_requests_are_refused(tmp_path):
    with pytest.raises(ValueError, match="frames"):
        drive(never_steers, frames=0)
    with pytest.raises(TypeError, match="pilot must be"):
        drive(42, frames=2, size=SIZE)
    with pytest.raises(IsADirectoryError):
        drive(zero_pilot(), frames=2, size=SIZE, out=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pilotnet", "donkey"])
def test_the_shipped_pilots_keep_their_lane(name):
    torch.set_num_threads(1)
    result = drive(Pilot.load(name), seed=907, frames=600)
    assert result.interventions == [] and result.max_offset < 0.8, str(result)
