"""DeepLIFT with the rescale rule (Shrikumar et al. 2017), as captum's DeepLift with its defaults.

The image and its baseline go through the model as one batch of 2B. Linear layers (conv, linear, average pool,
batch norm) keep their gradient; at each nonlinearity the gradient is replaced by the multiplier
(y - y_ref) / (x - x_ref), or by the plain gradient where |x - x_ref| < 1e-10; at a max pool the difference
of the outputs is sent back through both the image's and the baseline's arg-max positions (captum's maxpool
rule). raw = sum over channels of (x - baseline) * multiplier. Signed. Nonlinear modules other than those
below pass their plain gradient, as in captum; a functional nonlinearity (F.relu in forward) is not seen.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..targets import score
from .base import Explainer, register

RESCALE = (nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus)
EPS = 1e-10


def _delta(t: torch.Tensor) -> torch.Tensor:
    """x - x_ref for a 2B batch [x; x_ref], repeated for both halves."""
    x, ref = t.chunk(2)
    return torch.cat([x - ref, x - ref])


def _local_gradient(module: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        xi = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(module.forward(xi.clone()), xi, grad)  # forward: not the hooks
    return g


def _fallback(module, x, grad, small, rescaled):
    """The plain gradient where the input barely moved (|x - x_ref| < 1e-10), the rescaled one elsewhere."""
    if not small.any():  # the usual case: no second pass through the module
        return rescaled
    return torch.where(small, _local_gradient(module, x, grad), rescaled)


def _rescale(module, x, y, grad):
    dx, dy = _delta(x), _delta(y)
    small = dx.abs() < EPS
    return _fallback(module, x, grad, small, grad * dy / torch.where(small, 1.0, dx))


def _maxpool(module, x, y, grad):
    out, ref_out = y.chunk(2)
    top = torch.maximum(out, ref_out)
    flows = torch.cat([top - ref_out, out - top]) * grad     # per half, sent back to its own arg-max
    _, idx = F.max_pool2d(x, module.kernel_size, module.stride, module.padding, module.dilation,
                          module.ceil_mode, return_indices=True)
    back = torch.zeros_like(x).flatten(2).scatter_add_(2, idx.flatten(2), flows.flatten(2)).view_as(x)
    back = back.chunk(2)
    back = torch.cat(2 * [back[0] + back[1]])
    dx = _delta(x)
    small = dx.abs() < EPS
    return _fallback(module, x, grad, small, back / torch.where(small, 1.0, dx))


class _Multiplier(torch.autograd.Function):
    """Identity on the module's output; backward sends the DeepLIFT multiplier to the module's input."""

    @staticmethod
    def forward(ctx, x, y, module, rule):
        ctx.save_for_backward(x, y)
        ctx.module, ctx.rule = module, rule
        return y.clone()

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return ctx.rule(ctx.module, x, y, grad), None, None, None


def add_deeplift_hooks(model: nn.Module, hooks) -> None:
    for module in model.modules():
        if isinstance(module, nn.MaxPool2d):
            rule = _maxpool
        elif isinstance(module, RESCALE):
            rule = _rescale
        else:
            continue
        inputs: list[torch.Tensor] = []

        def keep_input(_m, args, inputs=inputs):
            inputs.append(args[0])
            return (args[0].clone(),) + tuple(args[1:])  # an in-place activation must not change the saved input

        def replace_output(m, _args, out, inputs=inputs, rule=rule):
            return _Multiplier.apply(inputs.pop(), out.detach(), m, rule)

        hooks.forward_pre(module, keep_input)
        hooks.forward(module, replace_output)


@register
class DeepLift(Explainer):
    name = "deeplift"
    signed = True
    defaults = {"baseline": 0.0}

    def attribute(self, x, target, hooks):
        B = x.shape[0]
        base = torch.as_tensor(float(self.options["baseline"]), dtype=x.dtype, device=x.device).expand_as(x)
        add_deeplift_hooks(self.model, hooks)
        both = torch.cat([x, base]).requires_grad_(True)
        output = self.forward(both)
        fixed = self.fixed_target(target, output[:B])
        rows = torch.arange(B, device=x.device).repeat(2)
        (grad,) = torch.autograd.grad(score(fixed.select(rows), output).sum(), both)
        return ((x - base) * grad[:B]).sum(dim=1), output[:B].detach()
