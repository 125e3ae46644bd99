"""Layer-wise relevance propagation for conv nets (Bach et al. 2015; rules as in Montavon et al. 2019,
"Layer-wise relevance propagation: an overview", and captum's LRP).

The relevance at the output is output * d score / d output (for an output column or a frozen steering side
that is the explained score itself, in its column). Going down, each conv / linear layer with input a and
output z sends R_in = a * W'^T (R_out / (z' + eps * sign(z'))), z' = W' a + b, where the rule picks W':
  epsilon: W (eps = `epsilon`);   gamma: W + gamma * max(W, 0);   zplus (alpha1-beta0): max(W, 0)
(bias kept, as captum; gamma and zplus stabilise with 1e-9). Pools and batch norm use the epsilon rule with
the layer itself (a max pool gives all to its arg-max, an average pool shares in proportion); activations and
dropout (any other layer that keeps the shape, such as PilotNet's input normalisation) pass relevance through
unchanged. `rule="composite"` uses, as the literature recommends, `first` for
the first layer (zbox: z^B with the input's bounds `low`/`high`, each image's min/max by default; wsquare: w^2;
flat; same: the layer's own rule), gamma for the other convolutions and epsilon for linear layers.
raw = relevance summed over the input's channels. Signed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import ELEMENTWISE, leaf_modules
from ..targets import score
from ._fast_input_grad import input_grad, plain_conv
from .base import Explainer, register

RULES = ("epsilon", "gamma", "zplus", "composite")
FIRST = ("zbox", "wsquare", "flat", "same")
TINY = 1e-9          # the stabiliser of the gamma, z+ and pooling rules (captum's)
POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.BatchNorm2d)
WEIGHTED = (nn.Conv2d, nn.Linear)
PASS = tuple(m for m in ELEMENTWISE if m is not nn.BatchNorm2d)


def _stable(z: torch.Tensor, eps: float) -> torch.Tensor:
    return z + eps * torch.where(z >= 0, 1.0, -1.0)


def _apply(module: nn.Module, a: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    if isinstance(module, nn.Linear):
        return F.linear(a, weight, bias)
    return module._conv_forward(a, weight, bias)


def _ratio(z: torch.Tensor, R: torch.Tensor, eps: float) -> torch.Tensor:
    return R / _stable(z.detach(), eps)


def _weighted_rule(module, weight, bias, eps):
    def rule(a, R):
        with torch.enable_grad():
            ai = a.detach().requires_grad_(True)
            z = _apply(module, ai, weight, bias)
            (c,) = torch.autograd.grad(z, ai, _ratio(z, R, eps))
        return a.detach() * c
    return rule


def _layer_rule(module, eps):
    def rule(a, R):
        with torch.enable_grad():
            ai = a.detach().requires_grad_(True)
            z = module.forward(ai)  # forward: not through the hooks
            (c,) = torch.autograd.grad(z, ai, _ratio(z, R, eps))
        return a.detach() * c
    return rule


def _zbox_rule(module, low, high):
    """z^B (Montavon et al. 2017): R_i = sum_j (x_i w_ij - l_i w+_ij - h_i w-_ij) / z_j R_j, no bias."""
    if plain_conv(module):
        return _zbox_conv_rule(module, low, high)
    w = module.weight

    def rule(a, R):
        with torch.enable_grad():
            x = a.detach().requires_grad_(True)
            lo = low(a).expand_as(a).clone().requires_grad_(True)
            hi = high(a).expand_as(a).clone().requires_grad_(True)
            z = (_apply(module, x, w, None) - _apply(module, lo, w.clamp(min=0), None)
                 - _apply(module, hi, w.clamp(max=0), None))
            gx, gl, gh = torch.autograd.grad(z, (x, lo, hi), _ratio(z, R, TINY))
        return x.detach() * gx + lo.detach() * gl + hi.detach() * gh
    return rule


def _zbox_conv_rule(module: nn.Conv2d, low, high):
    """z^B at a plain convolution, without autograd: the bounds are one number per image, so
    conv(l, w+) = l * conv(1, w+) (one image of ones), and the two bound terms of the relevance,
    l * conv^T(c, w+) + h * conv^T(c, w-) = conv^T([l c, h c], [w+, w-]), are one transposed convolution.
    Two input gradients instead of three, no forward convolution of the bounds (PilotNet's first layer:
    three 3-channel backward-data convolutions were most of an LRP call)."""
    def rule(a, R):
        x = a.detach()
        w = module.weight.detach()
        wp, wn = w.clamp(min=0), w.clamp(max=0)
        lo, hi = low(x), high(x)                        # B x 1 x 1 x 1, or 1 x 1 x 1 x 1 for a number
        ones = x.new_ones((1, *x.shape[1:]))            # zero padding stays zero for the bounds too
        z = (module._conv_forward(x, w, None) - lo * module._conv_forward(ones, wp, None)
             - hi * module._conv_forward(ones, wn, None))
        c = _ratio(z, R, TINY)
        gx = input_grad(module, c, w, x.shape)
        bounds = input_grad(module, torch.cat([lo * c, hi * c], dim=1), torch.cat([wp, wn]), x.shape)
        return x * gx - bounds
    return rule


def _share_rule(module, weight):
    """w^2 / flat: R_i = sum_j w_ij / sum_i' w_i'j R_j with w = weight (w^2 or ones), whatever the input."""
    def rule(a, R):
        with torch.enable_grad():
            ones = torch.ones_like(a).requires_grad_(True)
            z = _apply(module, ones, weight, None)
            (c,) = torch.autograd.grad(z, ones, _ratio(z, R, TINY))
        return c
    return rule


class _Relevance(torch.autograd.Function):
    """The layer's output going forward; its relevance rule going back."""

    @staticmethod
    def forward(ctx, a, z, rule):
        ctx.save_for_backward(a)
        ctx.rule = rule
        return z.clone()

    @staticmethod
    def backward(ctx, R):
        (a,) = ctx.saved_tensors
        return ctx.rule(a, R), None, None


class _PassThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, y):
        return y.clone()

    @staticmethod
    def backward(ctx, R):
        return R, None


@register
class LRP(Explainer):
    name = "lrp"
    signed = True
    defaults = {"rule": "composite", "epsilon": 1e-6, "gamma": 0.25, "first": "zbox", "low": None, "high": None}
    option_types = {"epsilon": (float, int), "gamma": (float, int), "low": (float, int, type(None)),
                    "high": (float, int, type(None))}

    def check_options(self):
        o = self.options
        if o["rule"] not in RULES:
            raise ValueError(f"lrp: unknown rule {o['rule']!r}; rules: {', '.join(RULES)}")
        if o["first"] not in FIRST:
            raise ValueError(f"lrp: unknown first-layer rule {o['first']!r}; rules: {', '.join(FIRST)}")
        if float(o["epsilon"]) < 0 or float(o["gamma"]) < 0:
            raise ValueError("lrp: epsilon and gamma must be >= 0")
        for name, module in leaf_modules(self.model):
            has_params = any(True for _ in module.parameters(recurse=False))
            if has_params and not isinstance(module, WEIGHTED + POOLS + PASS):
                raise ValueError(f"lrp has no rule for layer {name!r} ({type(module).__name__})")

    def _rule_for(self, module, first: bool):
        o = self.options
        kind = o["rule"]
        if isinstance(module, POOLS):
            return _layer_rule(module, TINY)
        if kind == "composite":
            if first and o["first"] != "same":
                return self._first_rule(module)
            kind = "gamma" if isinstance(module, nn.Conv2d) else "epsilon"
        w, b = module.weight, module.bias
        if kind == "epsilon":
            return _weighted_rule(module, w, b, float(o["epsilon"]))
        if kind == "gamma":
            return _weighted_rule(module, w + float(o["gamma"]) * w.clamp(min=0), b, TINY)
        return _weighted_rule(module, w.clamp(min=0), b, TINY)

    def _first_rule(self, module):
        first = self.options["first"]
        if first == "zbox":
            low, high = self.options["low"], self.options["high"]
            return _zbox_rule(module, _bound(low, torch.amin), _bound(high, torch.amax))
        return _share_rule(module, module.weight ** 2 if first == "wsquare" else torch.ones_like(module.weight))

    def attribute(self, x, target, hooks):
        seen = {"weighted": 0}

        def relevance_hook(module, args, out):
            first = isinstance(module, WEIGHTED) and seen["weighted"] == 0
            seen["weighted"] += isinstance(module, WEIGHTED)
            with torch.no_grad():
                rule = self._rule_for(module, first)
            return _Relevance.apply(args[0], out.detach(), rule)

        for _, module in leaf_modules(self.model):
            if isinstance(module, WEIGHTED + POOLS):
                hooks.forward(module, relevance_hook)
            else:  # activations, dropout, an input normalisation: what keeps the shape passes relevance on
                hooks.forward_pre(module, _clone_input)
                hooks.forward(module, _pass_if_same_shape)
        xi = x.detach().requires_grad_(True)
        output = self.forward(xi)
        fixed = self.fixed_target(target, output)
        out_leaf = output.detach().requires_grad_(True)
        (ds,) = torch.autograd.grad(score(fixed, out_leaf).sum(), out_leaf)
        (R,) = torch.autograd.grad(output, xi, output.detach() * ds)
        return R.sum(dim=1), output.detach()


def _clone_input(_module, args):
    if args and isinstance(args[0], torch.Tensor):  # an in-place activation must change a copy, not its input
        return (args[0].clone(),) + tuple(args[1:])
    return None


def _pass_if_same_shape(_module, args, out):
    if args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor) and out.shape == args[0].shape:
        return _PassThrough.apply(args[0], out.detach())
    return None  # a reshape (Flatten): the gradient already passes the relevance as it is


def _bound(value, reduce):
    """The z^B bound: a number, or each image's own min / max of the layer's input."""
    if value is not None:
        return lambda a: torch.full((1,) * a.dim(), float(value), dtype=a.dtype, device=a.device)
    return lambda a: reduce(a.detach(), dim=tuple(range(1, a.dim())), keepdim=True)
