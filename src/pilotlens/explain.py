"""The one-liner: explain a batch with a method named by string."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .layers import LayerSpec
from .methods import get_method
from .methods.base import Explainer
from .saliency import Saliency
from .targets import TargetSpec


def explainer(model: nn.Module, method: str = "grad_cam", layer: LayerSpec = None, **options: Any) -> Explainer:
    """An explainer for repeated calls: `with explainer(model, "grad_cam") as ex: sal = ex(x, target)`."""
    return get_method(method)(model, layer, **options)


def explain(model: nn.Module, x: torch.Tensor, method: str = "grad_cam", layer: LayerSpec = None,
            target: TargetSpec = None, **options: Any) -> Saliency:
    """Saliency maps for a batch x (B x C x H x W): `.maps` B x H x W in [0, 1] at x's resolution."""
    with explainer(model, method, layer, **options) as ex:
        return ex(x, target)


def methods() -> list[str]:
    """The names `explain` accepts."""
    from .methods import REGISTRY
    return sorted(REGISTRY)
