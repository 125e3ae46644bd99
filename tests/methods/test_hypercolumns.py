import torch
from conftest import assert_rel_close, build

import pilotlens
from pilotlens.saliency import normalize


def _up(m, size):
    return torch.nn.functional.interpolate(m[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def test_hypercolumns_multiply_the_normalised_layer_means():
    model, x = build("pilotnet")
    sal = pilotlens.explain(model, x, "hypercolumns", layers=["1", "5", "9"])
    size = tuple(x.shape[2:])
    ref = torch.ones(x.shape[0], *size)
    for k in (1, 5, 9):
        ref = ref * _up(normalize(model[:k + 1](x).mean(dim=1).detach()), size)
    assert_rel_close(sal.raw, ref)
    assert sal.layer == "1,5,9"


def test_default_layers_are_every_conv():
    model, x = build("pilotnet", batch=1)
    assert pilotlens.explain(model, x, "hypercolumns").layer == "0,2,4,6,8"
