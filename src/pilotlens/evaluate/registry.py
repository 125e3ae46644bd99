"""The metrics `evaluate` runs, one small registered adapter each, and the shared work they read.

`Run` holds what every metric shares, computed once per run: the model inputs per batch, a Tracker
per batch (the clean outputs, the target frozen on them), and every method's clean maps. Each adapter
says how much work it is (in forward passes of one image, for an honest ETA) and runs its metric for
all methods, writing columns into a `Collector`.
"""
from __future__ import annotations

import copy
import inspect
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..targets import freeze
from ._common import Tracker, derive_seed, run_model
from .deletion import deletion, insertion
from .faithfulness import faithfulness_correlation, perturbations
from .localisation import localisation
from .road import FRACTIONS, SharedImputations, noisy_linear_impute, road
from .format import Column
from .robustness import _strengths, robustness_many
from .sanity import _check_layers, _plans, sanity_many
from .shift import shift_test
from .similarity import spearman, ssim
from .temporal import temporal_consistency

ALIASES = {"localization": "localisation", "roar": "road", "shift_test": "shift",
           "faithfulness": "faithfulness_correlation", "temporal_consistency": "temporal"}

# the quick preset: fewer frames, steps, fractions, sanity stages and perturbations (about 4x faster)
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"frames": 8,
              "options": {"deletion": {"steps": 10}, "insertion": {"steps": 10},
                          "road": {"fractions": (0.2, 0.5, 0.8)}, "sanity": {"stages": 3},
                          "faithfulness_correlation": {"runs": 10},
                          "robustness": {"perturbations": ["brightness", "obstacle", "shift"]}}},
}


class Collector:
    """Per-image values of every (method, column), the curves behind them and the sanity details."""

    def __init__(self):
        self.columns: dict[str, Any] = {}
        self.values: dict[tuple[str, str], list[np.ndarray]] = {}
        self.curves: dict[str, dict[str, list[np.ndarray]]] = {}
        self.fractions: dict[str, np.ndarray] = {}
        self.sanity: dict[str, list[np.ndarray]] = {}
        self.stages: list[str] = []
        self.threshold = 0.5
        self.sanity_mode = "cascading"

    def add(self, method: str, metric: str, column: str, better: str, values) -> None:
        self.columns.setdefault(column, Column(column, metric, better))
        v = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
        self.values.setdefault((method, column), []).append(v.astype(float).reshape(-1))

    def curve(self, metric: str, method: str, fractions, curves: torch.Tensor) -> None:
        self.fractions[metric] = np.asarray(fractions, dtype=float)
        self.curves.setdefault(metric, {}).setdefault(method, []).append(curves.detach().cpu().numpy())


class Run:
    """The shared work of one evaluate run and its progress bar (counted in forward passes)."""

    def __init__(self, subject, methods, target, kind: str, seed: int, batch_size: int, model_batch: int,
                 opts: dict, progress: bool, first_batch: int = 0):
        self.subject, self.model, self.methods = subject, subject.model, methods
        self.first_batch = first_batch   # where this run's batch 0 stands in a larger run (one Ray actor's share)
        self.target, self.kind_asked, self.seed = target, kind, int(seed)
        self.batch_size, self.model_batch, self.opts, self.progress = batch_size, model_batch, opts, progress
        n = len(subject)
        self.rows = [slice(s, min(n, s + batch_size)) for s in range(0, n, batch_size)]
        self.bar = None
        self.flat_maps = {m.label: 0 for m in methods}
        self.shown: dict[str, list[np.ndarray]] = {m.label: [] for m in methods}

    def seed_of(self, *parts) -> int:
        """The seed of one batch's work: parts end with the batch's index here, counted in the whole run."""
        return derive_seed(self.seed, *parts[:-1], parts[-1] + self.first_batch)

    # -- the work every metric shares ----------------------------------------------------------
    def prepare(self, chosen: list[str], examples: int) -> None:
        from tqdm.auto import tqdm

        if self.progress:
            from ..compiled import pending
            if pending(compiled_kernels()):
                print("pilotlens evaluate: numba compiles pilotlens's kernels on this first run in the environment "
                      "(about 10 s, once; cached for the next runs)", file=sys.stderr, flush=True)
        self.x = [self.subject.batch(r) for r in self.rows]
        self.trackers = [Tracker(self.model, xb, self.target, self.kind_asked, self.model_batch) for xb in self.x]
        n = len(self.subject)
        self._check_finite()
        # one forward pass of one image: the unit. Timed on its own, in the layout the metrics run the model
        # (the trackers' clean passes above also paid for the layout's probe, the first call's warm-up)
        t = time.perf_counter()
        run_model(self.model, self.x[0], self.model_batch)
        self.forward_s = max((time.perf_counter() - t) / self.x[0].shape[0], 1e-6)
        kinds = {tr.kind for tr in self.trackers}
        self.kind, self.label = "/".join(sorted(kinds)), "/".join(sorted({tr.label for tr in self.trackers}))
        self.maps: dict[str, list[torch.Tensor]] = {}
        self.cost: dict[str, float] = {}        # forward passes one image's explanation costs
        self.overhead: dict[str, float] = {}    # forward passes one call costs on top (hooks, tracing)
        self.cold: dict[str, float] = {}        # the same for the first call on a new model object
        for m in self.methods:
            t = time.perf_counter()
            self.maps[m.label] = [m(self.model, xb, tr.target, self.seed_of("maps", m.label, bi))
                                  for bi, (xb, tr) in enumerate(zip(self.x, self.trackers))]
            per_call = (time.perf_counter() - t) / len(self.x) / self.forward_s
            one, target1 = self.x[0][:1], self.trackers[0].target.select(torch.arange(1))
            t = time.perf_counter()
            m(self.model, one, target1, 0)
            self.overhead[m.label] = max(0.0, (time.perf_counter() - t) / self.forward_s - 1)
            if "sanity" in chosen:   # a first call on another model object (sanity's randomised copies) costs more
                twin = copy.deepcopy(self.model)
                t = time.perf_counter()
                m(twin, one, target1, 0)
                self.cold[m.label] = max(0.0, (time.perf_counter() - t) / self.forward_s - 1)
            self.cost[m.label] = max(1.0, (per_call - self.overhead[m.label]) * len(self.x) / n)
            for mb in self.maps[m.label]:
                flat = mb.flatten(1)
                self.flat_maps[m.label] += int((flat.amax(1) == flat.amin(1)).sum())
                if len(self.shown[m.label]) < examples:
                    self.shown[m.label].extend(list(mb[:examples - len(self.shown[m.label])].cpu().numpy()))
        first = self.maps[self.methods[0].label][0]
        t = time.perf_counter()
        spearman(first, first)
        ssim(first.clamp(0, 1), first.clamp(0, 1))
        self.compare = (time.perf_counter() - t) / first.shape[0] / self.forward_s   # one pair of maps compared
        if "road" in chosen:       # one imputation of the first image, timed, for the ETA
            x0 = self.x[0][:1]
            removed = torch.zeros(1, *x0.shape[2:], dtype=torch.bool)
            removed.view(-1)[: removed.numel() // 2] = True
            noisy_linear_impute(x0, removed, 0.0)       # warm: the first solve loads numba's compiled code
            t = time.perf_counter()
            noisy_linear_impute(x0, removed, 0.0)
            self.impute_cost = (time.perf_counter() - t) / self.forward_s
        units = {name: REGISTRY[name].units(self, self.opts.get(name, {})) for name in chosen}
        self.units = units
        self.bar = tqdm(total=sum(units.values()), desc="evaluate", unit="pass", disable=not self.progress,
                        leave=False, smoothing=0.05, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} passes "
                        "[{elapsed}<{remaining}, {rate_fmt}]")

    def _check_finite(self) -> None:
        """Refuse a model whose clean output is NaN or inf: every score would compare NaN with NaN and
        read as 0.000, a perfect robustness and flicker."""
        bad = [self.subject.names[r.start + i] for r, tr in zip(self.rows, self.trackers)
               for i in torch.nonzero(~torch.isfinite(tr.output.flatten(1)).all(1)).flatten().tolist()]
        if bad:
            raise ValueError(f"the model's output is not finite (NaN or inf) on {len(bad)} of {len(self.subject)} "
                             f"frames (first: {bad[0]}): no score of it would mean anything")

    def start(self, metric: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(f"evaluate: {metric}", refresh=True)

    def advance(self, units: float) -> None:
        if self.bar is not None:
            self.bar.update(min(units, max(0.0, self.bar.total - self.bar.n)))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def all_x(self) -> torch.Tensor:
        return torch.cat(self.x)

    def all_maps(self, label: str) -> torch.Tensor:
        return torch.cat(self.maps[label])

    def all_target(self):
        """The target frozen on every frame's clean output (the batches' frozen targets, joined)."""
        return freeze(self.target, torch.cat([tr.output for tr in self.trackers]))

    def all_values(self) -> torch.Tensor:
        return torch.cat([tr.clean for tr in self.trackers])


@dataclass
class Metric:
    name: str
    description: str
    units: Callable[[Run, dict], float]
    run: Callable[[Run, Collector, dict], None]
    functions: tuple[Callable, ...] = ()     # what the options go to: their keyword arguments are the options

    @property
    def options(self) -> tuple[str, ...]:
        """The options a user may give (`--metric-option NAME.OPTION=VALUE`): the keyword arguments of the
        metric's functions, less what evaluate supplies itself."""
        names = dict.fromkeys(p for f in self.functions for p in inspect.signature(f).parameters)
        return tuple(n for n in names if n not in _SUPPLIED)


def compiled_kernels() -> list:
    """The numba kernels a full run calls: ROAD's solver, the rank sort, deletion's images, VisualBackProp's
    scale-ups (imports numba)."""
    from ..methods.visual_backprop import VisualBackprop
    from . import blend, radix, road_band
    return [road_band.solve_chunk, radix.order_rows, radix.average_ranks_rows, blend.blend_rows,
            *VisualBackprop.compiled_kernels()]


# what evaluate hands every metric itself (the model, the batch, its maps, seeds, shared work, callbacks):
# never an option, so `sanity.first=3` is refused instead of shifting every seed
_SUPPLIED = frozenset({"model", "x", "maps", "target", "methods", "masks", "values", "frames", "pilot", "tracker",
                       "batch_size", "seed", "shared", "subsets", "first", "on_stage", "on_method", "kind"})


def _per_batch(run: Run, fn, units_per_image: Callable[[str], float]):
    """fn(method, batch index, x, maps, tracker) for every batch and method, advancing the bar. A batch's
    methods run one after another: what they share (the tie order, ROAD's shared imputations) is made
    once and let go before the next batch."""
    for bi, (xb, tr) in enumerate(zip(run.x, run.trackers)):
        for m in run.methods:
            fn(m, bi, xb, run.maps[m.label][bi], tr)
            run.advance(units_per_image(m.label) * xb.shape[0])


def _n(run: Run) -> int:
    return len(run.subject)


# -- the adapters ----------------------------------------------------------------------------------
def _curve_metric(name: str):
    fn = deletion if name == "deletion" else insertion

    def units(run, opts):
        return len(run.methods) * _n(run) * opts.get("steps", 20)     # steps - 1 inner points + the baseline

    def go(run, col, opts):
        def one(m, bi, xb, maps, tr):
            res = fn(run.model, xb, maps, tr.target, tracker=tr, batch_size=run.model_batch,
                     seed=run.seed_of(name, bi), **opts)
            col.add(m.label, name, name, res.better, res.auc)
            col.curve(name, m.label, res.fractions, res.curves)
        _per_batch(run, one, lambda _: opts.get("steps", 20))
    return units, go


def _road_units(run, opts):
    return len(run.methods) * _n(run) * 2 * len(opts.get("fractions", FRACTIONS)) * (1 + getattr(run, "impute_cost", 1.0))


def _road(run, col, opts):
    # an imputation several methods (or both orders of one) need on a batch is solved once: planned from
    # every method's masks as the batch starts, kept only until its last use
    fractions = opts.get("fractions", FRACTIONS)
    shared: list[SharedImputations] = []

    def one(m, bi, xb, maps, tr):
        if len(shared) == bi:
            shared.append(SharedImputations.plan(xb, [run.maps[k.label][bi] for k in run.methods], fractions,
                                                 run.seed_of("road", bi)))
        res = road(run.model, xb, maps, tr.target, tracker=tr, batch_size=run.model_batch,
                   seed=run.seed_of("road", bi), shared=shared[bi], **opts)
        col.add(m.label, "road", "road", "higher", res.score)
        col.add(m.label, "road", "road_morf", "lower", res.morf_score)
        col.add(m.label, "road", "road_lerf", "higher", res.lerf_score)
        col.curve("road_morf", m.label, res.fractions, res.morf)
        col.curve("road_lerf", m.label, res.fractions, res.lerf)
    _per_batch(run, one, lambda _: 2 * len(fractions) * (1 + getattr(run, "impute_cost", 1.0)))
    run.road_solves = (sum(s.solved for s in shared), sum(s.reused for s in shared))


# 4 passes per image, plus the salient window's search (a dozen dilations of the batch): measured on
# PilotNet at about 4 times the passes alone
SHIFT_UNITS = 16


def _shift(run, col, opts):
    def one(m, bi, xb, maps, tr):
        res = shift_test(run.model, xb, maps, tr.target, tracker=tr, batch_size=run.model_batch,
                         seed=run.seed_of("shift", bi), **opts)
        col.add(m.label, "shift", "shift", "higher", res.score)
    _per_batch(run, one, lambda _: SHIFT_UNITS)


def _correlation(run, col, opts):
    # the subsets and the passes that remove them depend on the batch alone (not on a map): run once per
    # batch, every method's map correlated with the same changes (what per-method calls computed anyway)
    shared = [perturbations(run.model, xb, tr.target, tracker=tr, batch_size=run.model_batch,
                            seed=run.seed_of("faithfulness_correlation", bi), **opts)
              for bi, (xb, tr) in enumerate(zip(run.x, run.trackers))]
    run.advance(opts.get("runs", 25) * _n(run))

    def one(m, bi, xb, maps, tr):
        res = faithfulness_correlation(run.model, xb, maps, tr.target, tracker=tr, shared=shared[bi])
        col.add(m.label, "faithfulness_correlation", "faithfulness_correlation", "higher", res.score)
    _per_batch(run, one, lambda _: 0.0)


def _sanity_stage_units(run, label: str) -> float:
    """One method, one randomised model: every frame explained (model_batch per call) and compared."""
    calls = -(-_n(run) // run.model_batch)
    return _n(run) * (run.cost[label] + run.compare) + run.cold.get(label, 0.0) + (calls - 1) * run.overhead[label]


def _sanity_units(run, opts):
    mode = opts.get("mode", "cascading")
    x0 = run.x[0]
    names = _check_layers(run.model, x0, opts.get("layers"))
    stages = len(_plans(names, mode, opts.get("stages"))[0])
    return sum(stages * _sanity_stage_units(run, m.label) for m in run.methods)


def _sanity(run, col, opts):
    opts = dict(opts)
    x = run.all_x()
    results = sanity_many(run.model, x, {m.label: m for m in run.methods}, run.all_target(),
                          {m.label: run.all_maps(m.label) for m in run.methods}, seed=derive_seed(run.seed, "sanity"),
                          batch_size=run.model_batch, on_stage=lambda label: run.advance(_sanity_stage_units(run, label)),
                          **opts)
    for label, res in results.items():
        col.add(label, "sanity", "sanity_spearman", "lower", res.score_spearman)
        col.add(label, "sanity", "sanity_ssim", "lower", res.score_ssim)
        col.sanity.setdefault(label, []).append(res.spearman.numpy())
        col.stages, col.threshold, col.sanity_mode = res.stages, res.threshold, res.mode


def _localisation(run, col, opts):
    subject = run.subject
    for m in run.methods:
        for bi, rows in enumerate(run.rows):
            maps = run.maps[m.label][bi]
            masks = {k: v[rows].to(maps.device) for k, v in subject.masks.items()}
            res = localisation(maps, masks, **opts)
            for k in masks:
                col.add(m.label, "localisation", f"pointing:{k}", "higher", res.pointing[k])
                col.add(m.label, "localisation", f"energy:{k}", "higher", res.energy[k])
                col.add(m.label, "localisation", f"mask_share:{k}", "ref", res.mask_share[k])
    run.advance(0.01 * _n(run) * len(run.methods))


def _robustness_method_units(run, label: str, b: int) -> float:
    return b * (run.cost[label] + run.compare) + run.overhead[label]


def _robustness_units(run, opts):
    p = len(_strengths(opts.get("perturbations")))
    return p * sum(xb.shape[0] + sum(_robustness_method_units(run, m.label, xb.shape[0]) for m in run.methods)
                   for xb in run.x)


def _robustness(run, col, opts):
    subject = run.subject
    p = len(_strengths(opts.get("perturbations")))
    for bi, (rows, xb, tr) in enumerate(zip(run.rows, run.x, run.trackers)):
        frames = subject.images[rows] if subject.images is not None else None
        res = robustness_many(run.model, xb, {m.label: m for m in run.methods},
                              {m.label: run.maps[m.label][bi] for m in run.methods}, tracker=tr, frames=frames,
                              pilot=subject.pilot, seed=run.seed_of("robustness", bi),
                              on_method=lambda label: run.advance(_robustness_method_units(run, label, xb.shape[0])),
                              **opts)
        run.advance(p * xb.shape[0])
        for label, r in res.items():
            for name in r.strengths:
                col.add(label, "robustness", f"map_change:{name}", "lower", r.map_change[name])
                col.add(label, "robustness", f"output_change:{name}", "ref", r.output_change[name])


def _temporal(run, col, opts):
    x = run.all_x()
    values = run.all_values()
    for m in run.methods:
        res = temporal_consistency(run.all_maps(m.label), x, values, **opts)
        flicker = torch.full_like(res.map_change, float("nan"))
        flicker[res.quiet] = res.map_change[res.quiet]
        col.add(m.label, "temporal", "temporal:flicker", "lower", flicker)
        col.add(m.label, "temporal", "temporal:map_change", "lower", res.map_change)
        col.add(m.label, "temporal", "temporal:frame_change", "ref", res.frame_change)
        col.add(m.label, "temporal", "temporal:output_change", "ref", res.output_change)
    run.advance(0.01 * _n(run) * len(run.methods))


def _instant(run, opts):
    return 0.01 * _n(run) * len(run.methods)


_del_units, _del_run = _curve_metric("deletion")
_ins_units, _ins_run = _curve_metric("insertion")

REGISTRY: dict[str, Metric] = {m.name: m for m in (
    Metric("deletion", "remove the top pixels first (blur baseline): AUC of the tracked output, lower is better",
           _del_units, _del_run, (deletion,)),
    Metric("insertion", "put the top pixels back first into the blurred image: AUC, higher is better",
           _ins_units, _ins_run, (insertion,)),
    Metric("road", "ROAD: remove pixels by noisy linear imputation, LeRF - MoRF, higher is better",
           _road_units, _road, (road,)),
    Metric("shift", "VisualBackProp's shift test: move the salient window or the rest, in [-1, 1], higher is better",
           lambda run, opts: SHIFT_UNITS * len(run.methods) * _n(run), _shift, (shift_test,)),
    Metric("faithfulness_correlation", "Pearson of map mass and output change over random pixel subsets, higher is better",
           lambda run, opts: opts.get("runs", 25) * _n(run) + 0.01 * len(run.methods) * _n(run), _correlation,
           (perturbations, faithfulness_correlation)),
    Metric("sanity", "cascading layer randomisation: Spearman/SSIM with the trained maps, lower is better (pass < 0.5)",
           _sanity_units, _sanity, (sanity_many,)),
    Metric("localisation", "pointing game and energy share in ground-truth masks (synthetic world), higher is better",
           _instant, _localisation, (localisation,)),
    Metric("robustness", "map change under brightness, shadow, obstacle, noise and shift, lower is steadier",
           _robustness_units, _robustness, (robustness_many,)),
    Metric("temporal", "map change between consecutive frames where the road and steering barely change (flicker)",
           _instant, _temporal, (temporal_consistency,)),
)}

METRICS: tuple[str, ...] = tuple(REGISTRY)
METRIC_DESCRIPTIONS: dict[str, str] = {name: m.description for name, m in REGISTRY.items()}


def describe_metrics() -> str:
    """One line per metric, for `pilotlens evaluate --help`."""
    width = max(map(len, METRICS))
    return "\n".join(f"  {name:{width}s}  {desc}" for name, desc in METRIC_DESCRIPTIONS.items())
