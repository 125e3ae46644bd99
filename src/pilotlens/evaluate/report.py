"""`evaluate`: every method x every metric on a set of frames, one table, with a `random` baseline row.

    report = evaluate(pilot, open_source("synthetic", frames=16, size=(160, 120)),
                      methods=["grad_cam", "visual_backprop", "gradient"], out_dir="eval")
    print(report)                  # the Markdown table: mean +- std over the images
    report.table                   # [{"method": ..., "deletion": 0.21, "deletion_std": 0.05, ...}, ...]

Images go through the model `batch_size` at a time; each method's maps are computed once per batch
and every metric reads them (sanity and robustness explain again, on a randomised copy or a
perturbed image). Every random choice is seeded from `seed`, the batch and the metric, so a run is
repeatable and every method meets the same perturbations, noise and tie-break orders (the `random`
maps also depend on the method's label). methods=None scores every registered method that runs on
the model.

Columns (direction: higher or lower is better; "ref": a reference, not a score):

    deletion                     AUC of the deletion curve                                 lower
    insertion                    AUC of the insertion curve                                higher
    road, road_morf, road_lerf   ROAD: mean(LeRF - MoRF), mean MoRF, mean LeRF              higher, lower, higher
    shift                        the shift test's score in [-1, 1]                           higher
    sanity_spearman, sanity_ssim similarity to the trained model's maps, all layers random   lower
    pointing:<mask>, energy:<mask>  pointing game, share of the map's mass in the mask      higher
    mask_share:<mask>            the mask's share of the image                              ref
    map_change:<p>               1 - Spearman of the maps with and without perturbation p   lower
    output_change:<p>            |change| of the tracked output under p                     ref

See each metric's module for its definition.
"""
from __future__ import annotations

import csv
import io
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..data.frame import Frame
from ..data.source import Source
from ..targets import TargetSpec
from . import _plots
from ._common import KINDS, Tracker, check_batch, derive_seed
from ._method import Method, MethodSpec, applicable_methods, resolve_methods
from .deletion import deletion, insertion
from .localisation import localisation, masks_to_input
from .road import road
from .robustness import robustness
from .sanity import sanity_check
from .shift import shift_test

METRICS = ("deletion", "insertion", "road", "shift", "sanity", "localisation", "robustness")
ALIASES = {"localization": "localisation", "roar": "road", "shift_test": "shift"}


@dataclass
class Column:
    name: str
    metric: str
    better: str   # "higher", "lower" or "ref"


def _check_metrics(metrics: Iterable[str] | str | None, have_masks: bool) -> list[str]:
    if metrics is None:
        return [m for m in METRICS if m != "localisation" or have_masks]
    if isinstance(metrics, str):
        metrics = [metrics]
    out = []
    for name in metrics:
        key = ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
        if key not in METRICS:
            raise ValueError(f"unknown metric {name!r}; metrics: {', '.join(METRICS)}")
        if key == "localisation" and not have_masks:
            raise ValueError("the localisation metric needs ground-truth masks: pass masks=..., or frames from "
                             "a source that has them (open_source('synthetic', ...))")
        if key not in out:
            out.append(key)
    if not out:
        raise ValueError(f"no metric chosen; metrics: {', '.join(METRICS)}")
    return out


def _check_options(options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, opts in (options or {}).items():
        key = ALIASES.get(name, name)
        if key not in METRICS:
            raise ValueError(f"options for unknown metric {name!r}; metrics: {', '.join(METRICS)}")
        if not isinstance(opts, Mapping):
            raise TypeError(f"options[{name!r}] must be a dict of keyword arguments, got {type(opts).__name__}")
        out[key] = dict(opts)
    return out


# ---- what is evaluated ---------------------------------------------------------------------------
@dataclass
class _Subject:
    model: nn.Module
    pilot: Any
    x: torch.Tensor | None                 # the model input, when given as a tensor
    images: list[np.ndarray] | None        # the frames, when given as frames (prepared per batch)
    names: list[str]
    masks: dict[str, torch.Tensor] | None = None   # on the input grid, N x h x w, [0, 1]

    def __len__(self) -> int:
        return self.x.shape[0] if self.x is not None else len(self.images)

    def batch(self, rows: slice) -> torch.Tensor:
        if self.x is not None:
            return self.x[rows]
        p = next(self.model.parameters(), None)
        return self.pilot.prepare(self.images[rows]).to(p.dtype if p is not None else torch.float32)


def _frames(frames_or_x, max_frames: int | None, want_masks: bool):
    """(images, names, masks per frame or None) from frames, arrays or a Source."""
    if isinstance(frames_or_x, (np.ndarray, Frame)):
        arr = frames_or_x.image if isinstance(frames_or_x, Frame) else frames_or_x
        items = [frames_or_x] if isinstance(frames_or_x, Frame) or arr.ndim == 3 else list(arr)
    else:
        items = frames_or_x
    images, names, masks = [], [], []
    source_masks = getattr(frames_or_x, "masks", None) if isinstance(frames_or_x, Source) else None
    for i, item in enumerate(items):
        if max_frames is not None and len(images) >= max_frames:
            break
        if isinstance(item, Frame):
            images.append(item.image)
            names.append(f"frame {item.index}")
            if want_masks and callable(source_masks):
                masks.append(source_masks(item.index))
        else:
            img = np.asarray(item)
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise ValueError(f"frame {i}: expected a uint8 RGB array H x W x 3, got shape {img.shape} dtype {img.dtype}")
            images.append(img)
            names.append(f"frame {i}")
    if not images:
        raise ValueError("no frames to evaluate")
    return images, names, (masks if masks else None)


def _masks_on_grid(masks, subject: _Subject, h: int, w: int) -> dict[str, torch.Tensor]:
    """Any accepted mask form -> {name: N x h x w float in [0, 1]} on the model input grid."""
    n = len(subject)
    if isinstance(masks, (list, tuple)) and masks and isinstance(masks[0], Mapping):
        names = list(masks[0])
        masks = {k: np.stack([np.asarray(m[k]) for m in masks]) for k in names}
    if not isinstance(masks, Mapping):
        masks = {"mask": masks}
    out = {}
    for name, m in masks.items():
        arr = m.detach().cpu().float() if isinstance(m, torch.Tensor) else torch.from_numpy(np.asarray(m, dtype=np.float32))
        if arr.dim() == 2:
            arr = arr[None]
        if arr.dim() != 3 or arr.shape[0] < n:
            raise ValueError(f"mask {name!r}: need one H x W mask per image ({n}), got shape {tuple(arr.shape)}")
        arr = arr[:n]
        if tuple(arr.shape[1:]) != (h, w):
            if subject.pilot is None:
                raise ValueError(f"mask {name!r} is {tuple(arr.shape[1:])}, the model input is {(h, w)}: masks for "
                                 "a plain model must be at the input's resolution")
            arr = masks_to_input(subject.pilot, arr)
        out[str(name)] = arr.clamp(0, 1)
    return out


def _subject(pilot_or_model, frames_or_x, masks, max_frames: int | None, want_masks: bool) -> _Subject:
    from ..models.pilot import Pilot

    if isinstance(pilot_or_model, Pilot):
        pilot, model = pilot_or_model, pilot_or_model.model
    elif isinstance(pilot_or_model, nn.Module):
        pilot, model = None, pilot_or_model
    else:
        raise TypeError(f"evaluate takes a Pilot or a torch.nn.Module, not {type(pilot_or_model).__name__}")
    frame_masks = None
    if isinstance(frames_or_x, torch.Tensor):
        x = check_batch(frames_or_x)
        if max_frames is not None:
            x = x[:max_frames]
        p = next(model.parameters(), None)
        if p is not None:
            x = x.detach().to(device=p.device, dtype=p.dtype if p.is_floating_point() else x.dtype)
        subject = _Subject(model, pilot, x, None, [f"image {i}" for i in range(x.shape[0])])
    else:
        if pilot is None:
            raise TypeError("frames need a Pilot to prepare them; for a plain nn.Module pass the model input, "
                            "a tensor batch B x C x H x W")
        images, names, frame_masks = _frames(frames_or_x, max_frames, want_masks and masks is None)
        subject = _Subject(model, pilot, None, images, names)
    given = masks if masks is not None else frame_masks
    if given is not None:
        h, w = subject.batch(slice(0, 1)).shape[2:]
        subject.masks = _masks_on_grid(given, subject, h, w)
    return subject


def _target(target: TargetSpec, pilot) -> TargetSpec:
    """What is explained: for a Pilot, what `Pilot.resolve_target` chooses (the same as every verb);
    for a bare model, the spec as given."""
    return pilot.resolve_target(target) if pilot is not None else target


# ---- the result ----------------------------------------------------------------------------------
def _stats(values: np.ndarray) -> tuple[float, float, int]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std()), int(v.size)


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"


@dataclass
class Report:
    """The method x metric table and everything behind it.

    methods: row labels ("random" last); columns: what each column is and which way is better;
    values: {(method, column): per-image values}; curves: per metric, per method, B x T arrays
    (see `fractions`); sanity_passed: {method: bool}; files: what was written.
    """

    methods: list[str]
    columns: list[Column]
    values: dict[tuple[str, str], np.ndarray]
    images: int
    kind: str
    target: str
    seed: int
    fractions: dict[str, np.ndarray] = field(default_factory=dict)
    curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    sanity_stages: list[str] = field(default_factory=list)
    sanity_spearman: dict[str, np.ndarray] = field(default_factory=dict)
    sanity_threshold: float = 0.5
    sanity_mode: str = "cascading"
    sanity_passed: dict[str, bool] = field(default_factory=dict)
    flat_maps: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def summary(self, method: str, column: str) -> tuple[float, float, int]:
        """(mean, std, n) of a cell over the images with a finite value."""
        return _stats(self.values.get((method, column), np.array([])))

    @property
    def table(self) -> list[dict[str, Any]]:
        """One dict per method: {"method": label, column: mean, column + "_std": std, ...}."""
        rows = []
        for m in self.methods:
            row: dict[str, Any] = {"method": m}
            for c in self.columns:
                mean, std, _ = self.summary(m, c.name)
                row[c.name], row[c.name + "_std"] = mean, std
            if m in self.sanity_passed:
                row["sanity_pass"] = self.sanity_passed[m]
            rows.append(row)
        return rows

    def rows(self) -> list[dict[str, Any]]:
        """Long format, one row per cell: method, metric, column, mean, std, n, better."""
        out = []
        for m in self.methods:
            for c in self.columns:
                mean, std, n = self.summary(m, c.name)
                out.append({"method": m, "metric": c.metric, "column": c.name, "mean": mean, "std": std, "n": n,
                            "better": c.better})
        return out

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, ["method", "metric", "column", "mean", "std", "n", "better"], lineterminator="\n")
        writer.writeheader()
        for r in self.rows():
            writer.writerow({**r, "mean": f"{r['mean']:.6g}", "std": f"{r['std']:.6g}"})
        return buf.getvalue()

    def _cell(self, method: str, column: str) -> str:
        mean, std, _ = self.summary(method, column)
        return f"{_fmt(mean)} ± {_fmt(std)}" if math.isfinite(mean) else "n/a"

    def _section(self, title: str, columns: list[Column], heads: list[str], extra: list[list[str]] = ()) -> list[str]:
        arrow = {"higher": " ↑", "lower": " ↓", "ref": ""}
        lines = [f"### {title}", "", "| method | " + " | ".join(h + arrow[c.better] for h, c in zip(heads, columns)) + " |",
                 "|---|" + "---:|" * len(columns)]
        for m in self.methods:
            cells = [self._cell(m, c.name) for c in columns]
            for i, c in enumerate(columns):
                if c.name == "sanity_spearman" and m in self.sanity_passed:
                    cells[i] += " pass" if self.sanity_passed[m] else " FAIL"
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines += ["| " + " | ".join(row) + " |" for row in extra]
        return lines + [""]

    def to_markdown(self) -> str:
        """One table per kind of metric (methods as rows), mean ± std over the images."""
        by = lambda *metrics: [c for c in self.columns if c.metric in metrics]  # noqa: E731
        out = [f"{self.images} images, {self.kind} ({self.target}), seed {self.seed}; mean ± std over the images; "
               "↑ higher is better, ↓ lower is better.", ""]
        faith = by("deletion", "insertion", "road", "shift")
        if faith:
            out += self._section("Faithfulness", faith, [c.name for c in faith])
        sanity = by("sanity")
        if sanity:
            when = "with every layer randomised" if self.sanity_mode == "cascading" else "averaged over single-layer randomisations"
            out += self._section(f"Sanity ({self.sanity_mode} randomisation)", sanity, [c.name[7:] for c in sanity])
            out += [f"Spearman and SSIM with the trained model's maps {when}; a method passes below "
                    f"{self.sanity_threshold:g} (Spearman).", ""]
        loc = [c for c in by("localisation") if c.better != "ref"]
        if loc:
            share = ["uniform map (mask share)"] + [self._cell(self.methods[0], "mask_share:" + c.name.split(":", 1)[1])
                                                   if c.name.startswith("energy:") else "" for c in loc]
            out += self._section("Localisation", loc, [c.name for c in loc], [share])
        rob = [c for c in by("robustness") if c.better != "ref"]
        if rob:
            change = ["model output change"] + [self._cell(self.methods[0], "output_change:" + c.name.split(":", 1)[1])
                                                for c in rob]
            out += self._section("Robustness (map change = 1 - similarity)", rob,
                                 [c.name.split(":", 1)[1] for c in rob], [change])
        flat = [f"{m} ({k} of {self.images})" for m, k in self.flat_maps.items() if k]
        if flat:
            out += ["Flat maps (one value everywhere: they rank no pixel, so their scores say nothing): "
                    + ", ".join(flat) + ".", ""]
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        return {"images": self.images, "kind": self.kind, "target": self.target, "seed": self.seed,
                "rows": self.rows(), "sanity_passed": self.sanity_passed, "flat_maps": self.flat_maps,
                "sanity": {"mode": self.sanity_mode, "stages": self.sanity_stages, "threshold": self.sanity_threshold,
                           "spearman": {m: np.nanmean(v, axis=1).tolist() for m, v in self.sanity_spearman.items()}},
                "curves": {metric: {"fractions": self.fractions[metric].tolist(),
                                    **{m: np.nanmean(c, axis=0).tolist() for m, c in per.items()}}
                           for metric, per in self.curves.items()}}

    def __str__(self) -> str:
        return self.to_markdown()


# ---- the run -------------------------------------------------------------------------------------
class _Collector:
    def __init__(self):
        self.columns: dict[str, Column] = {}
        self.values: dict[tuple[str, str], list[np.ndarray]] = {}
        self.curves: dict[str, dict[str, list[np.ndarray]]] = {}
        self.fractions: dict[str, np.ndarray] = {}
        self.sanity: dict[str, list[np.ndarray]] = {}
        self.stages: list[str] = []
        self.threshold = 0.5
        self.sanity_mode = "cascading"

    def add(self, method: str, metric: str, column: str, better: str, values: torch.Tensor | np.ndarray) -> None:
        self.columns.setdefault(column, Column(column, metric, better))
        v = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
        self.values.setdefault((method, column), []).append(v.astype(float).reshape(-1))

    def curve(self, metric: str, method: str, fractions, curves: torch.Tensor) -> None:
        self.fractions[metric] = np.asarray(fractions, dtype=float)
        self.curves.setdefault(metric, {}).setdefault(method, []).append(curves.detach().cpu().numpy())


def _run_metric(name: str, method: Method, model, xb, maps, tracker: Tracker, opts: dict, seed: int,
                subject: _Subject, rows: slice, col: _Collector, batch_size: int) -> None:
    label = method.label
    common = dict(tracker=tracker, batch_size=batch_size, seed=seed)
    if name in ("deletion", "insertion"):
        fn = deletion if name == "deletion" else insertion
        res = fn(model, xb, maps, tracker.target, **common, **opts)
        col.add(label, name, name, res.better, res.auc)
        col.curve(name, label, res.fractions, res.curves)
    elif name == "road":
        res = road(model, xb, maps, tracker.target, **common, **opts)
        col.add(label, name, "road", "higher", res.score)
        col.add(label, name, "road_morf", "lower", res.morf_score)
        col.add(label, name, "road_lerf", "higher", res.lerf_score)
        col.curve("road_morf", label, res.fractions, res.morf)
        col.curve("road_lerf", label, res.fractions, res.lerf)
    elif name == "shift":
        res = shift_test(model, xb, maps, tracker.target, **common, **opts)
        col.add(label, name, "shift", "higher", res.score)
    elif name == "sanity":
        res = sanity_check(model, xb, method, tracker.target, maps=maps, seed=seed, **opts)
        col.add(label, name, "sanity_spearman", "lower", res.score_spearman)
        col.add(label, name, "sanity_ssim", "lower", res.score_ssim)
        col.sanity.setdefault(label, []).append(res.spearman.numpy())
        col.stages, col.threshold, col.sanity_mode = res.stages, res.threshold, res.mode
    elif name == "localisation":
        masks = {k: v[rows].to(maps.device) for k, v in subject.masks.items()}
        res = localisation(maps, masks, **opts)
        for k in masks:
            col.add(label, name, f"pointing:{k}", "higher", res.pointing[k])
            col.add(label, name, f"energy:{k}", "higher", res.energy[k])
            col.add(label, name, f"mask_share:{k}", "ref", res.mask_share[k])
    elif name == "robustness":
        frames = subject.images[rows] if subject.images is not None else None
        res = robustness(model, xb, method, tracker.target, maps=maps, frames=frames, pilot=subject.pilot,
                         **common, **opts)
        for p in res.strengths:
            col.add(label, name, f"map_change:{p}", "lower", res.map_change[p])
            col.add(label, name, f"output_change:{p}", "ref", res.output_change[p])


def evaluate(pilot_or_model, frames_or_x, methods: Sequence[MethodSpec] | Mapping[str, MethodSpec] | None = None,
             metrics: Sequence[str] | None = None, masks=None, seed: int = 0, out_dir=None, progress: bool = True, *,
             target: TargetSpec = None, kind: str = "auto", batch_size: int = 8, model_batch: int = 64,
             max_frames: int | None = None, options: Mapping[str, Mapping[str, Any]] | None = None,
             examples: int = 4) -> Report:
    """Score saliency methods on how far their maps can be trusted; returns a Report (str: Markdown).

    pilot_or_model: a Pilot (frames are prepared its way) or a plain nn.Module.
    frames_or_x:    a model input tensor B x C x H x W; or, with a Pilot, frames: a Source (e.g.
                    open_source("synthetic", frames=16)), Frames, uint8 RGB arrays H x W x 3 or a
                    batch B x H x W x 3.
    methods:        names ("grad_cam", "gradient:..." with options), (name, options) pairs, callables
                    fn(model, x, target) -> maps, or {label: spec}; "random" is always added.
                    None: every registered method that runs on this model (tried on one image).
    metrics:        any of deletion, insertion, road, shift, sanity, localisation, robustness
                    (default: all, localisation only when there are masks).
    masks:          ground truth for localisation: {name: N x H x W} (frame or input resolution),
                    a list of per-frame {name: H x W} dicts, or one N x H x W array; a synthetic
                    source gives its own ("lane_markings", "road", "obstacles").
    seed:           every random choice (tie order, noise, perturbations, the random maps).
    out_dir:        where to write results.csv, results.md, results.json, curves.png, road.png,
                    sanity.png and examples.png (created if needed).
    progress:       a tqdm bar on stderr.
    target, kind:   what is explained and tracked (see `_common.Tracker`); a Pilot's output name works.
    batch_size:     images per batch; model_batch: perturbed inputs per forward pass.
    max_frames:     evaluate at most this many frames/images.
    options:        keyword arguments per metric, e.g. {"deletion": {"steps": 10, "baseline": "mean"},
                    "robustness": {"perturbations": {"brightness": 0.3}}, "sanity": {"threshold": 0.4}}.
    examples:       how many images to draw in examples.png.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if int(batch_size) < 1 or int(model_batch) < 1:
        raise ValueError("batch_size and model_batch must be >= 1")
    wants_loc = metrics is not None and any(
        ALIASES.get(str(m).lower(), str(m).lower()) == "localisation" for m in ([metrics] if isinstance(metrics, str) else metrics))
    opts = _check_options(options)
    if methods is not None:
        method_list = resolve_methods(methods)   # bad names fail before any frame is read
    subject = _subject(pilot_or_model, frames_or_x, masks, max_frames, wants_loc or metrics is None)
    chosen = _check_metrics(metrics, subject.masks is not None)
    target = _target(target, subject.pilot)
    if methods is None:
        method_list = resolve_methods(applicable_methods(subject.model, subject.batch(slice(0, 1)), target))
    model = subject.model
    n = len(subject)
    starts = list(range(0, n, int(batch_size)))
    col = _Collector()
    shown: dict[str, list[np.ndarray]] = {m.label: [] for m in method_list}
    flat_maps = {m.label: 0 for m in method_list}
    kinds, labels = set(), set()
    from tqdm.auto import tqdm

    bar = tqdm(total=len(starts) * len(method_list) * len(chosen), desc="evaluate", unit="step",
               disable=not progress, leave=False)
    try:
        for bi, start in enumerate(starts):
            rows = slice(start, min(n, start + int(batch_size)))
            xb = subject.batch(rows)
            tracker = Tracker(model, xb, target, kind, model_batch)
            kinds.add(tracker.kind)
            labels.add(tracker.label)
            for method in method_list:
                maps = method(model, xb, tracker.target, derive_seed(seed, "maps", method.label, bi))
                flat = maps.flatten(1)
                flat_maps[method.label] += int((flat.amax(1) == flat.amin(1)).sum())
                if len(shown[method.label]) < examples:
                    shown[method.label].extend(list(maps[:examples - len(shown[method.label])].cpu().numpy()))
                for name in chosen:
                    bar.set_postfix_str(f"{method.label}: {name}", refresh=False)
                    _run_metric(name, method, model, xb, maps, tracker, opts.get(name, {}),
                                derive_seed(seed, name, bi), subject, rows, col, int(model_batch))
                    bar.update(1)
    finally:
        bar.close()

    report = Report(methods=[m.label for m in method_list], columns=list(col.columns.values()),
                    values={k: np.concatenate(v) for k, v in col.values.items()}, images=n,
                    kind="/".join(sorted(kinds)), target="/".join(sorted(labels)), seed=int(seed),
                    fractions=col.fractions,
                    curves={k: {m: np.concatenate(c) for m, c in per.items()} for k, per in col.curves.items()},
                    sanity_stages=col.stages, sanity_threshold=col.threshold, sanity_mode=col.sanity_mode,
                    sanity_spearman={m: np.concatenate(v, axis=1) for m, v in col.sanity.items()},
                    flat_maps=flat_maps)
    report.sanity_passed = {m: bool(report.summary(m, "sanity_spearman")[0] < col.threshold)
                            for m in report.sanity_spearman}
    if out_dir is not None:
        report.files = write_report(report, out_dir, subject, shown, examples)
    return report


def _finite(value):
    """JSON without NaN: a missing number becomes null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_report(report: Report, out_dir, subject: _Subject | None = None,
                 shown: dict[str, list[np.ndarray]] | None = None, examples: int = 4) -> list[Path]:
    """Write results.csv, results.md, results.json, the curve plots and examples.png into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, text in (("results.csv", report.to_csv()), ("results.md", report.to_markdown()),
                       ("results.json", json.dumps(_finite(report.to_json()), indent=1, allow_nan=False))):
        (out / name).write_text(text, encoding="utf-8")
        files.append(out / name)
    try:
        import matplotlib  # noqa: F401  (the plots extra)
    except ImportError:
        warnings.warn("matplotlib is not installed: no curve plots (pip install 'pilotlens[plots]'); "
                      "the tables and examples.png are written", stacklevel=2)
        plots = False
    else:
        plots = True
    ylabel = "class probability" if report.kind == "classification" else "closeness to the clean output"
    panels = [(f"{k} (AUC {'lower' if k == 'deletion' else 'higher'} is better)", f"fraction of pixels {k[:-3]}ed",
               report.fractions[k], report.curves[k], ylabel) for k in ("deletion", "insertion") if k in report.curves]
    if plots and panels:
        files.append(_plots.curve_plot(out / "curves.png", panels))
    if plots and "road_morf" in report.curves:
        files.append(_plots.road_plot(out / "road.png", report.fractions["road_morf"], report.curves["road_morf"],
                                      report.curves["road_lerf"], ylabel))
    if plots and report.sanity_spearman:
        files.append(_plots.sanity_plot(out / "sanity.png", report.sanity_stages, report.sanity_spearman,
                                        report.sanity_threshold, report.sanity_mode))
    if subject is not None and shown and examples > 0:
        k = min(examples, len(subject))
        if subject.images is not None:
            images = [np.ascontiguousarray(im) for im in subject.images[:k]]
            maps = {m: [subject.pilot.to_frame(v, im.shape) for v, im in zip(vs[:k], images)] for m, vs in shown.items()}
        else:
            images = [_plots.display_image(xi) for xi in subject.x[:k].detach().cpu().float().numpy()]
            maps = {m: vs[:k] for m, vs in shown.items()}
        files.append(_plots.examples_png(out / "examples.png", images, maps, subject.names[:k]))
    return files


def evaluate_source(pilot, source, methods: Sequence[MethodSpec] | None = None, metrics: Sequence[str] | None = None,
                    out_dir=None, seed: int = 0, batch_size: int = 8, progress: bool = True,
                    max_frames: int | None = 100, **kwargs: Any) -> Report:
    """What `pilotlens evaluate` runs: `evaluate` on a pilot and a source (at most `max_frames` frames,
    said on stderr when the source has more), then the tables printed and the files listed.
    Other keyword arguments go to `evaluate` (target, kind, masks, model_batch, options, examples)."""
    import sys

    known = source.length() if isinstance(source, Source) else None
    if max_frames is not None and (known is None or known > max_frames):
        print(f"pilotlens evaluate: scoring at most the first {max_frames} frames of the input (choose others with "
              "--start/--end/--step)", file=sys.stderr)
    report = evaluate(pilot, source, methods=methods, metrics=metrics, seed=seed, out_dir=out_dir, progress=progress,
                      batch_size=batch_size, max_frames=max_frames, **kwargs)
    print(report)
    if report.files:
        print(f"wrote {', '.join(p.name for p in report.files)} to {Path(out_dir)}")
    return report

