import pytest
import torch
from conftest import assert_rel_close, build

import pilotlens


def test_activation_is_the_bicubic_channel_mean_of_the_layer():
    model, x = build("pilotnet")
    sal = pilotlens.explain(model, x, "activation", layer="5")
    mean = model[:6](x).mean(dim=1, keepdim=True).detach()
    ref = torch.nn.functional.interpolate(mean, size=x.shape[2:], mode="bicubic", align_corners=False)[:, 0]
    assert_rel_close(sal.raw, ref)
    assert sal.layer == "5"


def test_threshold_gives_the_binary_mask_of_the_strongest_activations():
    model, x = build("pilotnet")
    plain = pilotlens.explain(model, x, "activation", layer="5").maps
    mask = pilotlens.explain(model, x, "activation", layer="5", threshold=0.6).maps
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(mask.bool(), plain >= 0.6)
    assert 0 < mask.mean() < 1


def test_threshold_outside_unit_interval_is_refused():
    model, _ = build("pilotnet", batch=1)
    with pytest.raises(ValueError, match="threshold"):
        pilotlens.explainer(model, "activation", threshold=2)
