"""Faithfulness correlation (Bhatt et al. 2020, "Evaluating and Aggregating Feature-based Model
Explanations"): does the map's mass on a random set of pixels predict how much removing them moves
the answer?

For each image, `runs` random subsets of `subset` (a share of the pixels; a pixel is all its channels)
are replaced by the baseline (as in `deletion`: "zeros", "mean", "blur", a number or a tensor). For
each subset S:

    attribution(S) = sum of the map over S        change(S) = s(x) - s(x with S removed)

where s is the tracked raw value of `_common.Tracker` (a regressor's target score, e.g. the steering
angle with its side frozen on the clean output; a classifier's probability of its clean class). The
score is the Pearson correlation of attribution and change over the runs, in [-1, 1]: higher is
better, about 0 for a random map. NaN when either side does not vary (a flat map; a model that
nothing moves).

This is Quantus's `FaithfulnessCorrelation` (same Pearson, same sums, same difference y(x) - y(x')),
checked against it in the tests on the same subsets. pilotlens removes whole pixels (Quantus removes
single channel values when the map is broadcast over channels) and tracks a regressor's score
directly; Quantus's "black" baseline is the image's minimum, pilotlens's "zeros" the model input 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..targets import TargetSpec
from ._common import Tracker, check_maps, generator
from .deletion import make_baseline


@dataclass
class CorrelationResult:
    """score (B,): Pearson correlation per image; attributions and changes (B x runs) behind it."""

    score: torch.Tensor
    attributions: torch.Tensor
    changes: torch.Tensor
    kind: str


def random_subsets(b: int, n: int, k: int, runs: int, gen: torch.Generator) -> torch.Tensor:
    """runs x B x k distinct pixel indices per image and run, drawn from `gen`."""
    return torch.rand(runs, b, n, generator=gen).argsort(dim=2)[..., :k]


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row of a and b (B x R), float64 inside; NaN where a row is constant."""
    a, b = a.double(), b.double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    den = (a.square().sum(1) * b.square().sum(1)).sqrt()
    r = (a * b).sum(1) / den
    return torch.where(den > 0, r, torch.full_like(r, float("nan"))).float()


@dataclass
class Perturbations:
    """The random subsets of a batch and the output change removing each makes: what every map of the batch
    is correlated with. It depends on the images, the subsets and the baseline, never on a map, so
    `evaluate` runs these passes once per batch and scores every method against them."""

    subsets: torch.Tensor      # runs x B x k pixel indices (flattened H x W)
    changes: torch.Tensor      # B x runs: s(x) - s(x with the subset removed)


def perturbations(model: nn.Module, x: torch.Tensor, target: TargetSpec = None, *, runs: int = 25,
                  subset: float = 0.02, baseline="zeros", kind: str = "auto", batch_size: int = 64, seed: int = 0,
                  subsets: torch.Tensor | None = None, tracker: Tracker | None = None) -> Perturbations:
    """The subsets (seeded random, or yours) and the change removing each makes (the model's passes)."""
    tracker = tracker or Tracker(model, x, target, kind, batch_size)
    b, _, h, w = x.shape
    n = h * w
    if subsets is None:
        if int(runs) < 2:
            raise ValueError(f"faithfulness_correlation: runs must be >= 2, got {runs}")
        if not 0 < float(subset) < 1:
            raise ValueError(f"faithfulness_correlation: subset must be a share of the pixels in (0, 1), got {subset}")
        k = max(1, int(round(float(subset) * n)))
        subsets = random_subsets(b, n, k, int(runs), generator(seed, "faithfulness_correlation"))
    subsets = torch.as_tensor(subsets, dtype=torch.long).to(x.device)
    r = subsets.shape[0]
    base = make_baseline(x, baseline)

    def make(jobs):
        jobs = jobs.to(x.device)
        run, rows = jobs // b, jobs % b
        chosen = torch.zeros(len(jobs), n, dtype=torch.bool, device=x.device)
        chosen.scatter_(1, subsets[run, rows], True)
        chosen = chosen.view(-1, 1, h, w)
        return torch.where(chosen, base[rows], x[rows]), rows

    values = tracker.run_jobs(r * b, make).view(r, b).t()                    # B x runs
    return Perturbations(subsets, (tracker.clean.view(-1, 1) - values).cpu())


def faithfulness_correlation(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, target: TargetSpec = None, *,
                             runs: int = 25, subset: float = 0.02, baseline="zeros", kind: str = "auto",
                             batch_size: int = 64, seed: int = 0, subsets: torch.Tensor | None = None,
                             tracker: Tracker | None = None, shared: Perturbations | None = None) -> CorrelationResult:
    """Faithfulness correlation of maps (B x H x W) of x (B x C x H x W); see the module docstring.

    runs: random subsets per image; subset: their share of the pixels (at least one pixel); subsets:
    your own runs x B x k pixel indices (flattened H x W) instead of seeded random ones. shared:
    `perturbations(...)` of this batch with the same arguments, run once for several maps (no pass here).
    """
    maps = check_maps(maps, x)
    if shared is None:
        tracker = tracker or Tracker(model, x, target, kind, batch_size)
        shared = perturbations(model, x, target, runs=runs, subset=subset, baseline=baseline, kind=kind,
                               batch_size=batch_size, seed=seed, subsets=subsets, tracker=tracker)
    kind = tracker.kind if tracker is not None else kind
    flat = maps.flatten(1)
    sub = shared.subsets.to(flat.device)
    attributions = torch.stack([flat.gather(1, sub[i]).sum(1) for i in range(sub.shape[0])], dim=1).cpu()
    return CorrelationResult(pearson(attributions, shared.changes), attributions, shared.changes, kind)
