"""Arrays to draw a network's insides: one layer's feature maps per channel, and the first conv's filters."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .hooks import HookSet, eval_mode, keep_first
from .layers import LayerSpec, find_layer, last_conv


def _unit(a: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Min-max over `dims`, 0 where flat."""
    lo = a.amin(dim=dims, keepdim=True)
    span = a.amax(dim=dims, keepdim=True) - lo
    return torch.where(span > 0, (a - lo) / torch.where(span > 0, span, torch.ones_like(span)), torch.zeros_like(a))


def feature_maps(model: nn.Module, x: torch.Tensor, layer: LayerSpec = None) -> np.ndarray:
    """The layer's output for a batch, B x C x h x w float32, each channel min-max scaled to [0, 1]."""
    name, module = find_layer(model, layer, tuple(x.shape[1:]))
    out: dict[int, torch.Tensor] = {}
    p = next(model.parameters(), None)
    x = x.to(p.device) if p is not None else x
    with HookSet() as hooks, eval_mode(model), torch.no_grad():
        hooks.forward(module, lambda _m, _i, o: keep_first(out, 0, o))
        model(x)
    if not out or out[0].dim() != 4:
        shape = tuple(out[0].shape) if out else None
        raise ValueError(f"layer {name!r} has no spatial feature maps (output shape {shape})")
    return _unit(out[0].float(), (2, 3)).cpu().numpy()


def conv_filters(model: nn.Module, layer: LayerSpec = None) -> np.ndarray:
    """A conv layer's kernels (default: the first conv), N x kh x kw x C_in float32 in [0, 1], all
    filters on one scale so their strengths compare. RGB-input filters can be drawn as colour images."""
    if layer is None:
        convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        name, module = convs[0] if convs else last_conv(model)  # last_conv raises the no-conv error
    else:
        name, module = find_layer(model, layer)
        inner = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        if not isinstance(module, nn.Conv2d) and len(inner) == 1:
            module = inner[0]  # a conv with its activation in one block (a converted Keras Conv2D)
    if not isinstance(module, nn.Conv2d):
        raise ValueError(f"layer {name!r} is a {type(module).__name__}, not a Conv2d")
    w = module.weight.detach().float()
    return _unit(w, (0, 1, 2, 3)).permute(0, 2, 3, 1).cpu().numpy()
