"""ROAD (Rong et al. 2022, "A Consistent and Efficient Evaluation Strategy for Attribution Methods").

Removing pixels by painting them a constant leaks the map's shape to the model (the holes themselves
are a signal). ROAD removes them with *noisy linear imputation* instead: each removed pixel takes
the weighted mean of its 8 neighbours (weight 1/6 for the 4 direct ones, 1/12 for the diagonals,
neighbours outside the image left out), every removed pixel at once. For the removed set U and kept
pixels K that is the sparse linear system, per channel,

    sum_n w(p, n) * v_p - sum_{n in U} w(p, n) * v_n = sum_{n in K} w(p, n) * x_n     (p in U)

a graph Laplacian with the kept pixels as boundary values: symmetric positive definite whenever one
pixel is kept. scipy is not a dependency, so it is solved here with conjugate gradients (Jacobi
preconditioned), matrix free (a 3x3 stencil per step), every image, fraction and channel of a batch
at once, until each system's relative residual is below `tol` (1e-4) or after 4 (H + W) steps; the
first guess is the same problem solved on grids of half, quarter, ... the size (kept pixels averaged
per 2 x 2 block), upsampled. Then Gaussian noise of std `noise` x (the channel's std over the image)
is added to the removed pixels; MoRF and LeRF get the same noise, so their difference is paired.

Fractions f of the pixels are removed most relevant first (MoRF) and least relevant first (LeRF),
ties in a seeded random order. The tracked value is a classifier's probability of its clean class
or a regressor's closeness to its clean answer (`_common`; the reference for a regressor's scale is
the image's mean colour: what imputation tends to as everything is removed). Scores per image:

    morf  = mean over fractions of the MoRF curve    (lower is better)
    lerf  = mean over fractions of the LeRF curve    (higher is better)
    road  = mean over fractions of (LeRF - MoRF)     (higher is better; ~0 for a random map)

The default fractions are 0.1, 0.2, ..., 0.9, as in the paper.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..targets import TargetSpec
from ._common import Tracker, check_maps, counts, generator, pixel_ranks

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _neighbours(v: torch.Tensor) -> torch.Tensor:
    """Weighted sum of each pixel's in-image neighbours for N x C x H x W: the kernel
    [[1, 2, 1], [2, 0, 2], [1, 2, 1]] / 12, applied separably ([1, 2, 1] twice, minus the centre)."""
    p = F.pad(v, (1, 1, 1, 1))
    rows = p[..., :-2] + 2 * p[..., 1:-1] + p[..., 2:]
    return (rows[..., :-2, :] + 2 * rows[..., 1:-1, :] + rows[..., 2:, :] - 4 * v) / 12


def _cg(work: torch.Tensor, m: torch.Tensor, v: torch.Tensor, tol: float, max_iter: int) -> torch.Tensor:
    """Preconditioned conjugate gradients on the removed pixels (m = 1), from the first guess v."""
    diag = _neighbours(torch.ones_like(work[:1, :1])).expand_as(work)   # sum of in-image neighbour weights

    def apply(u):                         # A u for u supported on the removed pixels
        return m * (diag * u - _neighbours(m * u))

    b = m * _neighbours((1 - m) * work)
    v = m * v
    r = b - apply(v)
    z = r / diag
    p = z
    rz = (r * z).sum((2, 3), keepdim=True)
    bnorm = b.flatten(2).norm(dim=2).clamp_min(1e-30)
    for _ in range(max_iter):
        if (r.flatten(2).norm(dim=2) <= tol * bnorm).all():
            break
        ap = apply(p)
        pap = (p * ap).sum((2, 3), keepdim=True)
        alpha = torch.where(pap > 0, rz / pap.clamp_min(1e-30), torch.zeros_like(pap))
        v = v + alpha * p
        r = r - alpha * ap
        z = r / diag
        rz_new = (r * z).sum((2, 3), keepdim=True)
        beta = torch.where(rz > 0, rz_new / rz.clamp_min(1e-30), torch.zeros_like(rz))
        p = z + beta * p
        rz = rz_new
    return v


def _first_guess(work: torch.Tensor, m: torch.Tensor, tol: float) -> torch.Tensor:
    """A smooth first guess for the removed pixels: the same problem solved on a grid half the size
    (kept pixels averaged per 2 x 2 block), upsampled; at the coarsest grid the kept pixels' mean.
    Conjugate gradients then only has the fine detail left to fix, in a few dozen steps."""
    keep = 1 - m
    h, w = work.shape[2:]
    if min(h, w) < 8:
        return (keep * work).sum((2, 3), keepdim=True) / keep.sum((2, 3), keepdim=True).clamp_min(1) * m + 0 * work
    ck = F.avg_pool2d(keep, 2, ceil_mode=True)
    cx = F.avg_pool2d(keep * work, 2, ceil_mode=True) / ck.clamp_min(1e-12)
    cm = (ck == 0).to(work.dtype)
    coarse = _solve(cx * (1 - cm), cm, tol, 25 + (cx.shape[2] + cx.shape[3]) // 2)
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


def _solve(work: torch.Tensor, m: torch.Tensor, tol: float, max_iter: int) -> torch.Tensor:
    if not bool(m.any()):
        return work
    v = _first_guess(work, m, tol)
    return (1 - m) * work + m * _cg(work, m, v, tol, max_iter)


def linear_impute(x: torch.Tensor, removed: torch.Tensor, tol: float = 1e-4, max_iter: int | None = None) -> torch.Tensor:
    """x (N x C x H x W) with the pixels where `removed` (N x H x W bool) is true filled by ROAD's linear
    imputation (no noise): the solution of the system above, to relative residual `tol` (or
    `max_iter` conjugate-gradient steps on the full grid, default 4 (H + W))."""
    n, c, h, w = x.shape
    m = removed.view(n, 1, h, w)
    if (m.flatten(1).sum(1) >= h * w).any():
        raise ValueError("linear imputation needs at least one kept pixel per image")
    work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    out = _solve(work, m.to(work.dtype).expand_as(work), float(tol), max_iter if max_iter is not None else 4 * (h + w))
    return out.to(x.dtype)


def noisy_linear_impute(x: torch.Tensor, removed: torch.Tensor, noise: float = 0.01,
                        gen: torch.Generator | None = None, tol: float = 1e-4, max_iter: int | None = None,
                        channel_std: torch.Tensor | None = None) -> torch.Tensor:
    """ROAD's noisy linear imputation: `linear_impute` plus Gaussian noise on the removed pixels, of
    std `noise` x each image's channel std (`channel_std`, N x C x 1 x 1, default from x itself)."""
    out = linear_impute(x, removed, tol, max_iter)
    if noise > 0:
        std = x.std(dim=(2, 3), keepdim=True) if channel_std is None else channel_std
        eps = torch.randn(x.shape, generator=gen).to(x)
        out = out + removed[:, None].to(x.dtype) * eps * (float(noise) * std)
    return out


@dataclass
class RoadResult:
    """ROAD curves for a batch: fractions (F,), morf and lerf (B x F, the tracked curve after removing
    each fraction most / least relevant first), and per-image scores morf_score, lerf_score, score (B,)."""

    fractions: torch.Tensor
    morf: torch.Tensor
    lerf: torch.Tensor
    kind: str

    @property
    def morf_score(self) -> torch.Tensor:
        return self.morf.mean(dim=1)

    @property
    def lerf_score(self) -> torch.Tensor:
        return self.lerf.mean(dim=1)

    @property
    def score(self) -> torch.Tensor:
        return (self.lerf - self.morf).mean(dim=1)


def road(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, target: TargetSpec = None, *,
         fractions: Sequence[float] = FRACTIONS, noise: float = 0.01, kind: str = "auto", scale: float | None = None,
         batch_size: int = 64, seed: int = 0, tol: float = 1e-4, max_iter: int | None = None,
         tracker: Tracker | None = None) -> RoadResult:
    """MoRF and LeRF curves with noisy linear imputation for maps (B x H x W) of x (B x C x H x W).

    Removal fractions must lie in [0, 1) (at least one pixel is always kept). `batch_size` images
    (image x fraction x order) are imputed and run through the model at once.
    """
    fr = [float(f) for f in fractions]
    if not fr or any(not 0.0 <= f < 1.0 for f in fr):
        raise ValueError(f"road: fractions must be in [0, 1), got {list(fractions)}")
    tracker = tracker or Tracker(model, x, target, kind, batch_size)
    maps = check_maps(maps, x)
    b, _, h, w = x.shape
    k = counts(fr, h * w, keep_one=True).to(x.device)
    nf = len(fr)
    ranks = {"morf": pixel_ranks(maps, generator(seed, "road", "order")),
             "lerf": pixel_ranks(maps, generator(seed, "road", "order"), descending=False)}
    channel_std = x.std(dim=(2, 3), keepdim=True)

    def job_maker(order):
        gen = generator(seed, "road", "noise")   # the same noise for both orders: paired curves

        def make(jobs):
            jobs = jobs.to(x.device)
            rows, f = jobs // nf, jobs % nf
            removed = (ranks[order][rows] < k[f].view(-1, 1)).view(-1, h, w)
            return noisy_linear_impute(x[rows], removed, noise, gen, tol, max_iter, channel_std[rows]), rows
        return make

    scale_t = None
    if tracker.kind == "regression":
        scale_t = tracker.scale(x.mean(dim=(2, 3), keepdim=True).expand_as(x), scale)
    rows = torch.arange(b).repeat_interleave(nf)
    curves = {}
    for order in ("morf", "lerf"):
        values = tracker.run_jobs(b * nf, job_maker(order))
        curves[order] = tracker.curve(values, rows.to(values.device), scale_t).view(b, nf).cpu()
    return RoadResult(torch.tensor(fr), curves["morf"], curves["lerf"], tracker.kind)
