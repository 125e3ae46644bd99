"""Grad-CAM (Selvaraju et al. 2017) at a conv layer, upsampled bilinearly to the input.

raw = ReLU(sum_k mean_ij(d score / d A_k) * A_k); with `signed=True` the ReLU is dropped so that a
steering map keeps evidence both ways (positive pushes the target up, negative pulls it down).
"""
from __future__ import annotations

import torch

from ..targets import score
from .base import Explainer, register, upsample


def grad_cam_raw(explainer: Explainer, x, target, hooks, signed: bool):
    """Layer-resolution Grad-CAM (B x h x w) and the output; shared with guided Grad-CAM."""
    act, output = explainer.capture_layer(x, hooks)
    fixed = explainer.fixed_target(target, output)
    (grad,) = torch.autograd.grad(score(fixed, output).sum(), act)
    cam = (grad.mean(dim=(2, 3), keepdim=True) * act).sum(dim=1)
    return (cam if signed else cam.clamp(min=0)).detach(), output


@register
class GradCAM(Explainer):
    name = "grad_cam"
    uses_layer = True
    defaults = {"signed": False}
    signed_option = "signed"

    def attribute(self, x, target, hooks):
        cam, output = grad_cam_raw(self, x, target, hooks, bool(self.options["signed"]))
        return upsample(cam, tuple(x.shape[-2:])), output
