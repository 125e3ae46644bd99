"""Helpers the CAM-family tests share: torchcam's maps brought to pilotlens's conventions, steering targets
written out per image for the reference libraries."""
from __future__ import annotations

import torch
import torch.nn.functional as F

LAYERS = {"pilotnet": "8", "donkey": "features.8", "gap": "3", "nested": "1.0"}


def module(model, name):
    return dict(model.named_modules())[name]


def upsampled(layer_maps: torch.Tensor, size) -> torch.Tensor:
    """A reference's layer-resolution maps (B x h x w) at the input size, bilinear, align_corners=False."""
    return F.interpolate(layer_maps[:, None].double(), size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def steering_sides(output: torch.Tensor, threshold: float, index: int = 0) -> list[int]:
    """Each image's side from the clean output, as pilotlens.Steering decides it: +1 right, -1 left, 0 centre."""
    a = output[:, index].detach()
    return [1 if v > threshold else -1 if v < -threshold else 0 for v in a.tolist()]


def steering_callables(sides: list[int], index: int = 0):
    """One torchcam target per image: the output row -> that image's frozen steering score."""
    def make(side):
        return (lambda row: side * row[index]) if side else (lambda row: -row[index].abs())
    return [make(s) for s in sides]


def mixed_threshold(output: torch.Tensor, index: int = 0) -> float:
    """A threshold that puts the batch's images on different sides: halfway between the two smallest |angle|,
    so that no image sits on the boundary (where float rounding of a differently batched pass could move it)."""
    small = output[:, index].detach().abs().sort().values
    return float(small[:2].mean())
