"""Robustness: the same frames under small perturbations; how much the answer and the map change.

Perturbations (strength 0 leaves the image exactly as it was):

brightness  add strength x the value range (negative: darker), clipped to the range.
shadow      darken a band across the lower part of the image (seeded random position, direction and
            width) by the factor 1 - strength.
obstacle    a box `strength` x the image width wide (0.6 as tall), at a seeded random place in the
            lower middle of the image, filled with the local road colour: the mean colour of a ring
            around the box. A good driver ignores nothing on the road; a map should at least show
            whether the model saw the box.
noise       Gaussian noise of std strength x the value range, clipped to the range.
shift       the image moved round(strength x width) pixels to the right (at least 1), edge repeated.

With a Pilot and its frames, perturbations act on the camera frames (RGB 0..255, rounded back to
uint8) and the pilot prepares them again; the shift always acts on the model input, so that the map
of the shifted input can be shifted back and compared pixel for pixel. Without frames they act on
the model input x, with each image's min..max as its value range.

Per image and perturbation:

output change  |value(perturbed) - value(x)|: a regressor's target score (e.g. the steering angle,
               in its own units), a classifier's probability of its clean class. The model's own
               robustness, the same for every method: read it next to the map change.
map change     1 - Spearman(map(x), map(perturbed))   (similarity="spearman", in [0, 2])
               1 - SSIM(map(x), map(perturbed))       (similarity="ssim")
               For the shift, the perturbed map is shifted back and both are compared on the columns
               they share. Lower is steadier; a map that follows a change the model ignores, or
               ignores one that moved the answer, is suspect.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..targets import TargetSpec
from ._common import Tracker, check_batch, clean_target_and_maps, derive_seed, generator
from ._method import MethodSpec, resolve_method
from .shift import shift_image
from .similarity import Ranks, spearman, ssim

DEFAULT_STRENGTHS = {"brightness": 0.2, "shadow": 0.5, "obstacle": 0.15, "noise": 0.03, "shift": 0.03}
SIMILARITIES = ("spearman", "ssim")


def _grid(n: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    ys = torch.arange(h, dtype=torch.float32).view(1, h, 1).expand(n, h, w)
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, w).expand(n, h, w)
    return ys, xs


def brightness(images: torch.Tensor, strength: float, gen: torch.Generator, lo, hi) -> torch.Tensor:
    if strength == 0:
        return images.clone()
    return torch.minimum(torch.maximum(images + strength * (hi - lo), lo), hi)


def noise(images: torch.Tensor, strength: float, gen: torch.Generator, lo, hi) -> torch.Tensor:
    if strength == 0:
        return images.clone()
    eps = torch.randn(images.shape, generator=gen).to(images)
    return torch.minimum(torch.maximum(images + strength * (hi - lo) * eps, lo), hi)


def shadow(images: torch.Tensor, strength: float, gen: torch.Generator, lo, hi) -> torch.Tensor:
    if strength == 0:
        return images.clone()
    n, _, h, w = images.shape
    u = torch.rand(n, 4, generator=gen)
    cy, cx = (0.45 + 0.45 * u[:, 0]) * h, (0.2 + 0.6 * u[:, 1]) * w       # a point of the band's centre line
    angle = (u[:, 2] - 0.5) * (2 * math.pi / 3)                            # within 60 degrees of horizontal
    half = (0.06 + 0.1 * u[:, 3]) * max(h, w)
    ys, xs = _grid(n, h, w)
    dist = ((ys - cy.view(-1, 1, 1)) * torch.cos(angle).view(-1, 1, 1)
            - (xs - cx.view(-1, 1, 1)) * torch.sin(angle).view(-1, 1, 1)).abs()
    inside = (dist <= half.view(-1, 1, 1))[:, None].to(images.device)
    return torch.where(inside, images - strength * (images - lo), images)


def obstacle(images: torch.Tensor, strength: float, gen: torch.Generator, lo, hi) -> torch.Tensor:
    n, c, h, w = images.shape
    bw = int(round(strength * w))
    out = images.clone()
    if bw <= 0:
        return out
    bw = min(bw, w)
    bh = max(1, min(h, int(round(0.6 * bw))))
    u = torch.rand(n, 2, generator=gen)
    ring = max(1, bh // 2)
    for i in range(n):
        x0 = int(round((0.35 + 0.3 * u[i, 0].item()) * w - bw / 2))
        y1 = int(round((0.75 + 0.2 * u[i, 1].item()) * h))
        x0 = min(max(x0, 0), w - bw)
        y1 = min(max(y1, bh), h)
        y0 = y1 - bh
        a0, a1, b0, b1 = max(0, y0 - ring), min(h, y1 + ring), max(0, x0 - ring), min(w, x0 + bw + ring)
        around = torch.ones((a1 - a0, b1 - b0), dtype=torch.bool, device=images.device)
        around[y0 - a0:y1 - a0, x0 - b0:x0 - b0 + bw] = False
        patch = images[i, :, a0:a1, b0:b1]
        colour = patch[:, around].mean(dim=1) if bool(around.any()) else patch.mean(dim=(1, 2))
        out[i, :, y0:y1, x0:x0 + bw] = colour.view(c, 1, 1)
    return out


PERTURBATIONS: dict[str, Callable] = {"brightness": brightness, "shadow": shadow, "obstacle": obstacle,
                                      "noise": noise, "shift": None}


def shift_pixels(strength: float, width: int) -> int:
    """round(strength x width), at least one pixel for any non-zero strength."""
    d = int(round(strength * width))
    return d if d != 0 or strength == 0 else (1 if strength > 0 else -1)


def perturb(images: torch.Tensor, name: str, strength: float, gen: torch.Generator, lo=0.0, hi=1.0) -> torch.Tensor:
    """images (N x C x H x W, values in lo..hi; lo, hi numbers or N x 1 x 1 x 1) under one perturbation."""
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r}; perturbations: {', '.join(PERTURBATIONS)}")
    if name == "shift":
        return shift_image(images, shift_pixels(strength, images.shape[-1]))
    lo = torch.as_tensor(lo, dtype=images.dtype, device=images.device)
    hi = torch.as_tensor(hi, dtype=images.dtype, device=images.device)
    return PERTURBATIONS[name](images, float(strength), gen, lo, hi)


@dataclass
class RobustnessResult:
    """Per perturbation name: strength, output_change (B,), map_change (B,)."""

    strengths: dict[str, float]
    output_change: dict[str, torch.Tensor]
    map_change: dict[str, torch.Tensor]
    similarity: str


def _strengths(perturbations) -> dict[str, float]:
    if perturbations is None:
        return dict(DEFAULT_STRENGTHS)
    if isinstance(perturbations, str):
        perturbations = [perturbations]
    items = perturbations.items() if isinstance(perturbations, Mapping) else \
        [(p, DEFAULT_STRENGTHS.get(p)) for p in perturbations]
    out = {}
    for name, s in items:
        if name not in PERTURBATIONS:
            raise ValueError(f"unknown perturbation {name!r}; perturbations: {', '.join(PERTURBATIONS)}")
        out[name] = float(s)
    return out


def _changed(a: torch.Tensor, b: torch.Tensor, similarity: str, ranked: Ranks | None = None) -> torch.Tensor:
    """1 - similarity of a and b; `ranked`: a's Ranks when already computed (spearman)."""
    if similarity == "spearman":
        return 1 - spearman(a if ranked is None else ranked, b)
    return 1 - ssim(a.clamp(0, 1), b.clamp(0, 1))


def robustness_many(model: nn.Module, x: torch.Tensor, methods: dict[str, Any], maps: dict[str, torch.Tensor], *,
                    tracker: Tracker, perturbations: Mapping[str, float] | Sequence[str] | None = None,
                    similarity: str = "spearman", frames=None, pilot=None, seed: int = 0,
                    on_method: Callable[[str], None] | None = None) -> dict[str, RobustnessResult]:
    """`robustness` for several methods at once: each perturbed batch and the output change are computed
    once, then every method explains it. methods: {label: Method}; maps: {label: clean maps of x};
    tracker: x's (its target is frozen on the clean output)."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {', '.join(SIMILARITIES)}, got {similarity!r}")
    strengths = _strengths(perturbations)
    images = lo = hi = None
    if frames is not None:
        if pilot is None:
            raise ValueError("robustness on frames needs the pilot that prepares them")
        arr = np.stack([np.asarray(getattr(f, "image", f)) for f in frames])
        images = torch.from_numpy(arr).permute(0, 3, 1, 2).float()
        lo, hi = 0.0, 255.0
    b = x.shape[0]
    rows = torch.arange(b)
    out_change: dict[str, torch.Tensor] = {}
    ranked = {label: Ranks(maps[label]) for label in methods} if similarity == "spearman" else {}
    map_change: dict[str, dict[str, torch.Tensor]] = {m: {} for m in methods}
    for name, s in strengths.items():
        gen = generator(seed, "robustness", name)
        if name == "shift" or images is None:
            flat = x.flatten(1)
            xlo = flat.min(1).values.view(-1, 1, 1, 1)
            xhi = flat.max(1).values.view(-1, 1, 1, 1)
            xp = perturb(x, name, s, gen, xlo, xhi)
        else:
            moved = perturb(images, name, s, gen, lo, hi).round().clamp(0, 255).to(torch.uint8)
            xp = pilot.prepare(moved.permute(0, 2, 3, 1).numpy()).to(x)
        out_change[name] = (tracker.values(xp, rows) - tracker.clean).abs().cpu()
        for label, method in methods.items():
            new = method(model, xp, tracker.target, derive_seed(seed, "robustness", name))
            clean = maps[label]
            if name == "shift":
                d = shift_pixels(s, x.shape[-1])
                w = x.shape[-1]
                a, bb = (clean[..., :w - d], new[..., d:]) if d >= 0 else (clean[..., -d:], new[..., :w + d])
                map_change[label][name] = _changed(a, bb, similarity).cpu()
            else:
                map_change[label][name] = _changed(clean, new, similarity, ranked.get(label)).cpu()
            if on_method is not None:
                on_method(label)
    return {m: RobustnessResult(strengths, out_change, map_change[m], similarity) for m in methods}


def robustness(model: nn.Module, x: torch.Tensor, method: MethodSpec, target: TargetSpec = None, *,
               perturbations: Mapping[str, float] | Sequence[str] | None = None, similarity: str = "spearman",
               frames=None, pilot=None, maps: torch.Tensor | None = None, kind: str = "auto",
               batch_size: int = 64, seed: int = 0, tracker: Tracker | None = None) -> RobustnessResult:
    """Output and map changes of `method` on x (B x C x H x W) under each perturbation.

    perturbations: {name: strength}, or names with their default strengths (DEFAULT_STRENGTHS, all
    by default). frames (uint8 B x H x W x 3, the frames x was prepared from) with `pilot`: perturb
    the frames, not x. maps: the clean maps when already computed.
    """
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {', '.join(SIMILARITIES)}, got {similarity!r}")
    x = check_batch(x)
    _strengths(perturbations)
    method = resolve_method(method)
    tracker = tracker or Tracker(model, x, target, kind, batch_size)
    _, maps = clean_target_and_maps(model, x, target, method, seed, maps)
    return robustness_many(model, x, {method.label: method}, {method.label: maps}, tracker=tracker,
                           perturbations=perturbations, similarity=similarity, frames=frames, pilot=pilot,
                           seed=seed)[method.label]
