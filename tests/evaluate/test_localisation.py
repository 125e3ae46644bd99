import math

import numpy as np
import pytest
import torch

import pilotlens
from pilotlens.evaluate import energy_share, localisation, mask_share, masks_to_input, pointing_game
from pilotlens.models.pilot import Pilot

from .helpers import LeftHalf, half_maps, images, uniform_maps

B = 4


def test_a_gradient_map_of_the_left_half_model_lands_on_the_left_half():
    model, x = LeftHalf().eval(), images(B)
    maps = pilotlens.explain(model, x, "gradient").maps
    left = half_maps(B, "left")
    res = localisation(maps, {"left": left, "right": 1 - left}, tolerance=0)
    assert (res.pointing["left"] == 1).all() and (res.pointing["right"] == 0).all()
    torch.testing.assert_close(res.energy["left"], torch.ones(B))
    torch.testing.assert_close(res.mask_share["left"], torch.full((B,), 0.5))


def test_left_map_beats_right_map_and_random_sits_at_the_mask_share():
    left = half_maps(B, "left")
    mask = torch.zeros(B, 16, 16)
    mask[:, 4:12, 1:7] = 1
    assert (energy_share(left, mask) > energy_share(half_maps(B, "right"), mask)).all()
    rnd = energy_share(uniform_maps(64, 0), mask[:1].expand(64, 16, 16))
    assert abs(rnd.mean().item() - mask_share(mask)[0].item()) < 0.02


def test_pointing_game_tolerance_and_ties():
    maps = torch.zeros(1, 10, 10)
    maps[0, 5, 5] = 1
    mask = torch.zeros(1, 10, 10)
    mask[0, 5, 7] = 1
    assert pointing_game(maps, mask, tolerance=1).item() == 0
    assert pointing_game(maps, mask, tolerance=2).item() == 1
    # a flat map: every pixel is the maximum, the score is the share of them on the mask
    flat = torch.ones(1, 10, 10)
    big = torch.zeros(1, 10, 10)
    big[0, :, :3] = 1
    assert pointing_game(flat, big, tolerance=0).item() == pytest.approx(0.3)


def test_empty_masks_and_zero_maps_give_nan():
    maps, empty = torch.rand(1, 6, 6), torch.zeros(1, 6, 6)
    assert math.isnan(pointing_game(maps, empty).item()) and math.isnan(energy_share(maps, empty).item())
    assert math.isnan(energy_share(torch.zeros(1, 6, 6), torch.ones(1, 6, 6)).item())
    with pytest.raises(ValueError, match="masks must match the maps"):
        energy_share(maps, torch.ones(1, 12, 12))


def test_soft_masks_weight_pixels():
    maps = torch.ones(1, 2, 2)
    soft = torch.tensor([[[0.5, 0.0], [0.0, 0.0]]])
    assert energy_share(maps, soft).item() == pytest.approx(0.125)


def test_masks_to_input_follows_the_pilots_crop_and_resize():
    pilot = Pilot(torch.nn.Conv2d(3, 1, 1), input_size=(8, 4), crop=(4, 0, 0, 0))
    mask = np.zeros((12, 16), bool)
    mask[4:8, :8] = True          # the top half of the crop, left half
    mask[10, 14] = True           # one pixel: a quarter of an input pixel
    m = masks_to_input(pilot, mask[None])
    assert m.shape == (1, 4, 8)
    assert (m[0, :2, :4] == 1).all() and (m[0, 2:, :4] == 0).all()
    assert m[0, 3, 7].item() == pytest.approx(0.25)
