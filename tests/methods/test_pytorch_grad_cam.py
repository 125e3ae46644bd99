"""The CAM family and guided backpropagation against pytorch-grad-cam 1.5.7 itself: its hooks, its gradients,
its formulas, its resize.

pytorch-grad-cam returns each map normalised per image at the input's resolution: it normalises at the layer's
resolution, resizes with cv2 (bilinear, half-pixel centres) and normalises again, and a min-max normalisation
passes through a linear resize, so what comes out is the upsampled map normalised as pilotlens normalises
`maps` (up to its 1e-7 guards). The CAMs are therefore compared on `maps`.

Where pytorch-grad-cam defines a method differently, the case is chosen where the two definitions meet, and
the difference is named:
- Grad-CAM++: its alpha has eps = 1e-6 in the denominator (2 G^2 + sum(A) G^3 + eps). With the model's gradients
  of order 1e-3 that eps changes maps by up to 0.13; the output scaled by 1e6 makes it negligible, and the
  maps agree (eq. 19 as published, which pilotlens follows, is held to torchcam's captures in
  test_gradient_cams.py).
- Eigen-CAM, EigenGrad-CAM: 1.5.7 projects on the first right singular vector as numpy's SVD signs it, an
  arbitrary sign; pilotlens applies the sign correction the library ships as
  get_2d_projection_with_sign_correction (Seg-Eigen-CAM's eq. 13), so the reference runs with that function.
- Ablation-CAM: it divides the drop by the signed score (pilotlens by |S|, so that a negative steering score
  keeps the drop's sign) and ablates a layer with no zero to min(A) - 1e7 (pilotlens to 0). The layers read
  here are convolutions followed by their ReLU, where both ablations give the same ReLU output, and the
  test checks that every explained score is positive.
- Guided backpropagation: its GuidedBackpropReLUModel explains one image per call; compared image by image on
  the raw map (the largest |gradient| over the channels).
- Score-CAM is not compared: pytorch-grad-cam upsamples each channel with align_corners=True and then
  normalises it at the input's resolution; pilotlens follows torchcam's conventions (normalised at the layer's
  resolution, then resized with align_corners=False), and test_score_cam.py holds it to torchcam. With
  pytorch-grad-cam's resize switched to align_corners=False, the two orders of normalisation still leave the
  maps 1e-2 to 9e-2 apart on these cases.
"""
import copy

import pytest
import torch
import torchvision_stand_in
from cam_refs import LAYERS
from conftest import assert_rel_close, build, captum_forward, explained_columns
from torch import nn

import pilotlens

try:  # pytorch-grad-cam imports torchvision for helpers these methods do not call
    with torchvision_stand_in.standing_in():
        import pytorch_grad_cam as pgc
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
        from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction
except ImportError as exc:
    pytest.fail(f"pytorch-grad-cam is the oracle here: pip install --no-deps grad-cam==1.5.7 ttach==0.0.3 ({exc})",
                pytrace=False)

CASES = ["pilotnet", "donkey", "nested", "gap"]


class Scaled(nn.Module):
    """The reference's view of the model (tests/conftest.py's Concat), its output times `factor`."""

    def __init__(self, model: nn.Module, factor: float = 1.0):
        super().__init__()
        self.view, self.factor = captum_forward(model), factor

    def forward(self, x):
        return self.view(x) * self.factor


def _maps(cls, name: str, factor: float = 1.0, **ours):
    """(pilotlens's maps, pytorch-grad-cam's maps, the explained scores) of `cls` on a case's batch of 2."""
    model, x = build(name, batch=2)
    cols = explained_columns(name, model, x)
    view = Scaled(copy.deepcopy(model), factor).eval()
    layer = f"view.model.{LAYERS[name]}"
    method = ours.pop("method")
    target = "class" if name == "gap" else cols[0]
    mine = pilotlens.explain(view, x, method, **({} if method == "full_grad" else {"layer": layer}),
                             target=target, **ours)
    reference = copy.deepcopy(view)  # pytorch-grad-cam keeps its hooks on the model it is given
    layers = [] if cls is pgc.FullGrad else [dict(reference.named_modules())[layer]]
    theirs = cls(model=reference, target_layers=layers)(input_tensor=x.clone(),
                                                       targets=[ClassifierOutputTarget(c) for c in cols])
    with torch.no_grad():
        scores = view(x)[torch.arange(2), cols]
    return mine.maps.double(), torch.from_numpy(theirs).double(), scores


def _agree(mine: torch.Tensor, theirs: torch.Tensor, atol: float) -> None:
    assert (theirs.flatten(1).amax(dim=1) > 0.99).all(), "a flat reference map: comparing it would prove nothing"
    torch.testing.assert_close(mine, theirs, rtol=0, atol=atol)


def _sign_corrected(cls, weighted):
    """pytorch-grad-cam's Eigen-CAM class `cls` projecting `weighted(A, G)` with the library's own sign-corrected
    projection."""
    class SignCorrected(cls):
        def get_cam_image(self, input_tensor, target_layer, target_category, activations, grads, eigen_smooth):
            return get_2d_projection_with_sign_correction(weighted(activations, grads))
    return SignCorrected


#: pilotlens method -> (pytorch-grad-cam's class, the factor the output is scaled by, tolerance, cases)
COMPARED = {
    "grad_cam": (pgc.GradCAM, 1.0, 1e-5, CASES),
    "hires_cam": (pgc.HiResCAM, 1.0, 1e-5, CASES),
    "layer_cam": (pgc.LayerCAM, 1.0, 1e-5, CASES),
    # its weights divide by sum(A) + 1e-7: a relative change of that order on each channel's weight
    "x_grad_cam": (pgc.XGradCAM, 1.0, 1e-4, CASES),
    # its eps made negligible against 2 G^2 (the module's docstring)
    "grad_cam_pp": (pgc.GradCAMPlusPlus, 1e6, 1e-5, CASES),
    "eigen_cam": (_sign_corrected(pgc.EigenCAM, lambda a, g: a), 1.0, 1e-5, CASES),
    "eigen_grad_cam": (_sign_corrected(pgc.EigenGradCAM, lambda a, g: g * a), 1.0, 1e-5, CASES),
    # where the scores are positive (checked below); this PilotNet's angle is negative
    "ablation_cam": (pgc.AblationCAM, 1.0, 1e-4, ["donkey", "nested", "gap"]),
    "full_grad": (pgc.FullGrad, 1.0, 1e-5, CASES),
}


@pytest.mark.parametrize("method, name", [(m, n) for m, (*_, cases) in COMPARED.items() for n in cases])
def test_maps_equal_pytorch_grad_cam(method, name):
    cls, factor, atol, _ = COMPARED[method]
    if (method, name) == ("grad_cam", "pilotnet"):
        factor = -1.0  # this PilotNet's Grad-CAM of its angle is zero after the ReLU in both images
    mine, theirs, scores = _maps(cls, name, factor, method=method)
    if method == "ablation_cam":
        assert (scores > 0).all(), "a negative score: pytorch-grad-cam's drop flips sign there, pilotlens's does not"
    _agree(mine, theirs, atol)


def test_grad_cam_pp_differs_from_pytorch_grad_cam_by_its_eps_alone():
    # the same model unscaled: the eps term is of the order of 2 G^2, and the maps part; scaled, they meet
    plain, reference, _ = _maps(pgc.GradCAMPlusPlus, "gap", method="grad_cam_pp")
    assert (plain - reference).abs().max() > 1e-2


@pytest.mark.parametrize("name", CASES)
def test_guided_backprop_equals_pytorch_grad_cam_image_by_image(name):
    # its GuidedBackpropReLUModel explains one image per call and returns the whole gradient, H x W x C
    model, x = build(name, batch=2)
    cols = explained_columns(name, model, x)
    mine = pilotlens.explain(model, x, "guided_backprop", target="class" if name == "gap" else cols[0])
    guided = pgc.GuidedBackpropReLUModel(captum_forward(copy.deepcopy(model)), device="cpu")
    for i, col in enumerate(cols):
        theirs = torch.from_numpy(guided(x[i:i + 1].clone(), target_category=col)).abs().amax(dim=2)
        assert theirs.max() > 0, "an all-zero reference gradient: comparing it would prove nothing"
        assert_rel_close(mine.raw[i], theirs, 1e-5)
