import pytest
import torch
from captum.attr import GuidedBackprop as CaptumGuided
from conftest import assert_rel_close, captum_forward, explained_columns

import pilotlens


def test_guided_backprop_matches_captum(case):
    name, model, x = case
    cols = explained_columns(name, model, x)
    ref = CaptumGuided(captum_forward(model)).attribute(x.clone(), target=cols).abs().amax(dim=1)
    sal = pilotlens.explain(model, x, "guided_backprop", target=None if name == "gap" else cols[0])
    assert_rel_close(sal.raw, ref)


def test_guided_backprop_differs_from_the_plain_gradient():
    from conftest import build
    model, x = build("pilotnet")
    plain = pilotlens.explain(model, x, "gradient").raw
    guided = pilotlens.explain(model, x, "guided_backprop").raw
    assert not torch.allclose(plain, guided)


def test_guided_backprop_needs_activation_modules():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(), torch.nn.LazyLinear(1))
    x = torch.rand(1, 3, 8, 8)
    model(x)
    with pytest.raises(ValueError, match="activation modules"):
        pilotlens.explain(model, x, "guided_backprop")
