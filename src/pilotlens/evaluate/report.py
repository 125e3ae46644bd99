"""`evaluate`: every method x every metric on a set of frames, one table, with a `random` baseline row.

    report = evaluate(pilot, open_source("synthetic", frames=16, size=(160, 120)),
                      methods=["grad_cam", "visual_backprop", "gradient"], out_dir="eval")
    print(report)                  # the Markdown table: mean +- std over the images
    report.table                   # [{"method": ..., "deletion": 0.21, "deletion_std": 0.05, ...}, ...]

How a run goes: the frames are prepared and run through the model once (`batch_size` at a time: the
clean outputs and the targets frozen on them), each method explains every frame once (the clean
maps), then the metrics run one after the other (`registry.METRICS`), every metric reading the same
clean outputs and maps. Sanity randomises each layer once for all methods and frames; robustness
perturbs each batch once for all methods. After each metric the tables in `out_dir` are rewritten
(atomically), so a run stopped half way keeps what it finished; the plots and examples come at the
end. The progress bar counts work in forward passes of one image (an explanation counts as the
forward passes it costs, measured on the clean maps; a ROAD imputation likewise, measured once), so
its ETA holds from one metric to the next. Every random choice is seeded from `seed`, the batch and
the metric: a run is repeatable, and every method meets the same perturbations, noise and
tie-break orders.

Precision: float32 by default (the model's own); precision="float64" runs a float64 copy of the
model on float64 inputs (SSIM then runs in float64 too). The float32 scores agree with float64 ones
to about 1e-4 (deletion, insertion, shift: values of the tracked output, whose float32 rounding is
1e-6 relative). ROAD's imputation is solved in float64 either way (road.py).

Columns: see `registry.METRICS` (`pilotlens evaluate --help` lists them) and each metric's module.
"""
from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..data.frame import Frame
from ..data.source import Source
from ..outputs import check_output_dir
from ..targets import TargetSpec
from ._common import KINDS, check_batch, device_of, dtype_of
from ._method import MethodSpec, applicable_methods, resolve_methods
from ..methods.spec import parse_methods
from .format import Column, Report, write_report, write_tables  # noqa: F401  (Column: its old home)
from .localisation import masks_to_input
from .registry import ALIASES, METRICS, PRESETS, REGISTRY, Collector, Run

DEFAULT_FRAMES = 16   # what `pilotlens evaluate` scores unless told (--frames); the quick preset: 8


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
            raise ValueError("the localisation metric needs ground-truth masks, which only the synthetic world "
                             "has: --input synthetic (from Python: masks=..., or open_source('synthetic'))")
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
        known = REGISTRY[key].options
        for option in opts:
            if option not in known:
                raise ValueError(f"{key} has no option {option!r}; its options: {', '.join(known) or 'none'}")
        out[key] = dict(opts)
    return out


# ---- what is evaluated ---------------------------------------------------------------------------
@dataclass
class Subject:
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
        return self.pilot.prepare(self.images[rows]).to(device=device_of(self.model), dtype=dtype_of(self.model))


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


def _masks_on_grid(masks, subject: Subject, h: int, w: int) -> dict[str, torch.Tensor]:
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


def _subject(pilot_or_model, frames_or_x, masks, max_frames: int | None, want_masks: bool) -> Subject:
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
        x = x.detach().to(device=device_of(model), dtype=dtype_of(model))
        subject = Subject(model, pilot, x, None, [f"image {i}" for i in range(x.shape[0])])
    else:
        if pilot is None:
            raise TypeError("frames need a Pilot to prepare them; for a plain nn.Module pass the model input, "
                            "a tensor batch B x C x H x W")
        images, names, frame_masks = _frames(frames_or_x, max_frames, want_masks and masks is None)
        subject = Subject(model, pilot, None, images, names)
    given = masks if masks is not None else frame_masks
    if given is not None:
        h, w = subject.batch(slice(0, 1)).shape[2:]
        subject.masks = _masks_on_grid(given, subject, h, w)
    return subject


def _named(methods, layer, method_options):
    """Method specs with the run's `layer` (for layer methods) and {method: options} applied, the way
    every verb applies --layer and --set (methods/spec.py); other kinds of method pass as they are."""
    if (layer is None and not method_options) or isinstance(methods, Mapping):
        return methods
    specs = [methods] if isinstance(methods, str) else list(methods)
    if not all(isinstance(s, (str, MethodSpec)) for s in specs):
        raise TypeError("layer= and method_options= apply to methods named by string")
    return parse_methods(specs, method_options, layer)


def _target(target: TargetSpec, pilot) -> TargetSpec:
    """What is explained: for a Pilot, what `Pilot.resolve_target` chooses (the same as every verb);
    for a bare model, the spec as given."""
    return pilot.resolve_target(target) if pilot is not None else target




# ---- the run -------------------------------------------------------------------------------------
def _assemble(col: Collector, run: Run, done: list[str], timings: dict[str, float], complete: bool) -> Report:
    report = Report(methods=[m.label for m in run.methods], columns=list(col.columns.values()),
                    values={k: np.concatenate(v) for k, v in col.values.items()}, images=len(run.subject),
                    kind=run.kind, target=run.label, seed=int(run.seed), fractions=col.fractions,
                    curves={k: {m: np.concatenate(c) for m, c in per.items()} for k, per in col.curves.items()},
                    sanity_stages=col.stages, sanity_threshold=col.threshold, sanity_mode=col.sanity_mode,
                    sanity_spearman={m: np.concatenate(v, axis=1) for m, v in col.sanity.items()},
                    flat_maps=run.flat_maps, timings=dict(timings), done=list(done), complete=complete)
    report.sanity_passed = {m: bool(report.summary(m, "sanity_spearman")[0] < col.threshold)
                            for m in report.sanity_spearman}
    return report


def _fmt_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {s % 60:.0f} s"


def evaluate(pilot_or_model, frames_or_x, methods: Sequence[MethodSpec] | Mapping[str, MethodSpec] | None = None,
             metrics: Sequence[str] | None = None, masks=None, seed: int = 0, out_dir=None, progress: bool = True, *,
             target: TargetSpec = None, kind: str = "auto", batch_size: int = 8, model_batch: int = 64,
             max_frames: int | None = None, options: Mapping[str, Mapping[str, Any]] | None = None,
             examples: int = 4, preset: str | None = None, precision: str = "float32",
             summary: bool = False, layer=None, method_options: Mapping[str, Mapping[str, Any]] | None = None,
             engine=None) -> Report:
    """Score saliency methods on how far their maps can be trusted; returns a Report (str: Markdown).

    pilot_or_model: a Pilot (frames are prepared its way) or a plain nn.Module.
    frames_or_x:    a model input tensor B x C x H x W; or, with a Pilot, frames: a Source (e.g.
                    open_source("synthetic", frames=16)), Frames, uint8 RGB arrays H x W x 3 or a
                    batch B x H x W x 3. For the temporal metric, frames of one drive in order.
    methods:        names ("grad_cam", "gradient:..." with options), (name, options) pairs, callables
                    fn(model, x, target) -> maps, or {label: spec}; "random" is always added.
                    None: every registered method that runs on this model (tried on one image).
    metrics:        names from METRICS (default: all, localisation only when there are masks).
    masks:          ground truth for localisation: {name: N x H x W} (frame or input resolution),
                    a list of per-frame {name: H x W} dicts, or one N x H x W array; a synthetic
                    source gives its own ("lane_markings", "road", "obstacles").
    seed:           every random choice (tie order, noise, perturbations, the random maps).
    out_dir:        where to write results.csv, results.md, results.json (after every metric),
                    curves.png, road.png, sanity.png and examples.png (at the end). Checked (and
                    created) before any work starts.
    progress:       a tqdm bar on stderr, in forward passes; summary: a last line on stderr with the
                    total time and the time per metric.
    target, kind:   what is explained and tracked (see `_common.Tracker`); a Pilot's output name works.
    batch_size:     images per batch; model_batch: perturbed inputs per forward pass.
    max_frames:     evaluate at most this many frames/images (the quick preset: 8 unless given).
    options:        keyword arguments per metric, e.g. {"deletion": {"steps": 10, "baseline": "mean"},
                    "robustness": {"perturbations": {"brightness": 0.3}}, "sanity": {"threshold": 0.4}};
                    they override the preset's.
    examples:       how many images to draw in examples.png.
    preset:         None, or "quick" (registry.PRESETS: fewer frames, steps, fractions, sanity stages).
    precision:      "float32" (default) or "float64".
    engine:         None: the metrics run here; or a callable with `_run_metrics`'s signature that runs
                    them elsewhere and fills `run` and the Collector (pilotlens.fleet.evaluate.RayEngine:
                    the per-frame work on Ray actors, the same report).
    """
    t_start = time.perf_counter()
    opts, max_frames = _check_arguments(kind, batch_size, model_batch, precision, preset, options, max_frames)
    if out_dir is not None:   # before any work: a folder that cannot be written fails now, not at the end
        inputs = [getattr(frames_or_x, "path")] if isinstance(getattr(frames_or_x, "path", None), (str, Path)) else []
        check_output_dir(out_dir, inputs=inputs)
    wants_loc = metrics is not None and any(
        ALIASES.get(str(m).lower(), str(m).lower()) == "localisation" for m in ([metrics] if isinstance(metrics, str) else metrics))
    if methods is not None:
        method_list = resolve_methods(_named(methods, layer, method_options))   # bad names fail before any frame is read
    pilot_or_model = with_precision(pilot_or_model, precision)
    subject = _subject(pilot_or_model, frames_or_x, masks, max_frames, wants_loc or metrics is None)
    chosen = _check_metrics(metrics, subject.masks is not None)
    target = _target(target, subject.pilot)
    if methods is None:
        names = applicable_methods(subject.model, subject.batch(slice(0, 1)), target)
        method_list = resolve_methods(_named(names, layer, method_options))
    run = Run(subject, method_list, target, kind, seed, int(batch_size), int(model_batch), opts, progress)
    col = Collector()
    done, timings = (engine or _run_metrics)(run, col, chosen, opts, examples, out_dir)
    report = _assemble(col, run, done, timings, complete=True)
    if out_dir is not None:
        report.files = write_report(report, out_dir, subject, run.shown, examples)
    report.timings["total"] = time.perf_counter() - t_start
    if summary:
        per = ", ".join(f"{k} {_fmt_seconds(v)}" for k, v in report.timings.items() if k != "total")
        print(f"pilotlens evaluate: {report.images} frames x {len(report.methods)} methods x {len(done)} metrics in "
              f"{_fmt_seconds(report.timings['total'])} ({per})", file=sys.stderr)
    return report


def _check_arguments(kind: str, batch_size: int, model_batch: int, precision: str, preset: str | None,
                     options: Mapping[str, Mapping[str, Any]] | None, max_frames: int | None):
    """evaluate's arguments checked before any work: (each metric's options over the preset's, max_frames)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if int(batch_size) < 1 or int(model_batch) < 1:
        raise ValueError("batch_size and model_batch must be >= 1")
    if precision not in ("float32", "float64"):
        raise ValueError(f"precision must be float32 or float64, got {precision!r}")
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    base = PRESETS.get(preset, {}) if preset else {}
    opts = _check_options({k: {**base.get("options", {}).get(k, {}), **(options or {}).get(k, {})}
                           for k in set(base.get("options", {})) | set(options or {})})
    if max_frames is None and base.get("frames"):
        max_frames = base["frames"]
    return opts, max_frames


def _run_metrics(run: Run, col: Collector, chosen: list[str], opts: Mapping[str, Mapping[str, Any]],
                 examples: int, out_dir) -> tuple[list[str], dict[str, float]]:
    """The maps once, then each metric in turn (the tables rewritten after each when out_dir is given):
    (the metrics done, seconds per step). The run is closed whatever happens."""
    timings: dict[str, float] = {}
    done: list[str] = []
    try:
        t = time.perf_counter()
        run.prepare(chosen, examples)        # clean outputs, targets and maps, once
        timings["maps"] = time.perf_counter() - t
        for name in chosen:
            t = time.perf_counter()
            run.start(name)
            REGISTRY[name].run(run, col, opts.get(name, {}))
            timings[name] = time.perf_counter() - t
            done.append(name)
            if out_dir is not None and name != chosen[-1]:
                write_tables(_assemble(col, run, done, timings, complete=False), out_dir)
    finally:
        run.close()
    return done, timings


def with_precision(pilot_or_model, precision: str):
    """float64: a float64 copy of the model (or of the pilot with it); float32: as given."""
    if precision != "float64":
        return pilot_or_model
    from ..models.pilot import Pilot

    if isinstance(pilot_or_model, Pilot):
        twin = copy.copy(pilot_or_model)
        twin.model = copy.deepcopy(pilot_or_model.model).double()
        return twin
    if isinstance(pilot_or_model, nn.Module):
        return copy.deepcopy(pilot_or_model).double()
    return pilot_or_model


def evaluate_source(pilot, source, methods: Sequence[MethodSpec] | None = None, metrics: Sequence[str] | None = None,
                    out_dir=None, seed: int = 0, batch_size: int = 8, progress: bool = True,
                    max_frames: int | None = None, preset: str | None = None, **kwargs: Any) -> Report:
    """What `pilotlens evaluate` runs: `evaluate` on a pilot and a source (at most `max_frames` frames,
    default DEFAULT_FRAMES, 8 with preset="quick"; said on stderr when the source has more), then the
    tables printed, the files listed and a summary line with the total time on stderr.
    Other keyword arguments go to `evaluate` (target, kind, masks, model_batch, options, examples, precision)."""
    if max_frames is None:
        max_frames = PRESETS[preset]["frames"] if preset else DEFAULT_FRAMES
    known = source.length() if isinstance(source, Source) else None
    if max_frames is not None and (known is None or known > max_frames):
        print(f"pilotlens evaluate: scoring at most the first {max_frames} frames of the input (choose others with "
              "--start/--end/--step, more with --frames)", file=sys.stderr)
    report = evaluate(pilot, source, methods=methods, metrics=metrics, seed=seed, out_dir=out_dir, progress=progress,
                      batch_size=batch_size, max_frames=max_frames, preset=preset, summary=True, **kwargs)
    print(report)
    if report.files:
        print(f"wrote {', '.join(p.name for p in report.files)} to {Path(out_dir)}")
    return report

