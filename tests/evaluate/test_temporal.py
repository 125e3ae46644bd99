import math

import torch

from pilotlens.evaluate import temporal_consistency
from pilotlens.evaluate.temporal import frame_changes, quiet_pairs


def drive(n: int = 8) -> torch.Tensor:
    """A scene that stands still for 4 frames, then slides right a pixel per frame."""
    base = torch.rand(1, 3, 12, 20, generator=torch.Generator().manual_seed(0))
    frames = [base if t < 4 else torch.roll(base, t - 3, dims=-1) for t in range(n)]
    return torch.cat(frames)


def test_a_map_that_follows_the_scene_does_not_flicker_and_noise_does():
    x = drive()
    steady = x.mean(1)                                   # a map that is the frame itself
    noise = torch.rand(8, 12, 20, generator=torch.Generator().manual_seed(1))
    values = torch.tensor([0.1, 0.1, 0.1, 0.1, 0.2, 0.3, 0.4, 0.5])
    a, b = temporal_consistency(steady, x, values), temporal_consistency(noise, x, values)
    assert math.isnan(a.map_change[0]) and math.isnan(a.frame_change[0])
    # the first four frames are identical and the output does not move: those pairs are the quiet ones
    assert a.quiet.tolist() == [False, True, True, True, False, False, False, False]
    assert a.flicker == 0.0 and b.flicker > 0.8
    torch.testing.assert_close(a.output_change[1:], values.diff().abs(), atol=1e-7, rtol=0)


def test_frame_change_by_hand_and_the_fallback_when_no_pair_is_quiet():
    x = torch.zeros(3, 1, 2, 2)
    x[0, 0, 0, 0] = 2.0                       # range 2
    x[1] = 1.0
    fc = frame_changes(x)
    assert math.isnan(fc[0]) and fc[1].item() == (1 + 1 + 1 + 1) / 4 / 2
    # frame change rising while the output change falls: no pair is below both medians except by rank
    q = quiet_pairs(torch.tensor([math.nan, 1.0, 2.0, 3.0]), torch.tensor([math.nan, 3.0, 2.0, 1.0]))
    assert q[0].item() is False and q.sum() >= 1
