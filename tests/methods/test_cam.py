import pytest
import torch
from conftest import assert_rel_close, build

import pilotlens


def test_cam_is_the_head_weighted_sum_of_the_last_feature_maps():
    model, x = build("gap")
    sal = pilotlens.explain(model, x, "cam", target=3)
    features = model[:5](x).detach()                     # B x 16 x h x w, after the last ReLU
    cam = torch.einsum("k,bkhw->bhw", model[7].weight[3].detach(), features)
    ref = torch.nn.functional.interpolate(cam[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    assert_rel_close(sal.raw, ref)


def test_cam_default_target_is_each_images_argmax():
    model, x = build("gap", batch=4)
    top = model(x).argmax(dim=1)
    sal = pilotlens.explain(model, x, "cam")
    for i in range(4):
        assert_rel_close(sal.raw[i:i + 1], pilotlens.explain(model, x[i:i + 1], "cam", target=int(top[i])).raw)


@pytest.mark.parametrize("name", ["pilotnet", "nested"])
def test_cam_refuses_models_without_a_gap_head(name):
    model, x = build(name, batch=1)
    with pytest.raises(ValueError, match="global average pooling"):
        pilotlens.explain(model, x, "cam")


def test_cam_reports_the_pool_it_read_and_keeps_no_state_between_calls():
    model, x = build("gap", batch=2)
    pool = next(n for n, m in model.named_modules() if isinstance(m, torch.nn.AdaptiveAvgPool2d))
    with pilotlens.explainer(model, "cam") as ex:
        before = dict(vars(ex))
        small, large = ex(x), ex(torch.nn.functional.interpolate(x, scale_factor=2))
        assert dict(vars(ex)) == before
    assert small.layer == large.layer == f"{pool} (input)"
    assert large.raw.shape[-2:] == (2 * x.shape[2], 2 * x.shape[3])


def test_cam_matches_torchcam():
    # torchcam's CAM weights the hooked layer's maps with the fc layer's row of the class; its maps are at the
    # layer's resolution (normalized=False keeps them raw), upsampled here as pilotlens upsamples
    from cam_refs import upsampled
    from torchcam.methods import CAM

    model, x = build("gap", batch=4)
    for cls in (0, 3):
        with CAM(model, target_layer=model[4], fc_layer=model[7], input_shape=tuple(x.shape[1:])) as extractor:
            layer_maps = extractor(class_idx=cls, scores=model(x.clone()), normalized=False)[0]
        assert_rel_close(pilotlens.explain(model, x, "cam", target=cls).raw, upsampled(layer_maps, x.shape[2:]))
