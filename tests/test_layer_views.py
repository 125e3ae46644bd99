import pytest
import torch
from conftest import build

import pilotlens


def test_feature_maps_are_the_layer_output_scaled_per_channel():
    model, x = build("pilotnet", batch=2)
    maps = pilotlens.feature_maps(model, x, "1")
    out = model[:2](x).detach()
    lo, hi = out.amin(dim=(2, 3), keepdim=True), out.amax(dim=(2, 3), keepdim=True)
    ref = torch.where(hi > lo, (out - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(out))
    assert maps.shape == (2, 24, 31, 98)
    assert torch.allclose(torch.from_numpy(maps), ref, atol=1e-6)


def test_first_conv_filters_ready_to_draw():
    model, _ = build("pilotnet", batch=1)
    f = pilotlens.conv_filters(model)
    assert f.shape == (24, 5, 5, 3) and f.min() == 0 and f.max() == 1
    w = model[0].weight.detach()
    i = int(w.flatten().argmax())
    assert f.transpose(0, 3, 1, 2).flatten()[i] == 1


def test_feature_maps_of_a_flat_layer_is_refused():
    model, x = build("pilotnet", batch=1)
    with pytest.raises(ValueError, match="no spatial feature maps"):
        pilotlens.feature_maps(model, x, "11")
