"""Multi-layer fusion against torchcam: LayerCAM with several target layers + LayerCAM.fuse_cams (tanh scaling,
element-wise max at the largest layer's size) and RefineCAM (normalise, resize, multiply)."""
import pytest
from cam_refs import mixed_threshold, module, steering_callables, steering_sides, upsampled
from conftest import assert_rel_close, build, captum_forward, explained_columns
from torchcam.methods import LayerCAM, RefineCAM, XGradCAM

import pilotlens

FUSED = {"pilotnet": ["0", "4", "8"], "donkey": ["features.0", "features.4", "features.8"],
         "gap": ["0", "3"], "nested": ["0.conv", "1.0", "2.conv"]}


def _torchcam(model, x, name, combine, **call):
    wrapped = captum_forward(model)
    layers = [module(model, n) for n in FUSED[name]]
    shape = tuple(x.shape[1:])
    if combine == "max":
        with LayerCAM(wrapped, layers, input_shape=shape) as ex:
            cams = ex(scores=wrapped(x.clone()), **call)
            fused = LayerCAM.fuse_cams(cams)
    else:
        with RefineCAM(wrapped, layers, input_shape=shape, base_method=LayerCAM) as ex:
            fused = ex(scores=wrapped(x.clone()), normalized=False, **call)[0]
    return upsampled(fused, x.shape[2:])


@pytest.mark.parametrize("combine", ["max", "product"])
def test_fusion_matches_torchcam(case, combine):
    name, model, x = case
    cols = explained_columns(name, model, x)
    sal = pilotlens.explain(model, x, "fusion", layers=FUSED[name], combine=combine,
                            target=None if name == "gap" else cols[0])
    assert_rel_close(sal.raw, _torchcam(model, x, name, combine, class_idx=cols))
    assert sal.layer == ",".join(FUSED[name])


@pytest.mark.parametrize("name", ["pilotnet", "nested"])
def test_steering_fusion_matches_torchcam_with_per_image_targets(name):
    model, x = build(name, batch=3)
    out = captum_forward(model)(x).detach()
    threshold = mixed_threshold(out)
    sides = steering_sides(out, threshold)
    sal = pilotlens.explain(model, x, "fusion", layers=FUSED[name], target=pilotlens.Steering(threshold))
    assert_rel_close(sal.raw, _torchcam(model, x, name, "max", targets=steering_callables(sides)))


def test_a_base_without_tanh_matches_torchcams_fuse_cams():
    # the tanh scaling belongs to LayerCAM; any other base is fused as it is (x_grad_cam stands for them:
    # torchcam's GradCAMpp is not Grad-CAM++, see test_gradient_cams)
    model, x = build("nested", batch=2)
    wrapped = captum_forward(model)
    layers = [module(model, n) for n in FUSED["nested"]]
    with XGradCAM(wrapped, layers, input_shape=tuple(x.shape[1:])) as ex:
        cams = ex(class_idx=[0, 0], scores=wrapped(x.clone()), eps=1e-30)
        ref = upsampled(XGradCAM.fuse_cams(cams), x.shape[2:])
    sal = pilotlens.explain(model, x, "fusion", layers=FUSED["nested"], base="x_grad_cam", target=0)
    assert_rel_close(sal.raw, ref)


def test_default_layers_are_every_convolution_and_bad_options_are_named():
    model, x = build("pilotnet", batch=1)
    assert pilotlens.explain(model, x, "fusion").layer == "0,2,4,6,8"
    with pytest.raises(ValueError, match="layer_cam"):
        pilotlens.explainer(model, "fusion", base="cam")
    with pytest.raises(ValueError, match="product"):
        pilotlens.explainer(model, "fusion", combine="sum")
    assert pilotlens.explain(model, x, "fusion", layers="0, 8").layer == "0,8"
