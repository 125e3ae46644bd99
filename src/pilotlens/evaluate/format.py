"""A Report and how it is written: the method x metric tables (Markdown, CSV, JSON), the curve plots and
the example maps. `report.py` runs the metrics; this module only formats what they measured."""
from __future__ import annotations

import csv
import io
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..outputs import atomic_file, write_text
from . import _plots


@dataclass
class Column:
    name: str
    metric: str
    better: str   # "higher", "lower" or "ref"


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
    timings: dict[str, float] = field(default_factory=dict)   # seconds per metric (and "maps": the clean maps)
    done: list[str] = field(default_factory=list)             # metrics finished (all of them once complete)
    complete: bool = True

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
        if not self.complete:
            out = [f"Partial results: {', '.join(self.done) or 'no metric'} finished so far.", ""] + out
        faith = by("deletion", "insertion", "road", "shift", "faithfulness_correlation")
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
        temporal = by("temporal")
        if temporal:
            out += self._section("Temporal consistency (consecutive frames)", temporal,
                                 [c.name.split(":", 1)[1] for c in temporal])
            out += ["flicker: the map change (1 - Spearman) over the pairs of frames where neither the frame nor "
                    "the output changed more than their median; frame_change and output_change are the same for "
                    "every method.", ""]
        flat = [f"{m} ({k} of {self.images})" for m, k in self.flat_maps.items() if k]
        if flat:
            out += ["Flat maps (one value everywhere: they rank no pixel, so their scores say nothing): "
                    + ", ".join(flat) + ".", ""]
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        return {"images": self.images, "kind": self.kind, "target": self.target, "seed": self.seed,
                "complete": self.complete, "done": self.done,
                "timings": self.timings, "rows": self.rows(), "sanity_passed": self.sanity_passed, "flat_maps": self.flat_maps,
                "sanity": {"mode": self.sanity_mode, "stages": self.sanity_stages, "threshold": self.sanity_threshold,
                           "spearman": {m: np.nanmean(v, axis=1).tolist() for m, v in self.sanity_spearman.items()}},
                "curves": {metric: {"fractions": self.fractions[metric].tolist(),
                                    **{m: np.nanmean(c, axis=0).tolist() for m, c in per.items()}}
                           for metric, per in self.curves.items()}}

    def __str__(self) -> str:
        return self.to_markdown()



def _finite(value):
    """JSON without NaN: a missing number becomes null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_tables(report: Report, out_dir) -> list[Path]:
    """results.csv, results.md and results.json into out_dir, each written atomically (a run stopped
    between metrics keeps the tables of the metrics it finished)."""
    out = Path(out_dir)
    files = []
    for name, text in (("results.csv", report.to_csv()), ("results.md", report.to_markdown()),
                       ("results.json", json.dumps(_finite(report.to_json()), indent=1, allow_nan=False))):
        write_text(out / name, text)
        files.append(out / name)
    return files


def _atomic(draw, path: Path, *args) -> Path:
    with atomic_file(path, path.suffix) as tmp:
        draw(Path(tmp), *args)
    return path


def write_report(report: Report, out_dir, subject=None, shown: dict[str, list[np.ndarray]] | None = None,
                 examples: int = 4) -> list[Path]:
    """Write results.csv, results.md, results.json, the curve plots and examples.png into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = write_tables(report, out)
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
        files.append(_atomic(_plots.curve_plot, out / "curves.png", panels))
    if plots and "road_morf" in report.curves:
        files.append(_atomic(_plots.road_plot, out / "road.png", report.fractions["road_morf"],
                                     report.curves["road_morf"], report.curves["road_lerf"], ylabel))
    if plots and report.sanity_spearman:
        files.append(_atomic(_plots.sanity_plot, out / "sanity.png", report.sanity_stages, report.sanity_spearman,
                                     report.sanity_threshold, report.sanity_mode))
    if subject is not None and shown and examples > 0:
        k = min(examples, len(subject))
        if subject.images is not None:
            images = [np.ascontiguousarray(im) for im in subject.images[:k]]
            maps = {m: [subject.pilot.to_frame(v, im.shape) for v, im in zip(vs[:k], images)] for m, vs in shown.items()}
        else:
            images = [_plots.display_image(xi) for xi in subject.x[:k].detach().cpu().float().numpy()]
            maps = {m: vs[:k] for m, vs in shown.items()}
        files.append(_atomic(_plots.examples_png, out / "examples.png", images, maps, subject.names[:k]))
    return files


