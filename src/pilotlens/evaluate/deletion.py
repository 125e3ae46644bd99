"""Deletion and insertion (Petsiuk et al. 2018, RISE): does removing what the map points at change the answer?

Pixels are taken in the map's order, most relevant first (ties in a seeded random order), in
`steps` equal steps of the image (fractions 0, 1/steps, ..., 1):

* deletion:  x_t = x with its top t pixels replaced by the baseline's;
* insertion: x_t = the baseline with x's top t pixels put back.

A pixel is all of its channels. The curve follows the tracked value (see `_common`): a classifier's
probability of its clean class, or a regressor's closeness to its clean answer,
``1 - min(1, |s(x_t) - s(x)| / |s(baseline) - s(x)|)`` (1 at the start of deletion, 0 when all is
deleted; 0 -> 1 for insertion). The score is the area under the curve over [0, 1] by the trapezoid
rule: **lower is better for deletion** (the answer goes as soon as the salient pixels go), **higher
is better for insertion** (it comes back as soon as they come back). Every step of every image
runs through the model in batches of `batch_size` (the two ends are known: the clean image and the
baseline, each run once).

Baselines: "blur" (Gaussian, sigma = max(H, W) / 40 unless given: about RISE's 5 px on 224 px),
"zeros" (the model input 0), "mean" (each image's mean colour), a number, or a tensor that
broadcasts to x.

Against Quantus's `PixelFlipping` (checked in the tests: the same raw outputs, difference 0): Quantus
returns the raw output after each step; pilotlens also keeps the clean start (fraction 0), and for a
regressor plots and integrates closeness to the clean answer instead of the raw output (a raw
steering angle has no "all gone" level, and may move either way). Quantus orders tied pixels by
numpy's argsort (raster order, in effect); pilotlens breaks ties in a seeded random order, so that a
flat or binary map removes its tied pixels as a random map would. Quantus removes feature values
(one channel of a pixel) when a map is broadcast over channels; pilotlens removes whole pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import layout
from ..targets import TargetSpec
from ._common import Tracker, check_maps, counts, pixel_ranks, tie_order, trapezoid

BASELINES = ("blur", "zeros", "mean")


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Each channel of x (B x C x H x W) blurred by a Gaussian of `sigma` pixels (separable, edges replicated)."""
    if sigma <= 0:
        return x.clone()
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    out = F.pad(x, (radius, radius, 0, 0), mode="replicate")
    out = F.conv2d(out, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.pad(out, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def make_baseline(x: torch.Tensor, baseline="blur", sigma: float | None = None) -> torch.Tensor:
    """The image that replaces removed pixels, B x C x H x W (see the module docstring)."""
    if isinstance(baseline, torch.Tensor):
        try:
            return baseline.to(x).expand_as(x).clone()
        except RuntimeError:
            raise ValueError(f"a baseline tensor of shape {tuple(baseline.shape)} does not broadcast to x "
                             f"{tuple(x.shape)}") from None
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    if baseline == "zeros":
        return torch.zeros_like(x)
    if baseline == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    if baseline == "blur":
        return gaussian_blur(x, max(x.shape[2:]) / 40 if sigma is None else float(sigma))
    raise ValueError(f"unknown baseline {baseline!r}; baselines: {', '.join(BASELINES)}, a number or a tensor")


@dataclass
class CurveResult:
    """Curves of one metric for a batch.

    fractions: T fractions of the image removed (deletion) or inserted (insertion), 0 .. 1.
    curves:    B x T what is plotted (probability, or closeness for a regressor), in [0, 1].
    values:    B x T the raw tracked value (probability, or the target score).
    auc:       B areas under the curves (trapezoid over [0, 1]).
    """

    name: str
    fractions: torch.Tensor
    curves: torch.Tensor
    values: torch.Tensor
    auc: torch.Tensor
    kind: str
    better: str


def _run(mode: str, model, x, maps, target, steps, baseline, kind, scale, batch_size, seed, sigma, tracker):
    if int(steps) < 1:
        raise ValueError(f"{mode}: steps must be >= 1, got {steps}")
    tracker = tracker or Tracker(model, x, target, kind, batch_size)
    maps = check_maps(maps, x)
    base = make_baseline(x, baseline, sigma)
    b, _, h, w = x.shape
    fractions = torch.linspace(0, 1, int(steps) + 1)
    k = counts(fractions.tolist(), h * w).to(x.device)
    ranks = pixel_ranks(maps, order=tie_order(seed, mode, "order", b=b, n=h * w))
    t_count = len(k)

    # the ends need no new pass: nothing removed is x (its clean value), everything removed the baseline
    base_values = tracker.values(base, torch.arange(b))
    inner = t_count - 2

    from .blend import Blend   # numba: imported (and compiled, the first time) on first use

    # the top pixels come from the baseline (deletion) or from x (insertion), in the layout the model runs
    front, back = (base, x) if mode == "deletion" else (x, base)
    blend = Blend(front, back, ranks, layout.decide(tracker.model, x))

    def make(jobs):
        jobs = jobs.to(x.device)
        rows, t = jobs // inner, jobs % inner + 1
        return blend(rows, k[t]), rows

    values = torch.empty(b, t_count, dtype=tracker.clean.dtype, device=tracker.clean.device)
    if inner > 0:
        values[:, 1:-1] = tracker.run_jobs(b * inner, make).view(b, inner).to(values)
    first, last = (tracker.clean, base_values) if mode == "deletion" else (base_values, tracker.clean)
    values[:, 0], values[:, -1] = first, last
    scale_t = None if tracker.kind == "classification" else tracker.scale(None, scale, base_values)
    rows = torch.arange(b, device=values.device).repeat_interleave(t_count)
    curves = tracker.curve(values.reshape(-1), rows, scale_t).view(b, t_count)
    return CurveResult(mode, fractions, curves.cpu(), values.cpu(), trapezoid(curves.cpu(), fractions),
                       tracker.kind, "lower" if mode == "deletion" else "higher")


def deletion(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, target: TargetSpec = None, *, steps: int = 20,
             baseline="blur", kind: str = "auto", scale: float | None = None, batch_size: int = 64, seed: int = 0,
             sigma: float | None = None, tracker: Tracker | None = None) -> CurveResult:
    """Deletion curves and AUC for maps (B x H x W) of x (B x C x H x W); lower AUC is better.

    target, kind: what is tracked (see `_common.Tracker`); scale: a regressor's change that counts as
    all gone (default: the baseline's, per image); sigma: the blur baseline's Gaussian; seed: the
    order of tied pixels.
    """
    return _run("deletion", model, x, maps, target, steps, baseline, kind, scale, batch_size, seed, sigma, tracker)


def insertion(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, target: TargetSpec = None, *, steps: int = 20,
              baseline="blur", kind: str = "auto", scale: float | None = None, batch_size: int = 64, seed: int = 0,
              sigma: float | None = None, tracker: Tracker | None = None) -> CurveResult:
    """Insertion curves and AUC (same arguments as `deletion`); higher AUC is better."""
    return _run("insertion", model, x, maps, target, steps, baseline, kind, scale, batch_size, seed, sigma, tracker)
