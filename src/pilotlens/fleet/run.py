"""`batch(...)`: plan, run the parts that are not done yet on an engine, write the manifest last."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from . import manifest
from .cluster import actor_error
from .plan import Plan, Selection, plan as make_plan
from .work import Job

ENGINES = ("local", "ray")


@dataclass
class BatchResult:
    out: str
    frames: int
    parts: int
    done_before: int          # parts found finished from an earlier run (resumed)
    seconds: float
    manifest: dict = field(repr=False, default_factory=dict)

    def __str__(self) -> str:
        skipped = sum(len(log["skipped"]) for log in self.manifest.get("logs", []))
        resumed = f"; {self.done_before} part(s) were already done" if self.done_before else ""
        return (f"wrote {self.frames} frames of {len(self.manifest.get('logs', []))} log(s) to {self.out} "
                f"({self.parts} parts, manifest {manifest.SUCCESS}) in {self.seconds:.1f} s{resumed}; "
                f"skipped {skipped} unreadable frame(s)")


def model_spec(spec: str, options: Mapping[str, Any]) -> tuple[str, dict]:
    """Make file paths in the spec and its options absolute: workers may run in another folder."""
    from ..models.user_code import split_spec
    options = dict(options)
    user = split_spec(spec) if ":" in str(spec) else None
    if user is not None:
        spec = f"{user[0].expanduser().resolve()}:{user[1]}"
    elif Path(spec).expanduser().is_file():
        spec = str(Path(spec).expanduser().resolve())
    for key in ("weights", "myconfig"):
        if options.get(key) and Path(options[key]).expanduser().exists():
            options[key] = str(Path(options[key]).expanduser().resolve())
    return str(spec), options


def check_engine(engine: str, ray_address: str | None, actors: int | None, threads_per_actor: int) -> None:
    """The engine options of `batch` and `evaluate`, checked in one place before any work."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "local" and (ray_address or actors):
        raise ValueError("--ray-address and --actors are for --engine ray")
    if threads_per_actor < 1:
        raise ValueError(f"--threads-per-actor must be >= 1, got {threads_per_actor}")


def batch(model: str, inputs: str | os.PathLike | Iterable[str | os.PathLike], out: str | os.PathLike, *,
          methods: Sequence[str] = ("visual_backprop",), layer=None, target=None,
          options: Mapping[str, Mapping[str, Any]] | None = None, model_options: Mapping[str, Any] | None = None,
          start: int = 0, end: int | None = None, step: int = 1, strict: bool = False,
          source_options: Mapping[str, Any] | None = None, batch_size: int = 32, part_batches: int = 32,
          movies: bool = False, look=None, engine: str = "local", ray_address: str | None = None,
          actors: int | None = None, threads_per_actor: int = 1, progress: bool = True) -> BatchResult:
    """Explain every frame of every log in `inputs` into Parquet parts under `out` (see fleet/table.py
    for the columns, fleet/manifest.py for the folder). `model` is a spec (a path or a name, see
    models/open.py): every worker opens it itself. engine "local" runs in this process (no Ray);
    "ray" runs the parts on a pool of `actors` actors of `threads_per_actor` torch threads each,
    on the cluster at `ray_address` or on a local one started here (loopback, nothing in $HOME).
    A rerun into the same `out` resumes; `_SUCCESS.json` appears only when every log is done."""
    check_engine(engine, ray_address, actors, threads_per_actor)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    began = time.perf_counter()
    out = Path(out).expanduser().resolve()
    selection = Selection(start, end, step, strict, dict(source_options or {}))
    plan = make_plan(inputs, selection, batch_size=batch_size, part_batches=part_batches)
    if any(str(out) == log.path or str(out).startswith(log.path + os.sep) for log in plan.logs):
        raise ValueError(f"--out {out} is inside an input log: give another folder")
    spec, model_options = model_spec(str(model), model_options or {})
    job = Job(spec, str(out), tuple(methods), model_options, layer, target, dict(options or {}), selection,
              batch_size, plan.part_frames, plan.labels, threads_per_actor if engine == "ray" else None, look)
    settings = {"pilot": spec, "model_options": model_options, "methods": list(methods), "layer": layer,
                "target": target if target is None or isinstance(target, (str, int, float)) else repr(target),
                "options": job.options, "selection": [start, end, step, strict, selection.options],
                "batch_size": batch_size, "part_frames": plan.part_frames, "logs": [log.path for log in plan.logs]}
    manifest.start_run(out, settings, plan)
    todo = [p for p in plan.parts if not manifest.part_done(out, p)]
    movies_todo = [log for log in plan.logs if movies and not manifest.movie_done(out, log.folder)]
    try:
        if engine == "local":
            from .local import run_local
            run_local(job, todo, movies_todo, progress)
        else:
            from .ray_engine import run_ray
            run_ray(job, todo, movies_todo, address=ray_address, actors=actors, progress=progress)
    except Exception as exc:
        missing = manifest.incomplete(out, plan, movies)
        raise RuntimeError(f"the run did not finish ({actor_error(exc)}); no manifest was written; "
                           f"incomplete logs: {', '.join(missing) or 'none'}. Run the same command again to resume: "
                           "finished parts are kept") from exc
    head = _head(out, plan)
    head.update(engine=engine, batch_size=batch_size, part_frames=plan.part_frames,
                map_encoding="uint8 h x w row-major bytes: unsigned m = v/255; signed m = (v-128)/127")
    done = manifest.write_manifest(out, plan, head, movies)
    return BatchResult(str(out), done["frames"], len(done["parts"]), len(plan.parts) - len(todo),
                       time.perf_counter() - began, done)


def _head(out: Path, plan: Plan) -> dict:
    """The manifest's description of the run, from the first part's metadata (whichever engine wrote it)."""
    import json

    import pyarrow.parquet as pq
    from .table import META_KEY
    first = plan.parts[0]
    name = manifest.video_parts(out, first.folder)[0] if first.whole else first.name
    meta = json.loads(pq.ParquetFile(out / first.folder / name).metadata.metadata[META_KEY])
    meta.pop("skipped", None)
    return meta
