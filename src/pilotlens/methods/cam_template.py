"""The steps the CAM family shares: the layer's activation A and the target's gradient dS/dA in one forward and
one backward, a method-specific combination into a layer-resolution map, the ReLU (unless `signed`), and the
bilinear upsampling to the input.

A gradient-weighted CAM (grad_cam and the maps of gradient_cams.py) subclasses `GradientCAM` and writes only
`layer_map(A, G) -> B x h x w` (signed); guided Grad-CAM reuses its `layer_cam` step.
"""
from __future__ import annotations

import torch

from ..hooks import HookSet
from ..targets import Target, score
from .base import Explainer, upsample


def layer_gradient(explainer: Explainer, x: torch.Tensor, target: Target | None, hooks: HookSet):
    """(A, dS/dA, output, fixed target) at the explainer's layer; only the part after the layer records a graph."""
    act, output = explainer.capture_layer(x, hooks)
    fixed = explainer.fixed_target(target, output)
    (grad,) = torch.autograd.grad(score(fixed, output).sum(), act)
    return act.detach(), grad, output.detach(), fixed


class GradientCAM(Explainer):
    """Template: raw = ReLU(layer_map(A, dS/dA)) upsampled bilinearly; `signed=True` keeps the sign."""

    uses_layer = True
    defaults = {"signed": False}
    signed_option = "signed"

    def layer_map(self, act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:  # B x h x w, signed
        raise NotImplementedError

    def layer_cam(self, x: torch.Tensor, target: Target | None, hooks: HookSet):
        """(the map at the layer's resolution B x h x w, ReLU'd unless signed; output; the frozen target)."""
        act, grad, output, fixed = layer_gradient(self, x, target, hooks)
        cam = self.layer_map(act, grad)
        return (cam if self.is_signed() else cam.clamp(min=0)), output, fixed

    def attribute(self, x, target, hooks):
        cam, output, _ = self.layer_cam(x, target, hooks)
        return upsample(cam, tuple(x.shape[-2:])), output


def safe_divide(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, 0 where den is 0 (a dead channel: nothing to weight)."""
    nonzero = den != 0
    return torch.where(nonzero, num / torch.where(nonzero, den, torch.ones_like(den)), torch.zeros_like(num))


def minmax(maps: torch.Tensor, dims: tuple[int, ...], eps: float = 1e-8) -> torch.Tensor:
    """(m - min) / (max - min + eps) over `dims`, as torchcam and Score-CAM normalise masks and layer maps."""
    lo = maps.amin(dim=dims, keepdim=True)
    return (maps - lo) / ((maps.amax(dim=dims, keepdim=True) - lo) + eps)
