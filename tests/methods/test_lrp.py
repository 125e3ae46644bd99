"""LRP against captum's LRP (EpsilonRule, GammaRule, Alpha1_Beta0_Rule), and the first-layer rules captum does not
have (z^B, w^2, flat) against their published formulas, worked out with explicit patch matrices."""
import copy

import pytest
import torch
import torch.nn.functional as F
from captum.attr import LRP as CaptumLRP
from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule, EpsilonRule, GammaRule
from cam_refs import mixed_threshold, steering_sides
from conftest import assert_rel_close, build, captum_forward, explained_columns
from torch import nn

import pilotlens
from pilotlens.layout import decide

EPS, GAMMA = 1e-4, 0.25


def _captum_rules(model, rule):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.rule = {"epsilon": EpsilonRule(EPS), "gamma": GammaRule(GAMMA), "zplus": Alpha1_Beta0_Rule(),
                      "composite": GammaRule(GAMMA)}[rule]
        elif isinstance(m, nn.Linear):
            m.rule = {"epsilon": EpsilonRule(EPS), "gamma": GammaRule(GAMMA), "zplus": Alpha1_Beta0_Rule(),
                      "composite": EpsilonRule(EPS)}[rule]
        elif isinstance(m, (nn.Flatten, _Copy)):
            m.rule = EpsilonRule(1e-9)  # reshaping: a / (a + 1e-9) = 1, relevance passes (captum has no rule for it)


class _Copy(nn.Module):
    """nn.Identity returns its input tensor itself, and captum's LRP then hooks one tensor as both the layer's
    input and output; a copy gives it two tensors (same function)."""

    def forward(self, x):
        return x.clone()


def _captum_lrp(model, x, cols, rule):
    model = copy.deepcopy(model)
    for name, m in list(model.named_modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, nn.Identity):
                setattr(m, child_name, _Copy())
    _captum_rules(model, rule)
    decide(model, x)  # the copy runs in the layout pilotlens runs the original in (conftest.Concat)
    return CaptumLRP(captum_forward(model)).attribute(x.clone(), target=cols).sum(1).detach()


@pytest.mark.parametrize("rule", ["epsilon", "gamma", "zplus", "composite"])
def test_lrp_matches_captum(case, rule):
    name, model, x = case
    cols = explained_columns(name, model, x)
    sal = pilotlens.explain(model, x, "lrp", target=None if name == "gap" else cols[0], rule=rule, epsilon=EPS,
                            gamma=GAMMA, first="same")
    assert_rel_close(sal.raw, _captum_lrp(model, x, cols, rule))


@pytest.mark.parametrize("name", ["pilotnet", "donkey", "nested"])
def test_steering_is_the_angle_relevance_times_each_images_side(name):
    # relevance is linear in the output's relevance: a frozen steering score side * angle starts as that
    # score in the angle's column, so the map is captum's angle relevance times the side (-sign(a) at centre)
    model, x = build(name, batch=3)
    out = captum_forward(model)(x).detach()
    threshold = mixed_threshold(out)
    sides = steering_sides(out, threshold)
    assert len(set(sides)) >= 2
    factor = torch.tensor([s if s else -float(torch.sign(out[i, 0])) for i, s in enumerate(sides)])
    sal = pilotlens.explain(model, x, "lrp", target=pilotlens.Steering(threshold), rule="composite", epsilon=EPS,
                            first="same")
    assert_rel_close(sal.raw, _captum_lrp(model, x, 0, "composite") * factor.view(-1, 1, 1))


def _small():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 5 * 4, 1)).eval()
    return model, torch.rand(2, 2, 5, 4) * 2 - 0.5


def _first_layer_by_hand(model, x, first, low=None, high=None):
    """Epsilon at the linear layer, then the first-layer rule on explicit patches (F.unfold): for output unit j
    with patch p_j and weights w, R_x = fold(sum_j c_ij R_j / z_j) with
      zbox (Montavon et al. 2017, DTD z^B): c = x w - l w+ - h w-;   wsquare: c = w^2;   flat: c = 1
    and z_j = sum_i c_ij. zennit's ZBox / WSquare / Flat rules; Montavon et al. 2019, table 1."""
    conv, lin = model[0], model[3]
    B = x.shape[0]
    a = torch.relu(conv(x)).flatten(1)
    z2 = lin(a)
    R2 = a * ((z2 / (z2 + EPS * torch.sign(z2))) @ lin.weight)       # the output's relevance is z2 itself
    R1 = R2.view(B, 3, -1)                                            # per output unit j (3 x 20 of them)
    P = F.unfold(x, 3, padding=1)                                     # B x (2*9) x 20
    W = conv.weight.view(3, -1)                                       # 3 x 18
    if first == "zbox":
        lo = x.amin(dim=(1, 2, 3)).view(B, 1, 1) if low is None else torch.full((B, 1, 1), low)
        hi = x.amax(dim=(1, 2, 3)).view(B, 1, 1) if high is None else torch.full((B, 1, 1), high)
        Lp = F.unfold(torch.ones_like(x), 3, padding=1) * lo             # padding stays 0 for the bounds too
        Hp = F.unfold(torch.ones_like(x), 3, padding=1) * hi
        c = (W[None, :, :, None] * P[:, None] - W.clamp(min=0)[None, :, :, None] * Lp[:, None]
             - W.clamp(max=0)[None, :, :, None] * Hp[:, None])         # B x 3 x 18 x 20
    else:
        w = W ** 2 if first == "wsquare" else torch.ones_like(W)
        inside = F.unfold(torch.ones_like(x), 3, padding=1)            # padded positions carry nothing
        c = w[None, :, :, None] * inside[:, None]
    z = c.sum(dim=2, keepdim=True)
    share = (c * (R1[:, :, None, :] / (z + 1e-9 * torch.where(z >= 0, 1.0, -1.0)))).sum(dim=1)   # B x 18 x 20
    return F.fold(share, x.shape[2:], 3, padding=1).sum(dim=1).detach()


@pytest.mark.parametrize("first,bounds", [("zbox", {}), ("zbox", {"low": -0.5, "high": 1.5}), ("wsquare", {}),
                                          ("flat", {})])
def test_first_layer_rules_by_hand(first, bounds):
    model, x = _small()
    sal = pilotlens.explain(model, x, "lrp", target=0, rule="composite", first=first, epsilon=EPS, **bounds)
    assert_rel_close(sal.raw, _first_layer_by_hand(model, x, first, **bounds))


def test_relevance_is_conserved_by_the_zero_bias_epsilon_free_rules():
    # with no biases and LRP-0 everywhere, the relevance at the input sums to the explained output
    model, x = _small()
    for m in model.modules():
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)
    sal = pilotlens.explain(model, x, "lrp", target=0, rule="epsilon", epsilon=0.0)
    assert_rel_close(sal.raw.sum(dim=(1, 2)), model(x)[:, 0].detach(), rel=1e-4)


def test_lrp_refuses_layers_it_has_no_rule_for_and_names_bad_options():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ConvTranspose2d(4, 2, 3), nn.Flatten(), nn.LazyLinear(1))
    with pytest.raises(ValueError, match="ConvTranspose2d"):
        pilotlens.explainer(model, "lrp")
    small, _ = _small()
    with pytest.raises(ValueError, match="rules: epsilon"):
        pilotlens.explainer(small, "lrp", rule="alpha2beta1")
    with pytest.raises(ValueError, match="zbox"):
        pilotlens.explainer(small, "lrp", first="z")


def test_an_input_normalisation_layer_passes_relevance_unchanged():
    # PilotNet's Affine(x / 127.5 - 1) before the first conv: relevance is a share of the score, so x gets the
    # first conv's input relevance as it is (the gradient would scale it by 1/127.5)
    from pilotlens.models.zoo import Affine
    model, x = _small()
    with_norm = nn.Sequential(Affine(0.5, -0.25), *model).eval()
    raw = pilotlens.explain(with_norm, x, "lrp", target=0, rule="epsilon", epsilon=EPS).raw
    assert_rel_close(raw, pilotlens.explain(model, x * 0.5 - 0.25, "lrp", target=0, rule="epsilon", epsilon=EPS).raw)


@pytest.mark.parametrize("channels, stride, padding, size", [(3, 2, 0, (13, 18)), (6, 2, 1, (12, 11)), (1, 3, 2, (10, 14))])
def test_zbox_at_a_plain_conv_equals_its_autograd_form(channels, stride, padding, size, monkeypatch):
    """The first layer's z^B without autograd (the bounds' convolutions as one image of ones, their two input
    gradients as one transposed convolution; few channels by forward convolutions) gives the relevance the
    three-convolution autograd form gives, on strided convs whose windows leave rows and columns over."""
    from pilotlens.methods import lrp
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(channels, 5, 4, stride=stride, padding=padding), nn.ReLU(), nn.Flatten(),
                          nn.LazyLinear(2)).eval()
    x = torch.rand(3, channels, *size) * 2 - 0.5
    model(x)
    for bounds in ({}, {"low": -0.5, "high": 1.5}):
        fast = pilotlens.explain(model, x, "lrp", target=1, **bounds).raw
        monkeypatch.setattr(lrp, "plain_conv", lambda m: False)
        slow = pilotlens.explain(model, x, "lrp", target=1, **bounds).raw
        monkeypatch.undo()
        assert_rel_close(fast, slow, rel=1e-5)
