"""ROAD (Rong et al. 2022, "A Consistent and Efficient Evaluation Strategy for Attribution Methods").

Removing pixels by painting them a constant leaks the map's shape to the model (the holes themselves
are a signal). ROAD removes them with *noisy linear imputation* instead: each removed pixel takes
the weighted mean of its 8 neighbours (weight 1/6 for the 4 direct ones, 1/12 for the diagonals,
neighbours outside the image left out), every removed pixel at once. For the removed set U and kept
pixels K that is the sparse linear system, per channel,

    sum_n w(p, n) * v_p - sum_{n in U} w(p, n) * v_n = sum_{n in K} w(p, n) * x_n     (p in U)

a graph Laplacian with the kept pixels as boundary values: symmetric positive definite whenever one
pixel is kept. It is solved exactly, one factorisation per mask shared by the image's channels
(`road_solve`): numbered down the image's short side the matrix is a band, factored by a banded
Cholesky compiled by numba (`road_band`), many masks at once on as many threads as torch uses; images
whose short side is 280 pixels or more go to SuperLU with a nested-dissection order, which is faster there. The
system is solved in float64 whatever the input's precision, to about 1e-12 (Quantus's own `spsolve`
agrees with it to 1e-10). Then Gaussian noise of std `noise` x (the channel's std over the image) is
added to the removed pixels; MoRF and LeRF get the same noise, so their difference is paired.

Fractions f of the pixels are removed most relevant first (MoRF) and least relevant first (LeRF),
ties in a seeded random order. The tracked value is a classifier's probability of its clean class
or a regressor's closeness to its clean answer (`_common`; the reference for a regressor's scale is
the image's mean colour: what imputation tends to as everything is removed). Scores per image:

    morf  = mean over fractions of the MoRF curve    (lower is better)
    lerf  = mean over fractions of the LeRF curve    (higher is better)
    road  = mean over fractions of (LeRF - MoRF)     (higher is better; ~0 for a random map)

The default fractions are 0.1, 0.2, ..., 0.9, as in the paper.

Against Quantus's ROAD (`quantus.ROAD`): the same imputation (checked to 1e-10 in float64); Quantus adds
noise of a fixed std (`noise` in the input's units) where pilotlens scales it by each channel's std,
and Quantus reports the MoRF curve of a classifier's probability (its "percentage of the clean
output"), where pilotlens also reports LeRF and tracks a regressor's closeness to its clean answer.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..targets import TargetSpec
from ._common import Tracker, check_maps, counts, generator, pixel_ranks, tie_order
from .road_solve import solve_many

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def linear_impute(x: torch.Tensor, removed: torch.Tensor, shared: "SharedImputations | None" = None,
                  rows: torch.Tensor | None = None) -> torch.Tensor:
    """x (N x C x H x W) with the pixels where `removed` (N x H x W bool) is true filled by ROAD's linear
    imputation (no noise): the exact solution of the system above, solved in float64 and returned in x's
    dtype. With `shared` (and `rows`, each image's row in the
    batch `shared` was planned on), an imputation another call already solved is taken from it, not solved
    again."""
    n, c, h, w = x.shape
    if tuple(removed.shape) != (n, h, w):
        raise ValueError(f"removed must be N x H x W = {(n, h, w)}, got {tuple(removed.shape)}")
    if (removed.reshape(n, -1).sum(1) >= h * w).any():
        raise ValueError("linear imputation needs at least one kept pixel per image")
    arr = x.detach().cpu().double().numpy()              # solved in float64 whatever x's precision
    masks = removed.detach().cpu().numpy().astype(bool, copy=False)
    keys = mask_keys(rows, masks) if shared is not None else [None] * n
    hits: dict[int, np.ndarray] = {}
    first: dict = {}                          # key -> the image of this chunk that solves it
    todo, again = [], []
    for i, key in enumerate(keys):
        hit = shared.take(key) if shared is not None else None
        if hit is not None:
            hits[i] = hit
        elif key is not None and key in first:
            again.append(i)                   # solved a few images up: taken from `shared` once it is
        else:
            todo.append(i)
            first[key] = i
    everything = len(todo) == n
    solved = solve_many(arr if everything else arr[todo], masks if everything else masks[todo])
    out = solved if everything else np.empty_like(arr)   # the usual chunk: the solver's own array, no copy
    if not everything:
        out[todo] = solved
    for i, image in hits.items():
        out[i] = image
    if shared is not None:
        for j, i in enumerate(todo):
            shared.keep(keys[i], solved[j])
    for i in again:
        hit = shared.take(keys[i])
        out[i] = hit if hit is not None else out[first[keys[i]]]
    return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)


def mask_keys(rows: torch.Tensor, masks: np.ndarray) -> list[tuple[int, bytes]]:
    """(row, fingerprint of the removed pixels) per image: equal keys, equal imputations."""
    packed = np.packbits(masks.reshape(masks.shape[0], -1), axis=1)
    return [(r, hashlib.blake2b(p.tobytes(), digest_size=16).digest()) for r, p in zip(rows.tolist(), packed)]


class SharedImputations:
    """The imputations several `road` calls on one batch ask for more than once, solved once.

    Two maps that rank an image's pixels the same way up to a fraction remove the same pixels there (a flat
    map and another flat map, or MoRF and LeRF of a flat map: ties are broken by the same seeded order;
    methods whose maps coincide), and the imputation depends only on the image and the removed pixels. The
    noise is drawn per call as before, so every curve is the one an unshared run computes. `plan` counts
    the keys of every call to come; only a key asked for more than once is kept, and only until its last
    use, so memory holds the shared imputations alone."""

    def __init__(self, uses: Counter, masks: dict | None = None):
        self.uses = Counter({k: v for k, v in uses.items() if v > 1})
        self.store: dict = {}
        self.masks = masks or {}        # (id of a planned map, fractions, seed) -> its removal_masks, until asked
        self.noise: dict = {}           # (seed, jobs, chunk size, image shape) -> the batch's NoiseStream
        self.solved = self.reused = 0

    @classmethod
    def plan(cls, x: torch.Tensor, maps: list[torch.Tensor], fractions: Sequence[float] = FRACTIONS,
             seed: int = 0) -> "SharedImputations":
        """For `road(model, x, m, fractions=fractions, seed=seed)` with each m in `maps`. The removal masks
        drawn here are handed to those calls (`masks_of`), not drawn again."""
        uses: Counter = Counter()
        masks = {}
        for m in maps:
            drawn = removal_masks(check_maps(m, x), fractions, seed)
            masks[(id(m), tuple(float(f) for f in fractions), seed)] = (m, drawn)
            for removed, rows in drawn.values():
                uses.update(mask_keys(rows, removed.cpu().numpy()))
        return cls(uses, masks)

    def masks_of(self, maps: torch.Tensor, fractions: Sequence[float], seed: int) -> dict | None:
        """The removal masks `plan` drew for this very map tensor (same fractions and seed), handed over
        once; None for a map it did not plan."""
        key = (id(maps), tuple(float(f) for f in fractions), seed)
        planned = self.masks.get(key)
        if planned is None or planned[0] is not maps:           # an id can be reused once a tensor is gone
            return None
        del self.masks[key]
        return planned[1]

    def take(self, key) -> np.ndarray | None:
        """The imputation for `key` if an earlier call solved it (that use counted), else None."""
        out = self.store.get(key)
        if out is not None:
            self.reused += 1
            self._used(key)
        return out

    def keep(self, key, value: np.ndarray) -> None:
        """A fresh solve for `key`: kept while later calls will ask for it."""
        self.solved += 1
        if self.uses.get(key, 0) > 1:
            self.store[key] = value.copy()       # not a view that would keep its whole batch alive
        self._used(key)

    def _used(self, key) -> None:
        if key in self.uses:
            self.uses[key] -= 1                # the uses still to come
            if self.uses[key] == 0:            # that was the last: let it go
                del self.uses[key]
                self.store.pop(key, None)


def removal_masks(maps: torch.Tensor, fractions: Sequence[float], seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{"morf"/"lerf": (removed masks B*F x H x W, their rows)}: the pixels `road` removes, job by job."""
    b, h, w = maps.shape
    k = counts([float(f) for f in fractions], h * w, keep_one=True).to(maps.device)
    nf = len(fractions)
    ties = tie_order(seed, "road", "order", b=b, n=h * w)
    ranks = {"morf": pixel_ranks(maps, order=ties), "lerf": pixel_ranks(maps, descending=False, order=ties)}
    jobs = torch.arange(b * nf, device=maps.device)
    rows, f = jobs // nf, jobs % nf
    return {order: ((r[rows] < k[f].view(-1, 1)).view(-1, h, w), rows.cpu()) for order, r in ranks.items()}


#: a NoiseStream keeps its draws while they hold at most this many bytes (PilotNet's 32 frames x 9 fractions: 46 MB)
NOISE_KEPT_BYTES = 256 << 20


class NoiseStream:
    """ROAD's noise for one batch: chunk k's draw from a generator seeded (seed, "road", "noise"), as every
    `road` call on the batch draws it (MoRF and LeRF, and every method, draw the same numbers: the curves
    are paired). The draws are kept and handed to every later call while they fit in NOISE_KEPT_BYTES; a
    call that goes past them draws on from a generator restored to where the kept draws end. The same
    numbers either way. Drawing was 2.3 s of the 26 s ROAD took in `evaluate` with the 19 fast methods:
    38 calls drew the same five chunks."""

    def __init__(self, seed: int):
        self.gen = generator(seed, "road", "noise")   # where the kept draws end
        self.draws: list[torch.Tensor] = []
        self.kept = 0
        self.full = False

    def reader(self) -> "Callable[[torch.Size], torch.Tensor]":
        """One call's noise: each call of the result gives the next chunk, of the shape asked."""
        own: list[torch.Generator] = []              # this call's generator, once past the kept draws
        k = 0

        def next_chunk(shape: torch.Size) -> torch.Tensor:
            nonlocal k
            k, i = k + 1, k
            if own:
                return torch.randn(shape, generator=own[0])
            if i < len(self.draws):
                if self.draws[i].shape != shape:
                    raise ValueError(f"ROAD noise: chunk {i} asked as {tuple(shape)}, drawn as {tuple(self.draws[i].shape)}")
                return self.draws[i]
            size = torch.Size(shape).numel() * torch.get_default_dtype().itemsize
            if not self.full and self.kept + size <= NOISE_KEPT_BYTES:
                eps = torch.randn(shape, generator=self.gen)
                self.draws.append(eps)
                self.kept += size
                return eps
            self.full = True                            # from here on every call draws its own
            own.append(torch.Generator().set_state(self.gen.get_state()))
            return torch.randn(shape, generator=own[0])
        return next_chunk


def noisy_linear_impute(x: torch.Tensor, removed: torch.Tensor, noise: float = 0.01,
                        gen: torch.Generator | None = None, channel_std: torch.Tensor | None = None,
                        shared: SharedImputations | None = None, rows: torch.Tensor | None = None,
                        eps: torch.Tensor | None = None) -> torch.Tensor:
    """ROAD's noisy linear imputation: `linear_impute` plus Gaussian noise on the removed pixels, of
    std `noise` x each image's channel std (`channel_std`, N x C x 1 x 1, default from x itself). `eps`:
    the standard normal draws (x's shape) when already drawn, else drawn here from `gen`."""
    out = linear_impute(x, removed, shared, rows)
    if noise <= 0:
        return out
    if eps is None:
        eps = torch.randn(x.shape, generator=gen)
    std = x.std(dim=(2, 3), keepdim=True) if channel_std is None else channel_std
    out += (eps.to(x) * removed[:, None]).mul_(float(noise) * std)    # eps may be kept for other calls: not in place
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
         batch_size: int = 64, seed: int = 0, tracker: Tracker | None = None,
         shared: SharedImputations | None = None) -> RoadResult:
    """MoRF and LeRF curves with noisy linear imputation for maps (B x H x W) of x (B x C x H x W).

    Removal fractions must lie in [0, 1) (at least one pixel is always kept). `batch_size` images
    (image x fraction x order) are imputed and run through the model at once. `shared`
    (SharedImputations.plan on x, the maps of every call, the same fractions and seed) solves an
    imputation several calls need once; the results are the same.
    """
    fr = [float(f) for f in fractions]
    if not fr or any(not 0.0 <= f < 1.0 for f in fr):
        raise ValueError(f"road: fractions must be in [0, 1), got {list(fractions)}")
    tracker = tracker or Tracker(model, x, target, kind, batch_size)
    planned = shared.masks_of(maps, fr, seed) if shared is not None else None
    maps = check_maps(maps, x)
    b = x.shape[0]
    nf = len(fr)
    masks = planned if planned is not None else removal_masks(maps, fr, seed)
    channel_std = x.std(dim=(2, 3), keepdim=True)

    # the same noise for both orders (paired curves), and for every call on this batch: drawn once
    chunking = (seed, b * nf, tracker.batch_size, tuple(x.shape[1:]))
    stream = shared.noise.setdefault(chunking, NoiseStream(seed)) if shared is not None else NoiseStream(seed)

    def job_maker(order):
        removed_all, rows_all = masks[order]
        draw = stream.reader()

        def make(jobs):
            rows, removed = rows_all[jobs].to(x.device), removed_all[jobs.to(removed_all.device)]
            eps = draw(torch.Size((len(jobs), *x.shape[1:]))) if noise > 0 else None
            return noisy_linear_impute(x[rows], removed, noise, None, channel_std[rows], shared, rows.cpu(), eps), rows
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
