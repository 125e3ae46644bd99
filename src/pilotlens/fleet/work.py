"""The work itself, the same in every engine: open the pilot from its spec, explain a part, write it.

A `Worker` is built from a `Job` (plain data: the pilot's spec, never a pickled model, so a user's
FILE.py:Class opens on any machine that sees the file). It runs in the calling process for the
local engine and once per Ray actor for the Ray engine; both cut a part into the same batches.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from ..data.frame import Frame
from ..data.source import Record, Source, screened
from ..frame_explainer import FrameExplainer
from ..pipeline import batches, draw_movie, fits
from ..saliency import NonFiniteWarning
from . import manifest
from .plan import Part, Selection, part_name
from .stored import StoredExplanations
from .table import build_table, map_bytes, write_part


@dataclass(frozen=True)
class Job:
    """Everything a worker needs, picklable: what to explain, how, from which logs, where to."""

    model: str
    out: str
    methods: tuple[str, ...] = ("visual_backprop",)
    model_options: Mapping[str, Any] = field(default_factory=dict)
    layer: Any = None
    target: Any = None
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    selection: Selection = Selection()
    batch_size: int = 32
    part_frames: int = 1024
    labels: tuple[str, ...] = ()
    threads: int | None = None        # torch threads; None leaves torch's own choice
    look: Any = None                  # render.look.Look for movies (None: the default look)


class _Listed(Source):
    """Given records as a Source, so the base applies the bad-frame policy exactly as `movie` does."""

    def __init__(self, records: Sequence[Record], strict: bool):
        super().__init__(strict=strict)
        self._given = records

    def _records(self) -> Iterator[Record]:
        return iter(self._given)


class Worker:
    def __init__(self, job: Job):
        from ..models.open import open_pilot
        if job.threads:
            torch.set_num_threads(job.threads)   # Ray sets OMP_NUM_THREADS from the actor's CPUs; say it here
        self.job = job
        self.pilot = open_pilot(job.model, quiet=True, **dict(job.model_options))
        self.explain = FrameExplainer(self.pilot, job.methods, job.layer, job.target, job.options)
        self.signed: dict[str, bool] = {}   # per method, as the explainers said
        self.layers: dict[str, str | None] = {}   # per method, the layer it read
        self.target = repr(self.explain.target)
        self.records: OrderedDict[str, dict[int, Record]] = OrderedDict()   # a few logs' records, by index

    # -- what the manifest says about the run --------------------------------------------------
    def describe(self) -> dict:
        w, h = self.pilot.input_size
        return {"pilot": self.job.model, "pilot_description": self.pilot.describe(), "target": self.target,
                "methods": list(self.explain.explainers), "map_shape": [h, w], "signed": dict(self.signed),
                "layers": dict(self.layers),
                "outputs": list(self.pilot.outputs), "labels": list(self.job.labels)}

    # -- one unit of work ----------------------------------------------------------------------
    def run(self, part: Part) -> dict:
        """Explain and write `part` (a video: all of it, in parts); returns what was written."""
        if part.whole:
            return self._video(part)
        frames = self._frames(part)
        written = self._write(part.log, part.folder, part.name, frames)
        return {"log": part.log, "parts": [part.name], "frames": written}

    def movie(self, log: str, folder: str) -> str:
        """One explained video for the log, drawn as `pilotlens movie` draws it from the maps and predictions
        its finished parts hold (fleet/stored.py): the model does not run again."""
        out = Path(self.job.out) / folder / manifest.MOVIE
        out.parent.mkdir(parents=True, exist_ok=True)
        stored = StoredExplanations(self.pilot, manifest.log_parts(Path(self.job.out), folder))
        draw_movie(self.pilot, self.job.selection.open(log), str(out), stored, look=self.job.look,
                   batch_size=self.job.batch_size, progress=False)
        return str(out)

    def _frames(self, part: Part) -> _Listed:
        if part.log not in self.records:
            self.records[part.log] = {r.index: r for r in self.job.selection.open(part.log).records()}
            while len(self.records) > 2:
                self.records.popitem(last=False)
        by_index = self.records[part.log]
        return _Listed([by_index[i] for i in part.indices], self.job.selection.strict)

    def _video(self, part: Part) -> dict:
        source = self.job.selection.open(part.log)
        names, chunk, total, number = [], [], 0, 0
        start_skipped = 0
        for batch in batches(screened(source, fits(self.pilot)), self.job.batch_size):
            chunk.append(batch)
            if sum(map(len, chunk)) >= self.job.part_frames:
                total += self._write_batches(part, part_name(number), chunk, source.skipped[start_skipped:])
                start_skipped = len(source.skipped)
                names.append(part_name(number))
                chunk, number = [], number + 1
        if chunk or not names:
            total += self._write_batches(part, part_name(number), chunk, source.skipped[start_skipped:])
            names.append(part_name(number))
        manifest.mark_video(Path(self.job.out), part.folder, names)
        return {"log": part.log, "parts": names, "frames": total}

    def _write(self, log: str, folder: str, name: str, frames: _Listed) -> int:
        chunk = list(batches(screened(frames, fits(self.pilot)), self.job.batch_size))   # as movie skips them
        return self._write_batches(Part(log, folder, 0, ()), name, chunk, frames.skipped)

    def _write_batches(self, part: Part, name: str, chunk: list[list[Frame]], skipped) -> int:
        rows: dict[str, list] = {"log": [], "index": [], "time": []}
        for label in self.job.labels:
            rows[f"label_{label}"] = []
        for batch in chunk:
            self._explain_into(rows, part.log, batch)
        meta = {**self.describe(), "skipped": [{"index": s.index, "source": s.source, "reason": s.reason}
                                               for s in skipped]}
        write_part(build_table(rows, self.job.labels, meta), Path(self.job.out) / part.folder / name)
        return len(rows["index"])

    def _explain_into(self, rows: dict[str, list], log: str, frames: list[Frame]) -> None:
        """Explain one batch; append its rows. Maps stay at the model's input size."""
        x = self.pilot.prepare(frames)
        output = None
        for label, ex in self.explain.explainers.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NonFiniteWarning)   # a non-finite frame's map is blank
                sal = ex(x, self.explain.target)
            rows.setdefault(f"map_{label}", []).extend(map_bytes(sal.shown().detach().cpu().numpy(), sal.signed))
            self.signed[label], self.target, output = bool(sal.signed), str(sal.target), sal.output
            self.layers[label] = sal.layer
        if output is None:
            with torch.no_grad():
                output = self.pilot.forward(x)
        for name, values in self.pilot.named(output).items():
            rows.setdefault(f"pred_{name}", []).extend(np.asarray(values).tolist())
        for f in frames:
            rows["log"].append(log)
            rows["index"].append(f.index)
            rows["time"].append(f.time)
            for label in self.job.labels:
                rows[f"label_{label}"].append(f.labels.get(label))

    def close(self) -> None:
        self.explain.close()
