import pytest
import torch
from conftest import assert_rel_close, build

import pilotlens


def test_no_noise_is_the_plain_gradient():
    model, x = build("donkey", batch=2)
    smooth = pilotlens.explain(model, x, "smoothgrad", target=0, noise=0.0, samples=3)
    assert_rel_close(smooth.raw, pilotlens.explain(model, x, "gradient", target=0).raw)


def test_smoothgrad_averages_absolute_gradients_over_seeded_noise():
    model, x = build("pilotnet", batch=2)
    sal = pilotlens.explain(model, x, "smoothgrad", target=0, noise=0.2, samples=4, seed=7)
    gen = torch.Generator().manual_seed(7)
    sigma = 0.2 * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3))).view(-1, 1, 1, 1)
    total = torch.zeros_like(x)
    for _ in range(4):
        noisy = (x + sigma * torch.randn((1, *x.shape[1:]), generator=gen)).requires_grad_()
        (g,) = torch.autograd.grad(model(noisy)[:, 0].sum(), noisy)
        total += g.abs()
    assert_rel_close(sal.raw, (total / 4).amax(dim=1))
    again = pilotlens.explain(model, x, "smoothgrad", target=0, noise=0.2, samples=4, seed=7)
    assert torch.equal(sal.raw, again.raw)


def test_bad_options_are_refused():
    model, _ = build("pilotnet", batch=1)
    with pytest.raises(ValueError, match="samples"):
        pilotlens.explainer(model, "smoothgrad", samples=0)
