from cam_refs import LAYERS, module
from captum.attr import GuidedGradCam
from conftest import assert_rel_close, build, captum_forward, explained_columns

import pilotlens


def test_guided_grad_cam_is_guided_backprop_times_grad_cam():
    model, x = build("donkey", batch=2)
    both = pilotlens.explain(model, x, "guided_grad_cam", target=1, layer="features.6")
    guided = pilotlens.explain(model, x, "guided_backprop", target=1).raw
    cam = pilotlens.explain(model, x, "grad_cam", target=1, layer="features.6").raw
    assert_rel_close(both.raw, guided * cam)


def test_guided_grad_cam_matches_captum(case):
    # captum's GuidedGradCam keeps each channel: guided backprop times the ReLU'd Grad-CAM, upsampled bilinearly;
    # the Grad-CAM factor is >= 0, so its largest |value| over the channels is pilotlens's map
    name, model, x = case
    cols = explained_columns(name, model, x)
    view = captum_forward(model)
    ref = GuidedGradCam(view, module(view.model, LAYERS[name])).attribute(x.clone(), target=cols,
                                                                         interpolate_mode="bilinear")
    sal = pilotlens.explain(model, x, "guided_grad_cam", target=None if name == "gap" else cols[0],
                            layer=LAYERS[name])
    assert_rel_close(sal.raw, ref.abs().amax(dim=1))
