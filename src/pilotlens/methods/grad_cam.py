"""Grad-CAM (Selvaraju et al. 2017) at a conv layer, upsampled bilinearly to the input.

raw = ReLU(sum_k mean_ij(d score / d A_k) * A_k); with `signed=True` the ReLU is dropped so that a
steering map keeps evidence both ways (positive pushes the target up, negative pulls it down).
The capture, the ReLU and the upsampling are the CAM template's (cam_template.GradientCAM).
"""
from __future__ import annotations

import torch

from .base import register
from .cam_template import GradientCAM


def grad_cam_map(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """sum_k mean_ij(G_k) * A_k: B x h x w, signed."""
    return (grad.mean(dim=(2, 3), keepdim=True) * act).sum(dim=1)


@register
class GradCAM(GradientCAM):
    name = "grad_cam"
    layer_map = staticmethod(grad_cam_map)
