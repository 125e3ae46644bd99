"""FullGrad (Srinivas & Fleuret 2019), as pytorch-grad-cam computes it.

raw = sum over input channels of N(|x * dS/dx|) + sum over every Conv2d / BatchNorm2d with a bias of
U(sum over its channels of N(|b_c * dS/dz_c|)), z the layer's output, b its bias (for batch norm the
effective bias beta - mean * gamma / sqrt(var + eps)); N min-max normalises each image's channel map
((m - min) / (max - min + 1e-7)), U upsamples bilinearly to the input (linear, so the channels are summed
first). Unsigned; one forward and one backward from the input.
"""
from __future__ import annotations

import torch
from torch import nn

from ..targets import score
from .base import Explainer, register, upsample
from .cam_template import minmax


def bias_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)) and getattr(m, "bias", None) is not None]


def effective_bias(module: nn.Module) -> torch.Tensor:
    if isinstance(module, nn.BatchNorm2d) and module.running_mean is not None:
        scale = (module.weight if module.weight is not None else 1) / torch.sqrt(module.running_var + module.eps)
        return (module.bias - module.running_mean * scale).detach()
    return module.bias.detach()


@register
class FullGrad(Explainer):
    name = "full_grad"

    def check_options(self):
        if not bias_layers(self.model):
            raise ValueError("full_grad needs Conv2d or BatchNorm2d layers with a bias; the model has none")

    def attribute(self, x, target, hooks):
        layers = bias_layers(self.model)
        outs: dict[int, torch.Tensor] = {}
        for k, (_, module) in enumerate(layers):
            def keep(_m, _i, out, k=k):
                if k in outs:
                    return None
                outs[k] = out
                return out.clone()  # an in-place activation after the layer leaves z intact
            hooks.forward(module, keep)
        xi = x.detach().requires_grad_(True)
        output = self.forward(xi)
        fixed = self.fixed_target(target, output)
        ran = [k for k in range(len(layers)) if k in outs]
        grads = torch.autograd.grad(score(fixed, output).sum(), [xi] + [outs[k] for k in ran])
        size = tuple(x.shape[-2:])
        with torch.no_grad():
            raw = minmax((xi * grads[0]).abs(), (2, 3), 1e-7).sum(dim=1)
            for k, grad in zip(ran, grads[1:]):
                if grad.dim() != 4:
                    continue
                bias = effective_bias(layers[k][1]).view(1, -1, 1, 1)
                raw = raw + upsample(minmax((bias * grad).abs(), (2, 3), 1e-7).sum(dim=1), size)
        return raw, output.detach()
