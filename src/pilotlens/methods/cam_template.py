"""The steps the CAM family shares: the layer's activation A and the target's gradient dS/dA in one forward and
one backward, a method-specific combination into a layer-resolution map, the ReLU (unless `signed`), and the
bilinear upsampling to the input.

A gradient-weighted CAM subclasses `GradientCAM` and writes only `layer_map(A, G) -> B x h x w` (signed).
`capture_layers` does the same capture for several layers at once (multi-layer fusion, FullGrad).
"""
from __future__ import annotations

import torch
from torch import nn

from ..hooks import HookSet
from ..targets import Target, score
from .base import Explainer, upsample


def layer_gradient(explainer: Explainer, x: torch.Tensor, target: Target | None, hooks: HookSet):
    """(A, dS/dA, output, fixed target) at the explainer's layer; only the part after the layer records a graph."""
    act, output = explainer.capture_layer(x, hooks)
    fixed = explainer.fixed_target(target, output)
    (grad,) = torch.autograd.grad(score(fixed, output).sum(), act)
    return act.detach(), grad, output.detach(), fixed


def capture_layers(explainer: Explainer, x: torch.Tensor, hooks: HookSet, layers: list[tuple[str, nn.Module]],
                   with_grad: bool = True):
    """Run x once and return ([A per layer], output). With `with_grad` the graph starts at the first of the
    layers to run (nothing before it is recorded) and each A is a tensor of that graph that the target's
    gradient can be taken at; a copy goes on, so an in-place activation after a layer leaves its A intact."""
    captured: dict[int, torch.Tensor] = {}

    def grab(k, name):
        def hook(_module, _inputs, out):
            if not isinstance(out, torch.Tensor) or out.dim() != 4:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ValueError(f"{explainer.name} needs layers with spatial output B x C x H x W; "
                                 f"{name!r} gives {shape}")
            if k in captured:  # a module that runs twice: its first use
                return None
            if not with_grad:
                captured[k] = out
                return None
            if not torch.is_grad_enabled():  # the first of the layers: the graph starts here
                torch.set_grad_enabled(True)
                out = out.detach().requires_grad_(True)
            captured[k] = out
            return out.clone()
        return hook

    for k, (name, module) in enumerate(layers):
        hooks.forward(module, grab(k, name))
    with torch.no_grad():
        output = explainer.forward(x)
    missing = [name for k, (name, _) in enumerate(layers) if k not in captured]
    if missing:
        raise ValueError(f"layer {missing[0]!r} did not run in the model's forward pass")
    return [captured[k] for k in range(len(layers))], output


class GradientCAM(Explainer):
    """Template: raw = ReLU(layer_map(A, dS/dA)) upsampled bilinearly; `signed=True` keeps the sign."""

    uses_layer = True
    defaults = {"signed": False}
    signed_option = "signed"

    def layer_map(self, act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:  # B x h x w, signed
        raise NotImplementedError

    def attribute(self, x, target, hooks):
        act, grad, output, _ = layer_gradient(self, x, target, hooks)
        cam = self.layer_map(act, grad)
        if not self.is_signed():
            cam = cam.clamp(min=0)
        return upsample(cam, tuple(x.shape[-2:])), output


def safe_divide(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, 0 where den is 0 (a dead channel: nothing to weight)."""
    nonzero = den != 0
    return torch.where(nonzero, num / torch.where(nonzero, den, torch.ones_like(den)), torch.zeros_like(num))


def minmax(maps: torch.Tensor, dims: tuple[int, ...], eps: float = 1e-8) -> torch.Tensor:
    """(m - min) / (max - min + eps) over `dims`, as torchcam and Score-CAM normalise masks and layer maps."""
    lo = maps.amin(dim=dims, keepdim=True)
    return (maps - lo) / ((maps.amax(dim=dims, keepdim=True) - lo) + eps)
