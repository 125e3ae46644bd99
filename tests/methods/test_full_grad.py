"""FullGrad against pytorch-grad-cam's formula (fullgrad_cam.py: |x * dS/dx| and every bias layer's
|b * dS/dz|, each image's channel min-max normalised with 1e-7 and resized to the input, summed), computed
here channel by channel with F.interpolate."""
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_rel_close, build, captum_forward

import pilotlens


def _norm(m):
    m = m - m.amin(dim=(-2, -1), keepdim=True)
    return m / (1e-7 + m.amax(dim=(-2, -1), keepdim=True))


def _by_hand(model, x, col):
    layers = [m for m in model.modules()
              if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d)) and m.bias is not None]
    store = []
    handles = [m.register_forward_hook(lambda mod, i, o: store.append((mod, o))) for m in layers]
    xi = x.clone().requires_grad_(True)
    out = captum_forward(model)(xi)
    for h in handles:
        h.remove()
    grads = torch.autograd.grad(out[:, col].sum(), [xi] + [o for _, o in store])
    total = _norm((xi * grads[0]).abs()).sum(1)
    for (mod, _), g in zip(store, grads[1:]):
        bias = mod.bias
        if isinstance(mod, torch.nn.BatchNorm2d):
            bias = mod.bias - mod.running_mean * mod.weight / torch.sqrt(mod.running_var + mod.eps)
        per_channel = _norm((bias.view(1, -1, 1, 1) * g).abs())
        for c in range(per_channel.shape[1]):
            total = total + F.interpolate(per_channel[:, c:c + 1], size=x.shape[2:], mode="bilinear",
                                          align_corners=False)[:, 0]
    return total.detach()


@pytest.mark.parametrize("name", ["pilotnet", pytest.param("donkey", marks=pytest.mark.slow), "nested"])
def test_full_grad_matches_the_formula(name):
    # (the reference resizes channel by channel, as pytorch-grad-cam: the donkey's layers make that slow)
    model, x = build(name, batch=2)
    col = 1 if name == "donkey" else 0
    sal = pilotlens.explain(model, x, "full_grad", target=col)
    assert_rel_close(sal.raw, _by_hand(model, x, col))


def test_batch_norm_bias_is_the_effective_one():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.BatchNorm2d(4),
                                torch.nn.ReLU(inplace=True), torch.nn.Conv2d(4, 4, 3), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.LazyLinear(1))
    x = torch.rand(2, 3, 12, 12)
    model(x)
    model[1].running_mean.uniform_(-0.5, 0.5)
    model[1].running_var.uniform_(0.5, 2.0)
    model.eval()
    fresh = torch.nn.Sequential(*[torch.nn.ReLU() if isinstance(m, torch.nn.ReLU) else m for m in model]).eval()
    assert_rel_close(pilotlens.explain(model, x, "full_grad", target=0).raw, _by_hand(fresh, x, 0))


def test_a_model_without_biases_is_refused():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.Flatten(), torch.nn.LazyLinear(1))
    with pytest.raises(ValueError, match="bias"):
        pilotlens.explainer(model, "full_grad")
