"""Localisation: does the map land on what should matter (lane markings, the road, an obstacle)?

Against ground-truth masks (the synthetic world's "lane_markings", "road", "obstacles", or your own),
on the map's grid (B x H x W; `masks_to_input` brings frame-sized masks onto a Pilot's input grid).
A mask may be soft (values in [0, 1], e.g. the share of a model pixel a thin lane line covers).

pointing game (Zhang et al. 2016): a hit when the map's maximum falls on the mask, with a tolerance
    of `tolerance` pixels (the mask dilated by a square of that radius). Where several pixels share
    the maximum, the score is the share of them that hit (the expected hit of a random tie-break),
    so a flat map is not rewarded. Higher is better.
energy share: the share of the map's total mass inside the mask, sum(map * mask) / sum(map) (a soft
    mask weights each pixel by its coverage). Higher is better; compare it with
mask share: the mask's share of the image, mean(mask): what a uniform map would get. energy / mask
    share above 1 means the map concentrates on the mask.

Against Quantus's `PointingGame` (equal in the tests): Quantus takes the first maximum (np.argmax)
and has no tolerance; pilotlens counts every tied maximum (a flat map is not rewarded by a lucky
first pixel) and allows `tolerance` pixels (1 by default: thin lane lines on a small model input).

Images whose mask is empty (no obstacle in the frame) give NaN and are left out of the means;
a map that is all zeros gives an energy share of NaN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F


def _as_masks(masks, maps: torch.Tensor) -> torch.Tensor:
    m = torch.as_tensor(np.asarray(masks) if not isinstance(masks, torch.Tensor) else masks)
    if m.dim() == 2:
        m = m[None]
    if tuple(m.shape) != tuple(maps.shape):
        raise ValueError(f"masks must match the maps, B x H x W = {tuple(maps.shape)}; got {tuple(m.shape)} "
                         "(frame-sized masks go through masks_to_input first)")
    return m.to(device=maps.device, dtype=torch.float32).clamp(0, 1)


def pointing_game(maps: torch.Tensor, masks, tolerance: int = 1) -> torch.Tensor:
    """(B,) share of each map's maximum pixels that fall on the mask dilated by `tolerance` pixels; NaN for an empty mask."""
    masks = _as_masks(masks, maps)
    t = int(tolerance)
    near = F.max_pool2d(masks[:, None], 2 * t + 1, stride=1, padding=t)[:, 0] > 0 if t > 0 else masks > 0
    flat = maps.flatten(1).float()
    top = flat == flat.max(dim=1, keepdim=True).values
    hits = (top & near.flatten(1)).sum(1).float() / top.sum(1).float()
    empty = masks.flatten(1).sum(1) == 0
    return torch.where(empty, torch.full_like(hits, float("nan")), hits).cpu()


def energy_share(maps: torch.Tensor, masks) -> torch.Tensor:
    """(B,) share of each map's mass inside the mask; NaN for an empty mask or an all-zero map."""
    masks = _as_masks(masks, maps)
    m = maps.flatten(1).float().clamp_min(0)
    total = m.sum(1)
    inside = (m * masks.flatten(1)).sum(1)
    bad = (masks.flatten(1).sum(1) == 0) | (total == 0)
    return torch.where(bad, torch.full_like(total, float("nan")), inside / total.clamp_min(1e-30)).cpu()


def mask_share(masks) -> torch.Tensor:
    """(B,) the mask's share of the image (what a uniform map's energy share would be); NaN when empty."""
    m = torch.as_tensor(np.asarray(masks) if not isinstance(masks, torch.Tensor) else masks).float()
    if m.dim() == 2:
        m = m[None]
    share = m.flatten(1).mean(1)
    return torch.where(share == 0, torch.full_like(share, float("nan")), share).cpu()


@dataclass
class LocalisationResult:
    """Per mask name: pointing, energy and mask_share, each (B,)."""

    pointing: dict[str, torch.Tensor]
    energy: dict[str, torch.Tensor]
    mask_share: dict[str, torch.Tensor]


def localisation(maps: torch.Tensor, masks, tolerance: int = 1) -> LocalisationResult:
    """Pointing game, energy share and mask share of maps (B x H x W) against masks: one B x H x W
    mask (named "mask") or a {name: B x H x W} dict (e.g. the synthetic world's)."""
    named = dict(masks) if isinstance(masks, Mapping) else {"mask": masks}
    if not named:
        raise ValueError("no masks given")
    return LocalisationResult({k: pointing_game(maps, m, tolerance) for k, m in named.items()},
                              {k: energy_share(maps, m) for k, m in named.items()},
                              {k: mask_share(_as_masks(m, maps)) for k, m in named.items()})


def masks_to_input(pilot, masks) -> torch.Tensor:
    """Frame-sized masks (B x H x W or H x W, bool or [0, 1]) onto a Pilot's input grid (B x h x w float):
    `Pilot.to_input`, the inverse of the way maps go back onto frames (a thin lane line stays visible
    as a soft mask)."""
    return pilot.to_input(masks).clamp(0, 1)
