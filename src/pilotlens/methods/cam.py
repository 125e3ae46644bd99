"""Class activation mapping (Zhou et al. 2016) for models ending in global average pooling + a linear head.

raw = sum_k w_k A_k, A the feature maps entering the global pool, w_k = d score / d (pooled feature k):
for a class logit that is the head's weight row, and any other target gets its chain-rule weights.
Signed; upsampled bilinearly to the input.
"""
from __future__ import annotations

import torch
from torch import nn

from ..layers import trace
from ..targets import score
from .base import Explainer, register, upsample

_PASS = (nn.Flatten, nn.Dropout, nn.Identity)
_AFTER_HEAD = (nn.Softmax, nn.LogSoftmax, nn.Sigmoid, nn.Identity)


def _is_global_pool(info) -> bool:
    m = info.module
    if not isinstance(m, (nn.AdaptiveAvgPool2d, nn.AvgPool2d)) or info.output_shape is None:
        return False
    return len(info.output_shape) == 3 and info.output_shape[1:] == (1, 1)


def find_gap_head(model: nn.Module, input_shape) -> tuple[str, nn.Module]:
    """The global average pool feeding one linear head, or a clear error."""
    layers = [info for info in trace(model, input_shape) if info.leaf]
    pools = [i for i, l in enumerate(layers) if _is_global_pool(l)]
    problem = "it has no global average pooling layer (nn.AdaptiveAvgPool2d(1))"
    if pools:
        rest = layers[pools[-1] + 1:]
        linears = [l for l in rest if isinstance(l.module, nn.Linear)]
        others = [l for l in rest if not isinstance(l.module, _PASS + _AFTER_HEAD + (nn.Linear,))]
        if len(linears) == 1 and not others:
            head = rest.index(linears[0])
            if all(isinstance(l.module, _PASS) for l in rest[:head]):
                return layers[pools[-1]].name, layers[pools[-1]].module
        kinds = ", ".join(l.kind for l in rest) or "nothing"
        problem = f"after its global pool comes {kinds}, not a single nn.Linear head"
    raise ValueError("cam needs a model that ends in global average pooling + one linear layer "
                     f"(use grad_cam for any other model); {problem}")


@register
class CAM(Explainer):
    name = "cam"
    signed = True   # class weights may be negative: the map says for and against

    def attribute(self, x, target, hooks):
        # the head is found by tracing the model at x's shape (a batch-1 forward) on every call: the
        # explainer keeps no per-shape state, and the call returns the layer it read
        pool_name, pool = find_gap_head(self.model, tuple(x.shape[1:]))
        captured = []

        def grab(_module, inputs):
            torch.set_grad_enabled(True)  # only the pool and the head need a graph
            leaf = inputs[0].detach().requires_grad_(True)
            captured.append(leaf)
            return (leaf,) + tuple(inputs[1:])

        hooks.forward_pre(pool, grab)
        with torch.no_grad():
            output = self.forward(x)
        act = captured[0]
        fixed = self.fixed_target(target, output)
        (grad,) = torch.autograd.grad(score(fixed, output).sum(), act)
        weights = grad.sum(dim=(2, 3), keepdim=True)  # d score / d pooled feature
        cam = (weights * act).sum(dim=1).detach()
        return upsample(cam, tuple(x.shape[-2:])), output, f"{pool_name} (input)"
