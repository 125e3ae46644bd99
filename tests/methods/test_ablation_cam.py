"""Ablation-CAM against its published formula, channel by channel (Desai & Ramaswamy 2020, eq. 2-3;
pytorch-grad-cam ablation_cam.py: weights = (original_score - ablated_score) / original_score)."""
import pytest
import torch
from cam_refs import LAYERS, mixed_threshold, module, steering_sides, upsampled
from conftest import assert_rel_close, build, captum_forward

import pilotlens


def _by_hand(model, x, name, score_fn):
    """Zero one channel of the layer at a time, one image at a time."""
    layer = module(model, LAYERS[name])
    wrapped = captum_forward(model)
    store = {}
    h = layer.register_forward_hook(lambda m, i, o: store.setdefault("a", o.detach()))
    with torch.no_grad():
        clean = score_fn(wrapped(x))
    h.remove()
    act = store["a"]
    B, C = act.shape[:2]
    weights = torch.zeros(B, C, dtype=act.dtype)
    for k in range(C):
        def zero(m, i, o, k=k):
            o = o.clone()
            o[:, k] = 0
            return o
        h = layer.register_forward_hook(zero)
        with torch.no_grad():
            weights[:, k] = (clean - score_fn(wrapped(x))) / clean.abs()
        h.remove()
    return (weights[:, :, None, None] * act).sum(1)


@pytest.mark.parametrize("name", ["nested", "gap", pytest.param("pilotnet", marks=pytest.mark.slow),
                                  pytest.param("donkey", marks=pytest.mark.slow)])
def test_ablation_cam_zeroes_each_channel(name):
    # in float64: a weight is a small difference of two scores, which float32 rounding would dominate
    model, x = build(name, batch=2)
    model, x = model.double(), x.double()
    col = 1 if name in ("donkey", "gap") else 0
    cam = _by_hand(model, x, name, lambda out: out[:, col])
    signed = pilotlens.explain(model, x, "ablation_cam", layer=LAYERS[name], target=col, signed=True, batch_size=5)
    assert_rel_close(signed.raw, upsampled(cam, x.shape[2:]))
    plain = pilotlens.explain(model, x, "ablation_cam", layer=LAYERS[name], target=col, batch_size=5).raw
    if (cam > 0).any():
        assert_rel_close(plain, upsampled(cam.clamp(min=0), x.shape[2:]))
    else:   # the whole map is evidence against the output: nothing survives the ReLU
        assert torch.count_nonzero(plain) == 0


def test_steering_target_is_frozen_on_the_clean_output():
    model, x = build("nested", batch=3)
    out = captum_forward(model)(x).detach()
    threshold = mixed_threshold(out)
    sides = torch.tensor(steering_sides(out, threshold), dtype=torch.float32)

    def frozen(o):
        a = o[:, 0]
        return torch.where(sides == 0, -a.abs(), sides * a)
    cam = _by_hand(model, x, "nested", frozen)
    sal = pilotlens.explain(model, x, "ablation_cam", layer=LAYERS["nested"], target=pilotlens.Steering(threshold),
                            signed=True)
    assert_rel_close(sal.raw, upsampled(cam, x.shape[2:]))
