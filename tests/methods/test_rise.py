"""RISE against its published estimator (Petsiuk et al. 2018, eq. 6: S = sum_i f(x * M_i) M_i / (N p)),
looped mask by mask, with the masks pilotlens draws; and the masks against section 3.2."""
import pytest
import torch
from cam_refs import mixed_threshold, steering_sides
from conftest import assert_rel_close, build, captum_forward

import pilotlens
from pilotlens.methods.rise import rise_masks


@pytest.mark.parametrize("name", ["pilotnet", "donkey", "nested"])
def test_rise_is_the_score_weighted_mean_of_the_masks(name):
    model, x = build(name, batch=2)
    col = 1 if name == "donkey" else 0
    n, p = 12, 0.4
    masks = rise_masks(n, 5, p, tuple(x.shape[2:]), seed=3)
    wrapped = captum_forward(model)
    hand = torch.zeros(2, *x.shape[2:])
    with torch.no_grad():
        for m in masks:
            hand += wrapped(x * m + 0.1 * (1 - m))[:, col].view(2, 1, 1) * m
    sal = pilotlens.explain(model, x, "rise", target=col, masks=n, cells=5, p=p, seed=3, baseline=0.1, batch_size=5)
    assert_rel_close(sal.raw, hand / (n * p))


def test_centered_rise_takes_the_mean_score_off_and_is_signed():
    model, x = build("nested", batch=2)
    out = captum_forward(model)(x).detach()
    threshold = mixed_threshold(out)
    sides = torch.tensor(steering_sides(out, threshold), dtype=torch.float32)
    masks = rise_masks(10, 4, 0.5, tuple(x.shape[2:]), seed=0)
    with torch.no_grad():
        a = torch.stack([captum_forward(model)(x * m)[:, 0] for m in masks], 1)       # B x n
    s = torch.where(sides.view(-1, 1) == 0, -a.abs(), sides.view(-1, 1) * a)
    s = s - s.mean(dim=1, keepdim=True)
    hand = torch.einsum("bn,nhw->bhw", s, masks) / 5.0
    sal = pilotlens.explain(model, x, "rise", target=pilotlens.Steering(threshold), masks=10, cells=4, center=True)
    assert_rel_close(sal.raw, hand)
    assert pilotlens.explainer(model, "rise", center=True).is_signed()
    assert not pilotlens.explainer(model, "rise").is_signed()


def test_masks_are_smooth_seeded_and_keep_about_p():
    a = rise_masks(400, 7, 0.3, (30, 41), seed=1)
    assert a.shape == (400, 30, 41) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, rise_masks(400, 7, 0.3, (30, 41), seed=1))
    assert not torch.equal(a, rise_masks(400, 7, 0.3, (30, 41), seed=2))
    assert abs(a.mean().item() - 0.3) < 0.03
    assert ((a > 0) & (a < 1)).float().mean() > 0.3   # bilinear: soft edges, not a binary grid
