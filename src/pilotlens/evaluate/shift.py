"""The shift test of VisualBackProp (Bojarski et al. 2017, "Explaining how a deep neural network
trained with end-to-end learning steers a car"): move what the map calls salient a few pixels
sideways and the steering should change; move everything else and it should barely change.

For each image:

1. The salient window W: the map's top-k pixels (ties in a seeded random order), dilated by
   `dilate` pixels and widened by the shift on both sides (so W holds the region wherever it moves).
   k is chosen per image (binary search) so that W covers `area` of the image for every map: a map
   whose salient pixels are scattered gets fewer of them, and no method wins by claiming more.
2. For d = +shift and -shift (pixels, right and left), with x_d the image shifted by d (edges
   replicated):  salient-shifted = x_d inside W and x outside;  rest-shifted = x inside W and x_d
   outside. The two partition the same change: their sum is x + x_d.
3. change = |value(perturbed) - value(x)| of the tracked value (a regressor's target score, e.g. the
   steering angle; a classifier's probability of its clean class), averaged over the two directions.

    shift score = (salient change - rest change) / (salient change + rest change + eps)

in [-1, 1]: 1 when only the salient region matters, about 0 for a random map, -1 when the map
points exactly where the model does not look. Higher is better. eps = 1e-6 * (1 + |value(x)|).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..targets import TargetSpec
from ._common import Tracker, check_maps, generator, pixel_ranks


def shift_image(x: torch.Tensor, d: int) -> torch.Tensor:
    """x (N x C x H x W) moved d pixels to the right (d < 0: left), the edge column repeated."""
    d = int(d)
    if d == 0:
        return x.clone()
    w = x.shape[-1]
    if abs(d) >= w:
        raise ValueError(f"a shift of {d} pixels does not fit an image {w} pixels wide")
    if d > 0:
        return torch.cat([x[..., :1].expand(*x.shape[:-1], d), x[..., :w - d]], dim=-1)
    return torch.cat([x[..., -d:], x[..., -1:].expand(*x.shape[:-1], -d)], dim=-1)


def salient_window(maps: torch.Tensor, area: float = 0.2, dilate: int = 2, shift: int = 0,
                   gen: torch.Generator | None = None) -> torch.Tensor:
    """B x H x W bool: the map's top pixels, dilated by `dilate` and widened by `shift` sideways,
    as many top pixels as keep the window within `area` of the image (at least one pixel)."""
    if not 0 < area <= 1:
        raise ValueError(f"area must be in (0, 1], got {area}")
    b, h, w = maps.shape
    ranks = pixel_ranks(maps, gen if gen is not None else torch.Generator().manual_seed(0))
    budget = area * h * w

    # A pixel is in window(k) when some pixel of the dilation rectangle around it ranks below k: with each
    # pixel's smallest rank in its rectangle (one min-pool), window(k) = {minrank < k}, and the largest k whose
    # window fits the budget is read off the sorted minranks (what a binary search over k finds, in one pass).
    dy, dx = int(dilate), int(dilate) + abs(int(shift))
    exact = torch.float32 if h * w < 2 ** 24 else torch.float64        # every rank a whole number in it
    minrank = -F.max_pool2d(-ranks.view(b, 1, h, w).to(exact), (2 * dy + 1, 2 * dx + 1), stride=1,
                            padding=(dy, dx)).view(b, -1)
    m = int(math.floor(budget))
    if m >= h * w:
        k = torch.full((b,), h * w, dtype=torch.long, device=maps.device)
    else:
        k = minrank.kthvalue(m + 1, dim=1).values.long().clamp(1, h * w)  # the largest k with count(minrank < k) <= m
    return (minrank < k.view(-1, 1)).view(b, h, w)


@dataclass
class ShiftResult:
    """salient_change, rest_change, score: B each; window: B x H x W bool; shift: pixels."""

    salient_change: torch.Tensor
    rest_change: torch.Tensor
    score: torch.Tensor
    window: torch.Tensor
    shift: int
    kind: str


def shift_test(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, target: TargetSpec = None, *,
               area: float = 0.2, dilate: int = 2, shift: int | None = None, kind: str = "auto",
               batch_size: int = 64, seed: int = 0, tracker: Tracker | None = None) -> ShiftResult:
    """The shift test for maps (B x H x W) of x (B x C x H x W); see the module docstring.

    shift: pixels sideways (default max(2, 2% of the width)); area: share of the image the moved
    window covers; dilate: pixels added around the salient pixels.
    """
    tracker = tracker or Tracker(model, x, target, kind, batch_size)
    maps = check_maps(maps, x)
    b, _, h, w = x.shape
    d = max(2, round(0.02 * w)) if shift is None else int(shift)
    if d < 1:
        raise ValueError(f"shift must be at least 1 pixel, got {d}")
    win = salient_window(maps, area, dilate, d, generator(seed, "shift", "order"))[:, None]
    inputs = []
    for dd in (d, -d):
        moved = shift_image(x, dd)
        inputs += [torch.where(win, moved, x), torch.where(win, x, moved)]
    stacked = torch.cat(inputs)                    # [sal +d, rest +d, sal -d, rest -d] x B
    rows = torch.arange(b).repeat(4)
    values = tracker.values(stacked, rows).view(4, b)
    change = (values - tracker.clean.view(1, -1)).abs().cpu()
    salient = (change[0] + change[2]) / 2
    rest = (change[1] + change[3]) / 2
    eps = 1e-6 * (1 + tracker.clean.abs().cpu())
    return ShiftResult(salient, rest, (salient - rest) / (salient + rest + eps), win[:, 0].cpu(), d, tracker.kind)
