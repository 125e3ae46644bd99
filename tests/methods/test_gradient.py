import torch
from captum.attr import Saliency as CaptumSaliency
from conftest import assert_rel_close, captum_forward, explained_columns

import pilotlens


def test_gradient_matches_captum_saliency(case):
    name, model, x = case
    cols = explained_columns(name, model, x)
    ref = CaptumSaliency(captum_forward(model)).attribute(x.clone(), target=cols, abs=True).amax(dim=1)
    target = None if name == "gap" else cols[0]
    sal = pilotlens.explain(model, x, "gradient", target=target)
    assert_rel_close(sal.raw, ref)
    assert sal.maps.shape == x.shape[:1] + x.shape[2:]


def test_gradient_of_a_linear_model_is_its_weights():
    # score = sum(w * x): the gradient is w everywhere, whatever x is
    w = torch.randn(1, 3, 5, 7)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(105, 1, bias=False))
    model[1].weight.data = w.reshape(1, -1)
    sal = pilotlens.explain(model, torch.rand(2, 3, 5, 7), "gradient")
    assert torch.allclose(sal.raw, w.abs().amax(dim=1).expand(2, 5, 7))
