"""Sanity checks for saliency maps (Adebayo et al. 2018): does the map depend on what the model learned?

Randomise the model's parameterised layers (every module with parameters of its own: conv, linear,
batch norm, ...) and explain again:

* cascading: from the top (output) layer down, one more layer at each stage, until every layer is
  random;
* independent: one layer at a time, the others as trained.

A layer is randomised by replacing each of its parameters with draws from a zero-mean Gaussian with
the parameter's own standard deviation (its mean magnitude, or 0.01, where it has no spread), seeded
per layer: a layer gets the same random values in both modes. The randomisation always works on a
deep copy: the model passed in is never modified. The explained target is frozen on the trained
model's output (the same class, the same steering side).

Each stage's maps are compared with the trained model's maps by Spearman rank correlation and SSIM
(`similarity`), per image. A method **passes** when its maps change: the mean Spearman once every
layer is randomised (the last cascading stage; in independent mode, the mean over the layers) is
below `threshold` (0.5 by default; Adebayo et al. read the curves by eye, 0.5 is the line where
half the rank agreement is gone). A map that ignores
the model (an edge detector) stays at 1 and fails. The `random` baseline passes by construction:
sanity checks are necessary, not sufficient.

Against Quantus's `MPRT` (Model Parameter Randomisation Test): on the same randomised models the
per-layer Spearman correlations agree to 1e-8 (tests). The randomisation itself differs on purpose:
Quantus calls each module's `reset_parameters()` (torch's initialisation, which modules without it,
such as a custom layer, escape), pilotlens draws Gaussians with each parameter's own spread (every
parameterised module, whatever its type). Both cascade from the top layer down by default, as
Adebayo et al.; pilotlens's `stages` groups the cascade (the quick preset: 3 stages), the last stage
always with every layer random.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from ..layers import trace
from ..targets import TargetSpec
from ._common import check_batch, clean_target_and_maps, derive_seed, generator
from ._method import MethodSpec, resolve_method
from .similarity import Ranks, spearman, ssim

MODES = ("cascading", "independent")


def parameter_layers(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> list[str]:
    """Names of the modules holding parameters of their own, in the order they run (traced with an
    input of `input_shape`, C x H x W) or, without a shape, in registration order."""
    own = {n: m for n, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))}
    if input_shape is None:
        return list(own)
    ran = [info.name for info in trace(model, tuple(input_shape)) if info.name in own]
    return ran + [n for n in own if n not in ran]  # modules the trace cannot see (not leaves) last


def randomize_layer(model: nn.Module, name: str, seed: int = 0) -> None:
    """Replace the own parameters of module `name` of `model` (in place: pass a copy) with seeded Gaussian draws."""
    module = dict(model.named_modules())[name]
    with torch.no_grad():
        for pname, p in module.named_parameters(recurse=False):
            flat = p.detach().float().flatten()
            spread = flat.std().item() if flat.numel() > 1 else 0.0
            if not spread > 0:
                spread = flat.abs().mean().item() or 0.01
            draw = torch.randn(p.shape, generator=generator(seed, "sanity", name, pname)) * spread
            p.copy_(draw.to(p))


def randomized(model: nn.Module, names: list[str], seed: int = 0) -> nn.Module:
    """A deep copy of `model` with the layers `names` randomised."""
    twin = copy.deepcopy(model)
    for name in names:
        randomize_layer(twin, name, seed)
    return twin


@dataclass
class SanityResult:
    """One mode's results for a batch: stages[i] names the layer(s) randomised at stage i ("+" joins
    a cascade), spearman and ssim are stages x B, threshold the pass line."""

    mode: str
    stages: list[str]
    spearman: torch.Tensor
    ssim: torch.Tensor
    threshold: float
    layers: list[str] = field(default_factory=list)

    @property
    def score_spearman(self) -> torch.Tensor:
        """Per image: cascading, after the last stage (every layer random); independent, the mean over layers."""
        return self.spearman[-1] if self.mode == "cascading" else self.spearman.mean(dim=0)

    @property
    def score_ssim(self) -> torch.Tensor:
        return self.ssim[-1] if self.mode == "cascading" else self.ssim.mean(dim=0)

    @property
    def passed(self) -> bool:
        """The maps changed: the mean of `score_spearman` is below the threshold."""
        return bool(self.score_spearman.float().nanmean() < self.threshold)


def _plans(names: list[str], mode: str, stages: int | None) -> tuple[list[list[str]], list[str]]:
    """What each stage randomises (cascading: the layers added at that stage) and its label."""
    if mode == "independent":
        return [[n] for n in names], list(names)
    top_down = names[::-1]
    k = len(top_down) if stages is None else max(1, min(int(stages), len(top_down)))
    bounds = [round(i * len(top_down) / k) for i in range(k + 1)]
    groups = [top_down[bounds[i]:bounds[i + 1]] for i in range(k)]
    return groups, [("" if i == 0 else "+") + "+".join(g) for i, g in enumerate(groups)]


def _check_layers(model: nn.Module, x: torch.Tensor, layers: list[str] | None) -> list[str]:
    names = list(layers) if layers is not None else parameter_layers(model, tuple(x.shape[1:]))
    if not names:
        raise ValueError("the model has no parameterised layer to randomise")
    known = dict(model.named_modules())
    missing = [n for n in names if n not in known]
    if missing:
        raise ValueError(f"no layer named {', '.join(map(repr, missing))}; parameterised layers: "
                         + ", ".join(parameter_layers(model)))
    return names


def sanity_many(model: nn.Module, x: torch.Tensor, methods: dict[str, Any], target, maps: dict[str, torch.Tensor], *,
                mode: str = "cascading", layers: list[str] | None = None, threshold: float = 0.5, seed: int = 0,
                stages: int | None = None, batch_size: int = 64, first: int = 0,
                on_stage: Callable[[str], None] | None = None) -> dict[str, SanityResult]:
    """The sanity check of several methods at once: each stage's model is randomised once, and every
    method explains all frames of x on it (`batch_size` frames per call). methods: {label: Method};
    target: frozen on the trained model's output for all of x; maps: {label: trained maps of x}.
    on_stage(label) is called after each method's stage (for a progress bar). first: the row of the whole
    run where x begins (a part of a run scored elsewhere draws the seeds the whole run would)."""
    if mode not in MODES:
        raise ValueError(f"sanity mode must be one of {', '.join(MODES)}, got {mode!r}")
    names = _check_layers(model, x, layers)
    plans, labels = _plans(names, mode, stages)
    rho = {m: [] for m in methods}
    sim = {m: [] for m in methods}
    twin = copy.deepcopy(model) if mode == "cascading" else None
    n = x.shape[0]
    trained = {label: Ranks(maps[label]) for label in methods}     # ranked once, compared at every stage
    for i, plan in enumerate(plans):
        if mode == "cascading":
            for name in plan:                          # more layers on the same copy
                randomize_layer(twin, name, seed)
            current = twin
        else:
            current = randomized(model, plan, seed)
        for label, method in methods.items():
            new = torch.cat([method(current, x[j:j + batch_size], target.select(torch.arange(j, min(n, j + batch_size))),
                                    derive_seed(seed, "sanity", mode, i, first + j)) for j in range(0, n, batch_size)])
            rho[label].append(spearman(trained[label], new))
            sim[label].append(ssim(maps[label].clamp(0, 1), new.clamp(0, 1)))
            if on_stage is not None:
                on_stage(label)
    return {m: SanityResult(mode, labels, torch.stack(rho[m]).cpu(), torch.stack(sim[m]).cpu(), float(threshold), names)
            for m in methods}


def sanity_check(model: nn.Module, x: torch.Tensor, method: MethodSpec, target: TargetSpec = None, *,
                 mode: str = "cascading", layers: list[str] | None = None, threshold: float = 0.5, seed: int = 0,
                 maps: torch.Tensor | None = None, stages: int | None = None) -> SanityResult:
    """Randomise `model`'s layers (a copy) and compare `method`'s maps of x with the trained model's.

    method: a name, (name, options), callable or Method (see `_method`). layers: the parameterised
    layers to randomise, in forward order (default: all, traced on x). maps: the trained model's
    maps when already computed. stages (cascading): randomise the layers, top down, in this many
    groups instead of one layer at a time (the last stage still has every layer random).
    """
    if mode not in MODES:
        raise ValueError(f"sanity mode must be one of {', '.join(MODES)}, got {mode!r}")
    x = check_batch(x)
    method = resolve_method(method)
    _check_layers(model, x, layers)
    fixed, maps = clean_target_and_maps(model, x, target, method, seed, maps)
    return sanity_many(model, x, {method.label: method}, fixed, {method.label: maps}, mode=mode, layers=layers,
                       threshold=threshold, seed=seed, stages=stages, batch_size=x.shape[0])[method.label]
