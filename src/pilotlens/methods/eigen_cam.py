"""Eigen-CAM (Muhammad & Yeasin 2020) and EigenGrad-CAM (pytorch-grad-cam): the layer's activations A (or
G * A, G = d score / d A) projected on their first principal component over space.

Per image, the h*w x C matrix of A (pixels x channels) is centred on its channel means, and the map is its
projection on the first right-singular vector (pytorch-grad-cam's get_2d_projection). A singular vector's
sign is arbitrary, so the map is flipped when its most negative value outweighs its largest (the sign
correction of Chung & Ying 2025, eq. 13, also in pytorch-grad-cam); then ReLU and bilinear upsampling.
Eigen-CAM does not depend on the target (it only reads the forward pass); EigenGrad-CAM does.
"""
from __future__ import annotations

import torch

from .base import Explainer, register, upsample
from .cam_template import layer_gradient


def first_component(maps: torch.Tensor) -> torch.Tensor:
    """B x C x h x w -> B x h x w: each image's projection on its first principal component, sign-corrected."""
    B, C, h, w = maps.shape
    flat = maps.flatten(2).transpose(1, 2)                      # B x hw x C
    flat = flat - flat.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(flat, full_matrices=False)
    proj = (flat @ vh[:, 0, :, None]).view(B, h, w)
    flip = proj.amin(dim=(1, 2)).abs() > proj.amax(dim=(1, 2)).abs()
    return torch.where(flip.view(B, 1, 1), -proj, proj)


@register
class EigenCAM(Explainer):
    name = "eigen_cam"
    uses_layer = True

    def attribute(self, x, target, hooks):
        act, output = self.capture_layer(x, hooks, with_grad=False)
        self.fixed_target(target, output)  # the label; the map does not use the target
        with torch.no_grad():
            cam = first_component(act).clamp(min=0)
        return upsample(cam, tuple(x.shape[-2:])), output


@register
class EigenGradCAM(Explainer):
    name = "eigen_grad_cam"
    uses_layer = True

    def attribute(self, x, target, hooks):
        act, grad, output, _ = layer_gradient(self, x, target, hooks)
        cam = first_component(grad * act).clamp(min=0)
        return upsample(cam, tuple(x.shape[-2:])), output
