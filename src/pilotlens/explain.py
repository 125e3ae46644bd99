"""The one-liner: explain a batch with a method named by string.

The method is a spec as every verb names it (methods/spec.py): "grad_cam", "grad_cam:signed=true",
"grad_cam:layer=conv5", "occlusion:window=8". Keyword options and `layer` are the same options given
another way; where both give one, the spec's own wins (as it does over `--set` and `--layer`).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .layers import LayerSpec
from .methods import parse_method
from .methods.base import Explainer
from .methods.spec import MethodSpec
from .saliency import Saliency
from .targets import TargetSpec


def explainer(model: nn.Module, method: str | MethodSpec = "grad_cam", layer: LayerSpec = None,
              **options: Any) -> Explainer:
    """An explainer for repeated calls: `with explainer(model, "grad_cam") as ex: sal = ex(x, target)`."""
    return parse_method(method).build(model, layer, **options)


def explain(model: nn.Module, x: torch.Tensor, method: str | MethodSpec = "grad_cam", layer: LayerSpec = None,
            target: TargetSpec = None, **options: Any) -> Saliency:
    """Saliency maps for a batch x (B x C x H x W): `.maps` B x H x W in [0, 1] at x's resolution."""
    with explainer(model, method, layer, **options) as ex:
        return ex(x, target)
